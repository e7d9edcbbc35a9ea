"""The channel ladder: a call nobody answers falls back to SMS, then to email; it stops as
soon as the contact answers. Twilio's REST API is faked at the HTTP edge (the real twilio
client runs); SMS replies come through the signed webhook."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sms.conftest import Phone
from tests.support.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioHttp
from tests.triggers.support import Dist, answer_link, local, text_of
from tests.web.support import Respondent

PHONE = "+15551234567"
CUSTOMER = {"id": "cust-9", "phone": PHONE, "email": "nine@example.com", "timezone": "Europe/London",
            "first_name": "Nine"}


@pytest.fixture
def twilio(dist: Dist) -> FakeTwilioHttp:
    dist.app.config.update(
        TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_FROM_NUMBER="+15557770000"
    )
    http = FakeTwilioHttp()
    dist.app.extensions["twilio_http_client"] = http
    return http


def fail_messages(twilio: FakeTwilioHttp, status: int, code: int, message: str) -> None:
    """Twilio answers every messages.create with this error (calls still go through)."""
    request = twilio.request

    def failing(method: str, uri: str, *args: Any, **kwargs: Any) -> Any:
        if not uri.endswith("/Messages.json"):
            return request(method, uri, *args, **kwargs)
        twilio.fail_with = (status, code, message)
        try:
            return request(method, uri, *args, **kwargs)
        finally:
            twilio.fail_with = None

    twilio.request = failing  # type: ignore[method-assign]


def steps(dist: Dist, event_id: str) -> list[dict[str, Any]]:
    return dist.event_detail(event_id)["decisions"][0]["invitation"]["steps"]


def test_an_unanswered_call_falls_back_to_sms_then_email(dist: Dist, twilio: FakeTwilioHttp) -> None:
    body = dist.send("call-1", "t.ladder", CUSTOMER, {"agent_name": "Li"})
    inv = body["decisions"][0]["invitation"]
    assert [(s["channel"], s["status"]) for s in inv["steps"]] == [
        ("ivr", "scheduled"), ("sms", "planned"), ("email", "planned")
    ]
    dist.run()
    [call] = twilio.calls()
    assert call.data["To"] == PHONE
    assert twilio.messages() == []
    assert [s["status"] for s in steps(dist, "call-1")] == ["sent", "planned", "planned"]

    dist.advance(minutes=59)
    assert twilio.messages() == []  # still waiting for the call to be answered
    dist.advance(minutes=1)
    assert [s["status"] for s in steps(dist, "call-1")] == ["unanswered", "sent", "planned"]
    texts = [m.data["Body"] for m in twilio.messages()]
    assert texts and all(m.data["To"] == PHONE for m in twilio.messages())
    assert any("recommend" in t for t in texts)
    assert dist.eml() == []

    dist.advance(hours=1)
    s = steps(dist, "call-1")
    assert [x["status"] for x in s] == ["unanswered", "unanswered", "sent"]
    [mail] = dist.eml()
    assert mail["To"] == "nine@example.com"
    assert "recommend" in text_of(mail)

    # The contact answers from the email: the invitation is answered, with the event's data.
    r = Respondent(dist.client, local(answer_link(mail, "9")))
    page = r.open()
    assert page.status == 200
    page = r.submit({"resolved": "yes"})
    assert page.is_thanks
    dist.advance(days=2)
    inv = dist.event_detail("call-1")["decisions"][0]["invitation"]
    assert inv["status"] == "answered"
    assert [x["status"] for x in inv["steps"]] == ["unanswered", "unanswered", "answered"]
    responses = dist.responses("t-ladder")
    [resp] = [r for r in responses if r["answers"]]
    # The SMS conversation that got no reply is closed, without answers.
    assert [(r["channel"], r["status"]) for r in responses if not r["answers"]] == [("sms", "abandoned")]
    assert resp["status"] == "complete" and resp["channel"] == "web"
    assert resp["meta"]["invitation_id"] == inv["id"]
    assert resp["event"] == {"id": "call-1", "type": "t.ladder", "data": {"agent_name": "Li"}}
    assert resp["answers"]["nps"]["value"] == 9 and resp["answers"]["nps"]["modality"] == "email"
    assert len(twilio.calls()) == 1  # nothing was sent twice


def test_an_sms_answer_stops_the_ladder(dist: Dist, twilio: FakeTwilioHttp) -> None:
    dist.send("call-2", "t.ladder", CUSTOMER)
    dist.run()
    dist.advance(hours=1)  # the call went unanswered: SMS
    assert twilio.messages()
    phone = Phone(dist.client, PHONE)
    phone.text("9")
    sent_before = len(twilio.messages())
    dist.advance(hours=1)
    inv = dist.event_detail("call-2")["decisions"][0]["invitation"]
    assert inv["status"] == "answered"
    assert [x["status"] for x in inv["steps"]] == ["unanswered", "answered", "cancelled"]
    assert inv["steps"][2]["reason"] == "answered"
    assert dist.eml() == []
    assert len(twilio.messages()) == sent_before
    [resp] = dist.responses("t-ladder")
    assert resp["channel"] == "sms" and resp["answers"]["nps"]["value"] == 9
    assert resp["meta"]["invitation_id"] == inv["id"]


def test_the_ladder_stops_when_the_invitation_expires(dist: Dist, twilio: FakeTwilioHttp) -> None:
    dist.send("call-3", "t.ladder", CUSTOMER)
    dist.run()
    dist.clock.advance(days=3)  # nobody ran the outbox for three days (expires: 2d)
    dist.run()
    inv = dist.event_detail("call-3")["decisions"][0]["invitation"]
    assert inv["status"] == "expired"
    assert [x["status"] for x in inv["steps"]] == ["unanswered", "cancelled", "cancelled"]
    assert twilio.messages() == [] and dist.eml() == []


def test_an_sms_opt_out_skips_that_rung(dist: Dist, twilio: FakeTwilioHttp) -> None:
    dist.send("call-4", "t.ladder", CUSTOMER)
    dist.run()
    from feedback.store import operations as ops

    with dist.ctx():
        ops.record_opt_out(ops.find_or_create_contact(external_id="cust-9"), "sms", "STOP")
    dist.advance(hours=1)
    s = steps(dist, "call-4")
    assert [(x["channel"], x["status"], x["reason"]) for x in s] == [
        ("ivr", "unanswered", None), ("sms", "skipped", "opted_out"), ("email", "sent", None)
    ]
    assert twilio.messages() == []
    assert len(dist.eml()) == 1


def test_a_channel_that_refuses_moves_the_ladder_on(dist: Dist, twilio: FakeTwilioHttp, tmp_path: Any) -> None:
    dist.send("call-5", "t.ladder", CUSTOMER)
    dist.run()
    # Meanwhile a new version of the survey drops SMS: that channel refuses the step, and
    # the ladder goes straight on to email.
    from feedback.store import operations as ops
    from tests.triggers.support import SURVEYS

    text = (SURVEYS / "t-ladder.yaml").read_text(encoding="utf-8")
    text = text.replace("channels: [ivr, sms, email, web]", "channels: [ivr, email, web]")
    text = text.replace("channels: [ivr, sms, email]", "channels: [ivr, email]")
    (tmp_path / "t-ladder.yaml").write_text(text, encoding="utf-8")
    with dist.ctx():
        assert not ops.load_surveys([tmp_path / "t-ladder.yaml"]).problems
    dist.advance(hours=1)
    s = steps(dist, "call-5")
    assert [(x["channel"], x["status"], x["reason"]) for x in s] == [
        ("ivr", "unanswered", None), ("sms", "failed", "refused"), ("email", "sent", None)
    ]
    assert "not offered by SMS" in s[1]["detail"]
    assert twilio.messages() == []
    assert len(dist.eml()) == 1


# -- calls: the step lasts until the call's outcome is known ---------------------------------------


def _attempts(dist: Dist) -> list[Any]:
    from sqlalchemy import select

    from feedback.store.models import CallAttempt, db

    with dist.ctx():
        rows = db.session.scalars(select(CallAttempt).order_by(CallAttempt.id)).all()
        return [(a.id, a.call_sid, a.status) for a in rows]


def call_status(dist: Dist, attempt_id: int, call_sid: str, status: str) -> None:
    """Twilio's signed status callback for an outbound call."""
    from tests.support.twilio import sign

    url = f"http://localhost/ivr/status?attempt={attempt_id}"
    params = {"AccountSid": ACCOUNT_SID, "CallSid": call_sid, "CallStatus": status, "Direction": "outbound-api"}
    resp = dist.client.post(url, data=params, headers={"X-Twilio-Signature": sign(url, params)})
    assert resp.status_code == 200


def test_the_ladder_waits_for_the_call_and_its_retries_before_the_next_channel(
    dist: Dist, twilio: FakeTwilioHttp
) -> None:
    # t-ladder calls up to 3 times, an hour apart; its ladder waits an hour.
    dist.send("call-6", "t.ladder", CUSTOMER)
    dist.run()
    assert [s["status"] for s in steps(dist, "call-6")] == ["sent", "planned", "planned"]
    for n in (1, 2):
        attempt_id, sid, _ = _attempts(dist)[-1]
        call_status(dist, attempt_id, sid, "no-answer")
        dist.advance(minutes=60)  # the ladder's wait is over, and the call is tried again
        assert len(twilio.calls()) == n + 1
        assert twilio.messages() == []
        assert steps(dist, "call-6")[0]["status"] == "sent"
    attempt_id, sid, _ = _attempts(dist)[-1]
    call_status(dist, attempt_id, sid, "no-answer")  # the last attempt: the call is unanswered
    dist.run()
    s = steps(dist, "call-6")
    assert [x["status"] for x in s] == ["unanswered", "sent", "planned"]
    assert twilio.messages()
    dist.advance(hours=3)
    assert len(twilio.calls()) == 3


LADDER2 = """
spec_version: 1
id: t-ladder2
title: {en: After your call}
default_locale: en
channels: [ivr, sms, web]
questions:
  - id: nps
    type: nps
    required: true
    text: {en: How likely are you to recommend us?}
triggers:
  - event: t.ladder2
    channels: [sms, ivr]
    wait: 1h
    expires: 2d
"""


def test_a_call_waiting_for_calling_hours_is_not_placed_once_answered_elsewhere(
    dist: Dist, twilio: FakeTwilioHttp, tmp_path: Any
) -> None:
    from feedback.store import operations as ops

    (tmp_path / "t-ladder2.yaml").write_text(LADDER2, encoding="utf-8")
    with dist.ctx():
        assert not ops.load_surveys([tmp_path / "t-ladder2.yaml"]).problems
    dist.clock.advance(hours=7, minutes=30)  # 19:30 in London
    dist.send("call-7", "t.ladder2", CUSTOMER)
    dist.run()
    assert len(twilio.messages()) >= 1
    dist.advance(hours=1)  # 20:30: the SMS went unanswered; calls ring 09:00-20:00
    s = steps(dist, "call-7")
    assert [x["status"] for x in s] == ["unanswered", "sending"]
    assert s[1]["reason"] == "calling_hours" and "T09:00:00Z" in s[1]["detail"]
    assert twilio.calls() == []
    dist.advance(hours=1, minutes=15)  # the ladder's wait would be over: not for a call not placed
    assert steps(dist, "call-7")[1]["status"] == "sending"
    Phone(dist.client, PHONE).text("9")  # the contact answers the SMS late in the evening
    dist.advance(hours=12)  # 09:45 the next morning
    assert twilio.calls() == []
    inv = dist.event_detail("call-7")["decisions"][0]["invitation"]
    assert inv["status"] == "answered"
    assert [x["status"] for x in inv["steps"]] == ["answered", "cancelled"]
    assert [status for _, _, status in _attempts(dist)] == ["canceled"]


def test_a_call_placed_after_calling_hours_counts_its_wait_from_then(
    dist: Dist, twilio: FakeTwilioHttp
) -> None:
    dist.clock.advance(hours=8, minutes=30)  # 20:30 in London: the call waits for 09:00
    dist.send("call-8", "t.ladder", CUSTOMER)
    dist.run()
    assert twilio.calls() == []
    assert steps(dist, "call-8")[0]["status"] == "sending"
    dist.advance(hours=12, minutes=30)  # 09:00
    assert len(twilio.calls()) == 1
    s = steps(dist, "call-8")
    assert s[0]["status"] == "sent" and s[0]["sent_at"].endswith("T09:00:00Z")
    dist.advance(minutes=59)
    assert twilio.messages() == []
    dist.advance(minutes=1)
    assert [x["status"] for x in steps(dist, "call-8")] == ["unanswered", "sent", "planned"]


LADDER3 = """
spec_version: 1
id: t-ladder3
title: {en: Your order}
default_locale: en
channels: [email, sms, web]
questions:
  - id: nps
    type: nps
    required: true
    text: {en: How likely are you to recommend us?}
triggers:
  - event: t.ladder3
    channels: [email, sms]
    wait: 1h
"""


def test_an_email_the_server_refuses_fails_the_step_and_the_next_channel_goes_at_once(
    dist: Dist, twilio: FakeTwilioHttp, tmp_path: Any
) -> None:
    from feedback.store import operations as ops
    from tests.triggers.support import SmtpSink

    sink = SmtpSink()
    sink.start()
    try:
        dist.app.config["SMTP_URL"] = sink.url
        (tmp_path / "t-ladder3.yaml").write_text(LADDER3, encoding="utf-8")
        with dist.ctx():
            assert not ops.load_surveys([tmp_path / "t-ladder3.yaml"]).problems
        who = {**CUSTOMER, "email": "nobody@refused.example"}
        dist.send("mail-1", "t.ladder3", who)
        dist.run()
    finally:
        sink.stop()
    s = steps(dist, "mail-1")
    assert [(x["channel"], x["status"], x["reason"]) for x in s] == [("email", "failed", "rejected"), ("sms", "sent", None)]
    assert "550" in s[0]["detail"] and s[0]["sent_at"] is None
    assert twilio.messages()


def test_an_sms_that_could_not_be_sent_is_a_failed_step_not_an_unanswered_one(
    dist: Dist, twilio: FakeTwilioHttp, tmp_path: Any
) -> None:
    from feedback.store import operations as ops

    (tmp_path / "t-ladder2.yaml").write_text(LADDER2, encoding="utf-8")
    with dist.ctx():
        assert not ops.load_surveys([tmp_path / "t-ladder2.yaml"]).problems
    fail_messages(twilio, 400, 21211, "The 'To' number is not a valid phone number.")  # the call goes through
    dist.send("sms-f", "t.ladder2", CUSTOMER)
    dist.run()
    dist.advance(hours=1)
    s = steps(dist, "sms-f")
    assert [(x["channel"], x["status"], x["reason"]) for x in s] == [("sms", "failed", "send_failed"), ("ivr", "sent", None)]
    assert "21211" in s[0]["detail"]


LADDER4 = """
spec_version: 1
id: t-ladder4
title: {en: Your visit}
default_locale: en
channels: [sms, email, web]
questions:
  - id: nps
    type: nps
    required: true
    text: {en: How likely are you to recommend us?}
triggers:
  - event: t.ladder4
    channels: [sms, email]
    wait: 1h
    expires: 2d
"""


def _load_ladder4(dist: Dist, tmp_path: Any) -> None:
    from feedback.store import operations as ops

    (tmp_path / "t-ladder4.yaml").write_text(LADDER4, encoding="utf-8")
    with dist.ctx():
        assert not ops.load_surveys([tmp_path / "t-ladder4.yaml"]).problems


def _sms_sids(dist: Dist) -> list[str]:
    """The sids Twilio gave the messages sent, oldest first (what its callbacks name)."""
    from sqlalchemy import select

    from feedback.store.models import Message, db

    with dist.ctx():
        return [m.message_sid for m in db.session.scalars(
            select(Message).where(Message.direction == "out").order_by(Message.id)) if m.message_sid]


def _sms_status(dist: Dist, sid: str, status: str, error_code: str | None = None) -> None:
    from tests.sms.conftest import status_callback

    resp = status_callback(dist.client, sid, status, error_code, to=PHONE)
    assert resp.status_code == 200


def test_an_sms_twilio_refuses_moves_the_ladder_to_email_at_once(
    dist: Dist, twilio: FakeTwilioHttp, tmp_path: Any
) -> None:
    _load_ladder4(dist, tmp_path)
    fail_messages(twilio, 400, 21211, "The 'To' number is not a valid phone number.")
    dist.send("sms-r1", "t.ladder4", CUSTOMER)
    dist.run()  # the clock has not moved: nothing waited for the step's hour
    assert twilio.messages()
    s = steps(dist, "sms-r1")
    assert [(x["channel"], x["status"], x["reason"]) for x in s] == [("sms", "failed", "send_failed"), ("email", "sent", None)]
    assert "21211" in s[0]["detail"] and s[0]["sent_at"] is None
    [mail] = dist.eml()
    assert mail["To"] == "nine@example.com"
    dist.advance(hours=1)  # the step's own check at the end of its wait changes nothing
    assert [x["status"] for x in steps(dist, "sms-r1")] == ["failed", "sent"]
    assert len(dist.eml()) == 1


def test_a_passing_twilio_error_is_retried_before_the_ladder_moves_on(
    dist: Dist, twilio: FakeTwilioHttp, tmp_path: Any
) -> None:
    _load_ladder4(dist, tmp_path)
    fail_messages(twilio, 503, 20500, "Service unavailable")
    dist.send("sms-r2", "t.ladder4", CUSTOMER)
    dist.run()
    assert [x["status"] for x in steps(dist, "sms-r2")] == ["sent", "planned"]  # retried later
    assert dist.eml() == []
    tries = len(twilio.messages())
    for _ in range(5):
        dist.advance(seconds=30 * 2 ** 5)  # the job's backoff, until it gives up
    assert len(twilio.messages()) > tries
    s = steps(dist, "sms-r2")
    assert [(x["channel"], x["status"], x["reason"]) for x in s] == [("sms", "failed", "send_failed"), ("email", "sent", None)]
    assert "20500" in s[0]["detail"]
    assert len(dist.eml()) == 1


def test_an_sms_reported_failed_by_its_status_callback_moves_the_ladder_to_email_at_once(
    dist: Dist, twilio: FakeTwilioHttp, tmp_path: Any
) -> None:
    _load_ladder4(dist, tmp_path)
    dist.send("sms-c1", "t.ladder4", CUSTOMER)
    dist.run()
    assert [x["status"] for x in steps(dist, "sms-c1")] == ["sent", "planned"]
    sids = _sms_sids(dist)
    assert sids
    _sms_status(dist, sids[0], "sent")
    _sms_status(dist, sids[0], "failed", "30003")
    dist.run()
    s = steps(dist, "sms-c1")
    assert [(x["channel"], x["status"], x["reason"]) for x in s] == [("sms", "failed", "send_failed"), ("email", "sent", None)]
    assert "30003" in s[0]["detail"] and "failed" in s[0]["detail"]
    assert len(dist.eml()) == 1
    for sid in sids[1:]:  # the other messages' failures change nothing more
        _sms_status(dist, sid, "undelivered", "30003")
    dist.advance(hours=1)
    assert [x["status"] for x in steps(dist, "sms-c1")] == ["failed", "sent"]
    assert len(dist.eml()) == 1


def test_an_sms_callback_for_an_opted_out_number_skips_the_step(
    dist: Dist, twilio: FakeTwilioHttp, tmp_path: Any
) -> None:
    _load_ladder4(dist, tmp_path)
    dist.send("sms-c2", "t.ladder4", CUSTOMER)
    dist.run()
    _sms_status(dist, _sms_sids(dist)[0], "failed", "21610")
    dist.run()
    s = steps(dist, "sms-c2")
    assert [(x["channel"], x["status"], x["reason"]) for x in s] == [("sms", "skipped", "opted_out"), ("email", "sent", None)]
    assert len(dist.eml()) == 1


def test_a_failure_after_a_delivered_sms_leaves_the_step_to_its_wait(
    dist: Dist, twilio: FakeTwilioHttp, tmp_path: Any
) -> None:
    _load_ladder4(dist, tmp_path)
    dist.send("sms-c3", "t.ladder4", CUSTOMER)
    dist.run()
    sids = _sms_sids(dist)
    _sms_status(dist, sids[0], "delivered")
    for sid in sids[1:]:
        _sms_status(dist, sid, "undelivered", "30007")
    _sms_status(dist, sids[0], "failed", "30003")  # late and out of order: delivered stays
    dist.run()
    assert [x["status"] for x in steps(dist, "sms-c3")] == ["sent", "planned"]
    assert dist.eml() == []
    dist.advance(hours=1)
    assert [x["status"] for x in steps(dist, "sms-c3")] == ["unanswered", "sent"]
    assert len(dist.eml()) == 1


def test_an_sms_twilio_refuses_as_opted_out_skips_the_step(
    dist: Dist, twilio: FakeTwilioHttp, tmp_path: Any
) -> None:
    _load_ladder4(dist, tmp_path)
    fail_messages(twilio, 400, 21610, "Attempt to send to unsubscribed recipient")
    dist.send("sms-r3", "t.ladder4", CUSTOMER)
    dist.run()
    s = steps(dist, "sms-r3")
    assert [(x["channel"], x["status"], x["reason"]) for x in s] == [("sms", "skipped", "opted_out"), ("email", "sent", None)]
    assert "21610" in s[0]["detail"]
    assert len(dist.eml()) == 1
