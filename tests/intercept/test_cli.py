"""`feedback sites`: create, list, show and update the sites that embed the intercept."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from feedback.cli import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("SECRET_KEY", "cli-test")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://feedback.example.com")
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(cli, list(args), catch_exceptions=False)

    assert invoke("db", "upgrade").exit_code == 0
    assert invoke("surveys", "load", str(ROOT / "survey_defs" / "website-feedback.yaml")).exit_code == 0
    return invoke


def test_create_prints_the_key_the_secret_and_the_script_tag(run: Any) -> None:
    result = run("sites", "create", "shop", "--origin", "https://Shop.example.com/", "--origin", "http://localhost:8000")
    assert result.exit_code == 0, result.output
    key = re.search(r"key \(public\):\s+(site_\S+)", result.output)
    assert key is not None
    assert re.search(r"identity secret: [0-9a-f]{64}", result.output)
    assert f'<script src="https://feedback.example.com/intercept.js" data-site="{key.group(1)}" async></script>' in result.output
    assert "origins:         https://shop.example.com, http://localhost:8000" in result.output


def test_list_shows_each_site_with_the_surveys_that_name_it(run: Any) -> None:
    run("sites", "create", "shop")
    run("sites", "create", "blog")
    out = run("sites", "list").output
    shop = next(line for line in out.splitlines() if " shop " in line)
    blog = next(line for line in out.splitlines() if " blog " in line)
    assert "website-feedback" in shop and "website-feedback" not in blog


def test_show_prints_the_secret_only_when_asked(run: Any) -> None:
    run("sites", "create", "shop")
    plain = run("sites", "show", "shop").output
    assert "identity secret" not in plain and "data-site=" in plain
    assert "identity secret" in run("sites", "show", "shop", "--secret").output


def test_update_rotates_the_key_and_changes_origins(run: Any) -> None:
    first = re.search(r"key: (\S+)", run("sites", "create", "shop").output.replace("key (public):    ", "key: "))
    assert first is not None
    out = run("sites", "update", "shop", "--rotate-key", "--origin", "https://shop.example.com", "--trust-identity").output
    assert first.group(1) not in out
    assert "origins https://shop.example.com, identity trusted, active" in out
    out = run("sites", "update", "shop", "--any-origin", "--verify-identity", "--disable").output
    assert "origins any, identity signed, disabled" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("sites", "create", "My Shop"), "error: site name 'My Shop' must use lowercase letters, digits and dashes"),
        (("sites", "create", "shop", "--origin", "shop.example.com"),
         "error: 'shop.example.com' is not an origin like https://shop.example.com"),
        (("sites", "show", "nope"), "error: no site named 'nope'"),
        (("sites", "update", "nope", "--disable"), "error: no site named 'nope'"),
    ],
)
def test_bad_input_is_one_clear_line(run: Any, args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 1
    assert result.output.strip() == message


def test_a_site_name_cannot_be_used_twice(run: Any) -> None:
    run("sites", "create", "shop")
    result = run("sites", "create", "shop")
    assert result.exit_code == 1 and result.output.strip() == "error: a site named 'shop' already exists"
