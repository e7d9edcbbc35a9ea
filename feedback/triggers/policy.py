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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from feedback.errors import DefinitionError, FeedbackError
from feedback.jobs import clock, iso
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
            "until": iso(self.until),
        }


ALLOW = PolicyDecision("allow")



# -- the policy file -------------------------------------------------------------------------------


def policy_path() -> Path | None:
    from flask import current_app

    configured = current_app.config.get("CONTACT_POLICY")
    if configured:
        return Path(configured)
    defs = current_app.config.get("SURVEY_DEFS")
    return Path(defs) / "policy.yaml" if defs else None


class PolicyUnavailable(FeedbackError):
    """The policy file cannot be read or is invalid: nothing is sent until it is fixed
    (the contact policy fails closed). ``problems`` are ``FILE:LINE:COL: message`` lines."""

    code = "policy_unavailable"

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "the contact policy file has errors, so nothing is sent until it is fixed: " + "; ".join(problems)
        )
        self.problems = problems


#: While the policy cannot be read, sends and decisions wait this long before trying again.
POLICY_RETRY = dt.timedelta(minutes=5)


def current_policy() -> Policy:
    """The application's policy, reloaded when its file changes. A missing file is the empty
    policy (opt-outs only); a file that cannot be read or is invalid raises
    :class:`PolicyUnavailable` (logged once per change of the file) until it is fixed."""
    from flask import current_app

    path = policy_path()
    if path is None:
        return EMPTY
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        stamp = None
    except OSError as e:
        raise PolicyUnavailable([f"{path}:1:1: cannot read the policy file: {e.strerror}"]) from None
    cache = current_app.extensions.setdefault("feedback_policy", {})
    if cache.get("key") != (str(path), stamp):
        try:
            cache["policy"] = load_policy_file(path) if stamp is not None else EMPTY
            cache["problems"] = None
        except DefinitionError as e:
            cache["policy"] = None
            cache["problems"] = [str(p) for p in e.problems]
            for p in e.problems:
                log.error("contact policy: %s (nothing is sent until the file is fixed)", p)
        cache["key"] = (str(path), stamp)
    if cache["problems"]:
        raise PolicyUnavailable(list(cache["problems"]))
    return cache["policy"]


def policy_problems() -> list[str]:
    """What is wrong with the policy file ([] when it is in force)."""
    try:
        current_policy()
    except PolicyUnavailable as e:
        return e.problems
    return []


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


@dataclass
class Asked:
    """One time the contact was asked: an invitation (``invitation_id``) or a response that
    came without one (an inbound call, an anonymous page they identified on)."""

    survey_id: str
    at: dt.datetime
    invitation_id: int | None = None
    open: bool = False


@dataclass
class History:
    """What the policy needs to know about a contact's recent past."""

    asked: list[Asked] = field(default_factory=list)

    def add_invitation(self, survey_id: str, at: dt.datetime, invitation_id: int | None = None) -> None:
        self.asked.append(Asked(survey_id, at, invitation_id, open=True))

    def last(self, survey_id: str, exclude: int | None = None) -> dt.datetime | None:
        return max(
            (a.at for a in self.asked if a.survey_id == survey_id and (exclude is None or a.invitation_id != exclude)),
            default=None,
        )

    def since(self, since: dt.datetime, exclude: int | None = None) -> int:
        return sum(1 for a in self.asked if a.at >= since and (exclude is None or a.invitation_id != exclude))

    def open_invitation(self, survey_id: str, exclude: int | None = None) -> Asked | None:
        found = [a for a in self.asked if a.open and a.survey_id == survey_id and a.invitation_id != exclude]
        return found[-1] if found else None


def window(policy: Policy) -> dt.timedelta:
    """How far back the policy ever looks."""
    spans = [r.per for r in policy.frequency]
    spans += [g for g in (policy.min_gap, *(r.min_gap for r in policy.surveys.values())) if g]
    return max(spans, default=dt.timedelta(0))


def load_histories(contact_ids: list[int], now: dt.datetime, policy: Policy | None = None) -> dict[int, History]:
    """The recent history of several contacts, in two queries."""
    policy = policy or current_policy()
    out: dict[int, History] = {cid: History() for cid in contact_ids}
    if not contact_ids:
        return out
    since = now - window(policy)
    rows = db.session.execute(
        select(Invitation.id, Invitation.contact_id, Invitation.survey_id, Invitation.created_at, Invitation.status)
        .where(
            Invitation.contact_id.in_(contact_ids),
            (Invitation.created_at >= since) | Invitation.status.in_(OPEN_STATUSES),
            _asked(),
        )
        .order_by(Invitation.id)
    ).all()
    for iid, cid, sid, at, status in rows:
        assert cid is not None  # the query selects only these contacts' invitations
        out[cid].asked.append(Asked(sid, at, iid, open=status in OPEN_STATUSES))
    responses = db.session.execute(
        select(Response.contact_id, Response.survey_id, Response.started_at, Response.meta).where(
            Response.contact_id.in_(contact_ids), Response.started_at >= since
        )
    ).all()
    for cid, sid, at, meta in responses:
        if not (meta or {}).get("invitation_id"):
            out[cid].asked.append(Asked(sid, at))
    return out


def check(
    contact: Contact | None,
    survey_id: str,
    channel: str,
    now: dt.datetime | None = None,
    *,
    when: dt.datetime | None = None,
    policy: Policy | None = None,
    exclude_invitation: int | None = None,
    history: History | bool = True,
) -> PolicyDecision:
    """May ``survey_id`` be put to ``contact`` on ``channel``? ``now`` (naive UTC, default
    the clock) is the moment of the decision; ``when`` the planned send time (quiet hours).

    Order: opt-outs and address, the minimum gap, an invitation of the same survey still
    open, the frequency cap (these suppress), then quiet hours (these defer). ``history``
    is looked up unless given (a :class:`History`), or skipped with ``False`` (a contact
    created a moment ago has none)."""
    policy = policy or current_policy()
    now = now or clock()
    when = when or now
    decision = check_reachable(contact, channel)
    if not decision.allowed:
        return decision
    if history is not False and contact is not None:
        if history is True:
            past = load_histories([contact.id], now, policy)[contact.id] if contact.id is not None else History()
        else:
            past = history
        gap = policy.min_gap_for(survey_id)
        if gap:
            last = past.last(survey_id, exclude_invitation)
            if last is not None and now - last < gap:
                return PolicyDecision(
                    "suppress",
                    "min_gap",
                    f"asked this survey on {iso(last)}; min_gap {format_duration(gap)} "
                    f"(possible again after {iso(last + gap)})",
                )
        existing = past.open_invitation(survey_id, exclude_invitation)
        if existing is not None:
            which = f"invitation {existing.invitation_id}" if existing.invitation_id else "an invitation"
            return PolicyDecision("suppress", "already_invited", f"{which} of this survey is still open")
        if policy.capped(survey_id):
            for rule in policy.frequency:
                n = past.since(now - rule.per, exclude_invitation)
                if n >= rule.max_surveys:
                    return PolicyDecision(
                        "suppress",
                        "frequency_cap",
                        f"{n} survey{'s' if n != 1 else ''} in the last {format_duration(rule.per)}; "
                        f"the policy allows {rule.max_surveys}",
                    )
    return check_quiet_hours(contact, channel, when, policy)
