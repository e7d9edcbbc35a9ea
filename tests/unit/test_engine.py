"""The interview engine: every question type on every modality, in English and Chinese,
and the logic around it (show_if, piping, random order, attempts, back, repeat, skip,
confirmation, state round trips, version checks)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from feedback.definition.loader import CompiledSurvey
from feedback.engine.interview import (
    AnswerAccepted,
    Back,
    ConfirmationRequested,
    Digits,
    FormValues,
    HangUp,
    Interview,
    NoInput,
    QuestionAsked,
    QuestionSkipped,
    Recording,
    Reprompt,
    Speech,
    State,
    SurveyCompleted,
    SurveyEnded,
    SurveyStarted,
    Text,
    choice_order,
    resume,
    start,
)
from feedback.errors import EngineError, FeedbackError, StateMismatch

from .helpers import survey_from

TEXTS = {
    "nps": {"en": "How likely are you to recommend us?", "zh-CN": "您有多大可能推荐我们？"},
    "csat": {"en": "How satisfied are you?", "zh-CN": "您满意吗？"},
    "ces": {"en": "How easy was it?", "zh-CN": "容易吗？"},
    "rating": {"en": "Rate our speed", "zh-CN": "请评价速度"},
    "yes_no": {"en": "Was it solved?", "zh-CN": "解决了吗？"},
    "single_choice": {"en": "What was it about?", "zh-CN": "是关于什么的？"},
    "multiple_choice": {"en": "What went wrong?", "zh-CN": "哪里出了问题？"},
    "number": {"en": "How many calls?", "zh-CN": "打了几次电话？"},
    "decimal": {"en": "How many hours?", "zh-CN": "多少小时？"},
    "text": {"en": "Anything else?", "zh-CN": "还有别的吗？"},
}
CHOICES = [
    {"code": "billing", "label": {"en": "Billing", "zh-CN": "账单"}, "aliases": {"en": ["invoice"], "zh-CN": ["发票"]}},
    {"code": "delivery", "label": {"en": "Delivery", "zh-CN": "配送"}, "aliases": {"en": ["shipping"], "zh-CN": ["快递"]}},
    {"code": "account", "label": {"en": "My account", "zh-CN": "我的账户"}},
]


def question(kind: str, **extra: Any) -> dict[str, Any]:
    q: dict[str, Any] = {"id": "q", "type": kind, "text": TEXTS[kind]}
    if kind == "rating":
        q["scale"] = {"min": 1, "max": 5}
    if kind in ("single_choice", "multiple_choice"):
        q["choices"] = CHOICES
    if kind == "number":
        q.update(min=0, max=20)
    if kind == "decimal":
        q.update(type="number", integer=False, min=0, max=10)
    if kind == "text":
        q["max_length"] = 40
    q.update(extra)
    return q


def one_question(kind: str, **extra: Any) -> CompiledSurvey:
    """A one-question survey (plus a closing question) on every channel, in en and zh-CN."""
    return survey_from(
        {
            "spec_version": 1,
            "id": f"one-{kind.replace('_', '-')}",
            "title": {"en": "One question", "zh-CN": "一个问题"},
            "locales": ["en", "zh-CN"],
            "channels": ["web", "email", "ivr", "sms", "chat"],
            "questions": [question(kind, **extra)],
            "outro": {"en": "Thanks!", "zh-CN": "谢谢！"},
        }
    )


def events_of(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


SKIPPED, REPEAT, CONFIRM, ENDED = "SKIPPED", "REPEAT", "CONFIRM", "ENDED"


class Reprompted:
    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"Reprompted({self.reason!r})"


# (type, channel, locale, input, expected, question overrides)
# expected: a value (accepted), Reprompted(reason), SKIPPED, REPEAT, CONFIRM or ENDED.
TABLE: list[tuple[Any, ...]] = [
    # nps
    ("nps", "ivr", "en", Digits("9"), 9),
    ("nps", "ivr", "en", Digits("10#"), 10),
    ("nps", "ivr", "en", Digits("11#"), Reprompted("out_of_range")),
    ("nps", "ivr", "en", Speech("I'd say an eight", 0.92), 8),
    ("nps", "ivr", "en", Speech("eight", 0.2), CONFIRM),
    ("nps", "ivr", "en", Speech("eight", None), 8),
    ("nps", "sms", "en", Text(" 9/10 "), 9),
    ("nps", "sms", "en", Text("ten out of ten"), 10),
    ("nps", "chat", "en", Text("7 or 8"), Reprompted("ambiguous")),
    ("nps", "web", "en", FormValues({"q": "6"}), 6),
    ("nps", "email", "en", FormValues({"q": "10"}, modality="email"), 10),
    ("nps", "web", "en", FormValues({"q": "nine"}), Reprompted("unrecognised")),
    ("nps", "ivr", "zh-CN", Speech("八分", 0.9), 8),
    ("nps", "ivr", "zh-CN", Speech("九分", 0.3), CONFIRM),
    ("nps", "sms", "zh-CN", Text("十分"), 10),
    ("nps", "chat", "zh-CN", Text("九"), 9),
    ("nps", "web", "zh-CN", FormValues({"q": "0"}), 0),
    # csat, ces, rating
    ("csat", "ivr", "en", Digits("4"), 4),
    ("csat", "ivr", "en", Digits("6"), Reprompted("out_of_range")),
    ("csat", "sms", "en", Text("very satisfied"), 5),
    ("csat", "ivr", "en", Speech("satisfied I guess", 0.9), 4),
    ("csat", "ivr", "zh-CN", Speech("很满意", 0.9), 5),
    ("csat", "sms", "zh-CN", Text("非常满意"), 5),
    ("csat", "chat", "zh-CN", Text("不满意"), 2),
    ("csat", "web", "en", FormValues({"q": "3"}), 3),
    ("ces", "ivr", "en", Digits("7"), 7),
    ("ces", "ivr", "zh-CN", Speech("六", 0.8), 6),
    ("ces", "sms", "en", Text("8"), Reprompted("out_of_range")),
    ("ces", "web", "zh-CN", FormValues({"q": "1"}), 1),
    ("rating", "ivr", "en", Digits("5"), 5),
    ("rating", "sms", "en", Text("four"), 4),
    ("rating", "ivr", "en", Speech("a three", 0.7), 3),
    ("rating", "chat", "zh-CN", Text("三分"), 3),
    ("rating", "web", "en", FormValues({"q": "0"}), Reprompted("out_of_range")),
    # yes_no
    ("yes_no", "ivr", "en", Digits("1"), True),
    ("yes_no", "ivr", "en", Digits("2"), False),
    ("yes_no", "ivr", "en", Digits("3"), Reprompted("unrecognised")),
    ("yes_no", "ivr", "en", Speech("yep", 0.9), True),
    ("yes_no", "ivr", "zh-CN", Speech("是的", 0.9), True),
    ("yes_no", "sms", "en", Text("nope"), False),
    ("yes_no", "sms", "zh-CN", Text("不是"), False),
    ("yes_no", "chat", "zh-CN", Text("对"), True),
    ("yes_no", "chat", "en", Text("yes and no"), Reprompted("ambiguous")),
    ("yes_no", "web", "en", FormValues({"q": "yes"}), True),
    ("yes_no", "web", "zh-CN", FormValues({"q": "no"}), False),
    # single choice (survey order: billing, delivery, account)
    ("single_choice", "ivr", "en", Digits("2"), "delivery"),
    ("single_choice", "ivr", "en", Digits("4"), Reprompted("out_of_range")),
    ("single_choice", "ivr", "en", Speech("it was about my invoice", 0.9), "billing"),
    ("single_choice", "ivr", "zh-CN", Speech("快递", 0.9), "delivery"),
    ("single_choice", "sms", "en", Text("2)"), "delivery"),
    ("single_choice", "sms", "en", Text("Biling"), "billing"),
    ("single_choice", "sms", "zh-CN", Text("我的账户"), "account"),
    ("single_choice", "chat", "en", Text("account"), "account"),
    ("single_choice", "web", "en", FormValues({"q": "account"}), "account"),
    ("single_choice", "web", "en", FormValues({"q": "2"}), Reprompted("unrecognised")),
    # multiple choice
    ("multiple_choice", "ivr", "en", Digits("13#"), ["billing", "account"]),
    ("multiple_choice", "ivr", "en", Speech("billing and delivery", 0.9), ["billing", "delivery"]),
    ("multiple_choice", "sms", "en", Text("1,3"), ["billing", "account"]),
    ("multiple_choice", "sms", "en", Text("1 3"), ["billing", "account"]),
    ("multiple_choice", "chat", "zh-CN", Text("账单和配送"), ["billing", "delivery"]),
    ("multiple_choice", "chat", "en", Text("1 or 2"), Reprompted("ambiguous")),
    ("multiple_choice", "web", "en", FormValues({"q": ["delivery", "billing"]}), ["billing", "delivery"]),
    ("multiple_choice", "web", "zh-CN", FormValues({"q": ["nope"]}), Reprompted("unrecognised")),
    # number
    ("number", "ivr", "en", Digits("12#"), 12),
    ("number", "ivr", "en", Digits("99#"), Reprompted("out_of_range")),
    ("number", "ivr", "en", Speech("three times", 0.9), 3),
    ("number", "sms", "zh-CN", Text("两次"), 2),
    ("number", "chat", "en", Text("about 4 or 5"), Reprompted("ambiguous")),
    ("number", "web", "en", FormValues({"q": "7"}), 7),
    ("decimal", "sms", "en", Text("2.5"), 2.5),
    ("decimal", "ivr", "en", Digits("2*5#"), 2.5),
    ("decimal", "ivr", "en", Speech("two and a half", 0.8), 2.5),
    ("decimal", "web", "zh-CN", FormValues({"q": "11"}), Reprompted("out_of_range")),
    # text
    ("text", "ivr", "en", Speech("the hold music was too loud", 0.9), "the hold music was too loud"),
    ("text", "ivr", "en", Speech("too loud", 0.1), CONFIRM),
    ("text", "ivr", "en", Digits("5"), Reprompted("unrecognised")),
    ("text", "sms", "zh-CN", Text("  等待时间太长  "), "等待时间太长"),
    ("text", "chat", "en", Text("x" * 41), Reprompted("too_long")),
    ("text", "web", "en", FormValues({"q": "fine"}), "fine"),
    # every type and modality in the other language too
    ("nps", "ivr", "zh-CN", Digits("7#"), 7),
    ("csat", "ivr", "zh-CN", Digits("2"), 2),
    ("csat", "web", "zh-CN", FormValues({"q": "5"}), 5),
    ("ces", "ivr", "zh-CN", Digits("8"), Reprompted("out_of_range")),
    ("ces", "ivr", "en", Speech("pretty easy, a six", 0.9), 6),
    ("ces", "chat", "zh-CN", Text("七分"), 7),
    ("ces", "email", "en", FormValues({"q": "4"}, modality="email"), 4),
    ("rating", "ivr", "zh-CN", Digits("1"), 1),
    ("rating", "ivr", "zh-CN", Speech("四分吧", 0.9), 4),
    ("rating", "web", "zh-CN", FormValues({"q": "4.5"}), Reprompted("not_whole")),
    ("yes_no", "ivr", "zh-CN", Digits("2"), False),
    ("single_choice", "ivr", "zh-CN", Digits("3#"), "account"),
    ("single_choice", "web", "zh-CN", FormValues({"q": "billing"}), "billing"),
    ("multiple_choice", "ivr", "zh-CN", Digits("21"), ["billing", "delivery"]),
    ("multiple_choice", "ivr", "zh-CN", Speech("账单和账户", 0.9), ["billing", "account"]),
    ("number", "ivr", "zh-CN", Digits("3#"), 3),
    ("number", "ivr", "zh-CN", Speech("打了五次", 0.9), 5),
    ("number", "web", "zh-CN", FormValues({"q": "21"}), Reprompted("out_of_range")),
    ("decimal", "ivr", "zh-CN", Digits("7*5#"), 7.5),
    ("decimal", "ivr", "zh-CN", Speech("三点五", 0.9), 3.5),
    ("decimal", "chat", "zh-CN", Text("一点五"), 1.5),
    ("decimal", "web", "en", FormValues({"q": "0.5"}), 0.5),
    ("text", "ivr", "zh-CN", Digits("1"), Reprompted("unrecognised")),
    ("text", "ivr", "zh-CN", Speech("客服态度很好", 0.9), "客服态度很好"),
    # no input, hang up, repeat, skip
    ("nps", "ivr", "en", NoInput(), Reprompted("no_input")),
    ("nps", "ivr", "zh-CN", NoInput(), Reprompted("no_input")),
    ("nps", "ivr", "en", HangUp(), ENDED),
    ("text", "sms", "zh-CN", HangUp("expired"), ENDED),
    ("nps", "ivr", "en", Digits("*"), REPEAT),
    ("yes_no", "sms", "en", Text("repeat"), REPEAT),
    ("yes_no", "sms", "zh-CN", Text("重复"), REPEAT),
    ("single_choice", "chat", "zh-CN", Text("再说一遍"), REPEAT),
    ("csat", "sms", "en", Text("skip"), SKIPPED),
    ("csat", "sms", "zh-CN", Text("跳过"), SKIPPED),
    ("text", "chat", "en", Text("skip"), SKIPPED),
    ("text", "web", "en", FormValues({"q": ""}), SKIPPED),
    ("csat", "sms", "en", Text("skip"), Reprompted("required"), {"required": True}),
    ("csat", "sms", "zh-CN", Text("跳过"), Reprompted("required"), {"required": True}),
    ("text", "web", "zh-CN", FormValues({"q": " "}), Reprompted("required"), {"required": True}),
]


def row_id(row: tuple[Any, ...]) -> str:
    kind, channel, locale, inp = row[:4]
    return f"{kind}-{channel}-{locale}-{type(inp).__name__}-{getattr(inp, 'digits', '') or getattr(inp, 'text', '') or getattr(inp, 'transcript', '')}"


@pytest.mark.parametrize("row", TABLE, ids=[row_id(r) for r in TABLE])
def test_table(row: tuple[Any, ...]) -> None:
    kind, channel, locale, inp, expected = row[:5]
    overrides = row[5] if len(row) > 5 else {}
    survey = one_question(kind, **overrides)
    interview = Interview(survey)
    state, events = interview.start(channel=channel, locale=locale, seed=3)
    asked = events_of(events, QuestionAsked)
    assert asked and asked[0].question_id == "q"
    assert asked[0].text == TEXTS[kind][locale]  # asked in the session's language
    state, events = interview.resume(json.loads(json.dumps(state.to_dict())), inp)

    if isinstance(expected, Reprompted):
        (reprompt,) = events_of(events, Reprompt)
        assert reprompt.reason == expected.reason
        assert reprompt.hint and state.status == "active" and state.answers == {}
        if locale == "zh-CN":
            assert any("\u4e00" <= ch <= "\u9fff" for ch in reprompt.hint), reprompt.hint
    elif expected == SKIPPED:
        assert events_of(events, QuestionSkipped) == [QuestionSkipped("q", "skipped")]
        assert state.status == "complete" and state.skipped == ["q"] and state.answers == {}
    elif expected == REPEAT:
        (again,) = events_of(events, QuestionAsked)
        assert again.repeat and again.question_id == "q" and again.text == TEXTS[kind][locale]
        assert state.status == "active" and state.attempts == 0
    elif expected == CONFIRM:
        (confirm,) = events_of(events, ConfirmationRequested)
        assert state.pending is not None and state.answers == {}
        assert confirm.text
    elif expected == ENDED:
        (ended,) = events_of(events, SurveyEnded)
        assert ended.status == "abandoned" and state.status == "abandoned"
    else:
        (accepted,) = events_of(events, AnswerAccepted)
        assert accepted.value == expected and type(accepted.value) is type(expected)
        assert state.answers == {"q": expected}
        assert state.status == "complete"
        outro = events_of(events, SurveyCompleted)[0].outro
        assert outro == {"en": "Thanks!", "zh-CN": "谢谢！"}[locale]
        modality = {Digits: "keypad", Speech: "speech", Text: "text"}.get(type(inp))
        if isinstance(inp, FormValues):
            modality = inp.modality
        assert accepted.modality == modality
        assert accepted.raw


def test_every_type_and_modality_is_in_the_table() -> None:
    covered = {(row[0], type(row[3]).__name__, row[2]) for row in TABLE}
    for kind in TEXTS:
        for inp in ("Digits", "Speech", "Text", "FormValues"):
            for locale in ("en", "zh-CN"):
                assert (kind, inp, locale) in covered, (kind, inp, locale)


# -- confirmation of low-confidence speech ----------------------------------------------------


def confirming(locale: str = "en") -> tuple[Interview, State]:
    interview = Interview(one_question("nps"))
    state, _ = interview.start(channel="ivr", locale=locale)
    state, events = interview.resume(state, Speech("eight", 0.2))
    (confirm,) = events_of(events, ConfirmationRequested)
    assert confirm.value == 8
    return interview, state


@pytest.mark.parametrize("reply", [Digits("1"), Speech("yes", 0.4), Speech("是的", 0.9), Text("yeah")])
def test_confirmed_speech_is_accepted_with_its_original_input(reply: Any) -> None:
    interview, state = confirming()
    state, events = interview.resume(state, reply)
    (accepted,) = events_of(events, AnswerAccepted)
    assert accepted.value == 8 and accepted.raw == "eight" and accepted.modality == "speech"
    assert accepted.confidence == 0.2
    assert state.status == "complete"


@pytest.mark.parametrize("reply", [Digits("2"), Speech("no", 0.9), Speech("不是", 0.9)])
def test_denied_speech_is_asked_again(reply: Any) -> None:
    interview, state = confirming()
    state, events = interview.resume(state, reply)
    (reprompt,) = events_of(events, Reprompt)
    assert reprompt.reason == "not_confirmed" and state.pending is None and state.answers == {}


def test_a_new_answer_instead_of_yes_or_no_is_taken() -> None:
    interview, state = confirming()
    state, events = interview.resume(state, Speech("nine", 0.95))
    assert events_of(events, AnswerAccepted)[0].value == 9


@pytest.mark.parametrize("reply", [Digits("*"), Speech("repeat", 0.9), Speech("再说一遍", 0.9)])
def test_repeat_during_a_confirmation_repeats_the_confirmation(reply: Any) -> None:
    interview, state = confirming()
    state, events = interview.resume(state, reply)
    (confirm,) = events_of(events, ConfirmationRequested)
    assert confirm.value == 8 and state.pending is not None


def test_silence_during_a_confirmation_is_not_a_yes() -> None:
    interview, state = confirming()
    state, events = interview.resume(state, NoInput())
    assert events_of(events, Reprompt)[0].reason == "no_input"
    assert state.pending is None and state.answers == {}
    state, events = interview.resume(state, Digits("1"))
    assert events_of(events, AnswerAccepted)[0].value == 1  # "1" is now an answer, not a yes


def test_confirmation_prompt_is_in_the_callers_language() -> None:
    interview = Interview(one_question("yes_no"))
    state, _ = interview.start(channel="ivr", locale="zh-CN")
    state, events = interview.resume(state, Speech("是的", 0.1))
    (confirm,) = events_of(events, ConfirmationRequested)
    assert confirm.value is True
    assert "是" in confirm.text and "对吗" in confirm.text


# -- attempts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["ivr", "sms", "chat"])
def test_optional_question_is_skipped_after_max_attempts(channel: str) -> None:
    interview = Interview(one_question("nps"))
    state, _ = interview.start(channel=channel)
    for attempt in (1, 2):
        state, events = interview.resume(state, Text("purple") if channel != "ivr" else Digits("#"))
        assert events_of(events, Reprompt)[0].attempt == attempt
    state, events = interview.resume(state, NoInput())
    assert events_of(events, QuestionSkipped) == [QuestionSkipped("q", "max_attempts")]
    assert state.status == "complete" and state.skipped == ["q"]


@pytest.mark.parametrize("channel", ["ivr", "sms", "chat"])
def test_required_question_ends_the_interview_after_max_attempts(channel: str) -> None:
    survey = survey_from(
        {
            "spec_version": 1, "id": "two", "title": "Two", "channels": [channel],
            "questions": [
                {"id": "first", "type": "yes_no", "text": "First?"},
                {"id": "must", "type": "nps", "text": "Score?", "required": True},
            ],
        }
    )
    interview = Interview(survey)
    state, _ = interview.start(channel=channel)
    state, _ = interview.resume(state, Text("yes") if channel != "ivr" else Digits("1"))
    for _ in range(2):
        state, events = interview.resume(state, NoInput())
        assert events_of(events, Reprompt)
    state, events = interview.resume(state, NoInput())
    assert events_of(events, SurveyEnded) == [SurveyEnded("partial", "max_attempts")]
    assert state.status == "partial" and state.answers == {"first": True}


def test_required_first_question_failing_leaves_an_abandoned_interview() -> None:
    interview = Interview(one_question("nps", required=True))
    state, _ = interview.start(channel="sms")
    for _ in range(3):
        state, events = interview.resume(state, Text("banana"))
    assert events_of(events, SurveyEnded) == [SurveyEnded("abandoned", "max_attempts")]


def test_channel_override_of_max_attempts() -> None:
    interview = Interview(one_question("nps", required=True, ivr={"max_attempts": 0}))
    state, _ = interview.start(channel="ivr")
    state, events = interview.resume(state, NoInput())
    assert events_of(events, SurveyEnded)  # no re-prompt at all on the phone
    state, _ = interview.start(channel="sms")
    state, events = interview.resume(state, NoInput())
    assert events_of(events, Reprompt)  # SMS keeps the default of two


def test_web_forms_reprompt_without_limit() -> None:
    interview = Interview(one_question("nps", required=True))
    state, _ = interview.start(channel="web")
    for _ in range(6):
        state, events = interview.resume(state, FormValues({"q": ""}))
        assert events_of(events, Reprompt)[0].reason == "required"
    state, events = interview.resume(state, FormValues({"q": "8"}))
    assert state.status == "complete" and state.answers == {"q": 8}


def test_a_good_answer_resets_the_attempts() -> None:
    interview = Interview(survey_from({
        "spec_version": 1, "id": "reset", "title": "Reset", "channels": ["sms"],
        "questions": [
            {"id": "a", "type": "nps", "text": "A?", "required": True},
            {"id": "b", "type": "nps", "text": "B?", "required": True},
        ],
    }))
    state, _ = interview.start(channel="sms")
    state, _ = interview.resume(state, Text("x"))
    state, _ = interview.resume(state, Text("x"))
    state, _ = interview.resume(state, Text("5"))
    assert state.current == "b" and state.attempts == 0
    state, events = interview.resume(state, Text("x"))
    assert events_of(events, Reprompt)[0].attempt == 1


# -- the whole survey: show_if, piping, order, back -----------------------------------------------


def answer_all(interview: Interview, state: State, replies: list[Any]) -> tuple[State, list[Any]]:
    every: list[Any] = []
    for reply in replies:
        state, events = interview.resume(state, reply)
        every += events
    return state, every


def test_show_if_skips_and_piping_fills_in_answers(all_types: CompiledSurvey) -> None:
    interview = Interview(all_types)
    context = {"contact": {"first_name": "Ana"}, "event": {"order_id": "A-17"}}
    state, events = interview.start(context, channel="sms", locale="en", seed=1)
    assert events[0] == SurveyStarted("Hi Ana, about order A-17.")
    state, events = interview.resume(state, Text("9"))
    assert QuestionSkipped("reason", "condition") in events  # 9 > 6: no "why"
    assert events_of(events, QuestionAsked)[0].question_id == "csat"

    state, _ = interview.start(context, channel="sms", locale="en", seed=1)
    state, events = interview.resume(state, Text("3"))
    assert events_of(events, QuestionAsked)[0].text == "Why a 3?"


def test_piping_a_choice_uses_its_label_in_the_session_language(all_types: CompiledSurvey) -> None:
    interview = Interview(all_types)
    for locale, expected in (("en", "What went wrong with Delivery?"), ("zh-CN", "配送方面出了什么问题？")):
        state, _ = interview.start(channel="chat", locale=locale, seed=5)
        replies = [Text("10"), Text("skip"), Text("skip"), Text("skip"), Text("no"), Text("delivery")]
        state, events = answer_all(interview, state, replies)
        assert state.answers["resolved"] is False and state.answers["topic"] == "delivery"
        assert events_of(events, QuestionAsked)[-1].text == expected


def test_empty_placeholders_leave_no_stray_spaces(all_types: CompiledSurvey) -> None:
    interview = Interview(all_types)
    _, events = interview.start(channel="web", locale="en")
    assert events[0] == SurveyStarted("Hi there, about order.")
    _, events = interview.start(channel="web", locale="zh-CN")
    assert events[0] == SurveyStarted("您好，关于订单。")


def test_condition_over_a_yes_no_answer(all_types: CompiledSurvey) -> None:
    interview = Interview(all_types)
    state, _ = interview.start(channel="web", seed=2)
    values = {"nps": "10", "csat": "5", "ces": "7", "speed": "5", "resolved": "yes", "topic": "billing"}
    state, events = interview.resume(state, FormValues(values))
    assert QuestionSkipped("issues", "condition") in events
    assert state.current == "calls"


def test_random_choice_order_is_stable_within_a_session(all_types: CompiledSurvey) -> None:
    interview = Interview(all_types)
    topic = interview.question("topic")
    orders = set()
    for seed in range(30):
        state, _ = interview.start(channel="ivr", seed=seed)
        state, _ = answer_all(interview, state, [Digits("9"), Digits("4"), Digits("5"), Digits("5"), Digits("1")])
        assert state.current == "topic"
        first = choice_order(state, topic)
        orders.add(tuple(first))
        # The same order when asked again, after a JSON round trip, and when repeated.
        restored = State.from_dict(json.loads(json.dumps(state.to_dict())))
        assert choice_order(restored, topic) == first
        assert interview.ask_again(restored)[0].choice_order == first
        state, events = interview.resume(restored, Digits("*"))
        assert events_of(events, QuestionAsked)[0].choice_order == first
        # Key 1 picks the first choice as presented, not as written in the file.
        state, events = interview.resume(state, Digits("1"))
        assert events_of(events, AnswerAccepted)[0].value == first[0]
    assert len(orders) > 1  # it really is shuffled across sessions


def test_unrandomised_choices_keep_the_survey_order() -> None:
    interview = Interview(one_question("single_choice"))
    for seed in range(5):
        state, events = interview.start(channel="sms", seed=seed)
        assert events_of(events, QuestionAsked)[0].choice_order == ["billing", "delivery", "account"]


def test_back_on_the_web_changes_an_answer_and_reevaluates_conditions(all_types: CompiledSurvey) -> None:
    interview = Interview(all_types)
    state, _ = interview.start(channel="web", seed=1)
    state, events = interview.resume(state, FormValues({"nps": "3"}))
    assert state.current == "reason"
    state, events = interview.resume(state, Back())
    assert events_of(events, QuestionAsked)[0].question_id == "nps" and state.current == "nps"
    state, events = interview.resume(state, FormValues({"nps": "9"}))
    assert state.current == "csat" and "reason" in state.skipped
    state, _ = interview.resume(state, FormValues({"csat": "4"}))
    state, _ = interview.resume(state, Back())
    assert state.current == "csat"
    state, events = interview.resume(state, FormValues({"csat": "2"}))
    assert state.answers["csat"] == 2 and state.current == "ces"


def test_back_on_the_first_question_asks_it_again() -> None:
    interview = Interview(one_question("nps"))
    state, _ = interview.start(channel="chat")
    state, events = interview.resume(state, Text("back"))
    (asked,) = events_of(events, QuestionAsked)
    assert asked.question_id == "q" and state.current == "q"


def test_a_web_form_can_answer_several_questions_at_once(all_types: CompiledSurvey) -> None:
    interview = Interview(all_types)
    state, _ = interview.start(channel="web", seed=1)
    form = {"nps": "10", "csat": "4", "ces": "6", "speed": "", "resolved": "no", "topic": "account",
            "issues": ["slow", "wrong"], "calls": "2", "comment": "fine"}
    state, events = interview.resume(state, FormValues(form))
    assert state.status == "complete"
    assert state.answers == {"nps": 10, "csat": 4, "ces": 6, "resolved": False, "topic": "account",
                             "issues": ["slow", "wrong"], "calls": 2, "comment": "fine"}
    assert set(state.skipped) == {"reason", "speed"}


def test_a_web_form_stops_at_the_first_bad_value(all_types: CompiledSurvey) -> None:
    interview = Interview(all_types)
    state, _ = interview.start(channel="web", seed=1)
    state, events = interview.resume(state, FormValues({"nps": "10", "csat": "9", "ces": "6"}))
    assert state.answers == {"nps": 10} and state.current == "csat"
    assert events_of(events, Reprompt)[0].reason == "out_of_range"


def test_hang_up_keeps_what_was_answered(all_types: CompiledSurvey) -> None:
    interview = Interview(all_types)
    state, _ = interview.start(channel="ivr")
    state, _ = interview.resume(state, Digits("9"))
    state, events = interview.resume(state, HangUp())
    assert events_of(events, SurveyEnded) == [SurveyEnded("partial", "hangup")]
    assert state.status == "partial" and state.answers == {"nps": 9}
    with pytest.raises(EngineError):
        interview.resume(state, Digits("1"))


def test_recording_answers_a_recorded_text_question() -> None:
    interview = Interview(one_question("text", ivr={"record": True}))
    state, _ = interview.start(channel="ivr")
    state, events = interview.resume(state, Recording("https://rec.example/1", 12, "too long a wait"))
    (accepted,) = events_of(events, AnswerAccepted)
    assert accepted.value == "too long a wait"
    assert accepted.extra == {"recording_url": "https://rec.example/1", "recording_duration": 12}


def test_locale_comes_from_the_contact_and_falls_back_to_the_default(all_types: CompiledSurvey) -> None:
    state, _ = start(all_types, {"contact": {"locale": "zh_CN"}}, channel="sms")
    assert state.locale == "zh-CN"
    state, _ = start(all_types, {"contact": {"locale": "zh-TW"}}, channel="sms")
    assert state.locale == "zh-CN"  # same language
    state, _ = start(all_types, None, channel="sms", locale="fr")
    assert state.locale == "en"


# -- state --------------------------------------------------------------------------------------


def test_state_round_trips_through_json_exactly(all_types: CompiledSurvey) -> None:
    interview = Interview(all_types)
    state, _ = interview.start({"contact": {"first_name": "李雷", "tier": 2}, "event": {"x": [1, 2.5]}},
                               channel="sms", locale="zh-CN", seed=42)
    for reply in [Text("3"), Text("太慢了"), Text("四"), Text("5"), Text("3"), Text("不是"), Text("账单"),
                  Text("1和3"), Text("两次"), Text("没有了")]:
        data = state.to_dict()
        text = json.dumps(data, ensure_ascii=False, sort_keys=True)
        again = State.from_dict(json.loads(text))
        assert again == state and again.to_dict() == data
        assert json.dumps(again.to_dict(), ensure_ascii=False, sort_keys=True) == text
        # Resuming from the JSON form gives exactly what resuming the object gives.
        s1, e1 = interview.resume(state, reply)
        s2, e2 = interview.resume(json.loads(text), reply)
        assert s1 == s2 and e1 == e2
        state = s1
    assert state.status == "complete"
    assert state.answers["issues"] == ["slow", "wrong"]


def test_state_carries_its_survey_version(all_types: CompiledSurvey) -> None:
    state, _ = start(all_types, channel="web")
    assert state.survey_id == "all-types" and state.version == all_types.version
    assert len(state.version) == 16


def test_a_state_resumed_against_another_survey_version_is_refused(all_types: CompiledSurvey) -> None:
    state, _ = start(all_types, channel="sms")
    changed = survey_from({"spec_version": 1, "id": "all-types", "title": "Changed",
                           "questions": [{"id": "nps", "type": "nps", "text": "Score?"}]})
    assert changed.version != all_types.version
    with pytest.raises(StateMismatch) as err:
        resume(changed, state, Text("9"))
    assert "all-types@" in err.value.message
    other = one_question("nps")
    with pytest.raises(StateMismatch):
        resume(other, state.to_dict(), Text("9"))


@pytest.mark.parametrize(
    "corrupt",
    [
        {},
        [],
        "state",
        {"format": 99},
        {"status": "flying"},
        {"answers": []},
        {"seed": "x"},
        {"current": 5},
        {"path": [1, 2]},
        {"pending": {"raw": "x"}},
        {"current": "nope"},
        {"context": None},
    ],
)
def test_a_corrupt_state_is_an_engine_error(all_types: CompiledSurvey, corrupt: Any) -> None:
    good, _ = start(all_types, channel="sms")
    data = {**good.to_dict(), **corrupt} if isinstance(corrupt, dict) and corrupt else corrupt
    with pytest.raises(EngineError):
        resume(all_types, data, Text("9"))


@pytest.mark.parametrize(
    "inp",
    [Digits(7), Speech(None), Speech("nine", "high"), Text(b"9"), FormValues(["q"]), "9", None],  # type: ignore[arg-type]
)
def test_malformed_inputs_are_engine_errors(inp: Any) -> None:
    interview = Interview(one_question("nps"))
    state, _ = interview.start(channel="web")
    with pytest.raises(FeedbackError):
        interview.resume(state, inp)


@pytest.mark.parametrize("context", [{"contact": "ana"}, {"event": [1]}, "x", {"contact": {"when": object()}}])
def test_a_bad_context_is_an_engine_error(context: Any) -> None:
    with pytest.raises(EngineError):
        start(one_question("nps"), context)


def test_progress(all_types: CompiledSurvey) -> None:
    interview = Interview(all_types)
    state, _ = interview.start(channel="web")
    assert interview.progress(state) == (0, 10)
    state, _ = interview.resume(state, FormValues({"nps": "9"}))
    assert interview.progress(state) == (2, 10)  # "reason" was skipped by its condition


def test_resume_never_changes_the_state_it_was_given(all_types: CompiledSurvey) -> None:
    interview = Interview(all_types)
    state, _ = interview.start(channel="sms", seed=1)
    state, _ = interview.resume(state, Text("3"))
    as_object, as_data = State.from_dict(state.to_dict()), state.to_dict()
    snapshot = json.dumps(as_data, sort_keys=True)
    new_from_object, _ = interview.resume(as_object, Text("slow"))
    new_from_data, _ = interview.resume(as_data, Text("slow"))
    assert as_object == state and json.dumps(as_data, sort_keys=True) == snapshot
    assert new_from_object == new_from_data and new_from_object.answers == {"nps": 3, "reason": "slow"}
    new_from_object.answers["x"] = 1
    assert "x" not in as_data["answers"] and "x" not in state.answers
