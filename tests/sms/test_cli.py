"""`feedback sms SURVEY PHONE`: send a survey now from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from feedback.cli import cli
from tests.conftest import make_app
from tests.support.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioHttp

from .conftest import OUR_NUMBER


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, FakeTwilioHttp]:
    """The CLI's app on a migrated SQLite database, with the fake Twilio HTTP client."""
    app = make_app(tmp_path, "sqlite")
    http = FakeTwilioHttp()
    import feedback.app as feedback_app

    real = feedback_app.create_app
    settings: dict[str, Any] = {
        "DATABASE_URL": app.config["DATABASE_URL"], "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": OUR_NUMBER,
        "PUBLIC_BASE_URL": "https://feedback.example.com",
    }

    def create_app(config: dict[str, Any] | None = None) -> Any:
        made = real({**(config or {}), **settings})
        made.extensions["twilio_http_client"] = http
        return made

    monkeypatch.setattr(feedback_app, "create_app", create_app)
    app.extensions["cli_settings"] = settings
    return app, http


def test_sends_the_survey_now(cli_env: tuple[Any, FakeTwilioHttp]) -> None:
    _, http = cli_env
    result = CliRunner().invoke(cli, ["sms", "support-call", "+86 138 0013 8900", "--locale", "zh-CN",
                                      "--context", '{"contact": {"first_name": "王"}}'])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("session ")
    assert "[2 UCS-2]" in result.output
    [req] = http.messages()
    assert req.data["To"] == "+8613800138900"
    assert req.data["Body"].startswith("王，感谢您的来电。")
    assert req.data["StatusCallback"] == "https://feedback.example.com/sms/status"


def test_whatsapp(cli_env: tuple[Any, FakeTwilioHttp]) -> None:
    _, http = cli_env
    result = CliRunner().invoke(cli, ["sms", "support-call", "+15551230902", "--whatsapp"])
    # support-call has no WhatsApp template and the customer never wrote: not sent.
    assert result.exit_code == 1, result.output
    assert "not sent: outside the WhatsApp 24-hour window" in result.output and http.messages() == []


def test_refusals_are_one_clear_line(cli_env: tuple[Any, FakeTwilioHttp]) -> None:
    app, http = cli_env
    runner = CliRunner()
    bad = runner.invoke(cli, ["sms", "support-call", "+15551230903", "--context", "{nope"])
    assert bad.exit_code == 1 and "--context is not valid JSON" in bad.output
    bad = runner.invoke(cli, ["sms", "support-ticket", "+15551230903"])
    assert bad.exit_code == 1 and "not offered by SMS" in bad.output
    bad = runner.invoke(cli, ["sms", "support-call", "hello"])
    assert bad.exit_code == 1 and "error:" in bad.output
    with app.app_context():
        from feedback.store import operations as ops

        ops.record_opt_out(ops.find_or_create_contact(phone="+15551230904"), "sms", "STOP")
    bad = runner.invoke(cli, ["sms", "support-call", "+15551230904"])
    assert bad.exit_code == 1 and "opted out" in bad.output
    assert "Traceback" not in bad.output
    http.fail_with = (503, 20503, "Service unavailable")
    later = runner.invoke(cli, ["sms", "support-call", "+15551230905"])
    assert later.exit_code == 1 and "the outbox retries it" in later.output


def test_without_twilio_the_survey_ends_with_a_clear_error(cli_env: tuple[Any, FakeTwilioHttp]) -> None:
    app, http = cli_env
    settings = app.extensions["cli_settings"]
    for key in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        settings[key] = None
    runner = CliRunner()
    result = runner.invoke(cli, ["sms", "support-call", "+15551230911"])
    assert result.exit_code == 1, result.output
    assert "not sent: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set" in result.output
    assert "ended (abandoned)" in result.output and "Traceback" not in result.output
    from sqlalchemy import select

    from feedback.store.models import Job, Message, Session, db

    with app.app_context():
        [session] = db.session.scalars(select(Session)).all()
        assert session.status == "abandoned" and session.response.meta["end_reason"] == "twilio_not_configured"
        assert {m.status for m in db.session.scalars(select(Message))} == {"failed"}
        [job] = db.session.scalars(select(Job).where(Job.name == "send_sms")).all()
        assert job.status == "done"  # nothing left to retry
    # Nothing holds the number: once Twilio is configured the survey goes out.
    settings.update(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN)
    again = runner.invoke(cli, ["sms", "support-call", "+15551230911"])
    assert again.exit_code == 0, again.output
    assert len(http.messages()) == 1
