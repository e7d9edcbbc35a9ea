"""`make run` and the `feedback` commands it and operators use: run-demo, surveys load."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from feedback.cli import cli
from tests.conftest import ROOT, SURVEY_DEFS


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from feedback.config import ENV_KEYS

    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'feedback.db'}")
    monkeypatch.setenv("SECRET_KEY", "test-secret")
    monkeypatch.setenv("SURVEY_DEFS", str(SURVEY_DEFS))
    return tmp_path


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_honours_host_and_port() -> None:
    out = subprocess.run(["make", "-n", "-o", "translations", "run", "PORT=8000", "HOST=0.0.0.0"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert "run-demo --host 0.0.0.0 --port 8000" in out
    out = subprocess.run(["make", "-n", "-o", "translations", "run"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert "run-demo --host 127.0.0.1 --port 5000" in out


def test_run_demo_replaces_its_key_instead_of_adding_one(instance: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flask import Flask

    served: list[Any] = []
    monkeypatch.setattr(Flask, "run", lambda self, **kw: served.append(kw))
    keys = []
    for _ in range(3):
        result = CliRunner().invoke(cli, ["run-demo", "--port", "8000"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        keys.append(result.output.split("Admin API key")[1].split(": ", 1)[1].split()[0])
        assert "http://127.0.0.1:8000/s/support-call" in result.output
    assert served[-1]["port"] == 8000
    from feedback.app import create_app

    app = create_app({"LOAD_SURVEYS_ON_START": False})
    client = app.test_client()
    assert client.get("/api/v1/surveys", headers={"Authorization": f"Bearer {keys[0]}"}).status_code == 401
    assert client.get("/api/v1/surveys", headers={"Authorization": f"Bearer {keys[-1]}"}).status_code == 200
    from feedback.store.models import ApiKey, db

    with app.app_context():
        assert db.session.query(ApiKey).filter_by(name="demo admin").count() == 1


def test_surveys_load_says_when_a_file_went_back_to_an_earlier_version(instance: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"], catch_exceptions=False).exit_code == 0
    path = instance / "support-call.yaml"
    first = (SURVEY_DEFS / "support-call.yaml").read_text(encoding="utf-8")
    path.write_text(first, encoding="utf-8")
    assert "new version" in runner.invoke(cli, ["surveys", "load", str(path)], catch_exceptions=False).output
    path.write_text(first.replace("Thank you", "Many thanks", 1), encoding="utf-8")
    assert "new version" in runner.invoke(cli, ["surveys", "load", str(path)], catch_exceptions=False).output
    path.write_text(first, encoding="utf-8")
    out = runner.invoke(cli, ["surveys", "load", str(path)], catch_exceptions=False).output
    assert "back to an earlier version" in out and "unchanged" not in out
    out = runner.invoke(cli, ["surveys", "load", str(path)], catch_exceptions=False).output
    assert "unchanged" in out
