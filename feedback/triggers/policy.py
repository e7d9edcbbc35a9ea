"""The contact policy applied to a contact: may this survey go to them, on this channel, now?

:func:`check` is the one question every sender asks (triggers, email, the web intercept):

    decision = policy.check(contact, "support-call", "sms", now)
    if decision.outcome == "suppress": ...   # decision.reason: opted_out, frequency_cap, ...
    if decision.outcome == "defer": ...      # decision.until: when quiet hours end

Reasons (stable codes): ``opted_out``, ``no_address``, ``min_gap``, ``already_invited``,
``frequency_cap``, ``quiet_hours`` (defer). The policy comes from ``CONTACT_POLICY``
(default ``<SURVEY_DEFS>/policy.yaml``), reloaded when the file changes.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from feedback.errors import DefinitionError
from feedback.jobs import clock
from feedback.store.distribution import Invitation, InvitationStep
from feedback.store.models import Contact, Response, db

from .definition import format_duration
from .policyfile import EMPTY, Policy, load_policy_file

log = logging.getLogger(__name__)

OPEN_STATUSES = ("scheduled", "in_progress")


@dataclass(frozen=True)
class PolicyDecision:
    outcome: str  # allow | suppress | defer
    reason: str | None = None
    detail: str = ""
    until: dt.datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome == "allow"

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "detail": self.detail,
            "until": _iso(self.until),
        }


ALLOW = PolicyDecision("allow")


def _iso(value: dt.datetime | None) -> str | None:
    return value.replace(microsecond=0).isoformat() + "Z" if value else None


# -- the policy file -------------------------------------------------------------------------------


def policy_path() -> Path | None:
    from flask import current_app

    configured = current_app.config.get("CONTACT_POLICY")
    if configured:
        return Path(configured)
    defs = current_app.config.get("SURVEY_DEFS")
    return Path(defs) / "policy.yaml" if defs else None


def current_policy() -> Policy:
    """The application's policy, reloaded when its file changes. An invalid file is logged
    and the last valid policy stays in force (the empty policy if there was none)."""
    from flask import current_app

    path = policy_path()
    if path is None:
        return EMPTY
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None
    cache = current_app.extensions.setdefault("feedback_policy", {})
    if cache.get("key") == (str(path), stamp):
        return cache["policy"]
    try:
        policy = load_policy_file(path) if stamp is not None else EMPTY
    except DefinitionError as e:
        for p in e.problems:
            log.error("contact policy: %s", p)
        policy = cache.get("policy", EMPTY)
    cache["key"] = (str(path), stamp)
    cache["policy"] = policy
    return policy


# -- checks ------------------------------------------------------------------------------------------


def address_for(contact: Contact | None, channel: str) -> str | None:
    if contact is None:
        return None
    if channel in ("ivr", "sms", "whatsapp"):
        return contact.phone
    if channel == "email":
        return contact.email
    return "web"


def opt_out_of(contact: Contact | None, channel: str) -> str | None:
    """``"all"`` or the channel the contact opted out of, or None."""
    if contact is None:
        return None
    channels = {o.channel for o in contact.opt_outs}
    if "all" in channels:
        return "all"
    wanted = "sms" if channel == "whatsapp" else channel
    return wanted if wanted in channels else None


def check_reachable(contact: Contact | None, channel: str) -> PolicyDecision:
    """Opt-outs and the address the channel needs."""
    out = opt_out_of(contact, channel)
    if out == "all":
        return PolicyDecision("suppress", "opted_out", "the contact opted out of all surveys")
    if out:
        return PolicyDecision("suppress", "opted_out", f"the contact opted out of {channel}")
    if channel in ("ivr", "sms", "whatsapp", "email") and not address_for(contact, channel):
        what = "email address" if channel == "email" else "phone number"
        return PolicyDecision("suppress", "no_address", f"the contact has no {what} for {channel}")
    return ALLOW


def check_quiet_hours(
    contact: Contact | None, channel: str, when: dt.datetime, policy: Policy | None = None
) -> PolicyDecision:
    policy = policy or current_policy()
    qh = policy.quiet_hours
    if qh is None or not qh.applies_to(channel):
        return ALLOW
    tz = contact.timezone if contact is not None else None
    until = qh.until(when, tz)
    if until is None:
        return ALLOW
    zone = tz or qh.timezone
    return PolicyDecision(
        "defer",
        "quiet_hours",
        f"quiet hours {qh.start:%H:%M}-{qh.end:%H:%M} in {zone}; sending when they end",
        until,
    )


def _asked() -> Any:
    """Invitations that count as asking: still open, or with a step that went out. (One
    that ended before anything was sent, e.g. every channel opted out, asked nothing.)"""
    sent = (
        select(InvitationStep.id)
        .where(InvitationStep.invitation_id == Invitation.id, InvitationStep.sent_at.is_not(None))
        .exists()
    )
    return Invitation.status.in_(OPEN_STATUSES) | sent


def last_asked(contact: Contact, survey_id: str | None = None, *, exclude_invitation: int | None = None) -> dt.datetime | None:
    """When the contact was last asked (this survey, or any): an invitation that was not
    dropped before sending, or a response of theirs."""
    stmt = select(func.max(Invitation.created_at)).where(Invitation.contact_id == contact.id, _asked())
    rstmt = select(func.max(Response.started_at)).where(Response.contact_id == contact.id)
    if survey_id is not None:
        stmt = stmt.where(Invitation.survey_id == survey_id)
        rstmt = rstmt.where(Response.survey_id == survey_id)
    if exclude_invitation is not None:
        stmt = stmt.where(Invitation.id != exclude_invitation)
    a = db.session.scalar(stmt)
    b = db.session.scalar(rstmt)
    return max((x for x in (a, b) if x is not None), default=None)


def asks_since(contact: Contact, since: dt.datetime, *, exclude_invitation: int | None = None) -> int:
    """Surveys put to the contact since ``since``, every channel: invitations (not dropped
    before sending) and responses that came without an invitation (an inbound call...)."""
    stmt = select(func.count(Invitation.id)).where(
        Invitation.contact_id == contact.id, Invitation.created_at >= since, _asked()
    )
    if exclude_invitation is not None:
        stmt = stmt.where(Invitation.id != exclude_invitation)
    n = int(db.session.scalar(stmt) or 0)
    metas = db.session.scalars(
        select(Response.meta).where(Response.contact_id == contact.id, Response.started_at >= since)
    )
    n += sum(1 for m in metas if not (m or {}).get("invitation_id"))
    return n


def open_invitation(contact: Contact, survey_id: str, *, exclude_invitation: int | None = None) -> Invitation | None:
    stmt = select(Invitation).where(
        Invitation.contact_id == contact.id,
        Invitation.survey_id == survey_id,
        Invitation.status.in_(OPEN_STATUSES),
    )
    if exclude_invitation is not None:
        stmt = stmt.where(Invitation.id != exclude_invitation)
    return db.session.scalar(stmt.order_by(Invitation.id.desc()).limit(1))


def check(
    contact: Contact | None,
    survey_id: str,
    channel: str,
    now: dt.datetime | None = None,
    *,
    when: dt.datetime | None = None,
    policy: Policy | None = None,
    exclude_invitation: int | None = None,
) -> PolicyDecision:
    """May ``survey_id`` be put to ``contact`` on ``channel``? ``now`` (naive UTC, default
    the clock) is the moment of the decision; ``when`` the planned send time (quiet hours).

    Order: opt-outs and address, the minimum gap, an invitation of the same survey still
    open, the frequency cap (these suppress), then quiet hours (these defer)."""
    policy = policy or current_policy()
    now = now or clock()
    when = when or now
    decision = check_reachable(contact, channel)
    if not decision.allowed:
        return decision
    if contact is not None and contact.id is not None:
        gap = policy.min_gap_for(survey_id)
        if gap:
            last = last_asked(contact, survey_id, exclude_invitation=exclude_invitation)
            if last is not None and now - last < gap:
                return PolicyDecision(
                    "suppress",
                    "min_gap",
                    f"asked this survey on {_iso(last)}; min_gap {format_duration(gap)} "
                    f"(possible again after {_iso(last + gap)})",
                )
        existing = open_invitation(contact, survey_id, exclude_invitation=exclude_invitation)
        if existing is not None:
            return PolicyDecision(
                "suppress", "already_invited", f"invitation {existing.id} of this survey is still open"
            )
        if policy.capped(survey_id):
            for rule in policy.frequency:
                n = asks_since(contact, now - rule.per, exclude_invitation=exclude_invitation)
                if n >= rule.max_surveys:
                    return PolicyDecision(
                        "suppress",
                        "frequency_cap",
                        f"{n} survey{'s' if n != 1 else ''} in the last {format_duration(rule.per)}; "
                        f"the policy allows {rule.max_surveys}",
                    )
    return check_quiet_hours(contact, channel, when, policy)
