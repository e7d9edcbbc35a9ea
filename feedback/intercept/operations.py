"""The intercept's part of the operations layer: sites, the rules served to a site, and
the decision to open a survey for a visitor. The only intercept code that commits.

A *site* is a website that embeds the loader with ``data-site="KEY"``. Its key is public;
its name is what a survey's ``intercept: {site: NAME}`` refers to, so the same survey file
works in staging and production, each with its own key. The identity secret is private:
the site's server signs a visitor's contact id with it (HMAC-SHA256, hex) so that answers
are linked to a contact only when the site vouches for who the visitor is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from feedback.errors import BadRequest, NotFound
from feedback.jobs import clock
from feedback.store import operations as ops
from feedback.store.models import Contact, InterceptDisplay, InterceptSite, Response, db

from .definition import (
    SITE_RE,
    client_rules,
    in_sample,
    intercept_section,
    recontact_days,
    sample_rate,
    sites_of,
)

MAX_URL = 2000
MAX_VISITOR = 64
STATUSES = ("answered", "dismissed")


# -- sites -----------------------------------------------------------------------------------


def normalize_origin(origin: str) -> str:
    """``https://Shop.example.com/any/path`` -> ``https://shop.example.com``. Raises BadRequest."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest(f"'{origin}' is not an origin like https://shop.example.com")
    host = parts.hostname.lower()
    default = {"http": 80, "https": 443}[parts.scheme]
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{host}{port}"


def create_site(name: str, origins: list[str] | None = None, *, trust_identity: bool = False) -> InterceptSite:
    """Create a site with a new public key and identity secret. Commits."""
    if not SITE_RE.match(name or ""):
        raise BadRequest(f"site name '{name}' must use lowercase letters, digits and dashes")
    if db.session.scalar(select(InterceptSite).where(InterceptSite.name == name)) is not None:
        raise BadRequest(f"a site named '{name}' already exists")
    site = InterceptSite(
        name=name,
        key="site_" + secrets.token_urlsafe(15),
        origins=[normalize_origin(o) for o in origins or []],
        identity_secret=secrets.token_hex(32),
        trust_identity=trust_identity,
        active=True,
    )
    db.session.add(site)
    db.session.commit()
    return site


def update_site(
    name: str, *, origins: list[str] | None = None, trust_identity: bool | None = None,
    active: bool | None = None, rotate_key: bool = False,
) -> InterceptSite:
    """Change a site's origins, identity trust or state; give it a new key. Commits."""
    site = site_by_name(name)
    if origins is not None:
        site.origins = [normalize_origin(o) for o in origins]
    if trust_identity is not None:
        site.trust_identity = trust_identity
    if active is not None:
        site.active = active
    if rotate_key:
        site.key = "site_" + secrets.token_urlsafe(15)
    db.session.commit()
    return site


def site_by_name(name: str) -> InterceptSite:
    site = db.session.scalar(select(InterceptSite).where(InterceptSite.name == name))
    if site is None:
        raise NotFound(f"no site named '{name}'")
    return site


def site_by_key(key: str) -> InterceptSite:
    site = db.session.scalar(select(InterceptSite).where(InterceptSite.key == (key or "")))
    if site is None or not site.active:
        raise NotFound("unknown site key: check data-site on the script tag (`feedback sites list` shows the keys)")
    return site


def list_sites() -> list[InterceptSite]:
    return list(db.session.scalars(select(InterceptSite).order_by(InterceptSite.name)))


def origin_allowed(site: InterceptSite, origin: str | None) -> bool:
    """Whether a browser request from ``origin`` may use the site's key. A site without
    origins accepts any; a request without an Origin header (not a browser) is accepted."""
    if not site.origins or not origin:
        return True
    try:
        return normalize_origin(origin) in site.origins
    except BadRequest:
        return False


def identity_hash(site: InterceptSite, contact_id: str) -> str:
    """What the site's server puts next to a contact id: HMAC-SHA256 in hex."""
    return hmac.new(site.identity_secret.encode(), str(contact_id).encode(), hashlib.sha256).hexdigest()


# -- surveys of a site -------------------------------------------------------------------------


@dataclass
class SiteSurvey:
    survey_id: str
    version_id: int
    section: dict[str, Any]
    title: Any
    compiled: Any


def site_surveys(site: InterceptSite) -> list[SiteSurvey]:
    """The active surveys whose ``intercept:`` section names this site."""
    out = []
    for row in ops.active_surveys():
        try:
            version, compiled = ops.current_version(row.id)
        except NotFound:
            continue
        section = intercept_section(compiled.survey)
        if section is None or site.name not in sites_of(section):
            continue
        out.append(SiteSurvey(row.id, version.id, section, compiled.survey.title, compiled))
    return out


# -- identity and the contact policy -----------------------------------------------------------


@dataclass
class Identity:
    """Who the page says the visitor is, and whether the site vouched for it."""

    contact_id: str | None = None
    verified: bool = False
    problem: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def sample_key(self) -> str | None:
        return f"c:{self.contact_id}" if self.verified and self.contact_id else None


def read_identity(site: InterceptSite, raw: Any) -> Identity:
    """Check a page's ``identify({id, hash, email, locale, ...})``. An unsigned or badly
    signed id leaves the visitor anonymous (with the reason); it is never an error the
    visitor sees."""
    if not isinstance(raw, Mapping) or raw.get("id") in (None, ""):
        return Identity()
    cid = str(raw.get("id")).strip()[:200]
    fields = {
        str(k): v for k, v in raw.items()
        if k not in ("id", "hash") and isinstance(v, str | int | float | bool) and len(str(k)) <= 64
    }
    if site.trust_identity:
        return Identity(cid, True, None, fields)
    given = str(raw.get("hash") or "")
    if not given:
        return Identity(cid, False, "the contact id is not signed: pass hash (HMAC-SHA256 of the id "
                        "with the site's identity secret)", fields)
    if not hmac.compare_digest(given.lower(), identity_hash(site, cid)):
        return Identity(cid, False, "the contact id's hash does not match the site's identity secret", fields)
    return Identity(cid, True, None, fields)


def find_contact(identity: Identity) -> Contact | None:
    if not identity.verified or not identity.contact_id:
        return None
    return db.session.scalar(select(Contact).where(Contact.external_id == identity.contact_id))


def suppression(
    site_survey: SiteSurvey, *, contact: Contact | None, visitor: str | None, now: dt.datetime
) -> tuple[str, str] | None:
    """Why this survey must not open for this visitor now: (reason, message), or None."""
    sid = site_survey.survey_id
    wait = dt.timedelta(days=recontact_days(site_survey.section))
    since = now - wait
    if contact is not None:
        if contact.opted_out("web"):
            return "opted_out", "the contact has opted out of web surveys"
        recent = db.session.scalar(
            select(InterceptDisplay.id).where(
                InterceptDisplay.contact_id == contact.id,
                InterceptDisplay.survey_id == sid,
                InterceptDisplay.status.in_(STATUSES),
                InterceptDisplay.closed_at >= since,
            ).limit(1)
        )
        answered = db.session.scalar(
            select(Response.id).where(
                Response.contact_id == contact.id,
                Response.survey_id == sid,
                Response.status == "complete",
                Response.started_at >= since,
            ).limit(1)
        )
        if recent is not None or answered is not None:
            return "recontact_wait", "the contact answered or closed this survey within the recontact wait"
        policy = _policy(contact, sid, now)
        if policy is not None:
            return policy
    if visitor:
        recent = db.session.scalar(
            select(InterceptDisplay.id).where(
                InterceptDisplay.visitor_id == visitor,
                InterceptDisplay.survey_id == sid,
                InterceptDisplay.status.in_(STATUSES),
                InterceptDisplay.closed_at >= since,
            ).limit(1)
        )
        if recent is not None:
            return "recontact_wait", "this visitor answered or closed this survey within the recontact wait"
    return None


def _policy(contact: Contact, survey_id: str, now: dt.datetime) -> tuple[str, str] | None:
    """The shared contact policy (opt-outs, an open invitation of the same survey, minimum
    gap, frequency caps across channels; quiet hours when they cover web), when installed."""
    try:
        from feedback.triggers import policy as shared
    except ModuleNotFoundError as e:  # the touchpoint part is not installed: opt-outs are checked above
        if e.name not in ("feedback.triggers", "feedback.triggers.policy"):
            raise
        return None
    try:
        decision = shared.check(contact, survey_id, "web", now)
    except shared.PolicyUnavailable:
        return "policy_unavailable", "the contact policy cannot be read; no survey opens until it is fixed"
    if decision.allowed:
        return None
    return decision.reason or decision.outcome, decision.detail or "the contact policy does not allow it now"


# -- what the loader asks ----------------------------------------------------------------------


def config_for(site: InterceptSite, *, visitor: str | None, identity: Identity, now: dt.datetime | None = None) -> dict[str, Any]:
    """The rules of the site's surveys that may open for this visitor."""
    now = now or clock()
    contact = find_contact(identity)
    surveys = []
    for ss in site_surveys(site):
        if suppression(ss, contact=contact, visitor=_visitor(visitor), now=now) is not None:
            continue
        surveys.append(client_rules(ss.survey_id, ss.section))
    out: dict[str, Any] = {"site": site.name, "identified": identity.verified, "surveys": surveys}
    if identity.problem:
        out["identity_problem"] = identity.problem
    return out


def _visitor(value: Any) -> str | None:
    text = str(value or "").strip()
    return text[:MAX_VISITOR] if text else None


@dataclass
class Decision:
    open: bool
    reason: str = ""
    message: str = ""
    display: InterceptDisplay | None = None
    contact: Contact | None = None
    site_survey: SiteSurvey | None = None
    locale: str = ""
    #: The invitation a display to a known contact counts as in the contact policy.
    invitation_id: int | None = None


def open_survey(
    site: InterceptSite,
    survey_id: str,
    *,
    visitor: Any,
    page_url: Any,
    locale: Any = None,
    identity: Identity | None = None,
    now: dt.datetime | None = None,
) -> Decision:
    """A rule fired in the browser: decide (sample, recontact, contact policy) and record the
    display. Commits when it opens."""
    now = now or clock()
    identity = identity or Identity()
    vid = _visitor(visitor)
    if vid is None:
        raise BadRequest("visitor is missing")
    ss = next((s for s in site_surveys(site) if s.survey_id == survey_id), None)
    if ss is None:
        raise NotFound(f"survey '{survey_id}' has no intercept on site '{site.name}'")
    page = str(page_url or "")[:MAX_URL]
    if page and urlsplit(page).scheme not in ("http", "https"):
        raise BadRequest("page_url must be an http(s) URL")
    if not in_sample(identity.sample_key or vid, survey_id, sample_rate(ss.section)):
        return Decision(False, "not_sampled", "this visitor is outside the survey's sample", site_survey=ss)
    contact = None
    if identity.verified and identity.contact_id:
        fields = identity.fields
        # Found by the signed id only: the email comes from the page, unsigned, so it is
        # never used to find (and answer as) another contact.
        contact = ops.find_or_create_contact(
            external_id=identity.contact_id,
            locale=str(fields["locale"])[:20] if fields.get("locale") else None,
            attributes={k: v for k, v in fields.items() if k not in ("email", "locale", "phone")},
            commit=False,
        )
        email = str(fields.get("email") or "").strip().lower()
        if email and not contact.email and "@" in email and len(email) <= 320:
            contact.email = email
    blocked = suppression(ss, contact=contact, visitor=vid, now=now)
    if blocked is not None:
        db.session.commit()  # the contact (when new) is kept
        return Decision(False, blocked[0], blocked[1], contact=contact, site_survey=ss)
    wanted = (str(locale) if locale else None) or (contact.locale if contact else None)
    chosen = ss.compiled.survey.pick_locale(wanted)
    display = InterceptDisplay(
        site_id=site.id,
        survey_id=survey_id,
        visitor_id=vid,
        contact_id=contact.id if contact else None,
        page_url=page,
        locale=chosen,
        status="shown",
        created_at=now,
    )
    db.session.add(display)
    invitation_id = _record_invitation(survey_id, contact, chosen, page, now)
    db.session.commit()
    return Decision(True, display=display, contact=contact, site_survey=ss, locale=chosen, invitation_id=invitation_id)


#: How long a display to a known contact stays an open invitation (its answer closes it).
DISPLAY_OPEN = dt.timedelta(days=1)


def _record_invitation(
    survey_id: str, contact: Contact | None, locale: str, page: str, now: dt.datetime
) -> int | None:
    """A display to a known contact is an invitation, like an email or a call: it counts for
    the frequency cap and the minimum gap of the shared contact policy, and the answers
    given in it close it. (In this transaction; None for an anonymous visitor.)"""
    if contact is None:
        return None
    try:
        from feedback.triggers.operations import start_invitation
    except ModuleNotFoundError as e:  # the touchpoint part is not installed
        if e.name not in ("feedback.triggers", "feedback.triggers.operations"):
            raise
        return None
    db.session.flush()
    context = {"contact": contact.as_context()}
    inv = start_invitation(survey_id, contact, "web", source="intercept", context=context, locale=locale,
                           expires=DISPLAY_OPEN, now=now, commit=False)
    return inv.id


def close_display(display_id: str, status: str, *, visitor: Any = None, now: dt.datetime | None = None) -> InterceptDisplay:
    """The visitor answered or closed the survey. An answer is never turned back into a
    dismissal. Commits."""
    if status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
    display = db.session.get(InterceptDisplay, str(display_id or ""))
    if display is None or (visitor is not None and _visitor(visitor) != display.visitor_id):
        raise NotFound("no such display")
    if display.status != "answered":
        display.status = status
        display.closed_at = now or clock()
        db.session.commit()
    return display
