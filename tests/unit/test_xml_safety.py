"""Outside text (contact and event fields, typed and spoken answers) can hold characters that
XML 1.0 does not allow. Whatever they hold, every prompt the core renders can go into a TwiML
<Say> or <Message> and the document stays well-formed; normal Unicode is kept."""

from __future__ import annotations

from typing import Any
from xml.dom.minidom import parseString
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedback.engine import prompts
from feedback.engine.interview import (
    ConfirmationRequested,
    Interview,
    QuestionAsked,
    Reprompt,
    Speech,
    SurveyCompleted,
    SurveyStarted,
    Text,
)
from feedback.engine.render import messages, spoken

from .helpers import survey_from

SURVEY = survey_from({
    "spec_version": 1, "id": "xml-safety", "title": {"en": "Safety", "zh-CN": "安全"},
    "locales": ["en", "zh-CN"], "channels": ["ivr", "sms", "chat", "web"],
    "intro": {"en": "Hi {{ contact.name | default('there') }}, about {{ event.order }}.",
              "zh-CN": "{{ contact.name }}您好，关于订单 {{ event.order }}。"},
    "questions": [
        {"id": "comment", "type": "text", "ivr": {"input": "speech"},
         "text": {"en": "{{ contact.name }}, what happened to {{ event.order }}?",
                  "zh-CN": "{{ contact.name }}，订单 {{ event.order }} 怎么了？"}},
        {"id": "again", "type": "yes_no",
         "text": {"en": "You said “{{ answers.comment }}”. Anything else, {{ contact.name }}?",
                  "zh-CN": "您说“{{ answers.comment }}”。还有别的吗？"}},
    ],
    "outro": {"en": "Thanks {{ contact.name }}: {{ answers.comment }}", "zh-CN": "谢谢{{ contact.name }}！"},
})

#: Any code point at all, including controls, NUL, lone surrogates and U+FFFE / U+FFFF.
any_text = st.text(alphabet=st.characters(codec=None, categories=None), max_size=30)
hostile = st.one_of(
    any_text,
    st.lists(st.sampled_from(["\x00", "\x01", "\x08", "\x0b", "\x1f", "\x7f", "\x85", "\ud800", "\udfff",
                              "\ufffe", "\uffff", "a", "李", "😀", " ", "\t", "\n"]), max_size=12).map("".join),
)


def xml_char_ok(ch: str) -> bool:
    """The Char production of XML 1.0."""
    c = ord(ch)
    return c in (0x9, 0xA, 0xD) or 0x20 <= c <= 0xD7FF or 0xE000 <= c <= 0xFFFD or 0x10000 <= c <= 0x10FFFF


def assert_safe(text: str) -> None:
    assert all(xml_char_ok(ch) for ch in text), ascii(text)
    assert not any(0x7F <= ord(ch) <= 0x9F for ch in text), ascii(text)
    parseString(f"<Response><Say>{escape(text)}</Say></Response>".encode("utf-8", "surrogatepass"))


def rendered(interview: Interview, state: Any, events: list[Any], channel: str) -> list[str]:
    texts: list[str] = []
    for ev in events:
        if isinstance(ev, SurveyStarted):
            texts.append(ev.intro)
        elif isinstance(ev, QuestionAsked):
            texts.append(ev.text)
        elif isinstance(ev, Reprompt):
            texts.append(ev.hint)
        elif isinstance(ev, ConfirmationRequested):
            texts.append(ev.text)
        elif isinstance(ev, SurveyCompleted):
            texts.append(ev.outro)
    if channel == "ivr":
        texts += [t.say for t in spoken(interview, state, events)]
    else:
        texts += [m.text for m in messages(interview, state, events, channel)]
    return texts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=hostile,
    order=hostile,
    answer=hostile,
    channel=st.sampled_from(["ivr", "sms", "chat", "web"]),
    locale=st.sampled_from(["en", "zh-CN"]),
    confidence=st.sampled_from([0.2, 0.9]),
)
def test_rendered_prompts_never_hold_xml_illegal_characters(
    name: str, order: str, answer: str, channel: str, locale: str, confidence: float
) -> None:
    interview = Interview(SURVEY)
    state, events = interview.start(
        {"contact": {"name": name}, "event": {"order": order}}, channel=channel, locale=locale, seed=1
    )
    texts = rendered(interview, state, events, channel)
    replies = [Speech(answer, confidence), Speech("yes", 0.9), Speech("yes", 0.9)] if channel == "ivr" else [
        Text(answer), Text("yes"), Text("yes")]
    for reply in replies:
        if state.finished:
            break
        state, events = interview.resume(state, reply)
        texts += rendered(interview, state, events, channel)
    texts.append(prompts.render_text(SURVEY.survey, "{{ contact.name }} {{ event.order }}", locale, state.scope()))
    for text in texts:
        assert_safe(text)
    for value in state.answers.values():
        if isinstance(value, str):
            assert_safe(value)


def test_normal_unicode_is_kept() -> None:
    interview = Interview(SURVEY)
    state, events = interview.start(
        {"contact": {"name": "李雷\x00😀"}, "event": {"order": "A-1\u0001\ud800"}}, channel="sms", locale="zh-CN"
    )
    (msg,) = messages(interview, state, events, "sms")
    assert msg.text.startswith("李雷😀您好，关于订单 A-1。\n李雷😀，订单 A-1 怎么了？")
    state, events = interview.resume(state, Text("太慢了\x01 🐢\ttab"))
    assert state.answers["comment"] == "太慢了 🐢\ttab"
    (msg,) = messages(interview, state, events, "sms")
    assert msg.text.startswith("您说“太慢了 🐢\ttab”。还有别的吗？")


def test_a_value_of_only_illegal_characters_reads_as_missing() -> None:
    interview = Interview(SURVEY)
    state, events = interview.start({"contact": {"name": "\x00\x01"}}, channel="chat", locale="en")
    assert events[0].intro == "Hi there, about."


def test_a_low_confidence_text_answer_is_confirmed_without_illegal_characters() -> None:
    interview = Interview(SURVEY)
    state, _ = interview.start(channel="ivr", locale="en")
    state, events = interview.resume(state, Speech("the parcel\x0b was late\ufffe", 0.2))
    (turn,) = spoken(interview, state, events)
    assert turn.say.startswith("I heard “the parcel was late”. Is that right?")
