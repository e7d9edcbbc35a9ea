"""SMS conversations end to end through the signed Twilio webhook, in English and Chinese."""

from __future__ import annotations

from typing import Any

import pytest

from feedback.store.models import Contact, Message, Response, Session

from .conftest import OUR_NUMBER, Phone, api_responses, post_signed, rows, twiml_messages


def test_keyword_starts_the_survey_and_every_answer_lands_in_the_api(app: Any, twilio: Any) -> None:
    phone = Phone(app.test_client(), "+15551230101")
    first = phone.reply("Feedback")
    assert first.startswith("Hi there, thanks for calling.")
    assert "How likely are you to recommend us" in first
    assert "Reply 0-10 (0 = not at all likely, 10 = extremely likely)" in first
    assert phone.reply("I'd say a 6") == "What is the main reason for your score of 6?\n(SKIP to skip)"
    assert phone.reply("On hold for too long") == "Was your problem solved on this call?\nReply YES or NO (SKIP to skip)"
    assert phone.reply("YES") == "Thank you for your feedback. Goodbye!"

    [resp] = api_responses(app, "support-call", channel="sms")
    assert resp["status"] == "complete"
    assert resp["channel"] == "sms"
    assert resp["locale"] == "en"
    answers = resp["answers"]
    assert answers["nps"]["value"] == 6 and answers["nps"]["raw"] == "I'd say a 6"
    assert answers["nps"]["modality"] == "text"
    assert answers["reason"]["value"] == "On hold for too long"
    assert answers["resolved"]["value"] is True and answers["resolved"]["raw"] == "YES"
    # The YES answered the question: no opt-in, no keyword handling.
    [contact] = rows(app, Contact, Contact.phone == "+15551230101")
    assert not rows(app, Message, Message.direction == "out", Message.body.like("You are subscribed%"))
    assert contact.locale == "en"


def test_chinese_keyword_runs_the_survey_in_chinese(app: Any, twilio: Any) -> None:
    phone = Phone(app.test_client(), "+8613800138000")
    first = phone.reply("反馈")
    assert first.startswith("您好，感谢您的来电。")
    assert "请回复 0-10（0 = 完全不可能，10 = 非常可能）" in first
    # Nine skips the reason question (show_if: answers.nps <= 8).
    assert phone.reply("九分") == "您的问题在这次通话中解决了吗？\n请回复“是”或“否”（回复“跳过”可跳过）"
    assert phone.reply("是的") == "感谢您的反馈，再见！"
    [resp] = api_responses(app, "support-call", locale="zh-CN")
    assert resp["status"] == "complete" and resp["channel"] == "sms"
    assert resp["answers"]["nps"]["value"] == 9 and resp["answers"]["nps"]["raw"] == "九分"
    assert resp["answers"]["resolved"]["value"] is True and resp["answers"]["resolved"]["raw"] == "是的"
    assert "reason" not in resp["answers"]
    out = rows(app, Message, Message.direction == "out")
    assert out and all(m.encoding == "UCS-2" for m in out)
    assert out[0].segments == 2  # intro + question + options: 70 < length <= 134


def test_replies_are_stored_with_segments_and_point_their_status_callback_at_the_message(app: Any, twilio: Any) -> None:
    client = app.test_client()
    resp = post_signed(client, "/sms/inbound", Phone(client, "+15551230102").params("FEEDBACK"))
    [msg] = twiml_messages(resp.data)
    [stored] = rows(app, Message, Message.direction == "out")
    assert stored.body == msg["text"]
    assert stored.to_number == "+15551230102" and stored.from_number == OUR_NUMBER
    assert stored.encoding == "GSM-7" and stored.segments == 2
    assert stored.status == "queued"
    assert msg["action"] == f"http://localhost/sms/status?m={stored.id}"
    [inbound] = rows(app, Message, Message.direction == "in")
    assert inbound.body == "FEEDBACK" and inbound.status == "processed"
    assert inbound.meta["replies"] == [stored.id]


def test_a_reply_not_understood_gets_a_short_hint_and_counts_as_an_attempt(app: Any, twilio: Any) -> None:
    phone = Phone(app.test_client(), "+15551230103")
    phone.reply("FEEDBACK")
    assert phone.reply("banana") == "Sorry, I didn't get that. Please answer with a number from 0 to 10."
    assert phone.reply("eleven").startswith("Sorry")
    # nps is required and allows two re-prompts: the third miss ends the survey politely.
    assert phone.reply("purple") == "Sorry, we could not understand. Thank you for your time."
    [session] = rows(app, Session)
    assert session.status in ("partial", "abandoned")
    [resp] = rows(app, Response)
    assert resp.meta["end_reason"] == "max_attempts"
    # The conversation is over: another message gets the help text, not a question.
    assert phone.reply("8").startswith("Reply FEEDBACK")


def test_anything_else_without_a_survey_gets_a_short_help_reply(app: Any, twilio: Any) -> None:
    en = Phone(app.test_client(), "+15551230104")
    assert en.reply("hello?") == "Reply FEEDBACK / 反馈 to give us feedback. Reply STOP to unsubscribe."
    zh = Phone(app.test_client(), "+8613800138001")
    assert zh.reply("你好") == "回复“反馈 / FEEDBACK”即可参与反馈。回复 TD 退订。"
    assert not rows(app, Session)


def test_help_in_a_survey_explains_and_asks_the_question_again_without_using_an_attempt(app: Any, twilio: Any) -> None:
    phone = Phone(app.test_client(), "+15551230105")
    phone.reply("FEEDBACK")
    phone.reply("3")
    replies = phone.text("help")
    assert replies == [
        "After your call: reply with your answer to the question. Reply STOP to unsubscribe.",
        "What is the main reason for your score of 3?\n(SKIP to skip)",
    ]
    assert len(phone.text("info")) == 2  # INFO too
    assert phone.reply("Rude agent").startswith("Was your problem solved")
    [session] = rows(app, Session)
    assert session.state["answers"] == {"nps": 3, "reason": "Rude agent"}
    zh = Phone(app.test_client(), "+8613800138002")
    zh.reply("反馈")
    assert zh.text("HELP")[0] == "通话回访：请直接回复问题的答案。回复 TD 退订。"


def test_skip_on_an_optional_question(app: Any, twilio: Any) -> None:
    phone = Phone(app.test_client(), "+15551230106")
    phone.reply("FEEDBACK")
    phone.reply("10")
    assert phone.reply("skip") == "Thank you for your feedback. Goodbye!"
    [resp] = api_responses(app, "support-call")
    assert resp["status"] == "complete" and set(resp["answers"]) == {"nps"}


def test_a_duplicated_message_sid_is_processed_once_and_gets_the_same_reply(app: Any, twilio: Any) -> None:
    client = app.test_client()
    phone = Phone(client, "+15551230107")
    phone.reply("FEEDBACK")
    params = phone.params("7")
    first = post_signed(client, "/sms/inbound", params)
    again = post_signed(client, "/sms/inbound", params)
    assert first.status_code == again.status_code == 200
    assert twiml_messages(first.data) == twiml_messages(again.data)
    assert twiml_messages(first.data)[0]["text"].startswith("What is the main reason for your score of 7?")
    assert len(rows(app, Message, Message.message_sid == params["MessageSid"])) == 1
    [session] = rows(app, Session)
    assert session.step == 1 and session.state["answers"] == {"nps": 7}
    # Only one reply was stored for it, and the next message carries on normally.
    assert phone.reply("Slow").startswith("Was your problem solved")


def test_a_duplicate_of_the_keyword_does_not_start_a_second_survey(app: Any, twilio: Any) -> None:
    client = app.test_client()
    params = Phone(client, "+15551230108").params("FEEDBACK")
    a = post_signed(client, "/sms/inbound", params)
    b = post_signed(client, "/sms/inbound", params)
    assert twiml_messages(a.data) == twiml_messages(b.data)
    assert len(rows(app, Session)) == 1


def test_forged_signature_is_refused_and_nothing_is_stored(app: Any, twilio: Any) -> None:
    client = app.test_client()
    params = Phone(client, "+15551230109").params("FEEDBACK")
    resp = post_signed(client, "/sms/inbound", params, signature="bm90IGEgc2lnbmF0dXJl")
    assert resp.status_code == 403
    tampered = dict(params, Body="STOP")
    from tests.support.twilio import sign

    resp = client.post("/sms/inbound", data=tampered,
                       headers={"X-Twilio-Signature": sign("http://localhost/sms/inbound", params)})
    assert resp.status_code == 403
    assert client.post("/sms/inbound", data=params).status_code == 403
    assert not rows(app, Message) and not rows(app, Contact) and not rows(app, Session)
    status = post_signed(client, "/sms/status", {"MessageSid": "SM1", "MessageStatus": "delivered"}, signature="x")
    assert status.status_code == 403


def test_whatsapp_sender_is_the_same_person_as_the_phone_number(app: Any, twilio: Any) -> None:
    client = app.test_client()
    wa = Phone(client, "+15551230110", whatsapp=True)
    assert "How likely" in wa.reply("FEEDBACK")
    sms = Phone(client, "+15551230110")
    assert sms.reply("9").startswith("Was your problem solved")  # the same survey resumes
    assert wa.reply("no") == "Thank you for your feedback. Goodbye!"
    [contact] = rows(app, Contact)
    assert contact.phone == "+15551230110"
    inbound = rows(app, Message, Message.direction == "in")
    assert [m.transport for m in inbound] == ["whatsapp", "sms", "whatsapp"]
    assert {m.contact_id for m in inbound} == {contact.id}
    replies = rows(app, Message, Message.direction == "out")
    assert replies[0].to_number == "whatsapp:+15551230110"
    assert replies[0].from_number == f"whatsapp:{OUR_NUMBER}"
    [resp] = api_responses(app, "support-call")
    assert resp["status"] == "complete" and resp["answers"]["resolved"]["value"] is False


def test_media_only_message_in_a_survey_is_a_reply_not_understood(app: Any, twilio: Any) -> None:
    client = app.test_client()
    phone = Phone(client, "+15551230111")
    phone.reply("FEEDBACK")
    params = dict(phone.params(""), NumMedia="1", MediaUrl0="https://api.twilio.com/media/1")
    [reply] = twiml_messages(post_signed(client, "/sms/inbound", params).data)
    assert reply["text"].startswith("Sorry")


@pytest.mark.parametrize("sender", ["", "not-a-number", "12345"])
def test_senders_that_are_not_phone_numbers_get_empty_twiml(app: Any, twilio: Any, sender: str) -> None:
    client = app.test_client()
    params = {"MessageSid": "SM" + "f" * 32, "From": sender, "To": OUR_NUMBER, "Body": "FEEDBACK"}
    resp = post_signed(client, "/sms/inbound", params)
    assert resp.status_code == 200 and twiml_messages(resp.data) == []
    assert not rows(app, Session)
