"""Checking touchpoint events sent by integrators: every problem, with its field path.

Pure Python. :func:`parse_event` turns one JSON object into an :class:`EventIn` or a
list of :class:`FieldProblem` (``{"field": "contact.email", "message": "..."}``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from .definition import EVENT_TYPE_RE
from .policyfile import valid_timezone

EVENT_KEYS = ("id", "type", "occurred_at", "contact", "data")
CONTACT_FIELDS = ("id", "phone", "email", "locale", "timezone")
#: Envelope fields of ``event`` in conditions and piping; data fields of these names are
#: reachable under ``event.data`` only.
RESERVED_EVENT_FIELDS = ("id", "type", "occurred_at", "data")
MAX_ID = 200
MAX_DATA_BYTES = 64 * 1024
MAX_FUTURE = dt.timedelta(days=1)
EMAIL_RE = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")
LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class ContactIn:
    id: str | None = None
    phone: str | None = None  # E.164
    email: str | None = None  # lower case
    locale: str | None = None
    timezone: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def as_sent(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in (
            ("id", self.id), ("phone", self.phone), ("email", self.email),
            ("locale", self.locale), ("timezone", self.timezone),
        ) if v is not None}
        out.update(self.attributes)
        return out


@dataclass
class EventIn:
    id: str
    type: str
    occurred_at: dt.datetime  # naive UTC
    contact: ContactIn
    data: dict[str, Any]
    occurred_given: bool = True

    def payload_hash(self) -> str:
        body = {
            "id": self.id,
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat() if self.occurred_given else None,
            "contact": self.contact.as_sent(),
            "data": self.data,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _suggest(word: str, options: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def parse_time(value: Any) -> dt.datetime:
    """ISO 8601 with a time zone (``2026-11-23T10:00:00Z``, ``...+08:00``) or Unix seconds
    -> naive UTC. Raises ValueError with a plain message."""
    if isinstance(value, bool):
        raise ValueError("a time is an ISO 8601 text like 2026-11-23T10:00:00Z")
    if isinstance(value, int | float):
        try:
            return dt.datetime.fromtimestamp(float(value), dt.UTC).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{value} is not a Unix time in seconds") from None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a time is an ISO 8601 text like 2026-11-23T10:00:00Z")
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{value}' is not an ISO 8601 time like 2026-11-23T10:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError(f"'{value}' has no time zone; add Z for UTC or an offset like +08:00")
    return parsed.astimezone(dt.UTC).replace(tzinfo=None)


def _identifier(value: Any, path: str, problems: list[FieldProblem], what: str) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        problems.append(FieldProblem(path, f"{what} must be a text (or a whole number), not {_kind(value)}"))
        return None
    text = str(value).strip()
    if not text:
        problems.append(FieldProblem(path, f"{what} is empty"))
        return None
    if len(text) > MAX_ID:
        problems.append(FieldProblem(path, f"{what} is longer than {MAX_ID} characters"))
        return None
    if _CONTROL.search(text):
        problems.append(FieldProblem(path, f"{what} contains control characters"))
        return None
    return text


def _contact(value: Any, problems: list[FieldProblem]) -> ContactIn | None:
    if not isinstance(value, Mapping):
        problems.append(
            FieldProblem("contact", f"contact must be an object like {{\"id\": \"cust-42\", \"email\": ...}}, not {_kind(value)}")
        )
        return None
    c = ContactIn()
    if value.get("id") is not None:
        c.id = _identifier(value["id"], "contact.id", problems, "contact.id")
    phone = value.get("phone")
    if phone is not None and phone != "":
        if not isinstance(phone, str):
            problems.append(FieldProblem("contact.phone", f"contact.phone must be a text like \"+15551230000\", not {_kind(phone)}"))
        else:
            raw = phone.strip()
            if raw.lower().startswith("whatsapp:"):
                raw = raw[len("whatsapp:"):]
            try:
                parsed = phonenumbers.parse(raw, None)
            except phonenumbers.NumberParseException:
                problems.append(
                    FieldProblem("contact.phone", f"'{phone}' is not a phone number in international form, e.g. +15551230000")
                )
            else:
                if not phonenumbers.is_possible_number(parsed):
                    problems.append(FieldProblem("contact.phone", f"'{phone}' is not a possible phone number"))
                else:
                    c.phone = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    email = value.get("email")
    if email is not None and email != "":
        if not isinstance(email, str) or len(email) > 320 or not EMAIL_RE.match(email.strip()):
            problems.append(FieldProblem("contact.email", f"'{email}' is not an email address"))
        else:
            c.email = email.strip().lower()
    locale = value.get("locale")
    if locale is not None and locale != "":
        if not isinstance(locale, str) or not LOCALE_RE.match(locale):
            problems.append(FieldProblem("contact.locale", f"'{locale}' is not a locale like en or zh-CN"))
        else:
            c.locale = locale.replace("_", "-")
    tz = value.get("timezone")
    if tz is not None and tz != "":
        if not isinstance(tz, str) or not valid_timezone(tz):
            problems.append(
                FieldProblem("contact.timezone", f"unknown time zone '{tz}'; use an IANA name like Europe/London or Asia/Shanghai")
            )
        else:
            c.timezone = tz
    for k, v in value.items():
        if k in CONTACT_FIELDS:
            continue
        if not isinstance(k, str) or not k or _CONTROL.search(k) or len(k) > 100:
            problems.append(FieldProblem(f"contact.{k}", "an attribute name must be a short text"))
            continue
        c.attributes[k] = v
    if c.id is None and c.phone is None and c.email is None and not any(
        p.field in ("contact.id", "contact.phone", "contact.email") for p in problems
    ):
        problems.append(FieldProblem("contact", "contact needs an id, a phone or an email to know who it is"))
    return c


def _storable(value: Any, path: str, problems: list[FieldProblem], depth: int = 0) -> None:
    """Values JSON columns cannot keep: NaN and Infinity (not JSON, though parsers let them
    through) and the NUL character (PostgreSQL refuses it in text). One problem per place."""
    if depth > 32:
        problems.append(FieldProblem(path, f"{path} is nested more than 32 levels deep"))
        return
    if isinstance(value, float) and not math.isfinite(value):
        shown = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        problems.append(FieldProblem(path, f"{path} is {shown}, which is not a JSON number; send a finite number or null"))
    elif isinstance(value, str):
        if "\x00" in value:
            problems.append(FieldProblem(path, f"{path} contains a NUL character (\\u0000), which cannot be stored"))
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, str) and "\x00" in k:
                problems.append(FieldProblem(path, f"a field name in {path} contains a NUL character (\\u0000)"))
                continue
            _storable(v, f"{path}.{k}", problems, depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _storable(v, f"{path}[{i}]", problems, depth + 1)


def parse_event(raw: Any, now: dt.datetime) -> tuple[EventIn | None, list[FieldProblem]]:
    """One event from JSON: the event, or every problem found in it."""
    problems: list[FieldProblem] = []
    if not isinstance(raw, Mapping):
        return None, [FieldProblem("", f"an event must be an object with id, type, contact and data, not {_kind(raw)}")]
    for k in raw:
        if k not in EVENT_KEYS:
            problems.append(
                FieldProblem(str(k), f"unknown field '{k}'{_suggest(str(k), EVENT_KEYS)} (an event has {', '.join(EVENT_KEYS)}; put your own fields in data)")
            )
    event_id = None
    if "id" not in raw or raw.get("id") is None:
        problems.append(FieldProblem("id", "id is required: your unique id of this event (a replay with the same id is accepted once)"))
    else:
        event_id = _identifier(raw["id"], "id", problems, "id")
    event_type = raw.get("type")
    if event_type is None:
        problems.append(FieldProblem("type", "type is required, e.g. \"ticket.closed\""))
    elif not isinstance(event_type, str) or not EVENT_TYPE_RE.match(event_type):
        problems.append(
            FieldProblem("type", f"'{event_type}' is not an event type: use letters, digits and . _ - : / (e.g. ticket.closed)")
        )
    occurred = now
    occurred_given = raw.get("occurred_at") is not None
    if occurred_given:
        try:
            occurred = parse_time(raw["occurred_at"])
        except ValueError as e:
            problems.append(FieldProblem("occurred_at", str(e)))
        else:
            if occurred > now + MAX_FUTURE:
                problems.append(FieldProblem("occurred_at", f"'{raw['occurred_at']}' is more than a day in the future"))
    contact = None
    if raw.get("contact") is None:
        problems.append(FieldProblem("contact", "contact is required: {\"id\": ..., \"phone\"?, \"email\"?, \"locale\"?, \"timezone\"?}"))
    else:
        contact = _contact(raw["contact"], problems)
    data = raw.get("data")
    if data is None:
        data = {}
    elif not isinstance(data, Mapping):
        problems.append(FieldProblem("data", f"data must be an object of your fields, not {_kind(data)}"))
        data = {}
    else:
        data = dict(data)
        size = len(json.dumps(data, default=str))
        if size > MAX_DATA_BYTES:
            problems.append(FieldProblem("data", f"data is too large ({size // 1024} KB); at most {MAX_DATA_BYTES // 1024} KB per event"))
        for k in data:
            if not isinstance(k, str) or not k:
                problems.append(FieldProblem(f"data.{k}", "a data field name must be a text"))
        _storable(data, "data", problems)
    if contact is not None:
        _storable(contact.attributes, "contact", problems)
    if problems:
        return None, problems
    assert event_id is not None and contact is not None and isinstance(event_type, str)
    return EventIn(event_id, event_type, occurred, contact, data, occurred_given), []


def event_context(event_id: str, event_type: str, occurred_at: dt.datetime, data: Mapping[str, Any]) -> dict[str, Any]:
    """``event`` as conditions and piping see it: the envelope, every data field directly
    (unless it is named like an envelope field), and all of them under ``data``."""
    out: dict[str, Any] = {k: v for k, v in data.items() if k not in RESERVED_EVENT_FIELDS}
    out.update(
        {
            "id": event_id,
            "type": event_type,
            "occurred_at": occurred_at.replace(microsecond=0).isoformat() + "Z",
            "data": dict(data),
        }
    )
    return out
