"""Opt-out, exactly: STOP words end the survey and nothing is ever sent again until START."""

from __future__ import annotations

from typing import Any

import pytest

from channels.sms.keywords import classify
from feedback.errors import Forbidden
from feedback.store.models import Contact, Message, OptOut, Response, Session

from .conftest import Phone, api_responses, rows, status_callback

STOP_WORDS = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "退订", "TD"]


@pytest.mark.parametrize(
    "body, kind",
    [(w, "stop") for w in STOP_WORDS]
    + [("stop", "stop"), ("  Stop.  ", "stop"), ("Unsubscribe!", "stop"), ("td", "stop"), ("退订。", "stop"),
       ("ＳＴＯＰ", "stop"), ("\u201cquit\u201d", "stop"),
       ("START", "start"), ("unstop", "start"), ("Help", "help"), ("INFO?", "help"), ("yes", "yes"),
       ("please stop", None), ("stop it", None), ("STOPPED", None), ("end of story", None),
       ("停止", None), ("", None), ("ok", None)],
)
def test_keywords_are_whole_messages_in_any_case(body: str, kind: str | None) -> None:
    assert classify(body) == kind


def _opted_out(app: Any, number: str) -> bool:
    with app.app_context():
        from sqlalchemy import select

        from feedback.store.models import db

        contact = db.session.scalar(select(Contact).where(Contact.phone == number))
        return contact is not None and contact.opted_out("sms")


@pytest.mark.parametrize("word", ["STOP", " stop! ", "退订", "Td"])
def test_stop_in_the_middle_keeps_the_answers_and_nothing_is_sent_again(app: Any, twilio: Any, word: str) -> None:
    from channels.sms.outbound import request_sms

    number = "+15551230201"
    phone = Phone(app.test_client(), number)
    phone.reply("FEEDBACK")
    phone.reply("4")
    assert phone.text(word) == []  # Twilio confirms the opt-out itself; we send nothing
    [session] = rows(app, Session)
    assert session.status == "partial"
    [resp] = api_responses(app, "support-call")
    assert resp["status"] == "partial" and resp["answers"]["nps"]["value"] == 4
    assert resp["meta"]["end_reason"] == "opted_out"
    assert _opted_out(app, number)
    [opt] = rows(app, OptOut)
    assert opt.channel == "sms" and opt.source.startswith("keyword:")

    # Outbound is refused and stores nothing; no REST request is made.
    sessions_before = len(rows(app, Session))
    with app.app_context(), pytest.raises(Forbidden, match="opted out"):
        request_sms("support-call", number)
    with app.app_context(), pytest.raises(Forbidden):
        request_sms("support-call", "whatsapp:" + number, whatsapp=True)
    assert len(rows(app, Session)) == sessions_before
    assert twilio.messages() == []

    # Whatever they text now gets no reply, survey keywords included.
    assert phone.text("hello?") == []
    assert phone.text("FEEDBACK") == []
    assert phone.text("8") == []
    assert len(rows(app, Session)) == sessions_before
    # A second STOP changes nothing.
    assert phone.text("STOP") == []
    assert len(rows(app, OptOut)) == 1


def test_start_resubscribes_and_surveys_work_again(app: Any, twilio: Any) -> None:
    from channels.sms.outbound import request_sms

    number = "+15551230202"
    phone = Phone(app.test_client(), number)
    phone.reply("FEEDBACK")
    phone.text("STOP")
    assert phone.reply("START") == "You are subscribed again. Reply STOP to unsubscribe at any time."
    assert not _opted_out(app, number)
    assert "How likely" in phone.reply("FEEDBACK")
    phone.text("UNSUBSCRIBE")
    assert phone.reply("unstop").startswith("You are subscribed again")
    with app.app_context():
        session_id = request_sms("support-call", number)
    assert session_id


def test_yes_resubscribes_only_when_no_question_is_waiting(app: Any, twilio: Any) -> None:
    number = "+15551230203"
    phone = Phone(app.test_client(), number)
    phone.reply("FEEDBACK")
    phone.text("STOP")
    # Twilio treats YES as opt-in; with no survey waiting for an answer, so do we.
    assert phone.reply("YES").startswith("You are subscribed again")
    assert not _opted_out(app, number)
    # Without an opt-out and without a survey, YES is just a message: the help reply.
    assert phone.reply("yes").startswith("Reply FEEDBACK")


def test_help_after_opting_out_says_how_to_come_back(app: Any, twilio: Any) -> None:
    phone = Phone(app.test_client(), "+15551230204")
    phone.text("STOP")
    assert phone.reply("HELP") == "You have unsubscribed from these messages. Reply START to subscribe again."
    zh = Phone(app.test_client(), "+8613800138100")
    zh.reply("反馈")
    assert zh.text("退订") == []
    # The language the customer used is remembered for the replies that have no survey.
    assert zh.reply("HELP") == "您已退订本号码的短信。回复 START 可重新订阅。"
    assert zh.reply("START") == "您已重新订阅。可随时回复 TD 退订。"


def test_status_21610_records_the_opt_out_and_ends_the_survey(app: Any, twilio: Any) -> None:
    from channels.sms.outbound import request_sms

    from .conftest import dispatch

    number = "+15551230205"
    with app.app_context():
        request_sms("support-call", number)
    dispatch(app)
    [sent] = rows(app, Message, Message.direction == "out")
    assert sent.message_sid
    resp = status_callback(app.test_client(), sent.message_sid, "failed", "21610", to=number)
    assert resp.status_code == 200
    assert _opted_out(app, number)
    [opt] = rows(app, OptOut)
    assert opt.source == "twilio:21610"
    [session] = rows(app, Session)
    assert session.status == "abandoned"
    [response] = rows(app, Response)
    assert response.meta["end_reason"] == "opted_out"
    [msg] = rows(app, Message, Message.direction == "out")
    assert msg.status == "failed" and msg.error_code == "21610"
    with app.app_context(), pytest.raises(Forbidden):
        request_sms("support-call", number)


def test_a_21610_refusal_when_sending_records_the_opt_out(app: Any, twilio: Any) -> None:
    from channels.sms.outbound import request_sms

    from .conftest import dispatch

    number = "+15551230206"
    with app.app_context():
        request_sms("support-call", number)
    twilio.fail_with = (400, 21610, "Attempt to send to unsubscribed recipient")
    dispatch(app)
    assert _opted_out(app, number)
    [msg] = rows(app, Message, Message.direction == "out")
    assert msg.status == "failed" and msg.error_code == "21610"
    [session] = rows(app, Session)
    assert session.status == "abandoned"
