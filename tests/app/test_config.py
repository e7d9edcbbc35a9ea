"""Configuration as a fresh install sees it: no environment, an empty instance folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedback.config import load_config


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from feedback.config import ENV_KEYS

    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)


def test_a_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_config(str(tmp_path))
    assert first["SECRET_KEY"] and len(first["SECRET_KEY"]) >= 32
    assert (tmp_path / "secret_key").read_text().strip() == first["SECRET_KEY"]
    # A restart signs with the same key, so links already sent keep working.
    assert load_config(str(tmp_path))["SECRET_KEY"] == first["SECRET_KEY"]


def test_the_environment_and_the_caller_override_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/feedback")
    config = load_config(str(tmp_path))
    assert config["SECRET_KEY"] == "from-the-environment"
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/feedback"
    assert not (tmp_path / "secret_key").exists()
    assert load_config(str(tmp_path), {"SECRET_KEY": "given"})["SECRET_KEY"] == "given"


def test_the_default_database_is_sqlite_in_the_instance_folder(tmp_path: Path) -> None:
    assert load_config(str(tmp_path))["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'feedback.db'}"


def test_an_app_without_a_configured_secret_signs_invitation_links(tmp_path: Path) -> None:
    from feedback.app import create_app

    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "LOAD_SURVEYS_ON_START": False,
                      "TESTING": True})
    from channels.web.tokens import make_invitation_token, read_invitation_token

    with app.app_context():
        token = make_invitation_token("support-call", context={"contact": {"first_name": "Alex"}})
        assert read_invitation_token(token)["survey_id"] == "support-call"


def test_every_setting_read_from_the_environment_is_documented() -> None:
    from feedback.config import ENV_KEYS

    root = Path(__file__).resolve().parents[2]
    docs = (root / "README.md").read_text(encoding="utf-8") + "".join(
        p.read_text(encoding="utf-8") for p in sorted((root / "docs").glob("*.md"))
    )
    assert [k for k in ENV_KEYS if f"`{k}`" not in docs] == []


@pytest.mark.parametrize("key", ["WEB_RESUME_DAYS", "WEB_EMBED_FRAME_ANCESTORS", "EVENTS_MAX_BYTES", "JOBS_INTERVAL"])
def test_web_and_job_settings_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       key: str) -> None:
    monkeypatch.setenv(key, "7")
    assert float(load_config(str(tmp_path))[key]) == 7


def test_embed_frame_ancestors_from_the_environment_reach_the_page(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import make_app

    monkeypatch.setenv("WEB_EMBED_FRAME_ANCESTORS", "https://shop.example")
    app = make_app(tmp_path, "sqlite")
    resp = app.test_client().get("/s/support-call?embed=1")
    assert "frame-ancestors https://shop.example" in resp.headers["Content-Security-Policy"]
