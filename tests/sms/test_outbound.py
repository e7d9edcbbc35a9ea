"""Outbound SMS / WhatsApp surveys: request_sms (contracts §2), the sending job, statuses."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from feedback.errors import BadRequest, NotFound
from feedback.store.models import Contact, Job, Message, Response, Session, utcnow

from .conftest import OUR_NUMBER, Phone, api_responses, dispatch, rows, status_callback

TEMPLATE_SID = "HX" + "ab" * 16


def test_request_sms_sends_the_intro_and_first_question_with_a_status_callback(app: Any, twilio: Any) -> None:
    from channels.sms.outbound import request_sms

    context = {"contact": {"first_name": "Ana", "id": "cust-42"},
               "event": {"id": "evt-9", "type": "call.ended", "data": {"agent": "Bo"}}}
    with app.app_context():
        session_id = request_sms("support-call", "+1 (555) 123-0301", context=context,
                                 meta={"invitation_id": 7, "step_id": 19})
    assert twilio.messages() == []  # sent by the job, not by the request
    assert dispatch(app) == 1
    [req] = twilio.messages()
    assert req.data["To"] == "+15551230301"
    assert req.data["From"] == OUR_NUMBER
    assert req.data["Body"].startswith("Hi Ana, thanks for calling.")
    assert "How likely are you to recommend us" in req.data["Body"]
    assert req.data["StatusCallback"] == "http://localhost/sms/status"
    [msg] = rows(app, Message)
    assert msg.session_id == session_id and msg.direction == "out"
    assert msg.message_sid == "SM" + "1".zfill(32) and msg.status == "queued"
    assert (msg.segments, msg.encoding) == (2, "GSM-7")

    # The customer answers by SMS; the survey carries on in the same session.
    phone = Phone(app.test_client(), "+15551230301")
    assert phone.reply("10").startswith("Was your problem solved")
    assert phone.reply("yes") == "Thank you for your feedback. Goodbye!"
    [resp] = api_responses(app, "support-call")
    assert resp["session_id"] == session_id
    assert resp["status"] == "complete" and resp["channel"] == "sms"
    assert resp["contact_id"] == "cust-42"
    assert resp["event"]["id"] == "evt-9" and resp["event"]["type"] == "call.ended"
    assert resp["meta"]["invitation_id"] == 7 and resp["meta"]["step_id"] == 19
    assert resp["answers"]["nps"]["value"] == 10 and resp["answers"]["nps"]["raw"] == "10"

    # Delivery statuses move forward only.
    client = app.test_client()
    for status in ("sent", "delivered", "sent", "queued"):
        assert status_callback(client, msg.message_sid, status).status_code == 200
    [msg] = rows(app, Message, Message.message_sid == msg.message_sid)
    assert msg.status == "delivered"
    assert msg.meta["statuses"] == ["sent", "delivered", "sent", "queued"]


def test_request_sms_in_chinese(app: Any, twilio: Any) -> None:
    from channels.sms.outbound import request_sms

    with app.app_context():
        request_sms("support-call", "+8613800138300", locale="zh-CN")
    dispatch(app)
    [req] = twilio.messages()
    assert req.data["Body"].startswith("您好，感谢您的来电。")
    [msg] = rows(app, Message)
    assert msg.encoding == "UCS-2" and msg.segments == 2
    phone = Phone(app.test_client(), "+8613800138300")
    assert phone.reply("我给五分").startswith("您打 5 分的主要原因是什么？")
    assert phone.reply("等待时间太长").startswith("您的问题在这次通话中解决了吗？")
    assert phone.reply("没有") == "感谢您的反馈，再见！"
    [resp] = api_responses(app, "support-call", locale="zh-CN")
    assert resp["answers"]["resolved"]["value"] is False and resp["answers"]["reason"]["raw"] == "等待时间太长"


def test_refusals_store_nothing(app: Any, twilio: Any) -> None:
    from channels.sms.outbound import request_sms

    with app.app_context():
        with pytest.raises(NotFound):
            request_sms("no-such-survey", "+15551230302")
        with pytest.raises(BadRequest, match="not offered by SMS"):
            request_sms("support-ticket", "+15551230302")
        with pytest.raises(BadRequest, match="not a phone number|not a possible"):
            request_sms("support-call", "call me maybe")
        with pytest.raises(BadRequest, match="context"):
            request_sms("support-call", "+15551230302", context={"event": "closed"})  # type: ignore[dict-item]
        with pytest.raises(BadRequest, match="no contact"):
            request_sms("support-call", "+15551230302", contact_id=999)
    assert not rows(app, Session) and not rows(app, Contact) and not rows(app, Job) and not rows(app, Message)


def test_one_running_survey_per_number(app: Any, twilio: Any) -> None:
    from channels.sms.outbound import request_sms

    with app.app_context():
        first = request_sms("support-call", "+15551230303")
        with pytest.raises(BadRequest, match="already has an SMS survey in progress"):
            request_sms("support-call", "+15551230303")
    assert [s.id for s in rows(app, Session)] == [first]


def test_run_at_delays_the_send(app: Any, twilio: Any) -> None:
    from channels.sms.outbound import request_sms

    later = utcnow() + dt.timedelta(hours=2)
    with app.app_context():
        request_sms("support-call", "+15551230304", run_at=later)
    assert dispatch(app) == 0 and twilio.messages() == []
    # Before it is sent, a message from that number does not answer the unsent question.
    assert Phone(app.test_client(), "+15551230304").reply("7").startswith("Reply FEEDBACK")
    assert dispatch(app, now=later + dt.timedelta(seconds=1)) == 1
    assert len(twilio.messages()) == 1


def test_a_passing_error_is_recorded_and_retried_by_the_outbox(app: Any, twilio: Any) -> None:
    from channels.sms.outbound import request_sms

    with app.app_context():
        request_sms("support-call", "+15551230305")
    twilio.fail_with = (503, 20503, "Service unavailable")
    dispatch(app)
    [job] = rows(app, Job, Job.name == "send_sms")
    assert job.status == "pending" and "Service unavailable" in (job.last_error or "")
    [msg] = rows(app, Message)
    assert msg.status == "scheduled" and msg.error_code == "20503" and msg.message_sid is None
    twilio.fail_with = None
    dispatch(app, now=utcnow() + dt.timedelta(minutes=5))
    [msg] = rows(app, Message)
    assert msg.status == "queued" and msg.message_sid
    assert len(twilio.messages()) == 2  # one failed try, one send
    [job] = rows(app, Job, Job.name == "send_sms")
    assert job.status == "done"


def test_a_final_error_ends_the_survey_without_retrying(app: Any, twilio: Any) -> None:
    from channels.sms.outbound import request_sms

    with app.app_context():
        request_sms("support-call", "+15551230306")
    twilio.fail_with = (400, 21211, "The 'To' number is not a valid phone number.")
    dispatch(app)
    [msg] = rows(app, Message)
    assert msg.status == "failed" and msg.error_code == "21211"
    [session] = rows(app, Session)
    assert session.status == "abandoned"
    [job] = rows(app, Job, Job.name == "send_sms")
    assert job.status == "done"
    dispatch(app, now=utcnow() + dt.timedelta(hours=1))
    assert len(twilio.messages()) == 1


def test_status_callbacks_record_errors_and_ignore_regressions(app: Any, twilio: Any) -> None:
    client = app.test_client()
    phone = Phone(client, "+15551230307")
    phone.reply("FEEDBACK")
    [reply] = rows(app, Message, Message.direction == "out")
    # A reply sent in TwiML gets its sid from its first status callback (?m=<id>).
    sid = "SM" + "e" * 32
    resp = status_callback(client, sid, "sent", path=f"/sms/status?m={reply.id}")
    assert resp.status_code == 200
    status_callback(client, sid, "undelivered", "30006")
    status_callback(client, sid, "sent")
    [reply] = rows(app, Message, Message.id == reply.id)
    assert reply.message_sid == sid and reply.status == "undelivered" and reply.error_code == "30006"
    # Someone else's message, or garbage, is ignored with a 200.
    assert status_callback(client, "SM" + "0" * 32, "delivered").status_code == 200
    from .conftest import post_signed

    assert post_signed(client, "/sms/status", {"Foo": "bar"}).status_code == 200
    assert post_signed(client, "/sms/status?m=notanumber", {"MessageStatus": "sent"}).status_code == 200


def test_read_after_delivered_and_delivered_after_read(app: Any, twilio: Any) -> None:
    client = app.test_client()
    phone = Phone(client, "+15551230308", whatsapp=True)
    phone.reply("FEEDBACK")
    [reply] = rows(app, Message, Message.direction == "out")
    sid = "SM" + "d" * 32
    status_callback(client, sid, "delivered", path=f"/sms/status?m={reply.id}")
    status_callback(client, sid, "read")
    status_callback(client, sid, "delivered")
    [reply] = rows(app, Message, Message.id == reply.id)
    assert reply.status == "read"


# -- WhatsApp ---------------------------------------------------------------------------------------


def _whatsapp_survey(app: Any, tmp_path: Path, template: bool = True) -> str:
    text = (Path(__file__).resolve().parents[2] / "survey_defs" / "support-call.yaml").read_text()
    text = text.replace("id: support-call", "id: support-call-wa").replace("keywords: [FEEDBACK, 反馈]", "keywords: [WAFEEDBACK]")
    if template:
        text = text.replace(
            "sms:\n",
            "sms:\n  whatsapp_template:\n"
            f"    content_sid: {TEMPLATE_SID}\n"
            "    variables: {1: \"{{ contact.first_name | default('there') }}\", 2: \"{{ event.ticket | default('-') }}\"}\n",
            1,
        )
    path = tmp_path / "support-call-wa.yaml"
    path.write_text(text)
    from feedback.store import operations as ops

    with app.app_context():
        report = ops.load_surveys([path])
    assert not report.problems, report.problems
    return "support-call-wa"


def test_whatsapp_outside_the_24h_window_opens_with_the_template(app: Any, twilio: Any, tmp_path: Path) -> None:
    from channels.sms.outbound import request_sms

    survey = _whatsapp_survey(app, tmp_path)
    with app.app_context():
        session_id = request_sms(survey, "+15551230309", whatsapp=True,
                                 context={"contact": {"first_name": "Mei"}, "event": {"ticket": "T-7"}})
    dispatch(app)
    [req] = twilio.messages()
    assert req.data["To"] == "whatsapp:+15551230309"
    assert req.data["From"] == f"whatsapp:{OUR_NUMBER}"
    assert req.data["ContentSid"] == TEMPLATE_SID
    assert json.loads(req.data["ContentVariables"]) == {"1": "Mei", "2": "T-7"}
    assert "Body" not in req.data
    template_row = rows(app, Message, Message.direction == "out", Message.status == "queued")
    assert template_row[0].meta["content_sid"] == TEMPLATE_SID
    held = rows(app, Message, Message.status == "held")
    assert len(held) == 1 and "How likely" in held[0].body

    # The customer answers the template: the intro and first question come now, free-form.
    phone = Phone(app.test_client(), "+15551230309", whatsapp=True)
    first = phone.reply("Sure")
    assert first.startswith("Hi Mei, thanks for calling.") and "How likely" in first
    assert phone.reply("9").startswith("Was your problem solved")
    assert phone.reply("yes").startswith("Thank you")
    [resp] = api_responses(app, survey)
    assert resp["session_id"] == session_id and resp["status"] == "complete"
    assert "Sure" not in json.dumps(resp["answers"])


def test_whatsapp_inside_the_window_sends_free_form(app: Any, twilio: Any, tmp_path: Path) -> None:
    from channels.sms.outbound import request_sms

    survey = _whatsapp_survey(app, tmp_path)
    phone = Phone(app.test_client(), "+15551230310", whatsapp=True)
    phone.reply("hi")  # the customer wrote to us on WhatsApp a moment ago
    with app.app_context():
        request_sms(survey, "+15551230310", whatsapp=True)
    dispatch(app)
    [req] = twilio.messages()
    assert "ContentSid" not in req.data and "How likely" in req.data["Body"]
    assert req.data["To"] == "whatsapp:+15551230310"


def test_whatsapp_outside_the_window_without_a_template_is_not_sent(app: Any, twilio: Any, tmp_path: Path) -> None:
    from channels.sms.outbound import request_sms

    survey = _whatsapp_survey(app, tmp_path, template=False)
    with app.app_context():
        request_sms(survey, "+15551230311", whatsapp=True)
    dispatch(app)
    assert twilio.messages() == []
    [msg] = rows(app, Message)
    assert msg.status == "failed" and "whatsapp_template" in msg.meta["error"]
    [session] = rows(app, Session)
    assert session.status == "abandoned"
    [resp] = rows(app, Response)
    assert resp.meta["end_reason"] == "whatsapp_window_closed"


def test_whatsapp_template_settings_are_validated(tmp_path: Path) -> None:
    from feedback.definition.loader import load_text
    from feedback.errors import DefinitionError

    text = (
        "spec_version: 1\nid: wa\ntitle: WA\nchannels: [sms]\n"
        "sms:\n  whatsapp_template:\n    content_sid: HX123\n"
        "questions:\n  - {id: q, type: yes_no, text: Ok?}\n"
    )
    with pytest.raises(DefinitionError) as e:
        load_text(text, "wa.yaml")
    assert e.value.problems[0].line == 7 and "content_sid" in e.value.problems[0].message


def test_a_template_that_fails_for_a_while_is_retried_once_stored(app: Any, twilio: Any, tmp_path: Path) -> None:
    from channels.sms.outbound import request_sms

    survey = _whatsapp_survey(app, tmp_path)
    with app.app_context():
        request_sms(survey, "whatsapp:+15551230312")  # the whatsapp: prefix is enough
    twilio.fail_with = (503, 20503, "Service unavailable")
    dispatch(app)
    twilio.fail_with = None
    dispatch(app, now=utcnow() + dt.timedelta(minutes=5))
    requests = twilio.messages()
    assert len(requests) == 2 and all(r.data["ContentSid"] == TEMPLATE_SID for r in requests)
    templates = [m for m in rows(app, Message) if m.meta.get("kind") == "template"]
    assert len(templates) == 1 and templates[0].status == "queued" and templates[0].message_sid
    assert [m.status for m in rows(app, Message) if m.meta.get("kind") != "template"] == ["held"]
    # Nothing more goes out until the customer answers the template.
    dispatch(app, now=utcnow() + dt.timedelta(hours=1))
    assert len(twilio.messages()) == 2
