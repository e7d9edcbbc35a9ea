"""Outbound survey calls: the REST request, the call itself, busy / no answer / failure
retries, calling hours in the contact's time zone, answering machines, Twilio errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.ivr.conftest import OUR_NUMBER, Ivr

UTC = dt.UTC
MONDAY_3PM_UTC = dt.datetime(2030, 1, 7, 15, 0, tzinfo=UTC)


def naive(t: dt.datetime) -> dt.datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


def request(ivr: Ivr, survey: str, phone: str, **kw: Any) -> int:
    from channels.ivr.outbound import request_call

    with ivr.ctx():
        return request_call(survey, phone, **kw)


def dispatch(ivr: Ivr, at: dt.datetime | None = None) -> int:
    from feedback.jobs import dispatch_due
    from feedback.store.models import utcnow

    with ivr.ctx():
        return dispatch_due(now=naive(at) if at else utcnow())


def attempts(ivr: Ivr, group: int) -> list[dict[str, Any]]:
    from feedback.store import calls

    with ivr.ctx():
        return [
            {"id": a.id, "no": a.attempt_no, "status": a.status, "sid": a.call_sid, "error": a.error,
             "scheduled_for": a.scheduled_for, "answered_by": a.answered_by, "session": a.session_id}
            for a in calls.group_attempts(group)
        ]


def answer_call(ivr: Ivr, request_index: int = -1, answered_by: str | None = "human", progress: bool = True) -> Any:
    sent = ivr.http.calls()[request_index]
    # The fake REST API answered with a CallSid; the attempt keeps it.
    from feedback.store.models import CallAttempt, db

    with ivr.ctx():
        attempt_id = int(sent.data["Url"].rsplit("attempt=", 1)[1])
        attempt = db.session.get(CallAttempt, attempt_id)
        assert attempt is not None
        sid = attempt.call_sid
    return ivr.sim.place(sent.data["Url"], to=sent.data["To"], from_=sent.data["From"], call_sid=sid,
                         status_callback=sent.data["StatusCallback"], answered_by=answered_by, progress=progress)


def call_sid_of(ivr: Ivr, attempt_id: int) -> str:
    from feedback.store.models import CallAttempt, db

    with ivr.ctx():
        attempt = db.session.get(CallAttempt, attempt_id)
        assert attempt is not None and attempt.call_sid
        return attempt.call_sid


def test_the_call_request_carries_voice_url_status_callback_and_machine_detection(ivr: Ivr) -> None:
    attempt_id = request(ivr, "support-call", "+1 555 765 4321", run_at=MONDAY_3PM_UTC,
                         meta={"invitation_id": 7}, context={"event": {"id": "evt-9", "type": "call.ended",
                                                                       "data": {"agent": "Wu"}}})
    assert ivr.http.calls() == []
    assert dispatch(ivr, MONDAY_3PM_UTC - dt.timedelta(minutes=1)) == 0
    assert dispatch(ivr, MONDAY_3PM_UTC) == 1
    [sent] = ivr.http.calls()
    assert sent.method == "POST"
    assert sent.data["To"] == "+15557654321" and sent.data["From"] == OUR_NUMBER
    assert sent.data["Url"] == f"http://localhost/ivr/voice?attempt={attempt_id}"
    assert sent.data["Method"] == "POST"
    assert sent.data["StatusCallback"] == f"http://localhost/ivr/status?attempt={attempt_id}"
    assert sent.data["StatusCallbackMethod"] == "POST"
    assert sent.data["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert sent.data["MachineDetection"] == "Enable"
    assert str(sent.data["Timeout"]) == "30"
    [a] = attempts(ivr, attempt_id)
    assert a["status"] == "queued" and a["sid"].startswith("CA")

    call = answer_call(ivr)
    assert call.said == ["For English, press 1.", "中文请按 2。"]
    call.press("1")
    call.press("10")
    call.press("1")
    assert call.ended
    r = ivr.response("support-call", a["sid"])
    assert r["status"] == "complete" and r["meta"]["direction"] == "outbound"
    assert r["meta"]["invitation_id"] == 7 and r["meta"]["call_attempt_id"] == attempt_id
    assert r["event"]["id"] == "evt-9" and r["event"]["type"] == "call.ended"
    assert r["answers"]["nps"]["value"] == 10
    [a] = attempts(ivr, attempt_id)
    assert a["status"] == "completed" and a["answered_by"] == "human"


def test_a_requested_language_skips_the_menu(sqlite_ivr: Ivr) -> None:
    ivr = sqlite_ivr
    request(ivr, "support-call", "+15557654330", locale="zh-CN", run_at=MONDAY_3PM_UTC,
            context={"contact": {"first_name": "小李"}})
    dispatch(ivr, MONDAY_3PM_UTC)
    call = answer_call(ivr)
    assert call.said[0].startswith("小李，感谢您的来电")


def test_busy_and_unanswered_calls_are_retried_until_the_attempts_run_out(ivr: Ivr) -> None:
    from feedback.store.models import utcnow

    first = request(ivr, "phone-all-types", "+15557654331")
    assert dispatch(ivr) == 1
    sent = ivr.http.calls()[-1]
    for n, outcome in enumerate(["busy", "no-answer", "failed"], start=1):
        before = naive(dt.datetime.now(UTC))
        ivr.sim.unanswered(call_sid=call_sid_of(ivr, attempts(ivr, first)[-1]["id"]), to=sent.data["To"],
                           from_=sent.data["From"], status_callback=ivr.http.calls()[-1].data["StatusCallback"],
                           outcome=outcome)
        group = attempts(ivr, first)
        assert [a["status"] for a in group[:n]] == ["busy", "no-answer", "failed"][:n]
        if n < 3:
            retry = group[n]
            assert retry["no"] == n + 1 and retry["status"] == "scheduled"
            # Retried after the survey's delay (30 minutes), not before.
            assert before + dt.timedelta(minutes=30) <= retry["scheduled_for"] <= naive(
                dt.datetime.now(UTC)) + dt.timedelta(minutes=30)
            assert dispatch(ivr) == 0
            assert dispatch(ivr, retry["scheduled_for"].replace(tzinfo=UTC)) == 1
            assert len(ivr.http.calls()) == n + 1
    group = attempts(ivr, first)
    assert len(group) == 3  # attempts: 3 in all; every one kept
    assert all(a["sid"] for a in group)
    assert dispatch(ivr, dt.datetime.now(UTC) + dt.timedelta(days=2)) == 0
    assert utcnow()


def test_a_repeated_busy_status_schedules_one_retry(ivr: Ivr) -> None:
    first = request(ivr, "phone-all-types", "+15557654332")
    dispatch(ivr)
    sent = ivr.http.calls()[-1]
    for _ in range(3):
        ivr.sim.unanswered(call_sid=call_sid_of(ivr, first), to=sent.data["To"], from_=sent.data["From"],
                           status_callback=sent.data["StatusCallback"], outcome="busy")
    assert [a["status"] for a in attempts(ivr, first)] == ["busy", "scheduled"]


def test_outside_calling_hours_the_call_waits_for_the_window_in_the_contacts_time_zone(ivr: Ivr) -> None:
    from feedback.store import operations as ops

    with ivr.ctx():
        ops.find_or_create_contact(phone="+15557654333", timezone="Asia/Shanghai")
    at = dt.datetime(2030, 1, 7, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai; support-call rings 09:00-20:00
    attempt_id = request(ivr, "support-call", "+15557654333", run_at=at)
    [a] = attempts(ivr, attempt_id)
    assert a["status"] == "scheduled"
    assert a["scheduled_for"] == dt.datetime(2030, 1, 8, 1, 0)  # 09:00 the next morning in Shanghai
    assert dispatch(ivr, at) == 0
    assert dispatch(ivr, dt.datetime(2030, 1, 8, 1, 0, tzinfo=UTC)) == 1
    assert len(ivr.http.calls()) == 1


@pytest.mark.parametrize("phone,at,expected", [
    # +86: Asia/Shanghai. 03:00 UTC is 11:00 there: inside.
    ("+8613800138000", dt.datetime(2030, 1, 7, 3, 0, tzinfo=UTC), dt.datetime(2030, 1, 7, 3, 0)),
    # +1 415: America/Los_Angeles. 15:00 UTC is 07:00 there: wait for 09:00 (17:00 UTC).
    ("+14155550123", dt.datetime(2030, 1, 7, 15, 0, tzinfo=UTC), dt.datetime(2030, 1, 7, 17, 0)),
])
def test_the_time_zone_comes_from_the_phone_number_when_the_contact_has_none(
    sqlite_ivr: Ivr, phone: str, at: dt.datetime, expected: dt.datetime
) -> None:
    ivr = sqlite_ivr
    attempt_id = request(ivr, "support-call", phone, run_at=at)
    assert attempts(ivr, attempt_id)[0]["scheduled_for"] == expected


def test_a_retry_that_would_ring_after_hours_waits_for_the_next_morning(sqlite_ivr: Ivr) -> None:
    ivr = sqlite_ivr
    from channels.ivr.outbound import plan_retry
    from feedback.store import operations as ops
    from feedback.store.models import CallAttempt, db

    with ivr.ctx():
        ops.find_or_create_contact(phone="+15557654334", timezone="Asia/Shanghai")
    attempt_id = request(ivr, "phone-message", "+15557654334", run_at=dt.datetime(2030, 1, 7, 4, 0, tzinfo=UTC))
    with ivr.ctx():
        attempt = db.session.get(CallAttempt, attempt_id)
        attempt.status = "no-answer"
        # 20:50 in Shanghai + 15 minutes = 21:05, after the 08:00-21:00 window.
        when = plan_retry(attempt, now=dt.datetime(2030, 1, 7, 12, 50))
        assert when == dt.datetime(2030, 1, 8, 0, 0)  # 08:00 the next day in Shanghai
        assert plan_retry(attempt, now=dt.datetime(2030, 1, 7, 3, 0)) == dt.datetime(2030, 1, 7, 3, 15)
        attempt.attempt_no = 2  # phone-message tries twice in all
        assert plan_retry(attempt, now=dt.datetime(2030, 1, 7, 3, 0)) is None
        db.session.rollback()


def test_an_answering_machine_is_hung_up_on_and_tried_again(ivr: Ivr) -> None:
    attempt_id = request(ivr, "support-call", "+15557654335", run_at=MONDAY_3PM_UTC)
    dispatch(ivr, MONDAY_3PM_UTC)
    call = answer_call(ivr, answered_by="machine_start")
    assert call.ended and call.said == []
    assert b"<Hangup" in call.last_twiml
    group = attempts(ivr, attempt_id)
    assert group[0]["status"] == "machine" and group[0]["answered_by"] == "machine_start"
    assert group[0]["session"] is None
    assert len(group) == 2 and group[1]["status"] == "scheduled"


def test_an_answering_machine_gets_the_surveys_message_and_no_retry(ivr: Ivr) -> None:
    at = dt.datetime(2030, 1, 7, 15, 0, tzinfo=UTC)
    attempt_id = request(ivr, "phone-message", "+15557654336", run_at=at,
                         context={"contact": {"first_name": "Ana"}, "event": {"data": {"order": "A-17"}}})
    dispatch(ivr, at)
    sent = ivr.http.calls()[-1]
    assert sent.data["MachineDetection"] == "DetectMessageEnd" and str(sent.data["Timeout"]) == "25"
    call = answer_call(ivr, answered_by="machine_end_beep")
    assert call.said == ["Hello Ana, this is Lumen Coffee about order A-17. We will not call again. Goodbye."]
    assert call.ended
    assert [a["status"] for a in attempts(ivr, attempt_id)] == ["machine"]


def test_a_person_answering_a_message_survey_takes_the_survey(ivr: Ivr) -> None:
    at = dt.datetime(2030, 1, 7, 15, 0, tzinfo=UTC)
    attempt_id = request(ivr, "phone-message", "+15557654337", run_at=at, locale="en")
    dispatch(ivr, at)
    call = answer_call(ivr, answered_by="human")
    assert call.prompt.startswith("Did your order arrive on time?")
    call.press("2")
    assert call.last_said == "Thanks. Goodbye!"
    assert ivr.answers("phone-message", call_sid_of(ivr, attempt_id)) == {"on_time": False}


def test_a_rest_error_is_recorded_on_the_attempt(ivr: Ivr) -> None:
    ivr.http.fail_with = (400, 21211, "The 'To' number +15557654338 is not a valid phone number.")
    attempt_id = request(ivr, "phone-all-types", "+15557654338")
    dispatch(ivr)
    [a] = attempts(ivr, attempt_id)
    assert a["status"] == "failed" and a["sid"] is None
    assert a["error"].startswith("Twilio error 21211: ")
    assert a["error"].endswith("The 'To' number +15557654338 is not a valid phone number.")


def test_a_passing_twilio_failure_is_tried_again(ivr: Ivr) -> None:
    ivr.http.fail_with = (503, 20503, "Service unavailable")
    attempt_id = request(ivr, "phone-all-types", "+15557654339")
    dispatch(ivr)
    group = attempts(ivr, attempt_id)
    assert [a["status"] for a in group] == ["failed", "scheduled"]
    assert "20503" in (group[0]["error"] or "")
    ivr.http.fail_with = None
    assert dispatch(ivr, dt.datetime.now(UTC) + dt.timedelta(minutes=31)) == 1
    assert [a["status"] for a in attempts(ivr, attempt_id)] == ["failed", "queued"]


def test_missing_twilio_settings_are_recorded_not_retried(sqlite_ivr: Ivr) -> None:
    ivr = sqlite_ivr
    ivr.app.config["TWILIO_FROM_NUMBER"] = None
    attempt_id = request(ivr, "phone-all-types", "+15557654340")
    dispatch(ivr)
    [a] = attempts(ivr, attempt_id)
    assert a["status"] == "failed" and "TWILIO_FROM_NUMBER" in (a["error"] or "")


def test_a_job_run_twice_places_one_call(ivr: Ivr) -> None:
    from sqlalchemy import select

    from feedback.jobs import run_job
    from feedback.store.models import Job, db

    attempt_id = request(ivr, "phone-all-types", "+15557654341")
    with ivr.ctx():
        job = db.session.scalar(select(Job).where(Job.dedupe_key == f"place_call:{attempt_id}"))
        assert job is not None
        run_job(job.id)
        job.status = "pending"  # as if the outbox handed it out again
        db.session.commit()
        run_job(job.id)
    assert len(ivr.http.calls()) == 1


def count(ivr: Ivr) -> tuple[int, int, int]:
    from sqlalchemy import func, select

    from feedback.store.models import CallAttempt, Contact, Job, db

    with ivr.ctx():
        return tuple(db.session.scalar(select(func.count()).select_from(m)) or 0 for m in (CallAttempt, Job, Contact))


def test_an_opted_out_contact_is_not_called(ivr: Ivr) -> None:
    from feedback.errors import Forbidden
    from feedback.store import operations as ops

    with ivr.ctx():
        contact = ops.find_or_create_contact(phone="+15557654342")
        ops.record_opt_out(contact, "ivr", source="test")
    before = count(ivr)
    with pytest.raises(Forbidden, match="opted out"):
        request(ivr, "phone-all-types", "+15557654342")
    assert count(ivr) == before


@pytest.mark.parametrize("survey,phone,kw,message", [
    ("nope", "+15557654343", {}, "no survey 'nope'"),
    ("post-purchase", "+15557654343", {}, "not offered on the phone"),
    ("phone-all-types", "call me maybe", {}, "is not a phone number"),
    ("phone-all-types", "+15557654343", {"locale": "fr"}, "has no fr version"),
    ("phone-all-types", "+15557654343", {"context": {"contact": "Bob"}}, "context.contact"),
    ("phone-all-types", "+15557654343", {"contact_id": 9999}, "no contact 9999"),
])
def test_bad_call_requests_are_refused_storing_nothing(sqlite_ivr: Ivr, survey: str, phone: str, kw: Any, message: str) -> None:
    ivr = sqlite_ivr
    from feedback.errors import BadRequest

    before = count(ivr)
    with pytest.raises(BadRequest, match=message):
        request(ivr, survey, phone, **kw)
    assert count(ivr) == before


def test_status_callbacks_move_the_attempt_forward_only(ivr: Ivr) -> None:
    attempt_id = request(ivr, "phone-all-types", "+15557654344", locale="en")
    dispatch(ivr)
    call = answer_call(ivr)  # initiated, ringing, then the voice webhook
    call.status("answered", CallStatus="in-progress")
    call.status("ringing", CallStatus="ringing")
    assert attempts(ivr, attempt_id)[0]["status"] == "in-progress"
    call.hang_up()
    call.status("ringing", CallStatus="ringing")
    assert attempts(ivr, attempt_id)[0]["status"] == "completed"
    assert ivr.response("phone-all-types", call.call_sid)["status"] == "abandoned"


def test_feedback_call_places_the_call_and_prints_the_callsid(sqlite_ivr: Ivr, monkeypatch: Any) -> None:
    ivr = sqlite_ivr
    from click.testing import CliRunner

    from channels.ivr import cli as ivr_cli
    from feedback.cli import cli

    monkeypatch.setattr(ivr_cli, "_make_app", lambda: ivr.app)
    result = CliRunner().invoke(cli, ["call", "phone-all-types", "+15557654345", "--locale", "zh-CN",
                                      "--context", '{"contact": {"first_name": "Li"}}'])
    assert result.exit_code == 0, result.output
    assert "call attempt 1 (try 1) to +15557654345: queued" in result.output
    sid = ivr.http.calls()[0]
    assert "CallSid CA" in result.output
    assert sid.data["To"] == "+15557654345"
    listed = CliRunner().invoke(cli, ["calls", "phone-all-types"])
    assert "call attempt 1 (try 1) to +15557654345: queued" in listed.output


def test_feedback_call_reports_a_deferred_call(sqlite_ivr: Ivr, monkeypatch: Any) -> None:
    ivr = sqlite_ivr
    from click.testing import CliRunner

    from channels.ivr import cli as ivr_cli
    from feedback.cli import cli

    monkeypatch.setattr(ivr_cli, "_make_app", lambda: ivr.app)
    result = CliRunner().invoke(cli, ["call", "support-call", "+8613800138001", "--at", "2030-01-07T22:00:00+08:00"])
    assert result.exit_code == 0, result.output
    assert "outside calling hours: rings at 2030-01-08 09:00 Asia/Shanghai (2030-01-08 01:00 UTC)" in result.output
    assert ivr.http.calls() == []


def test_feedback_call_explains_a_bad_request(sqlite_ivr: Ivr, monkeypatch: Any) -> None:
    ivr = sqlite_ivr
    from click.testing import CliRunner

    from channels.ivr import cli as ivr_cli
    from feedback.cli import cli

    monkeypatch.setattr(ivr_cli, "_make_app", lambda: ivr.app)
    result = CliRunner().invoke(cli, ["call", "phone-all-types", "12"])
    assert result.exit_code == 1
    assert "error: '12' is not a phone number" in result.output
    result = CliRunner().invoke(cli, ["call", "phone-all-types", "+15557654346", "--context", "{oops"])
    assert result.exit_code == 1 and "--context is not valid JSON" in result.output


@pytest.mark.parametrize(("context", "message"), [
    ('{"contact": {"email": 5}}', "error: 'context.contact.email' must be a text, not a number"),
    ('{"contact": {"id": {"a": 1}}}', "error: 'context.contact.id' must be a text or a whole number, not an object"),
    ('{"contact": {"locale": ["zh-CN"]}}', "error: 'context.contact.locale' must be a text, not a list"),
    ('{"contact": "Bob"}', "error: 'context.contact' must be a JSON object"),
    ('{"event": 3}', "error: 'context.event' must be a JSON object"),
    ("[1]", "error: --context must be a JSON object"),
])
def test_feedback_call_and_feedback_sms_refuse_the_same_bad_context_alike(
    sqlite_ivr: Ivr, monkeypatch: Any, context: str, message: str
) -> None:
    """One check of the context for every channel: the same mistake, the same words."""
    ivr = sqlite_ivr
    from click.testing import CliRunner

    import feedback.app as feedback_app
    from channels.ivr import cli as ivr_cli
    from feedback.cli import cli

    monkeypatch.setattr(ivr_cli, "_make_app", lambda: ivr.app)
    monkeypatch.setattr(feedback_app, "create_app", lambda config=None: ivr.app)
    before = count(ivr)
    for command in (["call", "phone-all-types", "+15557654347"], ["sms", "support-call", "+15557654347"]):
        result = CliRunner().invoke(cli, [*command, "--context", context])
        assert result.exit_code == 1, (command, result.output)
        assert message in result.output, (command, result.output)
    assert count(ivr) == before and ivr.http.requests == []
