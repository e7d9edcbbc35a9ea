"""The triggers: section of survey files, durations, sampling and event checking (no app)."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedback.definition.loader import load_text
from feedback.errors import DefinitionError
from feedback.triggers.definition import (
    event_matches,
    format_duration,
    in_sample,
    parse_duration,
    parse_rate,
    sample_bucket,
    triggers_of,
)
from feedback.triggers.validation import event_context, parse_event

HEAD = """\
spec_version: 1
id: t
title: T
channels: [web, sms, email]
questions:
  - {id: nps, type: nps, text: "How likely?"}
"""


def load(triggers: str):  # type: ignore[no-untyped-def]
    return load_text(HEAD + textwrap.dedent(triggers), "t.yaml")


def problems(triggers: str) -> list[str]:
    with pytest.raises(DefinitionError) as exc:
        load(triggers)
    return [str(p) for p in exc.value.problems]


def test_a_valid_section_compiles_to_triggers() -> None:
    compiled = load("""\
        triggers:
          - event: ticket.closed
            if: event.queue == "billing" and not (contact.tier == "test")
            channels: [sms, email]
            wait: 2h
            delay: 10m
            sample: 25%
            expires: 3d
          - {event: [order.*, x], channels: email}
        """)
    first, second = triggers_of(compiled)
    assert first.events == ("ticket.closed",)
    assert first.channels == ("sms", "email")
    assert (first.wait, first.delay, first.expires) == (dt.timedelta(hours=2), dt.timedelta(minutes=10), dt.timedelta(days=3))
    assert first.sample == 0.25
    assert first.condition_holds({"event": {"queue": "billing"}, "contact": {}})
    assert not first.condition_holds({"event": {"queue": "billing"}, "contact": {"tier": "test"}})
    assert not first.condition_holds({"event": {"queue": "sales"}, "contact": {}})
    assert second.channels == ("email",) and second.sample == 1.0 and second.delay == dt.timedelta(0)
    assert second.matches_type("order.delivered") and second.matches_type("x") and not second.matches_type("xy")


def test_every_problem_is_located() -> None:
    found = problems("""\
        triggers:
          - event: ticket.closed
            if: event.queue == "billing" and answers.nps > 3
            channels: [ivr, emial, web]
            wait: 2 hourz
            sample: 1.5
            expires: 3d
            colour: red
          - event: "bad type!"
            channels: [sms, email]
          - {event: x.y, channels: email, delay: 5}
        """)
    assert found == [
        "t.yaml:9:38: if: answers cannot be used in this condition; it can only use contact or event",
        "t.yaml:10:16: 'ivr' is not in this survey's channels (web, sms, email); add it there first",
        "t.yaml:10:21: unknown channel 'emial'; did you mean 'email'? (a ladder uses ivr, sms, whatsapp, email)",
        "t.yaml:10:28: 'web' cannot be sent to a contact; use email (its link opens the web survey), sms, whatsapp or ivr",
        "t.yaml:11:11: wait: unknown unit 'hourz' in '2 hourz' (did you mean '2h'?); "
        "write a number and a unit, e.g. 30s, 10m, 2h, 3d or 1w (or combined: 1h30m)",
        "t.yaml:12:13: sample must be more than 0 and at most 1 (100%), not 1.5",
        "t.yaml:14:5: unknown key 'colour' in a trigger",
        "t.yaml:15:5: a ladder of more than one channel needs 'wait': how long to wait for an answer "
        "before trying the next channel, e.g. wait: 2h",
        "t.yaml:15:12: 'bad type!' is not an event type: use letters, digits and . _ - : / "
        "(e.g. ticket.closed, or order.* for every order event)",
        "t.yaml:17:42: delay: '5' has no unit; write a number and a unit, e.g. 30s, 10m, 2h, 3d or 1w "
        "(or combined: 1h30m)",
    ]


def test_structure_problems() -> None:
    assert problems("triggers: {event: x}\n") == [
        "t.yaml:7:11: triggers must be a list of triggers (- event: ...), not a map"
    ]
    found = problems("""\
        triggers:
          - channels: [email]
            delay: 2d
            expires: 1d
          - event: x
          - event: [a, a]
            channels: [email, email]
            wait: 1h
        """)
    assert found == [
        "t.yaml:8:5: a trigger needs 'event': the event type that starts it, e.g. event: ticket.closed",
        "t.yaml:9:12: delay must be shorter than expires: the invitation would expire before its first step",
        "t.yaml:11:5: a trigger needs 'channels': the ladder of channels to try, e.g. channels: [sms, email]",
        "t.yaml:12:16: event type 'a' is listed twice",
        "t.yaml:13:23: channel 'email' is twice in the ladder",
    ]


def test_whatsapp_needs_the_sms_channel() -> None:
    text = HEAD.replace("[web, sms, email]", "[web, email]") + "triggers:\n  - {event: x, channels: [whatsapp]}\n"
    with pytest.raises(DefinitionError) as exc:
        load_text(text, "t.yaml")
    assert [str(p) for p in exc.value.problems] == [
        "t.yaml:8:27: whatsapp goes through the sms channel, but 'sms' is not in this survey's channels (web, email); add it there first"
    ]


def test_warnings_for_conditions_that_miss_contacts_without_the_field() -> None:
    compiled = load("""\
        triggers:
          - event: x
            if: contact.tier != "test"
            channels: [email]
          - event: y
            channels: [sms, email]
            wait: 2d
            expires: 1d
        """)
    assert [str(w) for w in compiled.warnings] == [
        "t.yaml:9:9: warning: if: 'contact.tier != ...' is false when the contact has no tier; "
        "write not (contact.tier == \"test\") to include them",
        "t.yaml:14:14: warning: with delay 0s and wait 2d, the last of the 2 channels would come after "
        "expires (1d); it will never be tried",
    ]


def test_the_example_surveys_have_valid_triggers() -> None:
    from feedback.definition.loader import load_file, survey_files
    from tests.conftest import SURVEY_DEFS

    with_triggers = [load_file(p) for p in survey_files([SURVEY_DEFS])]
    assert sum(1 for c in with_triggers if triggers_of(c)) >= 3


def test_the_schema_describes_the_section() -> None:
    from feedback.definition.schema import json_schema

    section = json_schema()["properties"]["triggers"]
    assert section["type"] == "array"
    assert set(section["items"]["properties"]) == {"event", "if", "channels", "wait", "delay", "sample", "expires", "name"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("10m", 600), ("2h", 7200), ("3d", 259200), ("1w", 604800), ("1h30m", 5400),
     ("90 minutes", 5400), ("1.5h", 5400), (0, 0), ("2 days", 172800)],
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("bad", ["", "10", 10, "ten minutes", "5 fortnights", True, None, "2h 5", "400d"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format_duration_round_trips() -> None:
    for text in ("30s", "10m", "2h", "3d", "2w", "1d2h", "1h30m"):
        assert format_duration(parse_duration(text)) == text


def test_rates() -> None:
    assert parse_rate("25%") == 0.25 and parse_rate(0.5) == 0.5 and parse_rate(1) == 1.0
    for bad in (0, -1, 1.5, "abc", "150%", True):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_event_type_patterns() -> None:
    assert event_matches("ticket.closed", "ticket.closed")
    assert not event_matches("ticket.closed", "ticket.closed.x")
    assert event_matches("ticket.*", "ticket.reopened")
    assert not event_matches("ticket.*", "tickets.x")
    assert event_matches("*", "anything")


def test_sampling_is_deterministic_and_honours_the_rate() -> None:
    assert sample_bucket("cust-1", "s") == sample_bucket("cust-1", "s")
    assert sample_bucket("cust-1", "s") != sample_bucket("cust-1", "other")
    n = 20000
    for rate in (0.05, 0.25, 0.5, 0.9):
        chosen = sum(in_sample(f"cust-{i}", "s", rate) for i in range(n))
        assert abs(chosen / n - rate) < 0.02
    assert all(in_sample(f"c{i}", "s", 1.0) for i in range(100))


NOW = dt.datetime(2026, 11, 23, 12, 0)


def test_a_valid_event() -> None:
    ev, errs = parse_event(
        {"id": 42, "type": "ticket.closed", "occurred_at": "2026-11-23T19:00:00+08:00",
         "contact": {"id": "c1", "phone": "+1 (555) 123-0000", "email": " Ann@Example.COM ", "locale": "zh_CN",
                     "timezone": "Asia/Shanghai", "tier": "gold"},
         "data": {"queue": "billing", "agent_name": "Li"}},
        NOW,
    )
    assert errs == []
    assert ev is not None
    assert ev.id == "42"
    assert ev.occurred_at == dt.datetime(2026, 11, 23, 11, 0)
    assert (ev.contact.phone, ev.contact.email, ev.contact.locale) == ("+15551230000", "ann@example.com", "zh-CN")
    assert ev.contact.attributes == {"tier": "gold"}


def test_every_problem_of_an_event_has_its_field() -> None:
    _, errs = parse_event(
        {"id": "", "type": "bad type", "occurred_at": "yesterday", "ocurred": 1,
         "contact": {"phone": "12", "email": "nope", "locale": "english!", "timezone": "Mars/Base"},
         "data": [1]},
        NOW,
    )
    assert {e.field for e in errs} == {
        "ocurred", "id", "type", "occurred_at", "contact.phone", "contact.email", "contact.locale",
        "contact.timezone", "data",
    }
    _, errs = parse_event({"type": "x", "contact": {}}, NOW)
    assert [e.field for e in errs] == ["id", "contact"]
    _, errs = parse_event({"id": "a", "type": "x", "contact": {"id": "c"}, "occurred_at": "2026-11-23T12:00:00"}, NOW)
    assert [e.message for e in errs] == ["'2026-11-23T12:00:00' has no time zone; add Z for UTC or an offset like +08:00"]
    _, errs = parse_event({"id": "a", "type": "x", "contact": {"id": "c"}, "occurred_at": "2026-11-30T12:00:00Z"}, NOW)
    assert [e.field for e in errs] == ["occurred_at"]
    _, errs = parse_event([], NOW)
    assert [e.field for e in errs] == [""]


def test_event_context_reaches_data_fields_directly_and_under_data() -> None:
    ctx = event_context("e1", "ticket.closed", NOW, {"agent_name": "Li", "id": "not the id", "type": "x"})
    assert ctx["agent_name"] == "Li"
    assert ctx["id"] == "e1" and ctx["type"] == "ticket.closed"
    assert ctx["data"] == {"agent_name": "Li", "id": "not the id", "type": "x"}
    assert ctx["occurred_at"] == "2026-11-23T12:00:00Z"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "type", "occurred_at", "contact", "data", "x"]), json_values))
def test_parse_event_never_raises(raw: dict[str, object]) -> None:
    ev, errs = parse_event(raw, NOW)
    assert (ev is None) == bool(errs)
    for e in errs:
        assert e.message
