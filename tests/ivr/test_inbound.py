"""Inbound phone surveys end to end: the call simulator plays Twilio (signed requests,
TwiML executed and checked), answers are read back through the responses API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ivr.conftest import ALL_TYPES, SUPPORT_EN, SUPPORT_ZH, Ivr

EN_VOICE = ("Polly.Joanna-Neural", "en-US")
ZH_VOICE = ("Polly.Zhiyu-Neural", "cmn-CN")


def voices_heard(call: Any) -> set[tuple[str | None, str | None]]:
    return {(h.voice, h.language) for h in call.heard}


# -- support-call: every way through ------------------------------------------------------------


def test_support_call_in_english_on_the_keypad(ivr: Ivr) -> None:
    call = ivr.sim.dial(SUPPORT_EN, "+15557654321")
    # A new caller, a number without a language, a survey in two: the language menu,
    # each option in its own voice.
    assert call.said == ["For English, press 1.", "中文请按 2。"]
    assert [(h.voice, h.language) for h in call.heard] == [EN_VOICE, ZH_VOICE]
    call.press("1")
    assert call.said[2] == "Hi there, thanks for calling. Two quick questions about your call."
    assert call.prompt.startswith("How likely are you to recommend us to a friend or colleague?")
    assert "Enter a number from 0 to 10, then press pound" in call.prompt
    gather = call.waiting
    assert gather is not None and gather.get("input") == "dtmf speech" and gather.get("numDigits") == "2"
    call.press("7")  # one key, then the timeout submits it
    assert call.prompt == "What is the main reason for your score of 7? Please say your answer."
    assert call.waiting is not None and call.waiting.get("input") == "speech"
    assert call.waiting.get("timeout") == "8"
    call.say("The wait on hold was far too long")
    assert call.prompt == "Was your problem solved on this call? Press 1 for yes, 2 for no."
    call.press("1")
    assert call.last_said == "Thank you for your feedback. Goodbye!"
    assert call.ended
    assert voices_heard(call) - {ZH_VOICE} == {EN_VOICE}

    r = ivr.response("support-call", call.call_sid)
    assert r["status"] == "complete" and r["channel"] == "ivr" and r["locale"] == "en"
    assert r["answers"]["nps"]["value"] == 7 and r["answers"]["nps"]["modality"] == "keypad"
    assert r["answers"]["reason"]["value"] == "The wait on hold was far too long"
    assert r["answers"]["reason"]["modality"] == "speech"
    assert r["answers"]["resolved"]["value"] is True
    assert r["meta"]["call_duration"] == call.seconds
    assert r["meta"]["direction"] == "inbound"


def test_support_call_in_chinese_by_speech_on_the_chinese_number(ivr: Ivr) -> None:
    call = ivr.sim.dial(SUPPORT_ZH, "+8613800138000")
    # The number says the language: no menu.
    assert call.said[0].startswith("您好，感谢您的来电")
    assert call.prompt.startswith("您有多大可能向朋友或同事推荐我们？")
    assert call.waiting is not None and call.waiting.get("language") == "cmn-Hans-CN"
    call.say("九分")
    # 9 > 8: no reason asked.
    assert call.prompt.startswith("您的问题在这次通话中解决了吗？")
    call.say("是的，解决了")
    assert call.last_said == "感谢您的反馈，再见！"
    assert voices_heard(call) == {ZH_VOICE}
    r = ivr.response("support-call", call.call_sid)
    assert r["status"] == "complete" and r["locale"] == "zh-CN"
    assert r["answers"]["nps"]["value"] == 9 and r["answers"]["nps"]["modality"] == "speech"
    assert r["answers"]["nps"]["raw"] == "九分"
    assert r["answers"]["resolved"]["value"] is True
    assert "reason" not in r["answers"]


def test_support_call_in_english_by_speech(ivr: Ivr) -> None:
    call = ivr.sim.dial(SUPPORT_EN, "+15557654322")
    call.press("1")
    call.say("I would say a six")
    assert call.prompt.startswith("What is the main reason for your score of 6?")
    call.say("Nobody called me back")
    call.say("no it was not")
    assert call.ended
    assert ivr.answers("support-call", call.call_sid) == {
        "nps": 6, "reason": "Nobody called me back", "resolved": False,
    }


def test_support_call_in_chinese_on_the_keypad_from_the_menu(ivr: Ivr) -> None:
    call = ivr.sim.dial(SUPPORT_EN, "+15557654323")
    call.press("2")
    assert voices_heard(call) - {EN_VOICE} == {ZH_VOICE}
    assert "请输入 0 到 10 之间的数字，然后按井号键" in call.prompt
    call.press("10")  # two keys: submitted at once
    assert call.prompt.startswith("您的问题在这次通话中解决了吗？")
    call.press("2")
    r = ivr.response("support-call", call.call_sid)
    assert r["locale"] == "zh-CN" and r["status"] == "complete"
    assert {k: v["value"] for k, v in r["answers"].items()} == {"nps": 10, "resolved": False}


def test_a_caller_who_picked_a_language_is_not_asked_again(ivr: Ivr) -> None:
    first = ivr.sim.dial(SUPPORT_EN, "+15557654324")
    first.press("2")
    first.hang_up()
    again = ivr.sim.dial(SUPPORT_EN, "+15557654324")
    assert again.said[0].startswith("您好，感谢您的来电")


def test_the_survey_can_be_chosen_in_the_voice_url(sqlite_ivr: Ivr) -> None:
    ivr = sqlite_ivr
    call = ivr.sim.dial("+15550009999", "+15557654325", path="/ivr/voice?survey=support-call")
    assert call.said == ["For English, press 1.", "中文请按 2。"]


def test_silence_at_the_language_menu_goes_on_in_the_default_language(sqlite_ivr: Ivr) -> None:
    ivr = sqlite_ivr
    call = ivr.sim.dial(SUPPORT_EN, "+15557654326")
    call.silence()
    assert call.said[-2:] == ["For English, press 1.", "中文请按 2。"]  # once more
    call.silence()
    assert call.said[-2] == "Hi there, thanks for calling. Two quick questions about your call."


# -- every question type --------------------------------------------------------------------------


def _all_types_by_keypad(call: Any) -> None:
    call.press("4")          # csat: one key
    call.press("5")          # rating
    call.press("1")          # single choice
    call.press("13#")        # multiple choice
    call.press("3#")         # number
    call.press("1")          # yes/no
    call.record(7)           # open question, recorded
    call.say("Alice")        # open question by speech


@pytest.mark.parametrize("locale,key", [("en", "1"), ("zh-CN", "2")])
def test_every_question_type_on_the_keypad(ivr: Ivr, locale: str, key: str) -> None:
    call = ivr.sim.dial(ALL_TYPES, "+15557650000" + key)
    call.press(key)
    _all_types_by_keypad(call)
    assert call.ended
    r = ivr.response("phone-all-types", call.call_sid)
    assert r["status"] == "complete" and r["locale"] == locale
    values = {k: v["value"] for k, v in r["answers"].items()}
    assert values == {
        "csat": 4, "speed": 5, "topic": "billing", "channels": ["phone", "chat"], "calls": 3,
        "resolved": True, "comment": "", "name": "Alice",
    }
    comment = r["answers"]["comment"]
    assert comment["raw"].startswith("https://api.twilio.com/") and comment["modality"] == "speech"
    assert comment["extra"]["recording_url"] == comment["raw"]
    assert comment["extra"]["recording_duration"] == 7


def test_every_question_type_by_speech_in_english(ivr: Ivr) -> None:
    call = ivr.sim.dial(ALL_TYPES, "+15557651001")
    call.press("1")
    call.say("very satisfied")
    call.say("four")
    call.say("it was about my invoice")
    call.say("phone and email")
    call.say("twelve")
    call.say("yes")
    call.record(12)
    call.say("Bob")
    values = ivr.answers("phone-all-types", call.call_sid)
    assert values == {
        "csat": 5, "speed": 4, "topic": "billing", "channels": ["phone", "email"], "calls": 12,
        "resolved": True, "comment": "", "name": "Bob",
    }


def test_every_question_type_by_speech_in_chinese(ivr: Ivr) -> None:
    call = ivr.sim.dial(ALL_TYPES, "+15557651002")
    call.press("2")
    call.say("非常满意")
    call.say("四分")
    call.say("配送")
    call.say("电话和邮件")
    call.say("三次")
    call.say("解决了")
    call.record(5)
    call.say("小王")
    assert call.last_said == "谢谢，再见！"
    values = ivr.answers("phone-all-types", call.call_sid)
    assert values == {
        "csat": 5, "speed": 4, "topic": "delivery", "channels": ["phone", "email"], "calls": 3,
        "resolved": True, "comment": "", "name": "小王",
    }


def test_hints_come_from_choice_labels_and_aliases(sqlite_ivr: Ivr) -> None:
    ivr = sqlite_ivr
    call = ivr.sim.dial(ALL_TYPES, "+15557651003")
    call.press("1")
    call.press("4")
    call.press("5")
    hints = call.waiting.get("hints") if call.waiting is not None else None
    assert hints == "Billing, invoice, Delivery, Something else"


def test_the_caller_name_is_piped_from_the_contact(sqlite_ivr: Ivr) -> None:
    ivr = sqlite_ivr
    from feedback.store import operations as ops

    with ivr.ctx():
        ops.find_or_create_contact(phone="+15557651004", locale="en", attributes={"first_name": "Dana"})
    call = ivr.sim.dial(ALL_TYPES, "+15557651004")
    assert call.said[0] == "Hello Dana. A few questions, please."
