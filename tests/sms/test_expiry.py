"""SMS conversations expire after a quiet time (24 h by default) and are kept as partial."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from feedback.store.models import Job, Response, Session, utcnow

from .conftest import Phone, api_responses, dispatch, rows


def test_the_job_expires_a_quiet_conversation_as_partial(app: Any, twilio: Any) -> None:
    phone = Phone(app.test_client(), "+15551230401")
    phone.reply("FEEDBACK")
    phone.reply("5")
    [session] = rows(app, Session)
    assert session.expires_at is not None
    assert abs((session.expires_at - utcnow()) - dt.timedelta(hours=24)) < dt.timedelta(minutes=1)
    dispatch(app, now=utcnow() + dt.timedelta(hours=23))
    assert rows(app, Session)[0].status == "active"
    dispatch(app, now=utcnow() + dt.timedelta(hours=24, minutes=1))
    [session] = rows(app, Session)
    assert session.status == "partial"
    [resp] = api_responses(app, "support-call", status="partial")
    assert resp["answers"]["nps"]["value"] == 5 and resp["meta"]["end_reason"] == "expired"
    # A late answer does not reopen it: the customer gets the help reply.
    assert phone.reply("yes").startswith("Reply FEEDBACK")


def test_each_reply_pushes_the_expiry_back(app: Any, twilio: Any) -> None:
    phone = Phone(app.test_client(), "+15551230402")
    phone.reply("FEEDBACK")
    t0 = utcnow()
    app.config["CLOCK"] = lambda: t0 + dt.timedelta(hours=20)  # the customer answers 20 hours later
    phone.reply("8")
    [session] = rows(app, Session)
    assert abs(session.expires_at - (t0 + dt.timedelta(hours=44))) < dt.timedelta(minutes=1)
    # The expiry job scheduled at the start finds the conversation alive and reschedules
    # itself for the new time.
    dispatch(app, now=t0 + dt.timedelta(hours=25))
    assert rows(app, Session)[0].status == "active"
    assert [j.run_at for j in rows(app, Job, Job.name == "expire_conversation", Job.status == "pending")] == [
        session.expires_at
    ]
    dispatch(app, now=t0 + dt.timedelta(hours=45))
    assert rows(app, Session)[0].status == "partial"


def test_expiry_is_also_applied_when_the_next_message_arrives(app: Any, twilio: Any) -> None:
    phone = Phone(app.test_client(), "+15551230403")
    phone.reply("FEEDBACK")
    phone.reply("2")
    t0 = utcnow()
    app.config["CLOCK"] = lambda: t0 + dt.timedelta(hours=25)  # no job has run yet
    assert phone.reply("Rude") == "Sorry, this survey has closed. Thank you for your time."
    [session] = rows(app, Session)
    assert session.status == "partial"
    [resp] = rows(app, Response)
    assert resp.meta["end_reason"] == "expired"
    assert set(session.state["answers"]) == {"nps"}
    # A keyword then starts a fresh survey.
    assert "How likely" in phone.reply("FEEDBACK")
    assert len(rows(app, Session)) == 2


def test_expiry_hours_come_from_the_survey_or_the_configuration(app: Any, twilio: Any, tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "survey_defs" / "support-call.yaml").read_text()
    text = text.replace("id: support-call", "id: quick-sms").replace(
        "keywords: [FEEDBACK, 反馈]", "keywords: [QUICK]\n  expiry_hours: 2")
    (tmp_path / "quick.yaml").write_text(text)
    from feedback.store import operations as ops

    with app.app_context():
        assert not ops.load_surveys([tmp_path / "quick.yaml"]).problems
    Phone(app.test_client(), "+15551230404").reply("QUICK")
    app.config["SMS_SESSION_HOURS"] = 6
    Phone(app.test_client(), "+15551230405").reply("FEEDBACK")
    by_survey = {s.survey_id: s for s in rows(app, Session)}
    now = utcnow()
    assert abs(by_survey["quick-sms"].expires_at - now - dt.timedelta(hours=2)) < dt.timedelta(minutes=1)
    assert abs(by_survey["support-call"].expires_at - now - dt.timedelta(hours=6)) < dt.timedelta(minutes=1)
    dispatch(app, now=now + dt.timedelta(hours=3))
    statuses = {s.survey_id: s.status for s in rows(app, Session)}
    assert statuses == {"quick-sms": "abandoned", "support-call": "active"}


def test_outbound_expiry_counts_from_the_send(app: Any, twilio: Any) -> None:
    from channels.sms.outbound import request_sms

    later = utcnow() + dt.timedelta(hours=30)
    with app.app_context():
        request_sms("support-call", "+15551230406", run_at=later)
    # Not sent yet: nothing expires before it goes out.
    dispatch(app, now=utcnow() + dt.timedelta(hours=29))
    assert rows(app, Session)[0].status == "active"
    dispatch(app, now=later)
    [session] = rows(app, Session)
    assert session.status == "active" and session.meta["sms"]["sent_at"]
    assert session.expires_at > utcnow() + dt.timedelta(hours=23)


def test_cli_sweep_expires_sms_and_chat(app: Any, twilio: Any) -> None:
    Phone(app.test_client(), "+15551230407").reply("FEEDBACK")
    with app.app_context():
        from feedback.store import operations as ops

        assert ops.expire_sessions("sms", now=utcnow() + dt.timedelta(days=2)) == 1
    assert rows(app, Session)[0].status == "abandoned"
