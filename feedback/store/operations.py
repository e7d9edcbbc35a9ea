"""The operations layer: the only code that writes to the store and commits.

Channels call these functions; they never touch the session or commit
themselves. Applying an input is idempotent per (session, step): a retried
request gets the events it got the first time and stores nothing twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from feedback.definition.loader import CompiledSurvey, load_file, load_text, survey_files
from feedback.engine import interview as eng
from feedback.errors import BadRequest, DefinitionError, EngineError, NotFound, Problem

from .models import (
    Answer,
    ApiKey,
    Contact,
    OptOut,
    Response,
    Session,
    SessionTurn,
    Survey,
    SurveyVersion,
    db,
    utcnow,
)

log = logging.getLogger(__name__)


# -- surveys ---------------------------------------------------------------------------------

def _cache(name: str) -> dict[Any, Any]:
    """Per-application caches (version ids repeat across databases)."""
    from flask import current_app

    caches = current_app.extensions.setdefault("feedback_cache", {})
    return caches.setdefault(name, {})


@dataclass
class LoadReport:
    loaded: list[tuple[str, str, bool]] = field(default_factory=list)  # (survey id, version, new?)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def sync_survey(compiled: CompiledSurvey, source_path: str = "") -> tuple[SurveyVersion, bool]:
    """Store a compiled survey; a changed file becomes a new version. Commits."""
    s = compiled.survey
    survey = db.session.get(Survey, s.id)
    title = s.text(s.title, s.default_locale)
    if survey is None:
        survey = Survey(id=s.id, title=title, source_path=source_path)
        db.session.add(survey)
        db.session.flush()
    version = db.session.scalar(
        select(SurveyVersion).where(
            SurveyVersion.survey_id == s.id, SurveyVersion.content_hash == s.version
        )
    )
    created = False
    if version is None:
        version = SurveyVersion(
            survey_id=s.id, content_hash=s.version, yaml_text=compiled.text, source_path=source_path
        )
        db.session.add(version)
        db.session.flush()
        created = True
    survey.current_version_id = version.id
    survey.title = title
    survey.source_path = source_path or survey.source_path
    survey.active = True
    db.session.commit()
    _cache("compiled")[version.id] = compiled
    return version, created


def load_surveys(paths: Iterable[str | Path]) -> LoadReport:
    """Load survey files into the store. Invalid files are reported and skipped."""
    report = LoadReport()
    for path in survey_files(paths):
        try:
            compiled = load_file(path)
        except DefinitionError as e:
            report.problems.extend(e.problems)
            continue
        version, created = sync_survey(compiled, str(path))
        report.loaded.append((compiled.id, compiled.version, created))
        report.warnings.extend(compiled.warnings)
    return report


def compiled_version(version_id: int) -> CompiledSurvey:
    cached = _cache("compiled").get(version_id)
    if cached is not None:
        return cached
    version = db.session.get(SurveyVersion, version_id)
    if version is None:
        raise NotFound(f"survey version {version_id} not found")
    compiled = load_text(version.yaml_text, version.source_path or f"{version.survey_id}.yaml")
    _cache("compiled")[version_id] = compiled
    return compiled


def current_version(survey_id: str) -> tuple[SurveyVersion, CompiledSurvey]:
    survey = db.session.get(Survey, survey_id)
    if survey is None or not survey.active or survey.current_version_id is None:
        raise NotFound(f"no survey '{survey_id}'")
    version = db.session.get(SurveyVersion, survey.current_version_id)
    assert version is not None
    return version, compiled_version(version.id)


def interview_for(version_id: int) -> eng.Interview:
    interviews = _cache("interviews")
    it = interviews.get(version_id)
    if it is None:
        it = eng.Interview(compiled_version(version_id))
        interviews[version_id] = it
    return it


def active_surveys() -> list[Survey]:
    return list(db.session.scalars(select(Survey).where(Survey.active.is_(True)).order_by(Survey.id)))


# -- contacts ------------------------------------------------------------------------------------


def normalize_phone(raw: str, region: str | None = None) -> str:
    """E.164 form of a phone number (``whatsapp:`` prefixes removed). Raises BadRequest."""
    value = (raw or "").strip()
    if value.lower().startswith("whatsapp:"):
        value = value[len("whatsapp:") :]
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise BadRequest(f"'{raw}' is not a phone number") from None
    if not phonenumbers.is_possible_number(parsed):
        raise BadRequest(f"'{raw}' is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def find_or_create_contact(
    *,
    external_id: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    locale: str | None = None,
    timezone: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    commit: bool = True,
) -> Contact:
    """The contact with this external id, phone or email; created when there is none.
    Known fields are updated with what is given."""
    e164 = normalize_phone(phone) if phone else None
    email_norm = email.strip().lower() if email else None
    contact = None
    if external_id:
        contact = db.session.scalar(select(Contact).where(Contact.external_id == external_id))
    if contact is None and e164:
        contact = db.session.scalar(select(Contact).where(Contact.phone == e164))
    if contact is None and email_norm:
        contact = db.session.scalar(select(Contact).where(Contact.email == email_norm))
    if contact is None:
        contact = Contact(external_id=external_id, phone=e164, email=email_norm, attributes={})
        db.session.add(contact)
    else:
        if external_id and not contact.external_id:
            contact.external_id = external_id
        if e164 and contact.phone != e164:
            clash = db.session.scalar(select(Contact).where(Contact.phone == e164))
            if clash is None:
                contact.phone = e164
        if email_norm:
            contact.email = email_norm
    if locale:
        contact.locale = locale
    if timezone:
        contact.timezone = timezone
    if attributes:
        merged = dict(contact.attributes or {})
        merged.update({k: v for k, v in attributes.items() if k not in ("id", "phone", "email", "locale", "timezone")})
        contact.attributes = merged
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return contact


def record_opt_out(contact: Contact, channel: str, source: str = "") -> None:
    if not contact.opted_out(channel) or not any(o.channel == channel for o in contact.opt_outs):
        db.session.add(OptOut(contact_id=contact.id, channel=channel, source=source))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()


def remove_opt_out(contact: Contact, channel: str) -> None:
    for o in list(contact.opt_outs):
        if o.channel == channel:
            db.session.delete(o)
    db.session.commit()


# -- sessions ------------------------------------------------------------------------------------


@dataclass
class Turn:
    session: Session
    events: list[eng.Event]
    duplicate: bool = False
    #: The state as stored, kept so that reading it after the commit costs no query.
    snapshot: dict[str, Any] | None = None

    @property
    def state(self) -> eng.State:
        return eng.State.from_dict(self.snapshot if self.snapshot is not None else self.session.state)


def start_session(
    survey_id: str,
    channel: str,
    *,
    locale: str | None = None,
    contact: Contact | None = None,
    context: Mapping[str, Any] | None = None,
    external_ref: str | None = None,
    expires_at: dt.datetime | None = None,
    meta: Mapping[str, Any] | None = None,
    version_id: int | None = None,
    seed: int | None = None,
    commit: bool = True,
) -> Turn:
    """Start an interview and its (partial) response. Commits (unless ``commit=False``:
    then the caller's operation commits it together with what it adds)."""
    if version_id is None:
        version, _ = current_version(survey_id)
        version_id = version.id
    it = interview_for(version_id)
    ctx: dict[str, Any] = {"contact": {}, "event": {}}
    if contact is not None:
        ctx["contact"] = contact.as_context()
    if context:
        ctx["contact"].update(dict(context.get("contact") or {}))
        ctx["event"].update(dict(context.get("event") or {}))
    wanted = locale or (contact.locale if contact else None)
    state, events = it.start(ctx, channel=channel, locale=wanted, seed=seed)
    session = Session(
        survey_id=survey_id,
        version_id=version_id,
        channel=channel,
        locale=state.locale,
        status=state.status,
        state=state.to_dict(),
        step=state.step,
        contact_id=contact.id if contact else None,
        external_ref=external_ref,
        expires_at=expires_at,
        meta=dict(meta or {}),
    )
    db.session.add(session)
    db.session.flush()
    event_ctx = dict((context or {}).get("event") or {})
    response = Response(
        session_id=session.id,
        survey_id=survey_id,
        version_id=version_id,
        channel=channel,
        locale=state.locale,
        status="partial",
        contact_id=contact.id if contact else None,
        context={k: event_ctx[k] for k in ("id", "type", "data") if k in event_ctx} if event_ctx else {},
        event_id=str(event_ctx["id"]) if event_ctx.get("id") is not None else None,
        meta=dict(meta or {}),
    )
    db.session.add(response)
    db.session.flush()
    _persist_events(session, response, state, events)
    if commit:
        db.session.commit()
    return Turn(session, events)


def get_session(session_id: str, *, lock: bool = False) -> Session:
    if lock and db.engine.dialect.name == "postgresql":
        # Lock the row and read it fresh, even when this request loaded it before.
        stmt = select(Session).where(Session.id == session_id).with_for_update()
        session = db.session.scalar(stmt.execution_options(populate_existing=True))
    else:
        session = db.session.get(Session, session_id)
    if session is None:
        raise NotFound("no such session")
    return session


def find_session(channel: str, external_ref: str, *, active_only: bool = False) -> Session | None:
    stmt = select(Session).where(Session.channel == channel, Session.external_ref == external_ref)
    if active_only:
        stmt = stmt.where(Session.status == "active")
    return db.session.scalar(stmt.order_by(Session.created_at.desc()).limit(1))


def apply_input(session_id: str, inp: eng.Input, *, step: int | None = None) -> Turn:
    """Resume a session with one input and store what it produced. Commits.

    ``step`` is the step the client saw when it sent the input. When the session
    has already moved past it (a retried or duplicated request), nothing is
    stored again: the events of the first time are returned with ``duplicate``.
    """
    session = get_session(session_id, lock=True)
    if step is not None and step != session.step:
        turn = db.session.scalar(
            select(SessionTurn).where(SessionTurn.session_id == session.id, SessionTurn.step == step)
        )
        db.session.rollback()
        session = get_session(session_id)
        events = [_event_from_dict(e) for e in (turn.events if turn else [])]
        return Turn(session, events, duplicate=True)
    if session.status != "active":
        db.session.rollback()
        return Turn(get_session(session_id), [], duplicate=True)
    it = interview_for(session.version_id)
    seen_step = session.step
    answered_before = set((session.state or {}).get("answers") or {})
    try:
        state, events = it.resume(session.state, inp)
    except EngineError:
        db.session.rollback()
        raise
    response = session.response
    snapshot = state.to_dict()
    session.state = snapshot
    session.step = state.step
    session.status = state.status
    session.locale = state.locale
    db.session.add(
        SessionTurn(
            session_id=session.id,
            step=seen_step,
            input=_input_to_dict(inp),
            events=[_jsonable(e.to_dict()) for e in events],
        )
    )
    _persist_events(session, response, state, events, answered_before)
    try:
        db.session.commit()
    except IntegrityError:
        # A concurrent duplicate got there first: answer like a duplicate.
        db.session.rollback()
        return apply_input(session_id, inp, step=seen_step)
    return Turn(session, events, snapshot=snapshot)


def end_session(session_id: str, reason: str = "hangup") -> Turn:
    session = get_session(session_id)
    if session.status != "active":
        return Turn(session, [], duplicate=True)
    return apply_input(session_id, eng.HangUp(reason), step=session.step)


def annotate_response(session: Session, **meta: Any) -> None:
    """Add facts about the response (a call's duration, a page URL). Commits."""
    response = session.response
    merged = dict(response.meta or {})
    merged.update(meta)
    response.meta = merged
    db.session.commit()


def expire_sessions(channel: str | None = None, now: dt.datetime | None = None) -> int:
    """End active sessions past their expiry; their answers stay as a partial response."""
    now = now or utcnow()
    stmt = select(Session.id).where(Session.status == "active", Session.expires_at.is_not(None), Session.expires_at < now)
    if channel:
        stmt = stmt.where(Session.channel == channel)
    ids = list(db.session.scalars(stmt))
    for sid in ids:
        end_session(sid, reason="expired")
    return len(ids)


def _persist_events(
    session: Session,
    response: Response,
    state: eng.State,
    events: list[eng.Event],
    answered_before: set[str] | None = None,
) -> None:
    """Store what the events say. ``answered_before`` (the question ids the state held
    answers for before these events) spares looking for answer rows that cannot exist."""
    it = interview_for(session.version_id)
    added: dict[str, Answer] = {}

    def stored(qid: str) -> Answer | None:
        if qid in added:
            return added[qid]
        if answered_before is not None and qid not in answered_before:
            return None
        return db.session.scalar(select(Answer).where(Answer.response_id == response.id, Answer.question_id == qid))

    for ev in events:
        if isinstance(ev, eng.AnswerAccepted):
            q = it.question(ev.question_id)
            answer = stored(q.id)
            if answer is None:
                answer = Answer(
                    response_id=response.id,
                    survey_id=session.survey_id,
                    question_id=q.id,
                    question_type=q.type,
                    channel=session.channel,
                )
                db.session.add(answer)
                added[q.id] = answer
            _set_value(answer, q.type, ev.value)
            answer.raw = ev.raw
            answer.modality = ev.modality
            answer.confidence = ev.confidence
            answer.step = ev.step
            answer.extra = _jsonable(ev.extra or {})
            answer.answered_at = utcnow()
        elif isinstance(ev, eng.QuestionSkipped):
            existing = stored(ev.question_id)
            if existing is not None:
                added.pop(ev.question_id, None)
                if existing in db.session.new:
                    db.session.expunge(existing)
                else:
                    db.session.delete(existing)
        elif isinstance(ev, eng.SurveyCompleted):
            response.status = "complete"
            response.ended_at = utcnow()
        elif isinstance(ev, eng.SurveyEnded):
            response.status = ev.status
            response.ended_at = utcnow()
            meta = dict(response.meta or {})
            meta["end_reason"] = ev.reason
            response.meta = meta
    response.locale = state.locale
    db.session.flush()


def _set_value(answer: Answer, qtype: str, value: Any) -> None:
    answer.value_number = answer.value_bool = answer.value_text = answer.value_json = None
    if qtype == "yes_no":
        answer.value_bool = bool(value)
    elif qtype == "multiple_choice":
        answer.value_json = list(value or [])
    elif qtype in ("nps", "csat", "ces", "rating", "number"):
        answer.value_number = float(value) if value is not None else None
    else:
        answer.value_text = None if value is None else str(value)


_EVENT_TYPES = {
    cls.__name__: cls
    for cls in (
        eng.SurveyStarted, eng.QuestionAsked, eng.Reprompt, eng.ConfirmationRequested,
        eng.AnswerAccepted, eng.QuestionSkipped, eng.SurveyCompleted, eng.SurveyEnded,
    )
}


def _event_from_dict(data: Mapping[str, Any]) -> eng.Event:
    cls = _EVENT_TYPES[data["type"]]
    return cls(**{k: v for k, v in data.items() if k != "type"})


def _input_to_dict(inp: Any) -> dict[str, Any]:
    body = asdict(inp) if is_dataclass(inp) else {}
    return _jsonable({"type": type(inp).__name__, **body})


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


# -- API keys ------------------------------------------------------------------------------------


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_key(name: str) -> str:
    """Create an API key; the plain key is returned once and only its hash is stored."""
    name = name.strip()
    if not name:
        raise BadRequest("an API key needs a name")
    key = "fbk_" + secrets.token_urlsafe(32)
    db.session.add(ApiKey(name=name, prefix=key[:12], key_hash=_hash_key(key)))
    db.session.commit()
    return key


def verify_api_key(key: str) -> ApiKey | None:
    if not key:
        return None
    found = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash_key(key)))
    if found is None or found.revoked:
        return None
    now = utcnow()
    if found.last_used_at is None or (now - found.last_used_at).total_seconds() > 60:
        found.last_used_at = now
        db.session.commit()
    return found


def set_locale(session_id: str, locale: str) -> Session:
    """Switch a running session to another of its survey's locales. Commits."""
    session = get_session(session_id)
    it = interview_for(session.version_id)
    chosen = it.survey.pick_locale(locale)
    if session.status == "active" and chosen != session.locale:
        state = dict(session.state)
        state["locale"] = chosen
        session.state = state
        session.locale = chosen
        session.response.locale = chosen
        db.session.commit()
    return session
