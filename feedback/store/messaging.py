"""Operations for conversations by message (SMS / WhatsApp) and chat.

Like :mod:`feedback.store.operations`, these are the only functions of the
messaging channels that write to the store and commit. They keep:

* every inbound and outbound SMS / WhatsApp message (:class:`Message`) with its
  segments, encoding, delivery status and error code; an inbound ``MessageSid``
  is claimed once, so a duplicated webhook is processed once;
* the delivery status of each message without going backwards (a late ``sent``
  never overwrites ``delivered``);
* SMS opt-outs by contact (one person whether they write by SMS or WhatsApp);
* one conversation turn at a time per phone number (:func:`lock_contact`), so messages
  that arrive together are handled one after the other;
* the expiry time of a conversation, pushed back whenever the customer writes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from feedback.definition.segments import count_segments

from . import operations as ops
from .models import Contact, Message, OptOut, Session, db

#: Delivery statuses in the order they happen; a status never moves to a lower rank.
#: ``delivered``, ``undelivered``, ``failed`` and ``canceled`` are final: the first one
#: reported stays, except that ``read`` follows ``delivered`` (never a failure).
STATUS_RANK: dict[str, int] = {
    "scheduled": 0,
    "held": 0,
    "accepted": 1,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "receiving": 3,
    "received": 3,
    "canceled": 5,
    "failed": 5,
    "undelivered": 5,
    "delivered": 5,
    "read": 6,
}
FINAL_STATUSES = frozenset({"canceled", "failed", "undelivered", "delivered"})
#: Statuses that say the message did not arrive: the error code Twilio sends with them is
#: the message's error.
ERROR_STATUSES = frozenset({"failed", "undelivered"})

def _clock() -> dt.datetime:
    from feedback.jobs import clock

    return clock()


#: Twilio error code: the recipient has opted out (replied STOP).
OPTED_OUT_ERROR = "21610"


# -- contacts and opt-outs -------------------------------------------------------------------------


def split_address(raw: str) -> tuple[str, str]:
    """(transport, E.164 phone) of a Twilio address: ``whatsapp:+1555...`` or ``+1555...``.
    Raises BadRequest when it is not a phone number."""
    value = (raw or "").strip()
    transport = "whatsapp" if value.lower().startswith("whatsapp:") else "sms"
    return transport, ops.normalize_phone(value)


def address_for(phone: str, transport: str) -> str:
    return f"whatsapp:{phone}" if transport == "whatsapp" else phone


def contact_by_phone(phone: str) -> Contact | None:
    return db.session.scalar(select(Contact).where(Contact.phone == phone))


_TOUCH_CONTACT = update(Contact.__table__).where(Contact.__table__.c.id == bindparam("b_id")).values(
    updated_at=bindparam("updated_at"))


def lock_contact(contact: Contact) -> None:
    """Hold the contact's row until this transaction ends: messages from one number are
    handled one at a time, each reading the conversation as the one before left it.

    An update takes the lock on both databases: PostgreSQL locks the row, SQLite takes its
    write lock (see :mod:`feedback.store.sqlite_lock`). Reads after it see what the
    previous message committed. Does not commit."""
    db.session.flush()  # a new contact is inserted first
    db.session.execute(_TOUCH_CONTACT, {"b_id": contact.id, "updated_at": _clock()})


def sms_opted_out(*contacts: Contact | None) -> bool:
    """Whether any of these contacts has opted out of SMS (or of everything)."""
    return any(c is not None and c.opted_out("sms") for c in contacts)


def opt_out(contact: Contact, source: str) -> None:
    """Record the SMS opt-out of ``contact`` (idempotent). Commits."""
    if not any(o.channel == "sms" for o in contact.opt_outs):
        db.session.add(OptOut(contact_id=contact.id, channel="sms", source=source[:200]))
    try:
        db.session.commit()
    except IntegrityError:  # recorded at the same time by a concurrent request
        db.session.rollback()


def opt_in(contact: Contact) -> bool:
    """Remove the SMS opt-out of ``contact``. Returns whether there was one. Commits."""
    removed = False
    for o in list(contact.opt_outs):
        if o.channel == "sms":
            db.session.delete(o)
            removed = True
    db.session.commit()
    return removed


# -- sessions ------------------------------------------------------------------------------------


_RUNNING = (
    select(Session)
    .where(Session.channel == "sms", Session.external_ref == bindparam("phone"), Session.status == "active")
    .order_by(Session.created_at.desc())
)


def open_sms_session(phone: str) -> Session | None:
    """The running SMS / WhatsApp survey with this phone number, if one was sent to it."""
    rows = db.session.scalars(_RUNNING, {"phone": phone})
    for session in rows:
        if sms_meta(session).get("sent_at"):
            return session
    return None


def active_sms_session(phone: str) -> Session | None:
    """Any running SMS session for this number, sent yet or not."""
    return db.session.scalar(
        select(Session)
        .where(Session.channel == "sms", Session.external_ref == phone, Session.status == "active")
        .order_by(Session.created_at.desc())
        .limit(1)
    )


def sms_meta(session: Session) -> dict[str, Any]:
    return dict((session.meta or {}).get("sms") or {})


def set_sms_meta(session: Session, commit: bool = True, **values: Any) -> None:
    """Update the channel's own facts about a session (kept on the session only)."""
    meta = dict(session.meta or {})
    sms = dict(meta.get("sms") or {})
    for k, v in values.items():
        if v is None:
            sms.pop(k, None)
        else:
            sms[k] = v
    meta["sms"] = sms
    session.meta = meta
    if commit:
        db.session.commit()


def extend_expiry(session: Session, hours: float, now: dt.datetime | None = None, commit: bool = True) -> dt.datetime:
    """Push the expiry of a running conversation to ``hours`` from now. Commits."""
    at = (now or _clock()) + dt.timedelta(hours=hours)
    session.expires_at = at
    if commit:
        db.session.commit()
    return at


def expired(session: Session, now: dt.datetime | None = None) -> bool:
    return (
        session.status == "active"
        and session.expires_at is not None
        and session.expires_at <= (now or _clock())
    )


# -- chat tokens -------------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(session: Session, token: str) -> bool:
    if not token or not session.external_ref:
        return False
    return hmac.compare_digest(session.external_ref, token_hash(token))


# -- messages ------------------------------------------------------------------------------------


def inbound_by_sid(sid: str) -> Message | None:
    return db.session.scalar(select(Message).where(Message.message_sid == sid))


def claim_inbound(
    *,
    sid: str,
    transport: str,
    sender: str,
    to: str,
    body: str,
    contact: Contact,
    session: Session | None,
    meta: Mapping[str, Any] | None = None,
) -> tuple[Message, bool]:
    """Store an inbound message once per ``MessageSid``, in the transaction that handles it
    (it commits with the replies; call :func:`lock_contact` first).

    Returns the message and whether it is new; a duplicate returns the first one (after
    rolling back: the first one is committed by then, or was lost with its transaction)."""
    info = count_segments(body)
    values = {
        "direction": "in", "transport": transport, "message_sid": sid,
        "session_id": session.id if session else None, "contact_id": contact.id,
        "from_number": sender[:64], "to_number": (to or "")[:64], "body": body,
        "segments": info.segments, "encoding": info.encoding, "status": "received",
        "meta": {**dict(meta or {}), **({"step": session.step} if session is not None else {})},
    }
    try:
        db.session.flush()  # a new contact first
        row = ops.insert_row(Message, values)
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        existing = inbound_by_sid(sid)
        if existing is None:  # not the sid: the contact was created concurrently
            raise
        return existing, False
    return row, True


@dataclass
class Outgoing:
    """A message to send: its text and what it is (question, reprompt, help ...)."""

    text: str
    kind: str
    question_id: str | None = None


def add_outgoing(
    items: Iterable[Outgoing],
    *,
    transport: str,
    sender: str,
    to: str,
    contact_id: int | None,
    session_id: str | None,
    status: str,
    meta: Mapping[str, Any] | None = None,
) -> list[Message]:
    """Add outgoing messages with their segment count and encoding (the caller commits)."""
    db.session.flush()  # the contact and session they belong to come first
    rows = []
    for item in items:
        info = count_segments(item.text)
        rows.append(ops.insert_row(Message, {
            "direction": "out", "transport": transport, "session_id": session_id, "contact_id": contact_id,
            "from_number": (sender or "")[:64], "to_number": (to or "")[:64], "body": item.text,
            "segments": info.segments, "encoding": info.encoding, "status": status,
            "meta": {"kind": item.kind, "question_id": item.question_id, **dict(meta or {})},
        }))
    return rows


def finish_inbound(row: Message, replies: list[Message], action: str, session_id: str | None = None) -> None:
    """Mark an inbound message processed, with the replies it got. Commits."""
    meta = dict(row.meta or {})
    meta["replies"] = [r.id for r in replies]
    meta["action"] = action
    row.meta = meta
    if session_id and not row.session_id:
        row.session_id = session_id
    row.status = "processed"
    ops.commit_keeping(row, *replies)  # the webhook's TwiML reads the replies next


def replies_of(row: Message) -> list[Message] | None:
    """The replies an inbound message got, or None when it has not been processed yet."""
    ids = (row.meta or {}).get("replies")
    if ids is None:
        return None
    if not ids:
        return []
    found = {m.id: m for m in db.session.scalars(select(Message).where(Message.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def scheduled_messages(session_id: str, statuses: tuple[str, ...] = ("scheduled",)) -> list[Message]:
    return list(
        db.session.scalars(
            select(Message)
            .where(Message.session_id == session_id, Message.direction == "out", Message.status.in_(statuses))
            .order_by(Message.id)
        )
    )


def mark_sent(row: Message, sid: str | None, status: str | None, **meta: Any) -> None:
    """Record the sid Twilio gave an outgoing message. Commits."""
    if sid:
        row.message_sid = sid
    advance_status(row, status or "queued")
    if meta:
        row.meta = {**dict(row.meta or {}), **meta}
    db.session.commit()


def mark_failed(row: Message, error_code: str | None, error: str, *, final: bool, refused: bool = False) -> None:
    """Record a send error on an outgoing message (final: it will not be retried). With
    ``refused`` (Twilio refused it for good), a ladder step that sent the survey fails and
    the next channel goes at once (:func:`report_undelivered`). Commits."""
    row.error_code = (error_code or None) and str(error_code)[:16]
    row.meta = {**dict(row.meta or {}), "error": error[:500]}
    if final:
        row.status = "failed"
        if refused:
            report_undelivered(row, error[:500])
    db.session.commit()


def send_gave_up(session_id: str, error: str | None) -> list[Message]:
    """The send job failed for good after its retries: the messages it was to send are
    failed, and a ladder step that started the survey is failed too (the caller ends the
    session). Commits. Returns the messages."""
    rows = scheduled_messages(session_id, ("scheduled", "held"))
    for row in rows:
        # The last error Twilio gave for the message (with its code), else the job's.
        detail = str((row.meta or {}).get("error") or error or "the message could not be sent")[:500]
        row.status = "failed"
        row.meta = {**dict(row.meta or {}), "error": detail}
    for row in rows:
        report_undelivered(row, str((row.meta or {})["error"]))
    db.session.commit()
    return rows


#: Statuses of outgoing messages that never reached Twilio (not sent yet, held for the
#: answer to a WhatsApp template, replaced by the reply, canceled before sending).
_NEVER_SENT = ("scheduled", "held", "superseded", "canceled")


def report_undelivered(row: Message, detail: str, *, first_only: bool = False) -> bool:
    """An outgoing message failed for good. When its conversation was started by a ladder
    step (``meta.step_id`` on the session) and nothing of that conversation was delivered
    or answered, the step is failed (reason ``send_failed``; ``skipped`` with reason
    ``opted_out`` when the number opted out, Twilio error 21610) and the ladder moves on
    to its next channel at once, rather than at the end of the step's wait. With
    ``first_only`` the message must be the first one the conversation sent. Does not
    commit (it is part of the caller's transaction). Returns whether the step changed."""
    if row.direction != "out" or not row.session_id:
        return False
    session = db.session.get(Session, row.session_id)
    step_id = (session.meta or {}).get("step_id") if session is not None else None
    if session is None or session.channel != "sms" or step_id is None:
        return False
    db.session.flush()
    others = db.session.execute(
        select(Message.id, Message.direction, Message.status).where(Message.session_id == row.session_id)
    ).all()
    if any(d == "in" or s in ("delivered", "read") for _, d, s in others):
        return False
    if first_only:
        sent = [i for i, d, s in others if d == "out" and s not in _NEVER_SENT]
        if not sent or min(sent) != row.id:
            return False
    from feedback.triggers.operations import report_step

    if row.error_code == OPTED_OUT_ERROR:
        return report_step(step_id, "skipped", "opted_out", detail)
    return report_step(step_id, "failed", "send_failed", detail)


def set_status(rows: Iterable[Message], status: str, commit: bool = True) -> None:
    for row in rows:
        row.status = status
    if commit:
        db.session.commit()


def advance_status(row: Message, status: str) -> bool:
    """Move a message to ``status`` unless it is already as far or further along. A final
    status is never replaced, except ``delivered`` by ``read``; ``read`` never follows a
    failure. Returns whether it moved."""
    current = row.status or ""
    if status == current:
        return False
    if current in FINAL_STATUSES:
        if current == "delivered" and status == "read":
            row.status = status
            return True
        return False
    if current == "read":
        return False
    new = STATUS_RANK.get(status)
    old = STATUS_RANK.get(current, 0)
    if new is None:
        # A status we do not know yet: keep it (the message is not final).
        row.status = status[:20]
        return True
    if new > old or (new == old and current in ("scheduled", "held") and status not in ("scheduled", "held")):
        row.status = status
        return True
    return False


def record_status(
    sid: str, status: str, error_code: str | None, *, message_id: int | None = None
) -> Message | None:
    """A delivery status callback. Finds the message by sid (or by our id for replies sent in
    TwiML, whose sid Twilio tells us here first); ignores statuses that would go backwards.
    The error code is the message's when it comes with the status the message now has (a
    late failure after ``delivered`` does not mark it); every reported error is kept in
    ``meta["errors"]``, and a recorded error code is never cleared. Commits. Returns the
    message, or None when it is not ours."""
    row = inbound_by_sid(sid) if sid else None
    if row is None and message_id is not None:
        candidate = db.session.get(Message, message_id)
        if candidate is not None and candidate.direction == "out" and candidate.message_sid in (None, sid):
            row = candidate
            if sid:
                row.message_sid = sid
    if row is None:
        return None
    status = (status or "").strip().lower()
    moved = advance_status(row, status) if status else False
    code = str(error_code).strip()[:16] if error_code and str(error_code).strip() not in ("", "0") else None
    meta = dict(row.meta or {})
    if code is not None:
        if moved or (status == row.status and (status in ERROR_STATUSES or not row.error_code)):
            row.error_code = code
        errors = list(meta.get("errors") or [])
        entry = {"status": status, "error_code": code}
        if entry not in errors:
            errors.append(entry)
        meta["errors"] = errors[-10:]
    history = list(meta.get("statuses") or [])
    history.append(status)
    meta["statuses"] = history[-10:]
    row.meta = meta
    if moved and row.status in ERROR_STATUSES:
        what = f"Twilio reported the message {row.status}"
        report_undelivered(row, f"{what} (error {row.error_code})" if row.error_code else what, first_only=True)
    try:
        db.session.commit()
    except IntegrityError:  # the sid is already on another row: keep that one
        db.session.rollback()
        return inbound_by_sid(sid)
    return row


def last_inbound_at(contact_id: int, transport: str) -> dt.datetime | None:
    return db.session.scalar(
        select(func.max(Message.created_at)).where(
            Message.contact_id == contact_id, Message.direction == "in", Message.transport == transport
        )
    )


# -- conversations: the writes of the channels' steps, each committed here -------------------------------


def _schedule_expiry(session: Session, at: dt.datetime) -> None:
    from feedback.jobs import schedule

    schedule("expire_conversation", session.id, at.isoformat(), run_at=at, dedupe_key=f"expire:{session.id}:{at.isoformat()}")


def schedule_outbound(
    session: Session,
    items: Iterable[Outgoing],
    *,
    transport: str,
    sender: str,
    to: str,
    contact_id: int | None,
    run_at: dt.datetime,
    **sms: Any,
) -> None:
    """An outbound survey just started (not committed yet): keep the channel's facts on the
    session, store its first messages as scheduled and schedule the ``send_sms`` job. Commits."""
    from feedback.jobs import schedule

    set_sms_meta(session, commit=False, transport=transport, **sms)
    add_outgoing(items, transport=transport, sender=sender, to=to, contact_id=contact_id, session_id=session.id,
                 status="scheduled", meta={"via": "rest"})
    if session.status == "active":
        schedule("send_sms", session.id, run_at=run_at, dedupe_key=f"sms-send:{session.id}")
    db.session.commit()


def hold_for_template(questions: list[Message]) -> None:
    """The first messages wait for the customer's answer to a WhatsApp template. Commits."""
    set_status(questions, "held", commit=False)
    db.session.commit()


def template_sent(session: Session, hours: float, now: dt.datetime) -> None:
    """The WhatsApp template went out: the conversation waits for the reply. Commits."""
    set_sms_meta(session, commit=False, awaiting_reply=True)
    conversation_opened(session, hours, now)


def conversation_opened(session: Session, hours: float, now: dt.datetime) -> None:
    """The first messages went out: replies from the number now resume the session, and its
    expiry runs from now (never earlier than planned when it was requested). Commits."""
    set_sms_meta(session, commit=False, sent_at=now.isoformat())
    planned = session.expires_at
    at = extend_expiry(session, hours, now, commit=False)
    if planned is not None and planned > at:
        at = session.expires_at = planned
    _schedule_expiry(session, at)
    db.session.commit()


def release_held(session: Session, hours: float, now: dt.datetime) -> list[Message]:
    """The customer answered the WhatsApp template: the held first messages are sent as the
    reply (returned; replaced by the reply's own rows) and the expiry runs from now. Does not
    commit: it is committed with the reply."""
    held = scheduled_messages(session.id, ("held",))
    set_status(held, "superseded", commit=False)
    set_sms_meta(session, commit=False, awaiting_reply=None)
    extend_expiry(session, hours, now, commit=False)
    return held


def reschedule_expiry(session: Session) -> None:
    """The conversation lived on past its planned expiry: check again at the new time. Commits."""
    if session.expires_at is not None:
        _schedule_expiry(session, session.expires_at)
    db.session.commit()


def chat_started(session: Session) -> None:
    """A chat conversation was just started (not committed yet): schedule its expiry and
    commit, keeping the session loaded (the reply reads it next)."""
    if session.status == "active" and session.expires_at is not None:
        _schedule_expiry(session, session.expires_at)
    ops.commit_keeping(session)


def messages_of(session_id: str) -> list[Message]:
    return list(db.session.scalars(select(Message).where(Message.session_id == session_id).order_by(Message.id)))

