"""Outbound survey calls: requesting one, calling hours, and retries.

:func:`request_call` (contracts §2) checks the request, stores a scheduled
:class:`~feedback.store.models.CallAttempt` and the outbox job that places it
(:func:`channels.ivr.jobs.place_call`), in one transaction, and returns the attempt id.

A call only rings within the survey's ``ivr.call_hours`` in the contact's local time:
the contact's time zone, else the one of their phone number when it has a single one
(``+86`` is Asia/Shanghai, ``+1 415`` America/Los_Angeles), else ``IVR_DEFAULT_TIMEZONE``.
A busy line, no answer, a failed call, or an answering machine (when the survey hangs up
on machines) is tried again ``ivr.retry.delay_minutes`` later, up to ``ivr.retry.attempts``
calls in all; every attempt is kept.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from flask import current_app
from phonenumbers import timezone as phone_timezones
from sqlalchemy import select

from channels.telephony import check_context, context_part
from feedback.definition.model import Survey
from feedback.errors import BadRequest, Forbidden, NotFound
from feedback.jobs import clock
from feedback.store import calls
from feedback.store import operations as ops
from feedback.store.models import CallAttempt, Contact, db

log = logging.getLogger(__name__)

#: Outcomes that are tried again (``machine`` only when the survey hangs up on machines).
RETRY_OUTCOMES = frozenset({"busy", "no-answer", "failed", "machine"})
_HOURS_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


# -- calling hours --------------------------------------------------------------------------


def call_window(survey: Survey) -> tuple[dt.time, dt.time | None] | None:
    """The survey's calling hours as (start, end) local times (end None = midnight), or
    None when calls may ring at any time."""
    text = survey.ivr.call_hours
    if not text:
        return None
    m = _HOURS_RE.match(text.strip())
    if not m:  # the loader already refused anything else
        return None
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    start = dt.time(h1, m1)
    end = None if (h2, m2) == (24, 0) else dt.time(h2, m2)
    if end == start or (start == dt.time(0, 0) and end is None):
        return None
    return start, end


def _zone(name: str | None) -> ZoneInfo | None:
    if not name or not isinstance(name, str):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def contact_zone(
    *, timezone: str | None = None, phone: str | None = None, default: str | None = None
) -> ZoneInfo:
    """The contact's time zone: theirs, else their phone number's (when it has one zone),
    else ``default`` (``IVR_DEFAULT_TIMEZONE``), else UTC."""
    zone = _zone(timezone)
    if zone is not None:
        return zone
    if phone:
        try:
            zones = phone_timezones.time_zones_for_number(phonenumbers.parse(phone, None))
        except phonenumbers.NumberParseException:
            zones = ()
        if len(zones) == 1:
            zone = _zone(zones[0])
            if zone is not None:
                return zone
    return _zone(default) or ZoneInfo("UTC")


def next_allowed(at: dt.datetime, window: tuple[dt.time, dt.time | None] | None, zone: ZoneInfo) -> dt.datetime:
    """The first moment at or after ``at`` (naive UTC) inside the calling hours in
    ``zone``, as naive UTC."""
    if window is None:
        return at
    start, end = window
    local = at.replace(tzinfo=dt.UTC).astimezone(zone)
    t = local.time().replace(tzinfo=None)

    def inside(x: dt.time) -> bool:
        if end is None:
            return x >= start
        if start < end:
            return start <= x < end
        return x >= start or x < end  # overnight window, e.g. 20:00-08:00

    if inside(t):
        return at
    # Outside: the window opens later today, or else tomorrow.
    day = local.date()
    opening = dt.datetime.combine(day, start, tzinfo=zone)
    if opening <= local:
        opening = dt.datetime.combine(day + dt.timedelta(days=1), start, tzinfo=zone)
    return opening.astimezone(dt.UTC).replace(tzinfo=None)


def _naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def zone_for_attempt(attempt: CallAttempt) -> ZoneInfo:
    contact = db.session.get(Contact, attempt.contact_id) if attempt.contact_id else None
    tz = context_part(attempt.context, "contact").get("timezone")
    return contact_zone(
        timezone=tz or (contact.timezone if contact else None),
        phone=attempt.to_number,
        default=current_app.config.get("IVR_DEFAULT_TIMEZONE"),
    )


def survey_for_attempt(attempt: CallAttempt) -> Survey | None:
    vid = calls.pinned_version(attempt)
    try:
        if vid is not None:
            return ops.compiled_version(vid).survey
        return ops.current_version(attempt.survey_id)[1].survey
    except NotFound:
        return None


# -- retries ---------------------------------------------------------------------------------


def plan_retry(attempt: CallAttempt, now: dt.datetime | None = None) -> dt.datetime | None:
    """When to call again after this attempt ended, or None (answered, no attempts left,
    opted out, a machine that got the survey's message, or an invitation answered
    elsewhere). The invitation ladder that asked for the call learns of its end in the
    same transaction."""
    from .jobs import notify_ladder

    at = _plan_retry(attempt, now)
    notify_ladder(attempt, "ended")
    return at


def _plan_retry(attempt: CallAttempt, now: dt.datetime | None = None) -> dt.datetime | None:
    if attempt.direction != "outbound" or attempt.status not in RETRY_OUTCOMES:
        return None
    survey = survey_for_attempt(attempt)
    if survey is None:
        return None
    if attempt.status == "machine" and survey.ivr.on_machine == "message":
        return None
    if attempt.attempt_no >= survey.ivr.retry.attempts:
        return None
    contact = db.session.get(Contact, attempt.contact_id) if attempt.contact_id else None
    if contact is not None and contact.opted_out("ivr"):
        return None
    from feedback.triggers.operations import call_wanted

    if call_wanted(attempt.meta, commit=False) is not None:
        return None
    at = (now or clock()) + dt.timedelta(minutes=survey.ivr.retry.delay_minutes)
    return next_allowed(at, call_window(survey), zone_for_attempt(attempt))


# -- requesting a call -----------------------------------------------------------------------


def _check_locale(survey: Survey, locale: str | None) -> str | None:
    if not locale:
        return None
    base = locale.replace("_", "-").split("-")[0].lower()
    if not any(loc.split("-")[0].lower() == base for loc in survey.all_locales):
        raise BadRequest(
            f"survey '{survey.id}' has no {locale} version (locales: {', '.join(survey.all_locales)})"
        )
    return survey.pick_locale(locale)


def request_call(
    survey_id: str,
    phone: str,
    *,
    contact_id: int | None = None,
    context: dict | None = None,
    meta: dict | None = None,
    locale: str | None = None,
    run_at: dt.datetime | None = None,
) -> int:
    """Schedule a survey call to ``phone``; returns the CallAttempt id.

    The call is placed by a job (now, or at ``run_at``, moved into the survey's calling
    hours in the contact's time zone) and retried as the survey says. Raises
    :class:`~feedback.errors.BadRequest` (unknown survey, no IVR channel, not a phone
    number, unknown contact) or :class:`~feedback.errors.Forbidden` (the contact opted out
    of phone surveys), storing nothing."""
    try:
        _, compiled = ops.current_version(survey_id)
    except NotFound:
        raise BadRequest(f"no survey '{survey_id}'") from None
    survey = compiled.survey
    if "ivr" not in survey.channels:
        raise BadRequest(f"survey '{survey_id}' is not offered on the phone (add ivr to its channels)")
    e164 = ops.normalize_phone(phone)
    ctx = check_context(context)
    chosen = _check_locale(survey, locale)
    if meta is not None and not isinstance(meta, Mapping):
        raise BadRequest("meta must be an object")
    if contact_id is not None:
        contact = db.session.get(Contact, contact_id)
        if contact is None:
            raise BadRequest(f"no contact {contact_id}")
    else:
        contact = db.session.scalar(select(Contact).where(Contact.phone == e164))
    if contact is not None and contact.opted_out("ivr"):
        db.session.rollback()
        raise Forbidden(f"{e164} has opted out of phone surveys")
    if contact is None:
        contact = ops.find_or_create_contact(phone=e164, commit=False)
    ctx_contact = (ctx or {}).get("contact") or {}
    zone = contact_zone(
        timezone=ctx_contact.get("timezone") or contact.timezone,
        phone=e164,
        default=current_app.config.get("IVR_DEFAULT_TIMEZONE"),
    )
    now = clock()
    start = max(_naive_utc(run_at), now) if run_at is not None else now
    when = next_allowed(start, call_window(survey), zone)
    attempt = calls.create_outbound_attempt(
        survey_id=survey_id, phone=e164, contact=contact, context=ctx, meta=meta, locale=chosen, run_at=when,
        deferred="outside calling hours" if when > start else None,
    )
    if when > start:
        log.info("call %s to %s deferred to %s UTC (calling hours in %s)", attempt.id, e164, when, zone.key)
    return attempt.id
