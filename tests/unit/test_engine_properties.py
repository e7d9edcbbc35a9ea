"""Properties of the core over generated surveys and arbitrary input.

For any valid survey (random question types, show_if over earlier answers, piping,
optional and required questions, every channel, one or two languages) and any sequence of
inputs, the engine:

* never raises anything but the project's own errors (and nothing at all for well-formed
  input on an active interview);
* keeps a state that survives a JSON round trip exactly at every step, and resuming from
  that JSON gives the same result;
* keeps its invariants (only shown questions asked, typed answers within bounds, required
  questions never skipped except by their condition);
* always terminates: after any prefix, silence (phone, SMS, chat) or plain valid answers
  (web, email) finish the interview within a bounded number of steps.

The loader never raises anything but DefinitionError, whatever text it is given.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from feedback.definition.loader import CompiledSurvey, load_text
from feedback.definition.model import Question
from feedback.engine.interview import (
    AnswerAccepted,
    Back,
    Digits,
    FormValues,
    HangUp,
    Interview,
    NoInput,
    QuestionAsked,
    QuestionSkipped,
    Recording,
    Speech,
    State,
    Text,
)
from feedback.engine.render import messages, spoken
from feedback.errors import DefinitionError, FeedbackError

from .helpers import EXAMPLES, survey_from

TYPES = ["nps", "csat", "ces", "rating", "single_choice", "multiple_choice", "yes_no", "number", "text"]
LABELS = [
    ("Billing", "账单"), ("Delivery", "配送"), ("My account", "我的账户"), ("Product quality", "产品质量"),
    ("Price", "价格"), ("Returns", "退货"), ("Opening hours", "营业时间"), ("Staff", "员工"),
    ("Website", "网站"), ("App", "应用"), ("Something else", "其他"), ("Parking", "停车"),
]
WORDS = [
    "9", "10", "0", "-3", "2.5", "7 or 8", "nine", "ten out of ten", "I'd say an eight", "九", "八分", "十分",
    "yes", "no", "yep", "nope", "是的", "不是", "maybe", "billing", "delivery", "Biling", "账单", "配送", "1,3",
    "1 and 3", "2)", "skip", "跳过", "repeat", "重复", "back", "返回", "", " ", "all of them", "全部",
    "very satisfied", "非常满意", "not at all", "x" * 300, "12345678901234567890", "1 3", "#", "*",
]
CHANNELS = ["web", "email", "ivr", "sms", "chat"]
#: Raise for a deeper search: CORE_PROPERTY_EXAMPLES=2000 pytest tests/unit/test_engine_properties.py
EXAMPLES_PER_TEST = int(os.environ.get("CORE_PROPERTY_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES_PER_TEST, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.data_too_large])


def ltext(en: str, zh: str, locales: list[str]) -> Any:
    return {"en": en, "zh-CN": zh} if len(locales) > 1 else en


def condition_on(draw: Any, q: dict[str, Any]) -> str:
    qid, kind = q["id"], q["type"]
    if kind in ("nps", "csat", "ces", "rating", "number"):
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
        value = draw(st.integers(-1, 11))
        return draw(st.sampled_from([f"answers.{qid} {op} {value}", f"answers.{qid} + 1 {op} {value}"]))
    if kind == "yes_no":
        return draw(st.sampled_from([f"answers.{qid} == true", f"answers.{qid} == false", f"not answers.{qid}"]))
    if kind == "text":
        return draw(st.sampled_from([f"answered({qid})", f"not answered({qid})", f'answers.{qid} == "ok"']))
    code = draw(st.sampled_from([c["code"] for c in q["choices"]]))
    if kind == "single_choice":
        return draw(st.sampled_from([f'answers.{qid} == "{code}"', f'selected({qid}, "{code}")',
                                     f'answers.{qid} in ["{code}"]']))
    return draw(st.sampled_from([f'selected({qid}, "{code}")', f'"{code}" in answers.{qid}']))


@st.composite
def survey_data(draw: Any) -> dict[str, Any]:
    locales = draw(st.sampled_from([["en"], ["en", "zh-CN"]]))
    channels = draw(st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=5, unique=True))
    questions: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(TYPES))
        q: dict[str, Any] = {
            "id": f"q{i}",
            "type": kind,
            "text": ltext(f"Question {i}?", f"问题{i}？", locales),
            "required": draw(st.booleans()),
        }
        if draw(st.integers(0, 3)) == 0:
            q["max_attempts"] = draw(st.integers(0, 3))
        if kind == "rating":
            lo = draw(st.integers(0, 3))
            q["scale"] = {"min": lo, "max": draw(st.integers(lo + 1, lo + 10))}
        if kind in ("single_choice", "multiple_choice"):
            count = draw(st.integers(1, 9 if "ivr" in channels else len(LABELS)))
            picked = draw(st.permutations(LABELS))[:count]
            q["choices"] = [
                {"code": f"c{j}", "label": ltext(en, zh, locales)} for j, (en, zh) in enumerate(picked)
            ]
            q["randomize"] = draw(st.booleans())
            if kind == "multiple_choice" and draw(st.booleans()):
                q["max_choices"] = draw(st.integers(1, count))
                q["min_choices"] = draw(st.integers(0, q["max_choices"]))
        if kind == "number":
            lo = draw(st.one_of(st.none(), st.integers(0, 5)))
            hi = draw(st.one_of(st.none(), st.integers(6, 100)))
            q.update({k: v for k, v in (("min", lo), ("max", hi)) if v is not None})
            q["integer"] = draw(st.booleans()) if "ivr" not in channels else True
        if kind == "text":
            q["max_length"] = draw(st.integers(5, 200))
            if "ivr" in channels:
                q["ivr"] = draw(st.sampled_from([{}, {"input": "speech"}, {"record": True}, {"input": "dtmf speech"}]))
        if questions and draw(st.booleans()):
            parts = [condition_on(draw, draw(st.sampled_from(questions))) for _ in range(draw(st.integers(1, 2)))]
            parts += draw(st.lists(st.sampled_from(['channel == "sms"', f'locale == "{locales[-1]}"', 'contact.tier == "gold"']),
                                   max_size=1))
            q["show_if"] = draw(st.sampled_from([" and ", " or "])).join(parts)
        if questions and draw(st.booleans()):
            earlier = draw(st.sampled_from(questions))["id"]
            q["text"] = ltext(f"About {{{{ answers.{earlier} }}}}, question {i}?",
                              f"关于{{{{ answers.{earlier} }}}}，问题{i}？", locales)
        questions.append(q)
    return {
        "spec_version": 1,
        "id": "generated",
        "title": ltext("Generated", "生成的问卷", locales),
        "locales": locales,
        "channels": channels,
        "intro": ltext("Hi {{ contact.first_name | default('there') }}.", "{{ contact.first_name | default('您好') }}！",
                       locales),
        "questions": questions,
        "outro": ltext("Thanks!", "谢谢！", locales),
    }


def inputs_for(draw: Any, state: State, survey: CompiledSurvey) -> Any:
    """Any input a channel could send, well-formed, for the current question."""
    qid = state.current or "q0"
    text = draw(st.one_of(st.sampled_from(WORDS), st.text(max_size=30)))
    return draw(st.sampled_from([
        Digits(draw(st.from_regex(r"[0-9*#]{0,4}", fullmatch=True))),
        Speech(text, draw(st.one_of(st.none(), st.floats(0, 1)))),
        Text(text),
        FormValues({qid: draw(st.one_of(st.just(text), st.lists(st.sampled_from(["c0", "c1", "c2", "x", ""]),
                                                                  max_size=3), st.none()))}),
        FormValues({q.id: text for q in survey.survey.questions}),
        NoInput(),
        Back(),
        Recording("https://rec.example/r", draw(st.integers(0, 90)), draw(st.one_of(st.none(), st.just(text)))),
        HangUp(),
    ]))


def check_value(q: Question, value: Any) -> None:
    if q.scale_range is not None:
        lo, hi = q.scale_range
        assert type(value) is int and lo <= value <= hi
    elif q.type == "number":
        assert type(value) in ((int,) if q.integer else (int, float)) and not math.isnan(value)
        assert (q.min is None or value >= q.min) and (q.max is None or value <= q.max)
    elif q.type == "yes_no":
        assert type(value) is bool
    elif q.type == "single_choice":
        assert value in q.choice_codes
    elif q.type == "multiple_choice":
        assert isinstance(value, list) and set(value) <= set(q.choice_codes)
        assert len(value) >= (q.min_choices if q.min_choices is not None else 1)
        assert q.max_choices is None or len(value) <= q.max_choices
    else:
        assert isinstance(value, str) and len(value) <= q.max_length


def check_step(interview: Interview, state: State, events: list[Any]) -> None:
    survey = interview.survey
    # JSON round trip, exactly.
    data = json.loads(json.dumps(state.to_dict()))
    assert State.from_dict(data) == state and data == state.to_dict()
    # Bounded work per step: each question is asked or skipped at most once, plus a few.
    assert len(events) <= 2 * len(survey.questions) + 4
    for ev in events:
        if isinstance(ev, QuestionSkipped) and interview.question(ev.question_id).required:
            assert ev.reason == "condition", ev
        if isinstance(ev, AnswerAccepted):
            check_value(interview.question(ev.question_id), ev.value)
    for qid, value in state.answers.items():
        check_value(interview.question(qid), value)
    assert state.status in ("active", "complete", "partial", "abandoned")
    if state.status == "active":
        assert state.current is not None
        condition = interview.cs.condition(state.current)
        assert condition is None or condition.test(state.scope())
    else:
        assert state.current is None


def valid_answer(q: Question) -> Any:
    if q.scale_range is not None:
        return str(q.scale_range[0])
    if q.type == "yes_no":
        return "yes"
    if q.type == "single_choice":
        return q.choice_codes[0]
    if q.type == "multiple_choice":
        return q.choice_codes[: max(q.min_choices or 0, 1)]
    if q.type == "number":
        return str(int(q.min) if q.min is not None else 0)
    return "ok"


@SETTINGS
@given(data=survey_data(), channel=st.sampled_from(CHANNELS), locale=st.sampled_from(["en", "zh-CN", "fr"]),
       seed=st.integers(0, 2**31 - 1), steps=st.integers(0, 25), draw=st.data())
def test_engine_properties(data: dict[str, Any], channel: str, locale: str, seed: int, steps: int,
                           draw: st.DataObject) -> None:
    try:
        compiled = survey_from(data)
    except DefinitionError as e:  # the generator only makes valid surveys
        raise AssertionError(f"generated survey rejected: {[str(p) for p in e.problems]}") from None
    interview = Interview(compiled)
    context = {"contact": draw.draw(st.sampled_from([{}, {"first_name": "Ana", "tier": "gold"}]))}
    state, events = interview.start(context, channel=channel, locale=locale, seed=seed)
    check_step(interview, state, events)
    render(interview, state, events, channel)

    for _ in range(steps):
        if state.finished:
            break
        inp = inputs_for(draw.draw, state, compiled)
        before = json.loads(json.dumps(state.to_dict()))
        state, events = interview.resume(state, inp)  # well-formed input: never raises
        check_step(interview, state, events)
        render(interview, state, events, channel)
        again, events_again = interview.resume(before, inp)  # from its JSON form: the same
        assert again == state and events_again == events

    # Termination: silence on a phone / in a conversation, plain answers on a form.
    limit = len(compiled.survey.questions) * 8 + 2
    for _ in range(limit):
        if state.finished:
            break
        q = interview.question(state.current or "")
        if channel in ("web", "email"):
            inp = FormValues({q.id: "" if not q.required else valid_answer(q)}, modality=channel)  # type: ignore[arg-type]
        else:
            inp = NoInput()
        state, events = interview.resume(state, inp)
        check_step(interview, state, events)
    assert state.finished, "the interview did not end"
    if state.status == "complete":
        for q in compiled.survey.questions:
            assert q.id in state.answers or q.id in state.skipped


def render(interview: Interview, state: State, events: list[Any], channel: str) -> None:
    """What a channel would send for these events renders without error and is not empty."""
    if channel == "ivr":
        turns = spoken(interview, state, events)
        asked = [t for t in turns if t.kind in ("question", "reprompt", "confirm")]
        assert all(t.say.strip() for t in asked)
    elif channel in ("sms", "chat"):
        for m in messages(interview, state, events, channel):
            assert m.text.strip() and "  " not in m.text.replace("\n", " ") or m.kind != "question"
    for ev in events:
        if isinstance(ev, QuestionAsked):
            assert ev.text.strip() and "{{" not in ev.text


@settings(max_examples=EXAMPLES_PER_TEST, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=survey_data(), inputs=st.lists(st.one_of(
    st.builds(Digits, st.one_of(st.text(max_size=5), st.integers(), st.none())),
    st.builds(Speech, st.one_of(st.text(max_size=10), st.none()), st.one_of(st.floats(), st.text(max_size=3), st.none())),
    st.builds(Text, st.one_of(st.text(max_size=10), st.binary(max_size=3))),
    st.builds(FormValues, st.one_of(st.dictionaries(st.text(max_size=4), st.text(max_size=4)),
                                    st.lists(st.text(max_size=3)), st.text(max_size=3))),
    st.just(NoInput()), st.just(HangUp()), st.just(Back()), st.text(max_size=3), st.none(),
), max_size=12))
def test_malformed_input_only_raises_project_errors(data: dict[str, Any], inputs: list[Any]) -> None:
    interview = Interview(survey_from(data))
    state, _ = interview.start(channel="sms")
    for inp in inputs:
        try:
            state, _ = interview.resume(state, inp)
        except FeedbackError:
            continue


@settings(max_examples=EXAMPLES_PER_TEST, deadline=None)
@given(state=st.dictionaries(st.sampled_from(list(State.__dataclass_fields__) + ["junk"]),
                             st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2),
                                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))))
def test_corrupt_state_only_raises_project_errors(all_types: CompiledSurvey, state: dict[str, Any]) -> None:
    interview = Interview(all_types)
    good, _ = interview.start(channel="sms")
    mixed = {**good.to_dict(), **state}
    try:
        interview.resume(mixed, Text("9"))
    except FeedbackError:
        pass


# -- the loader --------------------------------------------------------------------------------

EXAMPLE_TEXTS = [p.read_text(encoding="utf-8") for p in EXAMPLES]


@settings(max_examples=EXAMPLES_PER_TEST * 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(["spec_version: 1", "id: x", "title: T", "questions:", "  - id: a", "    type: nps",
                              "    text: A?", "    show_if: answers.a >", "\t", "- ", "{", "}", "[", "]", ":", "'",
                              '"', "&a", "*a", "!!python/object:os.system", "? x", "choices:", "  - {code: yes}",
                              "    text: {{ answers.zz }}", "%YAML 1.1", "---", "..."]),
             max_size=12).map("\n".join),
))
def test_the_loader_only_raises_definition_errors(text: str) -> None:
    try:
        load_text(text, "fuzz.yaml")
    except DefinitionError as e:
        assert e.problems and all(p.line >= 1 and p.col >= 1 for p in e.problems)


@settings(max_examples=EXAMPLES_PER_TEST * 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, len(EXAMPLE_TEXTS) - 1), data=st.data())
def test_mutated_example_surveys_fail_cleanly(which: int, data: st.DataObject) -> None:
    """An example survey with lines dropped, duplicated or garbled still gets located problems."""
    lines = EXAMPLE_TEXTS[which].splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["drop", "dup", "garble", "indent", "dedent"]))
        if action == "drop":
            del lines[i]
        elif action == "dup":
            lines.insert(i, lines[i])
        elif action == "garble":
            pos = data.draw(st.integers(0, max(len(lines[i]) - 1, 0)))
            lines[i] = lines[i][:pos] + data.draw(st.sampled_from(["x", ":", "{", "-", "yes", "9", "'", "  "])) + lines[i][pos + 1:]
        elif action == "indent":
            lines[i] = "  " + lines[i]
        else:
            lines[i] = lines[i][2:]
        if not lines:
            break
    text = "\n".join(lines)
    assume(text.strip())
    try:
        load_text(text, "mutated.yaml")
    except DefinitionError as e:
        assert e.problems
        for p in e.problems:
            assert 1 <= p.line <= max(len(lines), 1) + 1 and p.col >= 1, str(p)
