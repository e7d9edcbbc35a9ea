"""What an inbound SMS / WhatsApp message does: the channel adapter between Twilio's webhook
and the engine and store.

In order, for a message from a phone number:

1. A duplicated ``MessageSid`` gets the replies the first copy got; nothing runs twice.
2. STOP words end the running survey (kept as partial) and record the opt-out; nothing is
   sent (Twilio confirms the opt-out on SMS). START / UNSTOP re-subscribe; HELP / INFO get
   the help text; YES re-subscribes only an opted-out person with no survey waiting.
3. Nothing at all is sent to a number that opted out.
4. A running survey for that number takes the message as its next answer (after expiring it
   if its time is up). A WhatsApp survey opened by a template sends its first question now.
5. Otherwise a survey keyword starts that survey; anything else gets a short help reply.

Replies are stored as outgoing :class:`~feedback.store.models.Message` rows with their
segments and encoding before the webhook answers with them in TwiML.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError

from feedback.definition.loader import CompiledSurvey
from feedback.engine import render
from feedback.engine.interview import Interview, State, Text
from feedback.errors import BadRequest, FeedbackError
from feedback.i18n import tr
from feedback.jobs import clock
from feedback.store import messaging as msgs
from feedback.store import operations as ops
from feedback.store.models import Contact, Message, Session, db, utcnow

from . import keywords

log = logging.getLogger(__name__)

#: An inbound copy seen while the first is still being handled gets no reply for this long;
#: after it, the first is taken to have failed and the message is handled again.
IN_FLIGHT_SECONDS = 30
MAX_BODY = 4000


def expiry_hours(survey: CompiledSurvey | Any) -> float:
    """Hours without a reply before an SMS survey ends: the survey's ``sms.expiry_hours``
    when it sets one, else ``SMS_SESSION_HOURS`` (24)."""
    s = survey.survey if isinstance(survey, CompiledSurvey) else survey
    if "expiry_hours" in s.sms.model_fields_set:
        return float(s.sms.expiry_hours)
    return float(current_app.config.get("SMS_SESSION_HOURS") or 24)


def to_outgoing(messages: list[render.Message]) -> list[msgs.Outgoing]:
    return [msgs.Outgoing(m.text, m.kind, m.question_id) for m in messages if m.text]


def session_messages(session: Session, events: list[Any]) -> list[msgs.Outgoing]:
    it = ops.interview_for(session.version_id)
    state = State.from_dict(session.state)
    return to_outgoing(render.messages(it, state, events, "sms"))


def current_question(session: Session) -> list[msgs.Outgoing]:
    it: Interview = ops.interview_for(session.version_id)
    state = State.from_dict(session.state)
    return to_outgoing(render.messages(it, state, it.ask_again(state), "sms"))


# -- texts ---------------------------------------------------------------------------------------


def reply_locale(contact: Contact | None, body: str, session: Session | None = None) -> str:
    if session is not None:
        return session.locale
    if keywords.looks_chinese(body):
        return "zh-CN"
    if contact is not None and contact.locale:
        return contact.locale
    return "en"


def help_text(locale: str, session: Session | None, opted_out: bool) -> str:
    if opted_out:
        return tr(locale, "You have unsubscribed from these messages. Reply START to subscribe again.")
    if session is not None:
        compiled = ops.compiled_version(session.version_id)
        title = compiled.survey.text(compiled.survey.title, locale)
        return tr(locale, "%(title)s: reply with your answer to the question. Reply STOP to unsubscribe.", title=title)
    words = keywords.keyword_list(locale)
    if words:
        return tr(locale, "Reply %(keywords)s to give us feedback. Reply STOP to unsubscribe.",
                  keywords=" / ".join(words))
    return tr(locale, "This number sends customer feedback surveys. Reply STOP to unsubscribe.")


# -- the webhook ---------------------------------------------------------------------------------


def handle_inbound(form: Mapping[str, str]) -> list[Message]:
    """Handle one inbound message; returns the outgoing messages to reply with (stored)."""
    sid = _clean(form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")).strip()
    sender = _clean(form.get("From")).strip()
    to = _clean(form.get("To")).strip()
    body = _clean(form.get("Body"))[:MAX_BODY]
    if not sid or not sender:
        log.warning("ignored an inbound message without MessageSid or From")
        return []
    try:
        transport, phone = msgs.split_address(sender)
    except BadRequest:
        log.warning("ignored an inbound message from %r: not a phone number", sender[:64])
        return []
    extra = {"num_media": form.get("NumMedia")} if form.get("NumMedia") not in (None, "", "0") else {}
    for attempt in range(2):
        # No look-up first: the unique MessageSid makes a duplicate fail its claim.
        try:
            contact = ops.find_or_create_contact(phone=phone, commit=False)
            # One message of a number at a time, to the end of its transaction: two
            # messages sent together are two answers in turn, not one answer twice.
            msgs.lock_contact(contact)
            session = msgs.open_sms_session(phone)
            row, new = msgs.claim_inbound(
                sid=sid[:64], transport=transport, sender=sender, to=to, body=body,
                contact=contact, session=session, meta=extra,
            )
        except IntegrityError:
            # Another message from a new number created its contact at the same moment.
            db.session.rollback()
            if attempt:
                raise
            continue
        return process(row) if new else replay(row)
    return []  # pragma: no cover - the loop returns or raises


def _clean(value: str | None) -> str:
    """Text as the database can keep it (PostgreSQL refuses NUL characters)."""
    return (value or "").replace("\x00", "")


def replay(row: Message) -> list[Message]:
    """The replies of a message already seen (a duplicated webhook)."""
    if row.direction != "in":
        return []
    replies = msgs.replies_of(row)
    if replies is not None:
        return replies
    if (utcnow() - row.created_at).total_seconds() < IN_FLIGHT_SECONDS:
        return []  # the first copy is still being handled
    return process(row)


def process(row: Message) -> list[Message]:
    """Decide what an inbound message does. Every branch stores its replies on ``row``."""
    contact = _contact(row)
    msgs.lock_contact(contact)  # held already when the message was just claimed
    phone = contact.phone or ""
    body = row.body or ""
    word = keywords.classify(body)
    now = clock()
    session = ops.get_session(row.session_id) if row.session_id else None
    step = _step(row)
    expired_now = False
    if session is not None and msgs.expired(session, now) and word != "stop":
        ops.end_session(session.id, reason="expired")  # commits: the number's lock is taken again
        msgs.lock_contact(contact)
        session, expired_now = None, True

    def done(items: list[msgs.Outgoing], action: str, sess: Session | None = None) -> list[Message]:
        target = sess or session
        replies = _store_replies(row, contact, items, target)
        msgs.finish_inbound(row, replies, action, target.id if target is not None else None)
        return replies

    if word == "stop":
        if session is not None and session.status == "active":
            ops.end_session(session.id, reason="opted_out")
        for other in _other_active(phone):
            ops.end_session(other.id, reason="opted_out")
        msgs.opt_out(contact, source=f"keyword:{keywords.normalise(body)}")
        return done([], "opt_out")
    opted_out = msgs.sms_opted_out(contact)
    # A session that moved past the step this message was meant for (handled before a
    # crash) still gets the message, as the duplicate it is.
    waiting = session is not None and (
        session.status == "active" or (step is not None and session.step > step)
    )
    if word == "start" or (word == "yes" and opted_out and not waiting):
        msgs.opt_in(contact)
        locale = reply_locale(contact, body, session)
        items = [msgs.Outgoing(tr(locale, "You are subscribed again. Reply STOP to unsubscribe at any time."), "opt_in")]
        if waiting and session is not None:
            items += current_question(session)
        return done(items, "opt_in")
    if word == "help":
        locale = reply_locale(contact, body, session if waiting else None)
        items = [msgs.Outgoing(help_text(locale, session if waiting else None, opted_out), "help")]
        if waiting and session is not None and not opted_out:
            items += current_question(session)
        return done(items, "help")
    if opted_out:
        return done([], "ignored_opted_out")
    if waiting and session is not None:
        return done(_answer(row, session, body, now), "answer")
    match = keywords.match_survey(body)
    if match is not None:
        started = _start_by_keyword(row, contact, match)
        if started is not None:
            new_session, items = started
            return done(items, "start", new_session)
    locale = reply_locale(contact, body)
    if expired_now:
        return done([msgs.Outgoing(tr(locale, "Sorry, this survey has closed. Thank you for your time."), "expired")],
                    "expired")
    return done([msgs.Outgoing(help_text(locale, None, False), "help")], "help")


def _contact(row: Message) -> Contact:
    contact = db.session.get(Contact, row.contact_id) if row.contact_id else None
    if contact is None:  # pragma: no cover - claim_inbound always sets it
        raise FeedbackError("inbound message without a contact")
    return contact


def _step(row: Message) -> int | None:
    step = (row.meta or {}).get("step")
    return int(step) if isinstance(step, int) else None


def _other_active(phone: str) -> list[Session]:
    from sqlalchemy import select

    if not phone:
        return []
    return list(
        db.session.scalars(
            select(Session).where(Session.channel == "sms", Session.external_ref == phone, Session.status == "active")
        )
    )


def _answer(row: Message, session: Session, body: str, now: dt.datetime) -> list[msgs.Outgoing]:
    meta = msgs.sms_meta(session)
    if meta.get("awaiting_reply"):
        # A WhatsApp template opened the conversation; the customer's reply opens the
        # 24-hour window, so the intro and first question go now.
        held = msgs.release_held(session, expiry_hours(ops.compiled_version(session.version_id)), now)
        return [msgs.Outgoing(m.body, (m.meta or {}).get("kind", "question"), (m.meta or {}).get("question_id"))
                for m in held]
    step = _step(row)
    # The customer wrote, so the conversation lives on: the new expiry is saved with the
    # answer, and the answer with its replies (the caller commits them together).
    extend = (now + dt.timedelta(hours=expiry_hours(ops.compiled_version(session.version_id)))
              if session.status == "active" else None)
    turn = ops.apply_input(session.id, Text(body), step=step if step is not None else session.step,
                           extend_to=extend, commit=False)
    it = ops.interview_for(session.version_id)
    return to_outgoing(render.messages(it, turn.state, turn.events, "sms"))


def _start_by_keyword(
    row: Message, contact: Contact, match: keywords.SurveyKeyword
) -> tuple[Session, list[msgs.Outgoing]] | None:
    compiled = ops.compiled_version(match.version_id)
    survey = compiled.survey
    if keywords.looks_chinese(match.keyword):
        wanted = next((loc for loc in survey.all_locales if loc.lower().startswith("zh")), None)
    elif contact.locale and not contact.locale.lower().startswith("zh"):
        wanted = contact.locale
    else:
        wanted = survey.default_locale
    now = clock()
    hours = expiry_hours(compiled)
    try:
        new = ops.prepare_session(
            match.survey_id, "sms", locale=wanted, contact=contact, external_ref=contact.phone,
            expires_at=now + dt.timedelta(hours=hours), version_id=match.version_id,
        )
    except FeedbackError as e:
        log.warning("keyword %s could not start %s: %s", match.keyword, match.survey_id, e)
        return None
    # The channel's own facts are kept on the session only (see msgs.set_sms_meta).
    new.session["meta"]["sms"] = {"transport": row.transport, "address": row.from_number, "started_by": "keyword",
                                  "keyword": match.keyword, "sent_at": now.isoformat()}
    turn = ops.insert_session(new)
    session = turn.session
    if not contact.locale:
        contact.locale = session.locale  # remembered for replies outside a survey
    from feedback.jobs import schedule

    if session.status == "active" and session.expires_at is not None:
        schedule("expire_conversation", session.id, session.expires_at.isoformat(), run_at=session.expires_at,
                 dedupe_key=f"expire:{session.id}:{session.expires_at.isoformat()}")
    # Committed with the replies (see process: done).
    it = ops.interview_for(match.version_id)
    return session, to_outgoing(render.messages(it, turn.state, turn.events, "sms"))


def _store_replies(row: Message, contact: Contact, items: list[msgs.Outgoing], session: Session | None) -> list[Message]:
    if not items:
        return []
    return msgs.add_outgoing(
        items,
        transport=row.transport,
        sender=row.to_number,
        to=row.from_number,
        contact_id=contact.id,
        session_id=session.id if session is not None else None,
        status="queued",
        meta={"in_reply_to": row.id, "via": "twiml"},
    )
