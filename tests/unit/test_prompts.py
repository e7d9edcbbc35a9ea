"""What the respondent reads and hears: per-channel wording, in English and Chinese, with no
stray spaces, no doubled instructions, and every system prompt translated."""

from __future__ import annotations

import ast
from typing import Any

import pytest
from babel.messages.pofile import read_po

from feedback.definition.loader import CompiledSurvey
from feedback.definition.templates import parse_template
from feedback.engine import prompts
from feedback.engine.interview import (
    Digits,
    FormValues,
    Interview,
    NoInput,
    Reprompt,
    Speech,
    Text,
)
from feedback.engine.render import messages, spoken

from .helpers import ROOT, survey_from

# -- piping -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "scope", "expected"),
    [
        ("Hi {{ contact.name | default('there') }}!", {}, "Hi there!"),
        ("Hi {{ contact.name | default('there') }}!", {"contact": {"name": "Ana"}}, "Hi Ana!"),
        ("Your ticket {{ event.id | default('') }} was closed.", {}, "Your ticket was closed."),
        ("Your ticket {{ event.id }} was closed.", {"event": {"id": "T-1"}}, "Your ticket T-1 was closed."),
        ("How was order {{ event.id }}?", {}, "How was order?"),
        ("Hi {{ contact.name }}, two questions.", {}, "Hi, two questions."),
        ("{{ contact.name }} thanks", {}, "thanks"),
        ("Thanks {{ contact.name }}", {}, "Thanks"),
        ("您对订单 {{ event.id }} 满意吗？", {}, "您对订单满意吗？"),
        ("您对订单 {{ event.id }} 满意吗？", {"event": {"id": "A-17"}}, "您对订单 A-17 满意吗？"),
        ("您的工单 {{ event.id | default('') }} 已关闭。", {}, "您的工单已关闭。"),
        ("关于订单 {{ event.id }}。", {}, "关于订单。"),
        ("Hi {{ contact.name }} ({{ contact.tier }})", {"contact": {"name": "Li"}}, "Hi Li ()"),
        ("A {{ event.a }} {{ event.b }} B", {}, "A B"),
        ("Nested {{ event.a.b }}", {"event": {"a": {"b": 3}}}, "Nested 3"),
        ("Not a map {{ event.a.b }}.", {"event": {"a": 3}}, "Not a map."),
    ],
)
def test_piping_and_empty_values(source: str, scope: dict[str, Any], expected: str) -> None:
    template, problems = parse_template(source)
    assert problems == []
    assert template.render(scope) == expected


def test_piped_answers_are_words_in_the_session_language(all_types: CompiledSurvey) -> None:
    survey = all_types.survey
    resolved = survey.question("resolved")
    topic = survey.question("topic")
    issues = survey.question("issues")
    assert prompts.format_answer(survey, resolved, True, "en") == "yes"
    assert prompts.format_answer(survey, resolved, False, "zh-CN") == "否"
    assert prompts.format_answer(survey, topic, "account", "zh-CN") == "我的账户"
    assert prompts.format_answer(survey, issues, ["slow", "rude", "wrong"], "en") == "Too slow, Unfriendly and Wrong answer"
    assert prompts.format_answer(survey, issues, ["slow", "wrong"], "zh-CN") == "太慢和答案错误"
    assert prompts.format_answer(survey, None, 7.0, "en") == "7"


# -- sentence joining ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("How likely?", "Press 1."), "How likely? Press 1."),
        (("您满意吗？", "请按 1。"), "您满意吗？请按 1。"),
        (("抱歉，我没有听懂。", "Press 1"), "抱歉，我没有听懂。Press 1"),
        (("Reply YES or NO", "(SKIP to skip)"), "Reply YES or NO (SKIP to skip)"),
        (("请回复“是”或“否”", "（回复“跳过”可跳过）"), "请回复“是”或“否”（回复“跳过”可跳过）"),
        (("", "only", " "), "only"),
    ],
)
def test_join_sentences(parts: tuple[str, ...], expected: str) -> None:
    assert prompts.join_sentences(*parts) == expected


# -- IVR --------------------------------------------------------------------------------------


def phone(survey: CompiledSurvey, locale: str = "en") -> tuple[Interview, Any]:
    interview = Interview(survey)
    state, events = interview.start(channel="ivr", locale=locale, seed=1)
    return interview, (state, events)


def test_ivr_prompts_say_how_to_answer(all_types: CompiledSurvey) -> None:
    interview, (state, events) = phone(all_types)
    turns = spoken(interview, state, events)
    assert [t.kind for t in turns] == ["intro", "question"]
    assert turns[0].say == "Hi there, about order."
    question = turns[1]
    assert question.say == ("How likely are you to recommend us? Enter a number from 0 to 10, then press pound, "
                            "where 0 means not at all likely and 10 means extremely likely.")
    assert question.gather is not None
    assert question.gather["input"] == "dtmf speech" and question.gather["num_digits"] is None
    assert question.gather["finish_on_key"] == "#" and question.gather["timeout"] == 6
    state, events = interview.resume(state, Digits("3"))
    (turn,) = spoken(interview, state, events)
    assert turn.say == "Why a 3? Please say your answer."
    assert turn.gather is not None and turn.gather["input"] == "speech" and turn.gather["num_digits"] is None


def test_ivr_prompts_in_chinese_have_no_latin_spaces_between_sentences(all_types: CompiledSurvey) -> None:
    interview, (state, events) = phone(all_types, "zh-CN")
    turns = spoken(interview, state, events)
    assert turns[1].say == "您有多大可能向朋友推荐我们？请输入 0 到 10 之间的数字，然后按井号键，0 表示完全不可能，10 表示非常可能。"
    state, events = interview.resume(state, Digits("10"))
    state, events = interview.resume(state, NoInput())
    (turn,) = spoken(interview, state, events)
    assert turn.say == "抱歉，我没有听到您的回答。您满意吗？请按 1 到 5 之间的数字，1 表示非常不满意，5 表示非常满意。"


def test_ivr_reprompts_never_repeat_the_instructions_twice(all_types: CompiledSurvey) -> None:
    interview, (state, _) = phone(all_types)
    instructions = "Enter a number from 0 to 10, then press pound"
    for reply in (Speech("skip", 0.9), Digits("11"), Speech("seven or eight", 0.9), NoInput()):
        state, events = interview.start(channel="ivr", seed=1)
        state, events = interview.resume(state, reply)
        (turn,) = spoken(interview, state, events)
        assert turn.say.count(instructions) == 1, turn.say
    state, events = interview.start(channel="ivr", seed=1)
    state, events = interview.resume(state, Speech("skip", 0.9))
    (turn,) = spoken(interview, state, events)
    assert turn.say.startswith("This question needs an answer. How likely are you to recommend us?")
    state, events = interview.resume(state, Digits("11#"))
    (turn,) = spoken(interview, state, events)
    assert turn.say.startswith("Sorry, that number is out of range. Enter a number from 0 to 10")


def test_ivr_choice_menus(all_types: CompiledSurvey) -> None:
    interview = Interview(all_types)
    q = interview.question("topic")
    order = ["delivery", "account", "billing"]
    text = prompts.ivr_instructions(all_types.survey, q, "en", order)
    assert text == "For Delivery, press 1; for My account, press 2; for Billing, press 3."
    assert prompts.ivr_instructions(all_types.survey, q, "zh-CN", order) == "配送请按 1；我的账户请按 2；账单请按 3。"
    multi = interview.question("issues")
    assert prompts.ivr_instructions(all_types.survey, multi, "en").endswith(
        "for Wrong answer, press 3. You can press several keys, then press pound.")
    assert prompts.ivr_instructions(all_types.survey, multi, "zh-CN").endswith("答案错误请按 3。可以按多个键，然后按井号键。")


def test_ivr_speech_only_and_recorded_questions() -> None:
    survey = survey_from({
        "spec_version": 1, "id": "voice", "title": {"en": "V", "zh-CN": "语音"}, "locales": ["en", "zh-CN"],
        "channels": ["ivr"],
        "questions": [
            {"id": "topic", "type": "single_choice", "text": {"en": "Topic?", "zh-CN": "主题？"},
             "ivr": {"input": "speech"},
             "choices": [{"code": "a", "label": {"en": "Billing", "zh-CN": "账单"}},
                         {"code": "b", "label": {"en": "Delivery", "zh-CN": "配送"}}]},
            {"id": "msg", "type": "text", "text": {"en": "Leave a message.", "zh-CN": "请留言。"},
             "ivr": {"record": True, "max_length": 30}},
        ],
    })
    interview = Interview(survey)
    state, events = interview.start(channel="ivr", locale="en")
    turn = spoken(interview, state, events)[-1]
    assert turn.say == "Topic? You can say: Billing and Delivery."
    assert turn.gather is not None and turn.gather["input"] == "speech"
    assert turn.gather["hints"] == ["Billing", "Delivery"]
    state, events = interview.resume(state, Speech("delivery", 0.9))
    turn = spoken(interview, state, events)[-1]
    assert turn.say == "Leave a message. Please speak after the tone, then press pound."
    assert turn.record == {"max_length": 30} and turn.gather is None
    state, events = interview.start(channel="ivr", locale="zh-CN")
    assert spoken(interview, state, events)[-1].say == "主题？您可以说：账单和配送。"


def test_low_confidence_speech_is_confirmed_on_the_phone(all_types: CompiledSurvey) -> None:
    interview, (state, _) = phone(all_types)
    state, events = interview.resume(state, Speech("eight", 0.2))
    (turn,) = spoken(interview, state, events)
    assert turn.kind == "confirm"
    assert turn.say == "I heard 8. Is that right? Press 1 or say yes, press 2 or say no."
    assert turn.gather is not None and turn.gather["num_digits"] == 1


# -- SMS and chat -------------------------------------------------------------------------------


def texting(survey: CompiledSurvey, channel: str, locale: str, replies: list[str]) -> list[Any]:
    interview = Interview(survey)
    state, events = interview.start(channel=channel, locale=locale, seed=1)
    out = messages(interview, state, events, channel)
    for reply in replies:
        state, events = interview.resume(state, Text(reply))
        out = messages(interview, state, events, channel)
    return out


def test_sms_rides_the_intro_with_the_first_question_and_counts_segments(all_types: CompiledSurvey) -> None:
    (first,) = texting(all_types, "sms", "en", [])
    assert first.text == ("Hi there, about order.\nHow likely are you to recommend us?\n"
                          "Reply 0-10 (0 = not at all likely, 10 = extremely likely)")
    assert (first.segments, first.encoding) == (1, "GSM-7")
    (first,) = texting(all_types, "sms", "zh-CN", [])
    assert first.text == "您好，关于订单。\n您有多大可能向朋友推荐我们？\n请回复 0-10（0 = 完全不可能，10 = 非常可能）"
    assert first.encoding == "UCS-2"


def test_sms_optional_questions_say_how_to_skip(all_types: CompiledSurvey) -> None:
    (msg,) = texting(all_types, "sms", "en", ["9"])
    assert msg.text == "How satisfied are you?\nReply 1-5 (1 = very dissatisfied, 5 = very satisfied) (SKIP to skip)"
    (msg,) = texting(all_types, "sms", "zh-CN", ["9", "跳过", "跳过", "跳过", "对"])
    assert msg.text.startswith("是关于什么的？\n")
    assert msg.text.endswith("请回复数字（回复“跳过”可跳过）")
    (msg,) = texting(all_types, "sms", "en", ["3"])
    assert msg.text == "Why a 3?\n(SKIP to skip)"


@pytest.mark.parametrize(
    ("channel", "locale", "replies", "expected"),
    [
        ("sms", "en", ["eleven"], "Sorry, that number is out of range. Please answer with a number from 0 to 10."),
        ("sms", "en", ["7 or 8"], "Sorry, please give just one answer. Please answer with a number from 0 to 10."),
        ("sms", "en", ["banana"], "Sorry, I didn't get that. Please answer with a number from 0 to 10."),
        ("sms", "zh-CN", ["香蕉"], "抱歉，我没有听懂。请回答 0 到 10 之间的数字。"),
        ("sms", "zh-CN", ["十一"], "抱歉，这个数字不在范围内。请回答 0 到 10 之间的数字。"),
        ("chat", "en", ["skip"], "This question needs an answer. Please answer with a number from 0 to 10."),
        ("chat", "zh-CN", ["跳过"], "这个问题需要您回答。请回答 0 到 10 之间的数字。"),
        ("sms", "en", ["10", "4", "7", "5", "maybe"], "Sorry, I didn't get that. Please answer yes or no."),
        ("sms", "en", ["10", "4", "7", "5", "yes", "7"], "Sorry, there is no option with that number. "
                                                        "Please reply with the number of an option."),
        ("chat", "en", ["10", "4", "7", "5", "yes", "purple"], "Sorry, I didn't get that. Please pick one of the options."),
        ("sms", "zh-CN", ["10", "4", "7", "5", "不是", "账单", "香蕉"],
         "抱歉，我没有听懂。请回复一个或多个选项的编号，例如 1,3。"),
        ("sms", "en", ["10", "4", "7", "5", "yes", "1", "30"],
         "Sorry, that number is out of range. Please answer with a number from 0 to 20."),
        ("chat", "en", ["10", "4", "7", "5", "yes", "1", "3", "x" * 51], "Please keep your answer under 50 characters."),
    ],
)
def test_reprompts_say_what_went_wrong_and_what_is_expected(
    all_types: CompiledSurvey, channel: str, locale: str, replies: list[str], expected: str
) -> None:
    out = texting(all_types, channel, locale, replies)
    assert [m.kind for m in out] == ["reprompt"]
    assert out[0].text == expected


def test_chat_quick_replies(all_types: CompiledSurvey) -> None:
    (intro, question) = texting(all_types, "chat", "zh-CN", [])
    assert intro.kind == "intro" and question.kind == "question"
    assert [r["value"] for r in question.quick_replies] == [str(n) for n in range(11)]
    (msg,) = texting(all_types, "chat", "en", ["9"])
    assert msg.quick_replies[-1] == {"label": "Skip", "value": "skip"}
    (msg,) = texting(all_types, "chat", "zh-CN", ["9", "跳过", "跳过", "跳过", "不是", "账单"])
    assert msg.text == "账单方面出了什么问题？\n可以选择多项。"
    assert [r["label"] for r in msg.quick_replies] == ["太慢", "不友好", "答案错误", "跳过"]


def test_survey_end_messages(all_types: CompiledSurvey) -> None:
    required = survey_from({"spec_version": 1, "id": "r", "title": "R", "channels": ["sms"],
                            "questions": [{"id": "a", "type": "nps", "text": "A?", "required": True}]})
    out = texting(required, "sms", "en", ["x", "x", "x"])
    assert [(m.kind, m.text) for m in out] == [("end", "Sorry, we could not understand. Thank you for your time.")]
    out = texting(all_types, "chat", "en", ["10", "4", "7", "5", "yes", "1", "2", "fine"])
    assert [(m.kind, m.text) for m in out] == [("outro", "Thanks, friend!")]


# -- every system prompt is translated --------------------------------------------------------------

CORE_FILES = sorted(
    list((ROOT / "feedback" / "engine").glob("*.py")) + list((ROOT / "feedback" / "definition").glob("*.py"))
    + [ROOT / "feedback" / "simulate.py", ROOT / "feedback" / "i18n.py"]
)


def core_msgids() -> set[str]:
    ids: set[str] = set()
    for path in CORE_FILES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("tr", "N_"):
                index = 1 if node.func.id == "tr" else 0
                if len(node.args) > index and isinstance(node.args[index], ast.Constant):
                    ids.add(node.args[index].value)
    return ids


def test_every_core_prompt_has_a_chinese_translation() -> None:
    ids = core_msgids()
    assert len(ids) > 60 and "This question needs an answer." in ids
    path = ROOT / "feedback" / "translations" / "zh_CN" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog = read_po(fh)
    untranslated = sorted(i for i in ids if not (catalog.get(i) and catalog.get(i).string))
    assert untranslated == []
    for msgid in ids:  # placeholders survive translation
        for name in ("%(min)", "%(max)", "%(n)", "%(value)", "%(label)", "%(options)", "%(low)", "%(high)"):
            assert (name in msgid) == (name in catalog.get(msgid).string), msgid


def test_chinese_prompts_use_chinese_punctuation() -> None:
    path = ROOT / "feedback" / "translations" / "zh_CN" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        catalog = read_po(fh)
    for msgid in core_msgids():
        text = catalog.get(msgid).string
        if any("\u4e00" <= ch <= "\u9fff" for ch in text):
            assert not any(mark in text for mark in ("?", "!", ". ", ", ")), (msgid, text)


# -- confirmations and form hints ---------------------------------------------------------------


def _to_resolved(interview: Interview, state: Any) -> Any:
    for digits in ("10", "4", "7", "5"):
        state, _ = interview.resume(state, Digits(digits))
    assert state.current == "resolved"
    return state


@pytest.mark.parametrize(
    ("locale", "said", "expected"),
    [
        ("en", "yes", "I heard you say yes. Is that right? Press 1 or say yes, press 2 or say no."),
        ("zh-CN", "是的", "我听到您说“是”，对吗？对请按 1 或说“是”，不对请按 2 或说“不是”。"),
        ("zh-CN", "没有", "我听到您说“否”，对吗？对请按 1 或说“是”，不对请按 2 或说“不是”。"),
    ],
)
def test_a_yes_no_value_is_confirmed_in_a_natural_sentence(
    all_types: CompiledSurvey, locale: str, said: str, expected: str
) -> None:
    interview, (state, _) = phone(all_types, locale)
    state = _to_resolved(interview, state)
    state, events = interview.resume(state, Speech(said, 0.2))
    (turn,) = spoken(interview, state, events)
    assert turn.kind == "confirm" and turn.say == expected


def test_labels_and_text_are_quoted_in_confirmations(all_types: CompiledSurvey) -> None:
    survey = all_types.survey
    topic = survey.question("topic")
    assert prompts.confirmation(survey, topic, "account", "en").startswith("I heard “My account”. Is that right?")
    assert prompts.confirmation(survey, topic, "account", "zh-CN").startswith("我听到的是“我的账户”，对吗？")
    assert prompts.confirmation(survey, survey.question("calls"), 3, "zh-CN").startswith("我听到的是3，对吗？")
    assert prompts.text_confirmation(survey, survey.question("resolved"), True, "en") == (
        "Did you mean “yes”? Reply YES or NO.")
    assert prompts.text_confirmation(survey, survey.question("calls"), 3, "zh-CN") == "您是指3吗？请回复“是”或“否”。"


def web_hint(survey: CompiledSurvey, locale: str, values: dict[str, Any]) -> str:
    interview = Interview(survey)
    state, _ = interview.start(channel="web", locale=locale, seed=1)
    for qid, value in values.items():
        assert state.current == qid
        state, events = interview.resume(state, FormValues({qid: value}))
    (reprompt,) = [e for e in events if isinstance(e, Reprompt)]
    return reprompt.hint


@pytest.mark.parametrize(
    ("locale", "values", "expected"),
    [
        ("en", {"nps": "11"}, "Please choose a number from 0 to 10."),
        ("en", {"nps": "banana"}, "Please choose a number from 0 to 10."),
        ("zh-CN", {"nps": "11"}, "请选择 0 到 10 之间的数字。"),
        ("en", {"nps": "2.5"}, "Please choose a whole number from 0 to 10."),
        ("zh-CN", {"nps": "7.5"}, "请选择 0 到 10 之间的整数。"),
        ("en", {"nps": "10", "csat": "4", "ces": "7", "speed": "5", "resolved": "perhaps"}, "Please choose yes or no."),
        ("zh-CN", {"nps": "10", "csat": "4", "ces": "7", "speed": "5", "resolved": "perhaps"}, "请选择“是”或“否”。"),
        ("en", {"nps": "10", "csat": "4", "ces": "7", "speed": "5", "resolved": "yes", "topic": "x"},
         "Please pick one of the options."),
        ("en", {"nps": "10", "csat": "4", "ces": "7", "speed": "5", "resolved": "yes", "topic": "billing",
                "calls": "2.5"}, "Please enter a whole number from 0 to 20."),
        ("zh-CN", {"nps": "10", "csat": "4", "ces": "7", "speed": "5", "resolved": "yes", "topic": "billing",
                   "calls": "30"}, "请输入 0 到 20 之间的整数。"),
        ("en", {"nps": ""}, "This question needs an answer. Please choose a number from 0 to 10."),
    ],
)
def test_web_hints_read_like_form_validation(
    all_types: CompiledSurvey, locale: str, values: dict[str, Any], expected: str
) -> None:
    hint = web_hint(all_types, locale, values)
    assert hint == expected
    assert "didn't get" not in hint and "听懂" not in hint and "Sorry" not in hint and "抱歉" not in hint


@pytest.mark.parametrize(
    ("channel", "locale", "replies", "expected"),
    [
        ("sms", "en", ["10", "4", "7", "5", "yes", "1", "2.5"],
         "Sorry, that is not a whole number. Please answer with a number from 0 to 20."),
        ("sms", "zh-CN", ["10", "4", "7", "5", "是", "1", "2.5"], "抱歉，这不是一个整数。请回答 0 到 20 之间的数字。"),
        ("sms", "en", ["10", "4", "7", "5", "yes", "1", "more than 5"],
         "Sorry, please give one exact number. Please answer with a number from 0 to 20."),
        ("chat", "zh-CN", ["三次以上"], "抱歉，请给出一个确切的数字。请回答 0 到 10 之间的数字。"),
        ("sms", "en", ["7.5"], "Sorry, that is not a whole number. Please answer with a number from 0 to 10."),
    ],
)
def test_whole_numbers_and_bounds_get_their_own_hints(
    all_types: CompiledSurvey, channel: str, locale: str, replies: list[str], expected: str
) -> None:
    out = texting(all_types, channel, locale, replies)
    assert [(m.kind, m.text) for m in out] == [("reprompt", expected)]


def test_a_whole_number_hint_on_the_phone(all_types: CompiledSurvey) -> None:
    interview, (state, _) = phone(all_types)
    state, events = interview.resume(state, Speech("seven point five", 0.9))
    (turn,) = spoken(interview, state, events)
    assert turn.say.startswith("Sorry, that is not a whole number. Enter a number from 0 to 10")
