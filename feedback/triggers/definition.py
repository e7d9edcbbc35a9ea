"""The ``triggers:`` section of a survey file: which touchpoint events start this survey.

Pure Python (no web framework, no database): the survey loader imports this module and
checks the section like the rest of the file, every problem located at ``FILE:LINE:COL``.

.. code-block:: yaml

    triggers:
      - event: ticket.closed               # an event type (or a list; "order.*" matches a prefix)
        if: event.queue == "billing" and contact.tier != "test"
        channels: [ivr, sms, email]        # the ladder: the next step when the last went unanswered
        wait: 2h                           # before moving down the ladder
        delay: 10m                         # after the event, before the first step
        sample: 0.25                       # or 25%; deterministic per contact and survey
        expires: 3d                        # no step after this long; unanswered invitations expire

``if`` is an expression of the survey language over ``event`` and ``contact``. An event's
data fields are reachable directly (``event.queue``) and under ``event.data``
(``event.data.queue``); ``event.id``, ``event.type`` and ``event.occurred_at`` are the
envelope and win over data fields of the same name.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from feedback.definition import expressions as ex

SECTION = "triggers"
#: Channels a survey can be pushed on. ``whatsapp`` is the SMS channel over WhatsApp.
LADDER_CHANNELS = ("ivr", "sms", "whatsapp", "email")
TRIGGER_KEYS = ("event", "if", "channels", "wait", "delay", "sample", "expires", "name")
EVENT_TYPE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,99}$")
MAX_DURATION = dt.timedelta(days=366)

_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}
_PART_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*")
DURATION_HINT = "write a number and a unit, e.g. 30s, 10m, 2h, 3d or 1w (or combined: 1h30m)"


class DurationError(ValueError):
    pass


def parse_duration(value: Any) -> dt.timedelta:
    """``"10m"``, ``"2h"``, ``"3d"``, ``"1w"``, ``"1h30m"``, ``"90 minutes"`` or ``0``.
    Raises :class:`DurationError` with a plain message."""
    if isinstance(value, bool):
        raise DurationError(f"a duration is not true/false; {DURATION_HINT}")
    if isinstance(value, int | float):
        if value == 0:
            return dt.timedelta(0)
        raise DurationError(f"'{value}' has no unit; {DURATION_HINT}")
    if not isinstance(value, str) or not value.strip():
        raise DurationError(f"a duration is a text; {DURATION_HINT}")
    text = value.strip().lower()
    pos, seconds = 0, 0.0
    while pos < len(text):
        m = _PART_RE.match(text, pos)
        if not m or m.end() == pos:
            raise DurationError(f"'{value}' is not a duration; {DURATION_HINT}")
        number, unit = m.groups()
        if unit not in _UNITS:
            close = difflib.get_close_matches(unit, list(_UNITS), n=1, cutoff=0.5)
            short = {1: "s", 60: "m", 3600: "h", 86400: "d", 604800: "w"}
            hint = f" (did you mean '{number}{short[_UNITS[close[0]]]}'?)" if close else ""
            raise DurationError(f"unknown unit '{unit}' in '{value}'{hint}; {DURATION_HINT}")
        seconds += float(number) * _UNITS[unit]
        pos = m.end()
    out = dt.timedelta(seconds=seconds)
    if out > MAX_DURATION:
        raise DurationError(f"'{value}' is longer than a year")
    return out


def format_duration(delta: dt.timedelta | None) -> str | None:
    """The compact form of a duration: 1d2h, 10m, 0s."""
    if delta is None:
        return None
    total = int(delta.total_seconds())
    if total == 0:
        return "0s"
    if total % 604800 == 0:
        return f"{total // 604800}w"
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            out += f"{total // size}{unit}"
            total %= size
    return out


def parse_rate(value: Any) -> float:
    """``0.25``, ``1`` or ``"25%"`` -> 0.25. Raises ValueError with a plain message."""
    if isinstance(value, bool):
        raise ValueError("sample is a share between 0 and 1 (e.g. 0.25) or a percentage (25%)")
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            try:
                rate = float(text[:-1]) / 100
            except ValueError:
                raise ValueError(f"'{value}' is not a percentage; write e.g. 25%") from None
        else:
            try:
                rate = float(text)
            except ValueError:
                raise ValueError(
                    f"'{value}' is not a sample rate; write a share between 0 and 1 (e.g. 0.25) or a percentage (25%)"
                ) from None
    elif isinstance(value, int | float):
        rate = float(value)
    else:
        raise ValueError("sample is a share between 0 and 1 (e.g. 0.25) or a percentage (25%)")
    if not 0 < rate <= 1:
        raise ValueError(f"sample must be more than 0 and at most 1 (100%), not {value}")
    return rate


# -- the compiled form ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    """One validated trigger of a survey."""

    survey_id: str
    index: int
    events: tuple[str, ...]
    condition: ex.Expression | None
    channels: tuple[str, ...]
    wait: dt.timedelta | None
    delay: dt.timedelta
    sample: float
    expires: dt.timedelta | None
    name: str | None = None

    def matches_type(self, event_type: str) -> bool:
        return any(event_matches(pattern, event_type) for pattern in self.events)

    def condition_holds(self, scope: Mapping[str, Any]) -> bool:
        return True if self.condition is None else self.condition.test(scope)

    @property
    def label(self) -> str:
        return self.name or f"{self.survey_id}#{self.index + 1}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "event": list(self.events),
            "if": self.condition.source if self.condition else None,
            "channels": list(self.channels),
            "wait": format_duration(self.wait),
            "delay": format_duration(self.delay),
            "sample": self.sample,
            "expires": format_duration(self.expires),
        }


def event_matches(pattern: str, event_type: str) -> bool:
    """``ticket.closed`` matches itself; ``ticket.*`` matches every ``ticket.`` event; ``*`` all."""
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def sample_bucket(contact_key: str, survey_id: str) -> float:
    """A number in [0, 1) fixed for this contact and survey (so a replay decides the same)."""
    digest = hashlib.sha256(f"{survey_id}\x00{contact_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_sample(contact_key: str, survey_id: str, rate: float) -> bool:
    return rate >= 1 or sample_bucket(contact_key, survey_id) < rate


TRIGGER_ENV = ex.TypeEnv(answers={}, allow_answers=False, allowed_roots=frozenset({"contact", "event"}))

_COMPILED: dict[tuple[str, str], tuple[Trigger, ...]] = {}


def triggers_of(survey: Any) -> tuple[Trigger, ...]:
    """The triggers of a validated survey (a ``Survey`` or a ``CompiledSurvey``), cached per version."""
    survey = getattr(survey, "survey", survey)
    key = (survey.id, survey.version)
    cached = _COMPILED.get(key) if survey.version else None
    if cached is not None:
        return cached
    section = (survey.extensions or {}).get(SECTION) or []
    out = tuple(_compile(survey.id, i, item) for i, item in enumerate(section))
    if survey.version:
        if len(_COMPILED) > 512:
            _COMPILED.clear()
        _COMPILED[key] = out
    return out


def _compile(survey_id: str, index: int, item: Mapping[str, Any]) -> Trigger:
    events = item.get("event")
    events_t = tuple(events) if isinstance(events, list) else (str(events),)
    condition = None
    if item.get("if") not in (None, ""):
        condition, _ = ex.compile_expression(str(item["if"]), TRIGGER_ENV)
    channels = item.get("channels")
    channels_t = tuple(channels) if isinstance(channels, list) else (str(channels),)
    wait = parse_duration(item["wait"]) if item.get("wait") is not None else None
    delay = parse_duration(item["delay"]) if item.get("delay") is not None else dt.timedelta(0)
    expires = parse_duration(item["expires"]) if item.get("expires") is not None else None
    sample = parse_rate(item["sample"]) if item.get("sample") is not None else 1.0
    name = str(item["name"]) if item.get("name") is not None else None
    return Trigger(survey_id, index, events_t, condition, channels_t, wait, delay, sample, expires, name)


# -- checking ------------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a map"
    return type(value).__name__


def _suggest(word: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def missing_field_traps(expr: ex.Expression) -> list[tuple[int, str]]:
    """``contact.tier != "test"`` is false for a contact without a tier (a missing value is
    never unequal to anything): worth a warning, with the way to say what was meant."""
    out: list[tuple[int, str]] = []
    for node in ex._walk(expr.node):  # noqa: SLF001 - the expression tree is public data
        if isinstance(node, ex.Binary) and node.op in ("!=", "not in"):
            ref = next((n for n in (node.left, node.right) if isinstance(n, ex.Ref) and n.path), None)
            if ref is not None and ref.root in ("contact", "event"):
                other = node.right if ref is node.left else node.left
                shown = "..."
                if isinstance(other, ex.Literal) and isinstance(other.value, str):
                    shown = '"' + other.value.replace('"', '\\"') + '"'
                elif isinstance(other, ex.Literal) and isinstance(other.value, int | float) and not isinstance(other.value, bool):
                    shown = str(other.value)
                elif isinstance(other, ex.Ref):
                    shown = other.dotted
                fixed = f"not ({ref.dotted} {'==' if node.op == '!=' else 'in'} {shown})"
                out.append((
                    node.offset,
                    f"'{ref.dotted} {node.op} ...' is false when the {ref.root} has no {ref.path[-1]}; "
                    f"write {fixed} to include them",
                ))
    return out


def check_section(value: Any, survey: Any, report: Any) -> None:
    """Checker registered with the survey loader: every problem of the section, located."""
    base: list[Any] = [SECTION]
    if value is None:
        report.error(base, "triggers is empty; list one or more triggers (- event: ..., channels: [...])")
        return
    if not isinstance(value, list):
        report.error(base, f"triggers must be a list of triggers (- event: ...), not {_kind(value)}")
        return
    names: dict[str, int] = {}
    for i, item in enumerate(value):
        path = base + [i]
        if not isinstance(item, Mapping):
            report.error(path, f"a trigger is a map with event, channels, ... ; this is {_kind(item)}")
            continue
        _check_trigger(item, path, survey, report)
        name = item.get("name")
        if isinstance(name, str):
            if name in names:
                report.error(path + ["name"], f"trigger name '{name}' is used twice")
            names[name] = i


def _check_trigger(item: Mapping[str, Any], path: list[Any], survey: Any, report: Any) -> None:
    for key in item:
        if key not in TRIGGER_KEYS:
            report.error(path + [key], f"unknown key '{key}' in a trigger{_suggest(str(key), TRIGGER_KEYS)}", key=True)

    # event
    if "event" not in item:
        report.error(path, "a trigger needs 'event': the event type that starts it, e.g. event: ticket.closed")
    else:
        events = item["event"]
        entries = list(enumerate(events)) if isinstance(events, list) else [(None, events)]
        if isinstance(events, list) and not events:
            report.error(path + ["event"], "event needs at least one event type")
        seen: set[str] = set()
        for j, ev in entries:
            p = path + ["event"] + ([j] if j is not None else [])
            if not isinstance(ev, str):
                report.error(p, f"an event type is a text like ticket.closed, not {_kind(ev)}")
                continue
            if not (ev == "*" or EVENT_TYPE_RE.match(ev.removesuffix("*") or "x")):
                report.error(
                    p,
                    f"'{ev}' is not an event type: use letters, digits and . _ - : / (e.g. ticket.closed, "
                    "or order.* for every order event)",
                )
            if "*" in ev[:-1]:
                report.error(p, f"'{ev}': '*' may only end an event type (e.g. order.*)")
            if ev in seen:
                report.error(p, f"event type '{ev}' is listed twice")
            seen.add(ev)

    # if
    cond = item.get("if")
    if "if" in item:
        if not isinstance(cond, str) or not cond.strip():
            report.error(path + ["if"], f"if is a condition over event and contact, e.g. event.queue == \"billing\"; not {_kind(cond)}")
        else:
            compiled, problems = ex.compile_expression(cond, TRIGGER_ENV)
            for problem in problems:
                report.error(path + ["if"], f"if: {problem.message}", offset=problem.offset)
            if compiled is not None and not problems:
                for _offset, message in missing_field_traps(compiled):
                    report.warning(path + ["if"], f"if: {message}")

    # channels
    survey_channels = list(getattr(survey, "channels", []) or [])
    raw_channels = item.get("channels")
    entries_c: list[tuple[int | None, Any]] = []
    if "channels" not in item:
        report.error(path, "a trigger needs 'channels': the ladder of channels to try, e.g. channels: [sms, email]")
    elif isinstance(raw_channels, str):
        entries_c = [(None, raw_channels)]
    elif isinstance(raw_channels, list) and raw_channels:
        entries_c = list(enumerate(raw_channels))
    else:
        report.error(path + ["channels"], f"channels is a list like [ivr, sms, email], not {_kind(raw_channels)}")
    channels = [ch for _, ch in entries_c]
    seen_c: set[str] = set()
    for j, ch in entries_c:
        p = path + ["channels"] + ([j] if j is not None else [])
        if not isinstance(ch, str):
            report.error(p, f"a channel is a name like sms, not {_kind(ch)}")
            continue
        if ch in ("web", "chat"):
            report.error(
                p,
                f"'{ch}' cannot be sent to a contact; use email (its link opens the web survey), "
                "sms, whatsapp or ivr",
            )
            continue
        if ch not in LADDER_CHANNELS:
            report.error(
                p,
                f"unknown channel '{ch}'{_suggest(ch, LADDER_CHANNELS)} (a ladder uses {', '.join(LADDER_CHANNELS)})",
            )
            continue
        needed = "sms" if ch == "whatsapp" else ch
        if needed not in survey_channels:
            what = "whatsapp goes through the sms channel, but 'sms'" if ch == "whatsapp" else f"'{ch}'"
            report.error(
                p,
                f"{what} is not in this survey's channels ({', '.join(survey_channels)}); add it there first",
            )
        if ch in seen_c:
            report.error(p, f"channel '{ch}' is twice in the ladder")
        seen_c.add(ch)

    # durations
    durations: dict[str, dt.timedelta] = {}
    for key in ("wait", "delay", "expires"):
        if key in item:
            try:
                durations[key] = parse_duration(item[key])
            except DurationError as e:
                report.error(path + [key], f"{key}: {e}")
                continue
            if key in ("wait", "expires") and durations[key] <= dt.timedelta(0):
                report.error(path + [key], f"{key} must be longer than 0")
    n_channels = len(channels) if isinstance(channels, list) else 0
    if n_channels > 1 and "wait" not in item:
        report.error(
            path,
            "a ladder of more than one channel needs 'wait': how long to wait for an answer before "
            "trying the next channel, e.g. wait: 2h",
        )
    if "expires" in durations:
        exp = durations["expires"]
        delay = durations.get("delay", dt.timedelta(0))
        if delay >= exp:
            report.error(path + ["delay"], "delay must be shorter than expires: the invitation would expire before its first step")
        wait = durations.get("wait")
        if wait is not None and n_channels > 1 and delay + wait * (n_channels - 1) >= exp:
            report.warning(
                path + ["expires"],
                f"with delay {format_duration(delay)} and wait {format_duration(wait)}, the last of the "
                f"{n_channels} channels would come after expires ({format_duration(exp)}); it will never be tried",
            )

    if "sample" in item:
        try:
            parse_rate(item["sample"])
        except ValueError as e:
            report.error(path + ["sample"], str(e))
    if "name" in item and (not isinstance(item["name"], str) or not item["name"].strip()):
        report.error(path + ["name"], "name is a short text that labels the trigger in decisions")


#: JSON Schema of the section, for ``feedback schema``.
DURATION_SCHEMA = {
    "oneOf": [
        {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*[a-zA-Z]+\s*)+$"},
        {"const": 0},
    ],
    "description": "a duration: 30s, 10m, 2h, 3d, 1w or combined (1h30m)",
    "examples": ["10m", "2h", "3d"],
}
JSON_SCHEMA: dict[str, Any] = {
    "type": "array",
    "description": (
        "Touchpoint events that start this survey. Each trigger names the event type, an optional "
        "condition over event and contact, the channel ladder and its timing. Every send is subject "
        "to the contact policy (survey_defs/policy.yaml)."
    ),
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["event", "channels"],
        "properties": {
            "event": {
                "description": "event type (or list); a trailing * matches a prefix, e.g. order.*",
                "oneOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"type": "string"}, "minItems": 1},
                ],
                "examples": ["ticket.closed", ["order.delivered", "order.collected"]],
            },
            "if": {
                "type": "string",
                "description": "condition over event.<field> (data fields, or event.data.<field>) and contact.<field>",
                "examples": ['event.queue == "billing" and contact.tier != "test"'],
            },
            "channels": {
                "description": "the ladder: the next channel is tried when the last went unanswered within wait",
                "oneOf": [
                    {"type": "string", "enum": list(LADDER_CHANNELS)},
                    {"type": "array", "items": {"type": "string", "enum": list(LADDER_CHANNELS)}, "minItems": 1},
                ],
            },
            "wait": {**DURATION_SCHEMA, "description": "how long a step waits for an answer before the next channel"},
            "delay": {**DURATION_SCHEMA, "description": "after the event, before the first step (default 0)"},
            "expires": {**DURATION_SCHEMA, "description": "after the event: no step later; an unanswered invitation expires"},
            "sample": {
                "description": "share of contacts asked, deterministic per contact and survey: 0.25 or '25%'",
                "oneOf": [
                    {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                    {"type": "string", "pattern": r"^\d+(\.\d+)?%$"},
                ],
            },
            "name": {"type": "string", "description": "a label shown in decisions"},
        },
    },
}
check_section.json_schema = JSON_SCHEMA  # type: ignore[attr-defined]


def register() -> None:
    from feedback.definition.loader import register_extension

    register_extension(SECTION, check_section)


register()
