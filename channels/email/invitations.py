"""Email invitations: :func:`request_email` (contracts §2) and the work of the sending jobs.

:func:`request_email` checks, in one transaction, that the survey is offered by email and
that the address may be written to, records the message (and an invitation when the
caller has none, so the email counts in the contact policy and has its own personal link),
and schedules the ``send_email`` job; it returns the message id.

The job renders the email in the contact's locale (the first question embedded when its
type allows), sends it through SMTP (``SMTP_URL``) or writes it to the outbox folder, and
schedules the reminders of ``email.reminder_days``. A reminder goes only to a contact who
has not answered, and never after the invitation expired or the contact opted out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from flask import current_app, has_request_context, request
from sqlalchemy import select

from feedback.errors import BadRequest, Forbidden, NotFound
from feedback.jobs import clock, iso, schedule
from feedback.store import operations as ops
from feedback.store.distribution import EmailMessage, Invitation
from feedback.store.models import Contact, db
from feedback.triggers import operations as dist
from feedback.triggers import policy as pol
from feedback.triggers.validation import EMAIL_RE

from . import render, transport
from .tokens import make_unsubscribe_token

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:5000"


def base_url() -> str:
    configured = current_app.config.get("PUBLIC_BASE_URL")
    if configured:
        return str(configured).rstrip("/")
    if has_request_context():
        return request.host_url.rstrip("/")
    return DEFAULT_BASE_URL


def normalize_address(address: str) -> str:
    value = (address or "").strip()
    if not value or len(value) > 320 or not EMAIL_RE.match(value):
        raise BadRequest(f"'{address}' is not an email address")
    return value.lower()


def request_email(
    survey_id: str,
    email: str,
    *,
    contact_id: int | None = None,
    context: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    locale: str | None = None,
    run_at: dt.datetime | None = None,
) -> int:
    """Invite ``email`` to ``survey_id`` by email at ``run_at`` (now by default). Returns the
    email message id.

    Raises NotFound for an unknown survey, BadRequest for a survey not offered by email, an
    address that is not one, or a bad context, and Forbidden for a contact who opted out of
    email. Nothing is stored when it raises."""
    _version, compiled = ops.current_version(survey_id)
    if "email" not in compiled.survey.channels:
        raise BadRequest(f"survey '{survey_id}' is not offered by email; add email to its channels")
    address = normalize_address(email)
    if context is not None and not isinstance(context, Mapping):
        raise BadRequest("context must be an object with 'contact' and 'event'")
    for key in ("contact", "event"):
        if context and context.get(key) is not None and not isinstance(context.get(key), Mapping):
            raise BadRequest(f"context.{key} must be an object")
    if meta is not None and not isinstance(meta, Mapping):
        raise BadRequest("meta must be an object")
    try:
        return _request(survey_id, address, contact_id, dict(context or {}), dict(meta or {}), locale, run_at)
    except Exception:
        db.session.rollback()
        raise


def _request(
    survey_id: str,
    address: str,
    contact_id: int | None,
    context: dict[str, Any],
    meta: dict[str, Any],
    locale: str | None,
    run_at: dt.datetime | None,
) -> int:
    now = clock()
    contact: Contact | None
    if contact_id is not None:
        contact = db.session.get(Contact, contact_id)
        if contact is None:
            raise BadRequest(f"no contact {contact_id}")
    else:
        contact = ops.find_or_create_contact(email=address, locale=locale, commit=False)
    out = pol.opt_out_of(contact, "email")
    if out:
        raise Forbidden(
            f"{address} opted out of {'all surveys' if out == 'all' else 'survey emails'}; no email was sent"
        )
    if not context.get("contact") and contact is not None:
        context["contact"] = contact.as_context()
    if meta.get("invitation_id") is None:
        inv = dist.start_invitation(
            survey_id, contact, "email", source="email", context=context, locale=locale, now=now, commit=False,
        )
        meta["invitation_id"] = inv.id
        meta["step_id"] = inv.steps[0].id
    row = EmailMessage(
        kind="invitation",
        invitation_id=int(meta["invitation_id"]),
        survey_id=survey_id,
        contact_id=contact.id if contact is not None else None,
        to_address=address,
        locale=locale or (contact.locale if contact is not None else None),
        status="scheduled",
        context=context,
        meta=meta,
        scheduled_for=run_at or now,
        created_at=now,
        updated_at=now,
    )
    db.session.add(row)
    db.session.flush()
    schedule("send_email", row.id, run_at=run_at or now, dedupe_key=f"email:{row.id}:send:0")
    db.session.commit()
    return row.id


# -- building ---------------------------------------------------------------------------------


def survey_link(row: EmailMessage) -> str:
    from channels.web.tokens import make_invitation_token

    # The link names the invitation only: its contact and context are read from its row.
    if row.invitation_id is not None:
        token = make_invitation_token(row.survey_id, invitation_id=row.invitation_id, locale=row.locale)
    else:
        token = make_invitation_token(row.survey_id, contact_id=row.contact_id, context=row.context or {},
                                      locale=row.locale)
    return f"{base_url()}/i/{token}"


def unsubscribe_link(row: EmailMessage) -> str:
    token = make_unsubscribe_token(row.contact_id, row.to_address, row.locale)
    return f"{base_url()}/email/unsubscribe/{token}"


def message_id_for(row: EmailMessage) -> str:
    """Stable per message row (a resent copy carries the same Message-ID)."""
    secret = str(current_app.config.get("SECRET_KEY") or "")
    digest = hashlib.sha256(f"{secret}:{row.id}:{row.created_at}".encode()).hexdigest()[:16]
    domain = render.sender_domain(str(current_app.config.get("MAIL_FROM") or "feedback@localhost"))
    return f"<feedback.{row.kind}.{row.id}.{digest}@{domain}>"


def compose(row: EmailMessage, compiled: Any = None) -> tuple[render.Rendered, Any]:
    """The rendered email and the MIME message of a row."""
    if compiled is None:
        _version, compiled = ops.current_version(row.survey_id)
    rendered = render.render_invitation(
        compiled,
        context=row.context or {},
        locale=row.locale,
        survey_url=survey_link(row),
        unsubscribe_url=unsubscribe_link(row),
        reminder=row.kind == "reminder",
    )
    headers = {"X-Feedback-Survey": row.survey_id}
    if row.invitation_id is not None:
        headers["X-Feedback-Invitation"] = str(row.invitation_id)
    msg = render.build_message(
        rendered,
        to=row.to_address,
        sender=str(current_app.config.get("MAIL_FROM") or "feedback@localhost"),
        message_id=message_id_for(row),
        headers=headers,
    )
    return rendered, msg


# -- the jobs' work ---------------------------------------------------------------------------


def send(message_id: int) -> str:
    """Send one email row (the ``send_email`` job). Idempotent. Commits."""
    now = clock()
    row = db.session.get(EmailMessage, message_id)
    if row is None:
        return "missing"
    # A row whose job gave up on a passing error is sent again when that job is retried.
    if row.status != "scheduled" and not (row.status == "failed" and row.reason == "error"):
        return row.status
    contact = db.session.get(Contact, row.contact_id) if row.contact_id is not None else None
    inv = db.session.get(Invitation, row.invitation_id) if row.invitation_id is not None else None
    reason = _reason_not_to_send(row, contact, inv, now)
    if reason is not None:
        code, detail = reason
        row.status, row.reason, row.error = "skipped", code, detail
        row.updated_at = now
        _report(row, "skipped", code, detail)
        db.session.commit()
        return "skipped"
    try:
        _version, compiled = ops.current_version(row.survey_id)
    except NotFound:
        row.status, row.reason, row.error = "skipped", "survey_inactive", f"survey '{row.survey_id}' is not active"
        row.updated_at = now
        db.session.commit()
        return "skipped"
    try:
        quiet = pol.check_quiet_hours(contact, "email", now)
    except pol.PolicyUnavailable as e:  # fail closed: sent once the policy can be read
        again = now + pol.POLICY_RETRY
        row.scheduled_for, row.reason, row.error = again, "policy_unavailable", e.message
        schedule("send_email", row.id, run_at=again, dedupe_key=f"email:{row.id}:send:{again.isoformat()}")
        db.session.commit()
        return "deferred"
    if quiet.outcome == "defer":
        assert quiet.until is not None
        row.scheduled_for = quiet.until
        row.reason = "quiet_hours"
        schedule("send_email", row.id, run_at=quiet.until, dedupe_key=f"email:{row.id}:send:{quiet.until.isoformat()}")
        db.session.commit()
        return "deferred"
    rendered, msg = compose(row, compiled)
    try:
        how, path = transport.deliver(msg, current_app.config, current_app.instance_path, f"{row.kind}-{row.id}")
    except transport.PermanentFailure as e:
        row.status, row.reason, row.error = "failed", "rejected", str(e)
        row.updated_at = now
        _report(row, "failed", "rejected", str(e))
        db.session.commit()
        return "failed"
    row.status = "sent"
    row.reason = None
    row.error = None
    row.subject = rendered.subject
    row.locale = rendered.locale
    row.message_id = msg["Message-ID"]
    row.transport = how
    row.outbox_path = path
    row.sent_at = now
    row.updated_at = now
    if row.kind == "invitation":
        for n, days in enumerate(sorted(set(compiled.survey.email.reminder_days)), start=1):
            if days <= 0:
                continue
            schedule(
                "send_email_reminder", row.id, n,
                run_at=now + dt.timedelta(days=days), dedupe_key=f"email:{row.id}:reminder:{n}",
            )
    db.session.commit()
    return "sent"


def _reason_not_to_send(
    row: EmailMessage, contact: Contact | None, inv: Invitation | None, now: dt.datetime
) -> tuple[str, str] | None:
    out = pol.opt_out_of(contact, "email")
    if out:
        return "opted_out", f"the contact opted out of {'all surveys' if out == 'all' else 'email'}"
    if row.kind == "reminder" and inv is not None:
        if dist.refresh(inv, now) or inv.status == "answered":
            return "answered", "the contact has answered"
        if inv.expires_at is not None and now >= inv.expires_at:
            return "expired", "the invitation has expired"
        if inv.status == "stopped":
            return "stopped", "the invitation was stopped"
    return None


def remind(original_id: int, n: int) -> str:
    """Reminder ``n`` of an invitation email (the ``send_email_reminder`` job): a new email,
    only when the contact has not answered yet. Commits."""
    now = clock()
    orig = db.session.get(EmailMessage, original_id)
    if orig is None or orig.status != "sent":
        return "missing"
    existing = db.session.scalar(
        select(EmailMessage).where(EmailMessage.reminder_of == orig.id, EmailMessage.reminder_no == n)
    )
    if existing is not None:
        return send(existing.id) if existing.status == "scheduled" else existing.status
    row = EmailMessage(
        kind="reminder",
        invitation_id=orig.invitation_id,
        reminder_of=orig.id,
        reminder_no=n,
        survey_id=orig.survey_id,
        contact_id=orig.contact_id,
        to_address=orig.to_address,
        locale=orig.locale,
        status="scheduled",
        context=orig.context,
        meta=orig.meta,
        scheduled_for=now,
        created_at=now,
        updated_at=now,
    )
    db.session.add(row)
    db.session.flush()
    db.session.commit()
    return send(row.id)


def send_failed(message_id: int, error: str | None = None) -> None:
    """The send job gave up after its retries: the row says so."""
    row = db.session.get(EmailMessage, message_id)
    if row is not None and row.status == "scheduled":
        row.status, row.reason, row.error = "failed", "error", error
        row.updated_at = clock()
        _report(row, "failed", "error", error)
        db.session.commit()


def _report(row: EmailMessage, status: str, reason: str, detail: str | None) -> None:
    """An invitation email that did not go out: its ladder step is failed (or skipped) and
    the ladder moves on (in this transaction)."""
    step_id = (row.meta or {}).get("step_id")
    if row.kind == "invitation" and step_id is not None:
        dist.report_step(step_id, status, reason, detail)


def message_to_dict(row: EmailMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "reminder_no": row.reminder_no or None,
        "invitation_id": row.invitation_id,
        "survey": row.survey_id,
        "to": row.to_address,
        "locale": row.locale,
        "subject": row.subject,
        "status": row.status,
        "reason": row.reason,
        "error": row.error,
        "transport": row.transport,
        "outbox_path": row.outbox_path,
        "message_id": row.message_id,
        "scheduled_for": iso(row.scheduled_for),
        "sent_at": iso(row.sent_at),
    }
