"""The chat channel's adapter: start a conversation, take a reply, give the bot's messages.

The wording, quick replies and understanding of replies are the core's (the same engine
and prompts as SMS); this module only turns engine events into JSON-ready messages and
keeps the session token (only its hash is stored, in ``Session.external_ref``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app

from channels.telephony import check_contact, check_context
from feedback.engine import render
from feedback.engine.interview import Interview, State, Text
from feedback.errors import BadRequest, Forbidden
from feedback.jobs import clock
from feedback.store import messaging as msgs
from feedback.store import operations as ops
from feedback.store.models import Session, db

MAX_TEXT = 5000
_CONTACT_KEYS = ("id", "email", "phone")


class Finished(Exception):
    """The session has ended (answered, abandoned or expired); nothing more can be posted."""

    def __init__(self, session: Session, expired: bool = False) -> None:
        super().__init__(session.status)
        self.session = session
        self.expired = expired


@dataclass
class Reply:
    session: Session
    messages: list[dict[str, Any]]
    duplicate: bool = False
    token: str | None = None


def hours() -> float:
    return float(current_app.config.get("CHAT_SESSION_HOURS") or 24)


def message_dicts(it: Interview, state: State, events: list[Any]) -> list[dict[str, Any]]:
    out = []
    for m in render.messages(it, state, events, "chat"):
        item: dict[str, Any] = {
            "text": m.text,
            "kind": m.kind,
            "question_id": m.question_id,
            "quick_replies": [{"label": r["label"], "value": r["value"]} for r in m.quick_replies],
        }
        if m.question_id and m.kind in ("question", "reprompt"):
            q = it.question(m.question_id)
            item["question"] = {
                "type": q.type,
                "required": q.required,
                "multiple": q.type == "multiple_choice",
            }
        out.append(item)
    return out


def progress(session: Session) -> dict[str, int]:
    it = ops.interview_for(session.version_id)
    done, total = it.progress(State.from_dict(session.state))
    return {"answered": done, "total": total}


def start(payload: Mapping[str, Any], *, identified: bool = False) -> Reply:
    """``POST /chat/api/sessions``: ``{survey, locale?, contact?, context?, page_url?}``.

    The ``contact`` fields are context for piping and logic. Only an ``identified``
    request (one carrying a valid API key) may also name the contact the conversation
    belongs to: its ``id``, ``email`` or ``phone`` then finds or creates that contact
    and updates it. Without that the conversation is anonymous and no contact is
    read or written: anyone can call this endpoint, and a claimed id or email is not
    proof of who is writing."""
    survey_id = payload.get("survey")
    if not isinstance(survey_id, str) or not survey_id.strip():
        raise BadRequest("'survey' is required: the id of the survey to run, e.g. \"support-ticket\"")
    locale = payload.get("locale")
    if locale is not None and not isinstance(locale, str):
        raise BadRequest("'locale' must be a text such as \"en\" or \"zh-CN\"")
    contact_in = check_contact(payload.get("contact"))
    context = check_context(payload.get("context")) or {}
    page_url = payload.get("page_url")
    version, compiled = ops.current_version(survey_id.strip())
    if "chat" not in compiled.survey.channels:
        raise BadRequest(f"survey '{survey_id}' is not offered in chat; add chat to its channels")
    try:
        return _start(compiled, version.id, locale, contact_in, context, page_url, identified)
    except Exception:
        db.session.rollback()
        raise


def _start(compiled: Any, version_id: int, locale: str | None, contact_in: dict[str, Any],
           context: dict[str, Any], page_url: Any, identified: bool) -> Reply:
    contact = None
    if identified and any(contact_in.get(k) for k in _CONTACT_KEYS):
        contact = ops.find_or_create_contact(
            external_id=str(contact_in["id"]) if contact_in.get("id") else None,
            phone=str(contact_in["phone"]) if contact_in.get("phone") else None,
            email=str(contact_in["email"]) if contact_in.get("email") else None,
            locale=str(contact_in["locale"]) if contact_in.get("locale") else None,
            attributes={k: v for k, v in contact_in.items() if k not in _CONTACT_KEYS},
            commit=False,
        )
        if contact.opted_out("chat"):
            raise Forbidden("this contact has opted out of chat surveys")
    ctx = {"contact": {**contact_in, **dict(context.get("contact") or {})}, "event": dict(context.get("event") or {})}
    token = secrets.token_urlsafe(24)
    now = clock()
    meta: dict[str, Any] = {}
    if isinstance(page_url, str) and page_url:
        meta["page_url"] = page_url[:1000]
    turn = ops.start_session(
        compiled.survey.id, "chat", locale=locale or contact_in.get("locale") or None, contact=contact, context=ctx,
        external_ref=msgs.token_hash(token), expires_at=now + dt.timedelta(hours=hours()),
        meta=meta, version_id=version_id, commit=False,
    )
    session = turn.session
    msgs.chat_started(session)  # schedules its expiry; commits
    it = ops.interview_for(version_id)
    return Reply(session, message_dicts(it, turn.state, turn.events), token=token)


def authorise(session_id: str, token: str) -> Session:
    session = ops.get_session(session_id)
    if session.channel != "chat":
        raise Forbidden("this session is not a chat")
    if not token:
        raise Forbidden("send the session token: 'Authorization: Bearer <token>' or 'X-Session-Token: <token>'")
    if not msgs.token_matches(session, token):
        raise Forbidden("this session token is not valid for this session")
    return session


def answer_text(payload: Mapping[str, Any]) -> str:
    if "value" in payload and payload["value"] is not None:
        value = payload["value"]
        if isinstance(value, list):
            if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
                raise BadRequest("'value' must be a text, a number or a list of them")
            text = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, str | int | float):
            text = str(value)
        else:
            raise BadRequest("'value' must be a text, a number or a list of them")
    elif "text" in payload and payload["text"] is not None:
        if not isinstance(payload["text"], str):
            raise BadRequest("'text' must be a text")
        text = payload["text"]
    else:
        raise BadRequest("send the reply as {\"text\": \"...\"} or a quick reply as {\"value\": \"...\"}")
    if len(text) > MAX_TEXT:
        raise BadRequest(f"a reply can be at most {MAX_TEXT} characters")
    return text.replace("\x00", "")


def post(session: Session, payload: Mapping[str, Any]) -> Reply:
    """``POST /chat/api/sessions/<id>/messages``: ``{text}`` or ``{value}``, and optionally the
    ``step`` the client saw (a retried post then gets the same reply and stores nothing)."""
    text = answer_text(payload)
    step = payload.get("step")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool) or step < 0):
        raise BadRequest("'step' must be the whole number the last reply gave")
    if step is not None and step > session.step:
        raise BadRequest(f"'step' {step} is ahead of this conversation (it is at step {session.step})")
    it = ops.interview_for(session.version_id)
    if step is not None and step != session.step:
        turn = ops.apply_input(session.id, Text(text), step=step)
        return Reply(turn.session, message_dicts(it, turn.state, turn.events), duplicate=True)
    if session.status != "active":
        raise Finished(session)
    if msgs.expired(session):
        ops.end_session(session.id, reason="expired")
        raise Finished(ops.get_session(session.id), expired=True)
    # The conversation lives on: its new expiry is saved with the answer, in one write.
    turn = ops.apply_input(session.id, Text(text), step=session.step, extend_to=clock() + dt.timedelta(hours=hours()))
    return Reply(turn.session, message_dicts(it, turn.state, turn.events), duplicate=turn.duplicate)


def current(session: Session) -> Reply:
    """The question the session is waiting on (to resume a conversation after a reload)."""
    if session.status == "active" and msgs.expired(session):
        ops.end_session(session.id, reason="expired")
        session = ops.get_session(session.id)
    it = ops.interview_for(session.version_id)
    state = State.from_dict(session.state)
    return Reply(session, message_dicts(it, state, it.ask_again(state)))


def end(session: Session) -> Session:
    if session.status == "active":
        ops.end_session(session.id, reason="closed")
    return ops.get_session(session.id)
