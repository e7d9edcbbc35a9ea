"""Query parameters of the integrator API, checked with a clear message for each mistake.

Every problem raises :class:`feedback.errors.BadRequest` (a 400 JSON error naming the
parameter and what is expected); nothing malformed reaches the database.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.datastructures import MultiDict

from feedback.errors import BadRequest
from feedback.store.operations import locale_key

STATUSES = ("complete", "partial", "abandoned")
CHANNELS = ("web", "email", "ivr", "sms", "chat")
FORMATS = ("json", "csv")
LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
CURSOR_SALT = "feedback.api.cursor"


@dataclass
class ResponseFilters:
    statuses: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    locales: list[str] = field(default_factory=list)
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.statuses or None,
            "channel": self.channels or None,
            "locale": self.locales or None,
            "since": iso(self.since),
            "until": iso(self.until),
        }


def iso(value: dt.datetime | None) -> str | None:
    """A stored (naive UTC) time as ISO 8601 with a Z."""
    if value is None:
        return None
    return value.replace(microsecond=0).isoformat() + "Z"


def _values(args: MultiDict[str, str], name: str) -> list[str]:
    out: list[str] = []
    for raw in args.getlist(name):
        out.extend(v.strip() for v in raw.split(",") if v.strip())
    return out


def _one_of(args: MultiDict[str, str], name: str, allowed: tuple[str, ...]) -> list[str]:
    values = [v.lower() for v in _values(args, name)]
    wrong = [v for v in values if v not in allowed]
    if wrong:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)} (comma-separated for several), not '{wrong[0]}'")
    return list(dict.fromkeys(values))


def parse_time(name: str, raw: str) -> dt.datetime:
    """ISO 8601 (``2026-11-23``, ``2026-11-23T10:00:00Z``, ``...+08:00``) as naive UTC."""
    value = raw.strip()
    example = "e.g. 2026-11-23 or 2026-11-23T10:00:00Z"
    if not value or len(value) > 40:
        raise BadRequest(f"{name} must be an ISO 8601 date or time, {example}")
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            parsed = dt.datetime.combine(dt.date.fromisoformat(value), dt.time())
        else:
            parsed = dt.datetime.fromisoformat(value.replace("z", "Z").replace(" ", "T", 1))
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 date or time, {example}; got '{raw}'") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def response_filters(args: MultiDict[str, str]) -> ResponseFilters:
    filters = ResponseFilters(
        statuses=_one_of(args, "status", STATUSES),
        channels=_one_of(args, "channel", CHANNELS),
    )
    for loc in _values(args, "locale"):
        if not LOCALE_RE.match(loc):
            raise BadRequest(f"locale must be a locale code such as en or zh-CN, not '{loc}'")
        filters.locales.append(locale_key(loc))
    for name in ("since", "until"):
        raw = args.get(name)
        if raw is not None:
            setattr(filters, name, parse_time(name, raw))
    if filters.since and filters.until and filters.until <= filters.since:
        raise BadRequest("until must be later than since")
    return filters


def limit(args: MultiDict[str, str]) -> int:
    cfg = current_app.config
    default = int(cfg.get("API_PAGE_SIZE") or 100)
    maximum = int(cfg.get("API_MAX_PAGE_SIZE") or 1000)
    raw = args.get("limit")
    if raw is None or raw.strip() == "":
        return default
    raw = raw.strip()
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise BadRequest(f"limit must be a whole number from 1 to {maximum}, not '{raw[:20]}'")
    return int(raw)


def output_format(args: MultiDict[str, str]) -> str:
    raw = (args.get("format") or "json").strip().lower()
    if raw not in FORMATS:
        raise BadRequest(f"format must be json or csv, not '{raw[:20]}'")
    return raw


def _cursor_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=CURSOR_SALT)


def make_cursor(survey_id: str, after_id: int) -> str:
    return _cursor_serializer().dumps({"s": survey_id, "a": after_id})


def read_cursor(args: MultiDict[str, str], survey_id: str) -> int | None:
    """The id to continue after, from ``cursor`` (opaque: a previous ``next_cursor``)."""
    raw = args.get("cursor")
    if raw is None or raw.strip() == "":
        return None
    try:
        data = _cursor_serializer().loads(raw.strip())
    except BadSignature:
        raise BadRequest("cursor is not valid; pass the next_cursor of a previous page unchanged") from None
    if not isinstance(data, dict) or not isinstance(data.get("a"), int):
        raise BadRequest("cursor is not valid; pass the next_cursor of a previous page unchanged")
    if data.get("s") != survey_id:
        raise BadRequest("this cursor belongs to another survey's responses")
    return int(data["a"])
