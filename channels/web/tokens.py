"""Signed tokens of the web channel (itsdangerous).

* Personal invitation links ``/i/<token>``: :func:`make_invitation_token` and
  :func:`read_invitation_token`. The token carries the survey, the contact and the
  invitation as ids (the contact's details and the touchpoint context are read from the
  invitation row, so a link stays short and holds no personal data); a link made without
  an invitation carries its context itself. It is signed with ``SECRET_KEY`` and expires
  after ``INVITATION_MAX_AGE_DAYS``. One token opens one survey session (re-opening
  resumes it).
* The cookie that lets an anonymous respondent of ``/s/<survey_id>`` resume where they
  left off (it holds the survey session id).
* The start ticket of an anonymous page that has no session yet: a session is created
  only when the first answer is posted, so page views, link previews and bots leave no
  empty responses behind.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from feedback.errors import BadRequest, Forbidden

INVITATION_SALT = "feedback.web.invitation"
RESUME_SALT = "feedback.web.resume"
START_SALT = "feedback.web.start"
DAY = 24 * 3600


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


# -- invitations ----------------------------------------------------------------------------------


def make_invitation_token(
    survey_id: str,
    *,
    contact_id: int | None = None,
    invitation_id: int | None = None,
    context: Mapping[str, Any] | None = None,
    locale: str | None = None,
) -> str:
    """A signed, URL-safe token for ``/i/<token>``. Needs an application context.

    With an ``invitation_id`` the token holds ids only: the context is the invitation's
    (``context`` is not put in the link)."""
    if not isinstance(survey_id, str) or not survey_id:
        raise BadRequest("an invitation token needs a survey id")
    payload: dict[str, Any] = {"s": survey_id, "n": secrets.token_urlsafe(9)}
    if contact_id is not None:
        payload["c"] = int(contact_id)
    if invitation_id is not None:
        payload["i"] = int(invitation_id)
    if context and invitation_id is None:
        payload["x"] = {
            "contact": dict(context.get("contact") or {}),
            "event": dict(context.get("event") or {}),
        }
    if locale:
        payload["l"] = str(locale)[:35]
    return _serializer(INVITATION_SALT).dumps(payload)


def read_invitation_token(token: str, max_age_days: float | None = None) -> dict[str, Any]:
    """The content of an invitation token.

    Returns ``{"survey_id", "contact_id", "invitation_id", "context", "locale", "nonce",
    "issued_at", "expires_at"}`` (times are naive UTC). Raises :class:`Forbidden` with a
    clear message for a forged, damaged or expired token.
    """
    if max_age_days is None:
        max_age_days = float(current_app.config.get("INVITATION_MAX_AGE_DAYS") or 30)
    max_age = int(max_age_days * DAY)
    s = _serializer(INVITATION_SALT)
    if not isinstance(token, str) or not token or len(token) > 8000:
        raise Forbidden("this survey link is not valid")
    try:
        payload, issued = s.loads(token, max_age=max_age, return_timestamp=True)
    except SignatureExpired:
        raise Forbidden("this survey link has expired") from None
    except BadSignature:
        raise Forbidden("this survey link is not valid (it may have been cut short or changed)") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), str):
        raise Forbidden("this survey link is not valid")
    issued_at = issued.astimezone(dt.UTC).replace(tzinfo=None)
    context = payload.get("x")
    contact_id, invitation_id, locale = payload.get("c"), payload.get("i"), payload.get("l")
    if context is None and invitation_id is not None:
        context, row_contact, row_locale = _invitation_context(invitation_id)
        contact_id = contact_id if contact_id is not None else row_contact
        locale = locale or row_locale
    context = context if isinstance(context, Mapping) else {}
    return {
        "survey_id": payload["s"],
        "contact_id": contact_id,
        "invitation_id": invitation_id,
        "context": {
            "contact": dict(context.get("contact") or {}),
            "event": dict(context.get("event") or {}),
        },
        "locale": locale,
        "nonce": payload.get("n") or "",
        "issued_at": issued_at,
        "expires_at": issued_at + dt.timedelta(days=max_age_days),
    }


def _invitation_context(invitation_id: Any) -> tuple[Mapping[str, Any], int | None, str | None]:
    """The context, contact id and locale of an invitation row (empty when it is gone)."""
    from feedback.store.distribution import Invitation
    from feedback.store.models import db

    try:
        inv = db.session.get(Invitation, int(invitation_id))
    except (TypeError, ValueError):
        inv = None
    if inv is None:
        return {}, None, None
    return dict(inv.context or {}), inv.contact_id, inv.locale


def invitation_ref(data: Mapping[str, Any]) -> str:
    """The session handle of an invitation: one survey session per invitation (or per
    token when the token names no invitation)."""
    if data.get("invitation_id") is not None:
        return f"inv:{data['survey_id']}:{data['invitation_id']}"
    return f"tok:{data['survey_id']}:{data['nonce']}"


# -- anonymous resume cookie ------------------------------------------------------------------------


def resume_cookie_name(survey_id: str) -> str:
    return f"fb_{survey_id}"


def make_resume_value(session_id: str) -> str:
    return _serializer(RESUME_SALT).dumps(session_id)


def read_resume_value(value: str | None, max_age_days: float) -> str | None:
    """The session id in a resume cookie, or None when it is missing, forged or old."""
    if not value:
        return None
    try:
        sid = _serializer(RESUME_SALT).loads(value, max_age=int(max_age_days * DAY))
    except BadSignature:
        return None
    return sid if isinstance(sid, str) else None


# -- start tickets ----------------------------------------------------------------------------------


def make_start_ticket(**fields: Any) -> str:
    """A signed ticket for an anonymous page shown before its session exists."""
    return _serializer(START_SALT).dumps({"n": secrets.token_urlsafe(12), **fields})


def read_start_ticket(value: str | None, max_age_days: float) -> dict[str, Any]:
    """The ticket's fields; raises :class:`BadRequest` when it is missing, forged or old."""
    if not value:
        raise BadRequest("this form is incomplete; please reload the page")
    try:
        data = _serializer(START_SALT).loads(value, max_age=int(max_age_days * DAY))
    except BadSignature:
        raise BadRequest("this form is no longer valid; please reload the page") from None
    if not isinstance(data, dict) or not isinstance(data.get("n"), str):
        raise BadRequest("this form is no longer valid; please reload the page")
    return data
