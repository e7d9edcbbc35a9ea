"""Outbound SMS / WhatsApp surveys: :func:`request_sms` (contracts §2) and the sending job's work.

:func:`request_sms` checks, in one transaction, that the survey is offered by SMS and
that the number may be messaged, starts the session, stores the intro and first
question as scheduled messages and schedules the ``send_sms`` job; it returns the
session id. The job (:func:`send_session`) sends them through the twilio REST client
with a status callback. A send that fails for a passing reason is recorded on the
message and retried by the outbox; a final refusal (an invalid or opted-out number) ends
the session, and when a ladder step sent the survey that step fails and the next channel
goes at once (:func:`feedback.store.messaging.report_undelivered`).

WhatsApp allows free-form messages only within 24 hours of the customer's last message.
Outside that window the job sends the survey's approved template
(``sms.whatsapp_template``: ``ContentSid`` + ``ContentVariables``) instead, and the intro
and first question go out as the reply to the customer's answer to it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any

from flask import current_app, has_request_context
from twilio.base.exceptions import TwilioRestException

from channels.telephony import (
    TwilioNotConfigured,
    check_context,
    context_part,
    from_number,
    public_url,
    twilio_client,
)
from feedback.engine import prompts, render
from feedback.engine.interview import State
from feedback.errors import BadRequest, Forbidden
from feedback.jobs import clock
from feedback.store import messaging as msgs
from feedback.store import operations as ops
from feedback.store.models import Contact, Session, db

from .conversation import expiry_hours, to_outgoing

log = logging.getLogger(__name__)

#: Twilio errors that retrying cannot fix: the number is invalid, unreachable by SMS, or
#: opted out; the WhatsApp window is closed; the sender may not send there.
FINAL_ERRORS = {
    21211, 21214, 21217, 21219, 21408, 21606, 21610, 21612, 21614, 21617, 21635,
    63003, 63016, 63024, 63032,
}
WHATSAPP_WINDOW = dt.timedelta(hours=24)


def request_sms(
    survey_id: str,
    phone: str,
    *,
    contact_id: int | None = None,
    context: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    locale: str | None = None,
    whatsapp: bool = False,
    run_at: dt.datetime | None = None,
) -> str:
    """Start an SMS (or WhatsApp) survey for ``phone``; the intro and first question are sent
    by a job at ``run_at`` (now by default). Returns the session id.

    Raises NotFound for an unknown survey, BadRequest for a survey not offered by SMS, a
    number that is not a phone number, a bad context or a survey already running with that
    number, and Forbidden for a number that opted out. Nothing is stored when it raises."""
    version, compiled = ops.current_version(survey_id)
    survey = compiled.survey
    if "sms" not in survey.channels:
        raise BadRequest(f"survey '{survey_id}' is not offered by SMS; add sms to its channels")
    e164 = ops.normalize_phone(phone)
    whatsapp = whatsapp or phone.strip().lower().startswith("whatsapp:")
    context = check_context(context)
    if meta is not None and not isinstance(meta, Mapping):
        raise BadRequest("meta must be an object")
    try:
        return _request(survey_id, version.id, compiled, e164, contact_id, context, meta, locale, whatsapp, run_at)
    except Exception:
        db.session.rollback()
        raise


def _request(
    survey_id: str,
    version_id: int,
    compiled: Any,
    e164: str,
    contact_id: int | None,
    context: Mapping[str, Any] | None,
    meta: Mapping[str, Any] | None,
    locale: str | None,
    whatsapp: bool,
    run_at: dt.datetime | None,
) -> str:
    survey = compiled.survey
    given: Contact | None = None
    if contact_id is not None:
        given = db.session.get(Contact, contact_id)
        if given is None:
            raise BadRequest(f"there is no contact {contact_id}")
    by_phone = msgs.contact_by_phone(e164)
    if msgs.sms_opted_out(given, by_phone):
        raise Forbidden(f"{e164} has opted out of SMS messages (replied STOP); nothing was sent")
    now = clock()
    running = msgs.active_sms_session(e164)
    if running is not None and msgs.expired(running, now):
        ops.end_session(running.id, reason="expired")
        running = None
    if running is not None:
        raise BadRequest(
            f"{e164} already has an SMS survey in progress or scheduled ({running.survey_id}, session "
            f"{running.id}); it ends when answered or when it expires"
        )
    contact_ctx = context_part(context, "contact")
    if given is not None:
        contact = given
        if contact.phone is None and by_phone is None:
            contact.phone = e164
        if locale and not contact.locale:
            contact.locale = locale
    else:
        contact = ops.find_or_create_contact(
            external_id=str(contact_ctx["id"]) if contact_ctx.get("id") else None,
            phone=e164,
            email=str(contact_ctx["email"]) if contact_ctx.get("email") else None,
            locale=locale or contact_ctx.get("locale"),
            attributes=contact_ctx,
            commit=False,
        )
    start = run_at or now
    hours = expiry_hours(compiled)
    turn = ops.start_session(
        survey_id, "sms", locale=locale, contact=contact, context=context, external_ref=e164,
        expires_at=start + dt.timedelta(hours=hours), meta=meta, version_id=version_id, commit=False,
    )
    session = turn.session
    transport = "whatsapp" if whatsapp else "sms"
    address = msgs.address_for(e164, transport)
    it = ops.interview_for(version_id)
    out = to_outgoing(render.messages(it, turn.state, turn.events, "sms"))
    msgs.schedule_outbound(
        session, out, transport=transport, sender=_sender(transport, required=False), to=address,
        contact_id=contact.id, run_at=start, address=address, started_by="outbound",
    )
    log.info("SMS survey %s for %s scheduled (session %s)", survey.id, e164, session.id)
    return session.id


def _sender(transport: str, required: bool = True) -> str:
    cfg = current_app.config
    if transport == "whatsapp":
        number = cfg.get("TWILIO_WHATSAPP_FROM") or cfg.get("TWILIO_FROM_NUMBER")
        if not number:
            return from_number() if required else ""
        number = str(number)
        return number if number.lower().startswith("whatsapp:") else f"whatsapp:{number}"
    if not required:
        return str(cfg.get("TWILIO_FROM_NUMBER") or "")
    return from_number()


def status_callback_url() -> str | None:
    """Where Twilio reports delivery. Jobs run outside a request: the URL is built on
    ``PUBLIC_BASE_URL`` then; without it messages go out without a status callback."""
    if has_request_context():
        return public_url("sms.status")
    base = current_app.config.get("PUBLIC_BASE_URL")
    if not base:
        log.warning("PUBLIC_BASE_URL is not set: messages are sent without a delivery status callback")
        return None
    with current_app.test_request_context("/", base_url=str(base)):
        return public_url("sms.status")


def within_whatsapp_window(contact_id: int | None, now: dt.datetime | None = None) -> bool:
    if contact_id is None:
        return False
    last = msgs.last_inbound_at(contact_id, "whatsapp")
    return last is not None and (now or clock()) - last < WHATSAPP_WINDOW


def send_session(session_id: str) -> str:
    """Send the scheduled messages of a session (the ``send_sms`` job). Idempotent: only
    messages still scheduled are sent. Returns what happened."""
    session = db.session.get(Session, session_id)
    if session is None:
        return "no session"
    rows = msgs.scheduled_messages(session_id, ("scheduled", "held"))
    if session.status != "active":
        msgs.set_status(rows, "canceled")
        return "session ended"
    if msgs.sms_meta(session).get("awaiting_reply"):
        return "waiting for the reply to the template"
    if not rows:
        return "nothing to send"
    contact = db.session.get(Contact, session.contact_id) if session.contact_id else None
    if msgs.sms_opted_out(contact):
        msgs.set_status(rows, "canceled")
        ops.end_session(session.id, reason="opted_out")
        return "opted out"
    meta = msgs.sms_meta(session)
    transport = meta.get("transport", "sms")
    to = meta.get("address") or msgs.address_for(session.external_ref or "", transport)
    try:
        client = twilio_client()
        sender = _sender(transport)
    except TwilioNotConfigured as e:
        # Retrying cannot help until someone configures Twilio: the survey ends now rather
        # than waiting in the outbox (and blocking the number) for a send that cannot happen.
        for row in rows:
            msgs.mark_failed(row, None, e.message, final=True)
        ops.end_session(session.id, reason="twilio_not_configured")
        log.error("SMS survey %s not sent: %s", session.id, e.message)
        return "twilio not configured"
    callback = status_callback_url()
    now = clock()
    if transport == "whatsapp" and not within_whatsapp_window(session.contact_id, now):
        return _send_template(session, rows, client, sender, to, callback)
    templates = [r for r in rows if (r.meta or {}).get("kind") == "template"]
    if templates:  # a template that failed to go out is not needed inside the window
        msgs.set_status(templates, "canceled")
    for row in [r for r in rows if r not in templates]:
        params = dict(to=to, from_=sender, body=row.body)
        if callback:
            params["status_callback"] = callback
        if not _create(row, session, client, params):
            return "failed"
    _opened(session, now)
    return "sent"


def _send_template(session: Session, rows: list[Any], client: Any, sender: str, to: str, callback: str | None) -> str:
    compiled = ops.compiled_version(session.version_id)
    template = compiled.survey.sms.whatsapp_template
    if template is None:
        for row in rows:
            msgs.mark_failed(row, None, "outside the WhatsApp 24-hour window and the survey has no "
                                        "sms.whatsapp_template to open the conversation", final=True)
        ops.end_session(session.id, reason="whatsapp_window_closed")
        return "no template"
    state = State.from_dict(session.state)
    variables = {
        key: prompts.render_text(compiled.survey, compiled.survey.text(value, state.locale), state.locale, state.scope())
        for key, value in template.variables.items()
    }
    row = next((r for r in rows if (r.meta or {}).get("kind") == "template"), None)  # a retry
    questions = [r for r in rows if r is not row]
    if row is None:
        [row] = msgs.add_outgoing(
            [msgs.Outgoing(f"[WhatsApp template {template.content_sid}] "
                           + json.dumps(variables, ensure_ascii=False), "template")],
            transport="whatsapp", sender=sender, to=to, contact_id=session.contact_id, session_id=session.id,
            status="scheduled",
            meta={"via": "rest", "content_sid": template.content_sid, "content_variables": variables},
        )
    msgs.hold_for_template(questions)
    params = dict(to=to, from_=sender, content_sid=template.content_sid)
    if callback:
        params["status_callback"] = callback
    if variables:
        params["content_variables"] = json.dumps(variables, ensure_ascii=False)
    if not _create(row, session, client, params):
        msgs.set_status(questions, "canceled")
        return "failed"
    msgs.template_sent(session, expiry_hours(ops.compiled_version(session.version_id)), clock())
    return "template"


def _create(row: Any, session: Session, client: Any, params: dict[str, Any]) -> bool:
    """Send one message. A passing failure is recorded and raised (the outbox retries); a
    final one marks the message failed and ends the session. Returns whether it was sent."""
    try:
        sent = client.messages.create(**params)
    except TwilioRestException as e:
        code = int(e.code) if isinstance(e.code, int) or str(e.code).isdigit() else None
        status = int(e.status) if e.status is not None else 0
        # 401/403 are our credentials and 429 is a rate limit: worth retrying later.
        final = code in FINAL_ERRORS or (400 <= status < 500 and status not in (401, 403, 429))
        msgs.mark_failed(row, str(code) if code else None, f"Twilio error {code}: {e.msg}", final=final, refused=final)
        if not final:
            raise
        if code == int(msgs.OPTED_OUT_ERROR) and session.contact_id:
            contact = db.session.get(Contact, session.contact_id)
            if contact is not None:
                msgs.opt_out(contact, source=f"twilio:{code}")
        ops.end_session(session.id, reason="undeliverable")
        log.warning("message %s to %s refused by Twilio (%s): %s", row.id, row.to_number, code, e.msg)
        return False
    except Exception as e:
        msgs.mark_failed(row, None, f"{type(e).__name__}: {e}", final=False)
        raise
    msgs.mark_sent(row, getattr(sent, "sid", None), getattr(sent, "status", None), via="rest")
    return True


def _opened(session: Session, now: dt.datetime) -> None:
    """The conversation is open: replies from the number now resume it, and its expiry runs."""
    # Counted from the send, and never earlier than planned when the survey was requested.
    msgs.conversation_opened(session, expiry_hours(ops.compiled_version(session.version_id)), now)
