"""Twilio Messaging webhooks. Both check ``X-Twilio-Signature`` (403, nothing stored, when
it is forged) and always answer valid TwiML: an error inside becomes a short apology, never
a 500."""

from __future__ import annotations

import logging

from flask import Response, request
from twilio.twiml.messaging_response import MessagingResponse

from channels.telephony import public_url, twilio_webhook
from feedback.i18n import tr
from feedback.store import messaging as msgs
from feedback.store import operations as ops
from feedback.store.models import Message, db

from . import bp
from .conversation import handle_inbound, keywords

log = logging.getLogger(__name__)


def twiml(replies: list[Message]) -> Response:
    resp = MessagingResponse()
    for m in replies:
        resp.message(m.body, action=public_url("sms.status", m=m.id), method="POST")
    return Response(resp.to_xml(), mimetype="text/xml")


@bp.post("/inbound")
@twilio_webhook
def inbound() -> Response:
    try:
        return twiml(handle_inbound(request.form))
    except Exception:  # noqa: BLE001 - Twilio must get TwiML, the customer an apology
        log.exception("inbound message %s from %s failed", request.form.get("MessageSid"), request.form.get("From"))
        db.session.rollback()
        resp = MessagingResponse()
        body = request.form.get("Body") or ""
        locale = "zh-CN" if keywords.looks_chinese(body) else "en"
        resp.message(tr(locale, "Sorry, something went wrong on our side. Please try again in a few minutes."))
        return Response(resp.to_xml(), mimetype="text/xml")


@bp.post("/status")
@twilio_webhook
def status() -> Response:
    """Delivery status of an outgoing message; error 21610 records the opt-out."""
    try:
        sid = (request.form.get("MessageSid") or request.form.get("SmsSid") or "")[:64]
        state = (request.form.get("MessageStatus") or request.form.get("SmsStatus") or "").strip().lower()
        code = (request.form.get("ErrorCode") or "").strip() or None
        mid = request.args.get("m", type=int)
        row = msgs.record_status(sid, state, code, message_id=mid)
        if row is not None and code == msgs.OPTED_OUT_ERROR:
            _opted_out(row)
    except Exception:  # noqa: BLE001
        log.exception("status callback for %s failed", request.form.get("MessageSid"))
        db.session.rollback()
    return Response(MessagingResponse().to_xml(), mimetype="text/xml")


def _opted_out(row: Message) -> None:
    from feedback.store.models import Contact

    contact = db.session.get(Contact, row.contact_id) if row.contact_id else None
    if contact is None:
        try:
            _, phone = msgs.split_address(row.to_number)
        except Exception:  # noqa: BLE001
            return
        contact = msgs.contact_by_phone(phone)
    if contact is None:
        return
    msgs.opt_out(contact, source="twilio:21610")
    if contact.phone:
        session = msgs.active_sms_session(contact.phone)
        if session is not None:
            ops.end_session(session.id, reason="opted_out")
