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
