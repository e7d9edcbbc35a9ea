"""The operations layer: the only code that writes to the store and commits.

Channels call these functions; they never touch the session or commit
themselves. Applying an input is idempotent per (session, step): a retried
request gets the events it got the first time and stores nothing twice.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, cast

import phonenumbers
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

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
    new_id,
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
    #: Surveys whose file went back to a version stored before (not new, yet changed).
    reverted: list[str] = field(default_factory=list)


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
        before = db.session.scalar(select(Survey.current_version_id).where(Survey.id == compiled.id))
        version, created = sync_survey(compiled, str(path))
        report.loaded.append((compiled.id, compiled.version, created))
        if not created and before is not None and before != version.id:
            report.reverted.append(compiled.id)
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


@dataclass(frozen=True)
class VersionRef:
    """Which version of a survey: what callers of :func:`current_version` use of the
    :class:`SurveyVersion` row (read once per version; the row's YAML is not needed)."""

    id: int
    survey_id: str
    content_hash: str
    source_path: str


_SURVEYS = Survey.__table__
_VERSIONS = SurveyVersion.__table__
_CURRENT = select(_SURVEYS.c.active, _SURVEYS.c.current_version_id).where(_SURVEYS.c.id == bindparam("b_id"))
_VERSION = select(_VERSIONS.c.survey_id, _VERSIONS.c.content_hash, _VERSIONS.c.source_path).where(
    _VERSIONS.c.id == bindparam("b_id")
)
_ACTIVE = (
    select(_SURVEYS.c.id, _SURVEYS.c.current_version_id)
    .where(_SURVEYS.c.active.is_(True), _SURVEYS.c.current_version_id.is_not(None))
    .order_by(_SURVEYS.c.id)
)


def version_ref(version_id: int) -> VersionRef:
    refs = _cache("versions")
    ref = refs.get(version_id)
    if ref is None:
        row = db.session.execute(_VERSION, {"b_id": version_id}).first()
        if row is None:
            raise NotFound(f"survey version {version_id} not found")
        ref = refs[version_id] = VersionRef(version_id, row.survey_id, row.content_hash, row.source_path or "")
    return ref


def current_version(survey_id: str) -> tuple[VersionRef, CompiledSurvey]:
    """The version of a survey new sessions use, and its compiled survey (one small query:
    a survey loaded again by another process is seen at once)."""
    row = db.session.execute(_CURRENT, {"b_id": survey_id}).first()
    if row is None or not row.active or row.current_version_id is None:
        raise NotFound(f"no survey '{survey_id}'")
    return version_ref(row.current_version_id), compiled_version(row.current_version_id)


def active_versions() -> tuple[tuple[str, int], ...]:
    """(survey id, current version id) of every active survey, by survey id."""
    return tuple((sid, vid) for sid, vid in db.session.execute(_ACTIVE).all())


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
    e164 = _e164(value, region)
    if e164 is None:
        raise BadRequest(f"'{raw}' is not a phone number")
    if not e164:
        raise BadRequest(f"'{raw}' is not a possible phone number")
    return e164


@functools.lru_cache(maxsize=8192)
def _e164(value: str, region: str | None) -> str | None:
    """The E.164 form of a number; "" when it cannot be a number, None when it does not
    parse (cached: the same callers and numbers come back on every webhook)."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


_CONTACT_BY_EXTERNAL_ID = select(Contact).where(Contact.external_id == bindparam("v"))
_CONTACT_BY_PHONE = select(Contact).where(Contact.phone == bindparam("v"))
_CONTACT_BY_EMAIL = select(Contact).where(Contact.email == bindparam("v"))


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
    Known fields are updated with what is given.

    A contact found by phone or email that has another external id is another person: a
    new contact is made for this external id instead. A phone or email another contact
    holds is never taken from it (the contact keeps its own, or none)."""
    e164 = normalize_phone(phone) if phone else None
    email_norm = email.strip().lower() if email else None
    contact = None
    if external_id:
        contact = db.session.scalar(_CONTACT_BY_EXTERNAL_ID, {"v": external_id})
    if contact is None and e164:
        contact = _same_person(db.session.scalar(_CONTACT_BY_PHONE, {"v": e164}), external_id)
    if contact is None and email_norm:
        contact = _same_person(_first_by_email(email_norm), external_id)
    if contact is None:
        contact = Contact(
            external_id=external_id,
            phone=e164 if e164 and _holder(_CONTACT_BY_PHONE, e164) is None else None,
            email=email_norm if email_norm and _first_by_email(email_norm) is None else None,
            attributes={},
        )
        db.session.add(contact)
    else:
        if external_id and not contact.external_id:
            contact.external_id = external_id
        if e164 and contact.phone != e164 and _holder(_CONTACT_BY_PHONE, e164) is None:
            contact.phone = e164
        if email_norm and contact.email != email_norm:
            holder = _first_by_email(email_norm)
            if holder is None or holder is contact:
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


def _same_person(found: Contact | None, external_id: str | None) -> Contact | None:
    """``found`` (by phone or email) unless it is known under another external id."""
    if found is not None and external_id and found.external_id and found.external_id != external_id:
        return None
    return found


def _holder(stmt: Any, value: str) -> Contact | None:
    return db.session.scalar(stmt, {"v": value})


def _first_by_email(email: str) -> Contact | None:
    return db.session.scalar(_CONTACT_BY_EMAIL.order_by(Contact.id).limit(1), {"v": email})


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


class Turn:
    """What starting a session or applying an input produced: the events, whether the input
    was a duplicate (nothing stored again), and the state as stored (``snapshot``, read
    without a query). ``session`` is the ORM row, loaded the first time it is asked for:
    the webhooks that answer from the snapshot never load it."""

    def __init__(
        self,
        session: Session | str,
        events: list[eng.Event],
        duplicate: bool = False,
        snapshot: dict[str, Any] | None = None,
        first_input: dict[str, Any] | None = None,
    ) -> None:
        if isinstance(session, str):
            self.session_id: str = session
            self._session: Session | None = None
        else:
            self.session_id, self._session = session.id, session
        self.events = events
        self.duplicate = duplicate
        #: The state as stored, kept so that reading it after the commit costs no query.
        self.snapshot = snapshot
        #: For a duplicate: the input stored the first time at that step (see
        #: :func:`input_record`), or None when the session never took one there.
        self.first_input = first_input

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = get_session(self.session_id)
        return self._session

    @property
    def state(self) -> eng.State:
        return eng.State.from_dict(self.snapshot if self.snapshot is not None else self.session.state)

    def __repr__(self) -> str:
        return f"Turn({self.session_id!r}, {self.events!r}, duplicate={self.duplicate})"


def commit_keeping(*objects: Any) -> None:
    """Commit, keeping the column values of ``objects`` loaded. They are what was just
    written, so reading them after the commit costs no query (a plain commit expires
    them and the next read of any attribute loads the row again)."""
    db.session.flush()
    saved = []
    for obj in objects:
        if obj is None:
            continue
        st = sa_inspect(obj)
        if st.deleted or st.detached or st.was_deleted:
            continue
        keys = st.mapper.column_attrs.keys()
        saved.append((obj, {k: obj.__dict__[k] for k in keys if k in obj.__dict__}))
    db.session.commit()
    for obj, values in saved:
        for key, value in values.items():
            set_committed_value(obj, key, value)


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
    then the caller's operation commits it together with what it adds; the rows are
    written already)."""
    db.session.flush()  # what the caller added (a new contact) is written first
    new = prepare_session(survey_id, channel, locale=locale, contact=contact, context=context,
                          external_ref=external_ref, expires_at=expires_at, meta=meta, version_id=version_id,
                          seed=seed)
    turn = insert_session(new)
    if commit:
        commit_keeping(turn.session, turn.session.response)
    return turn


@dataclass
class NewSession:
    """A session worked out by :func:`prepare_session` and not written yet: its row, its
    response's row, and what the engine said at the start."""

    session: dict[str, Any]
    response: dict[str, Any]
    state: eng.State
    events: list[eng.Event]
    snapshot: dict[str, Any]
    interview: eng.Interview

    @property
    def id(self) -> str:
        return str(self.session["id"])


def prepare_session(
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
) -> NewSession:
    """Start the interview in memory (nothing is written: see :func:`insert_session`). The
    contact, if any, must have its id already."""
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
    snapshot = state.to_dict()
    now = utcnow()
    contact_id = contact.id if contact else None
    session_values = {
        "id": new_id(), "survey_id": survey_id, "version_id": version_id, "channel": channel,
        "locale": state.locale, "status": state.status, "state": snapshot, "step": state.step,
        "contact_id": contact_id, "external_ref": external_ref, "expires_at": expires_at,
        "created_at": now, "updated_at": now, "meta": dict(meta or {}),
    }
    event_ctx = dict((context or {}).get("event") or {})
    response_values: dict[str, Any] = {
        "session_id": session_values["id"], "survey_id": survey_id, "version_id": version_id,
        "channel": channel, "locale": state.locale, "status": "partial", "contact_id": contact_id,
        "context": {k: event_ctx[k] for k in ("id", "type", "data") if k in event_ctx} if event_ctx else {},
        "event_id": str(event_ctx["id"]) if event_ctx.get("id") is not None else None,
        "meta": dict(meta or {}), "started_at": now, "ended_at": None, "updated_at": now,
    }
    start = _Row(response_meta=response_values["meta"], response_locale=state.locale)
    response_values.update(_response_changes(start, state, events, now))
    return NewSession(session_values, response_values, state, events, snapshot, it)


def insert_session(new: NewSession) -> Turn:
    """Write a prepared session and its response (two Core inserts, plus any answer the
    start accepted); the ORM rows are put in the database session as if they had been
    loaded, so callers read and change them as usual. Does not commit."""
    db.session.execute(_ADD_SESSION, new.session)
    response_pk = cast(CursorResult[Any], db.session.execute(_ADD_RESPONSE, new.response)).inserted_primary_key
    assert response_pk is not None  # set by every single-row insert
    response_id = response_pk[0]
    if any(isinstance(e, eng.AnswerAccepted | eng.QuestionSkipped) for e in new.events):
        row = _Row(response_id=response_id, survey_id=new.session["survey_id"], channel=new.session["channel"])
        _write_answers(_answer_writes(row, new.interview, new.events, set(), new.session["created_at"]))
    session = _attached(Session(**new.session))
    response = _attached(Response(id=response_id, **new.response))
    set_committed_value(session, "response", response)
    set_committed_value(response, "session", session)
    return Turn(session, new.events, snapshot=new.snapshot)


class _Row:
    """The few facts about a session the answer writers need (a stand-in for a row)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


_INSERTS: dict[Any, Any] = {}


def insert_row(model: Any, values: Mapping[str, Any]) -> Any:
    """Insert one row of ``model`` with a Core statement (no unit-of-work flush) and put
    it in the database session as if it had been loaded: callers read it (its id, its
    defaults) and change it as usual. Does not commit."""
    table = model.__table__
    stmt = _INSERTS.get(table)
    if stmt is None:
        stmt = _INSERTS[table] = insert(table)
    result = cast(CursorResult[Any], db.session.execute(stmt, dict(values)))
    written = result.last_inserted_params()
    pk = result.inserted_primary_key
    assert not isinstance(written, list) and pk is not None  # one row was inserted
    row = {c.key: written.get(c.key) for c in table.columns}
    for column, value in zip(table.primary_key.columns, pk, strict=True):
        row[column.key] = value
    return _attached(model(**row))


def _attached(obj: Any) -> Any:
    """``obj`` (inserted just now, every column set) in the session as a loaded row."""
    make_transient_to_detached(obj)
    db.session.add(obj)
    return obj


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


# Applying an input is the hot path of every channel (each answer is stored when it
# arrives), so it is written with prepared Core statements rather than the ORM's unit of
# work: one read of the session with its response, then the session's update, the turn,
# the answers and (when it changed) the response, in one transaction.
_S = Session.__table__
_R = Response.__table__
_T = SessionTurn.__table__
_A = Answer.__table__
_SESSION_KEYS = tuple(c.key for c in _S.columns)

_SESSION_ROW = (
    select(
        *_S.columns,
        _R.c.id.label("response_id"),
        _R.c.status.label("response_status"),
        _R.c.locale.label("response_locale"),
        _R.c.meta.label("response_meta"),
    )
    .select_from(_S.outerjoin(_R, _R.c.session_id == _S.c.id))
    .where(_S.c.id == bindparam("b_id"))
)
_ADD_SESSION = insert(_S)
_ADD_RESPONSE = insert(_R)
_TURN_EVENTS = select(_T.c.events, _T.c.input).where(_T.c.session_id == bindparam("b_id"), _T.c.step == bindparam("b_step"))
_SESSION_MOVES = (
    update(_S)
    .where(_S.c.id == bindparam("b_id"), _S.c.step == bindparam("b_step"))
    .values(state=bindparam("state"), step=bindparam("step"), status=bindparam("status"),
            locale=bindparam("locale"), updated_at=bindparam("updated_at"))
)
_SESSION_MOVES_WITH = {
    (expiry, meta): _SESSION_MOVES.values(
        **({"expires_at": bindparam("expires_at")} if expiry else {}), **({"meta": bindparam("meta")} if meta else {})
    )
    for expiry in (False, True)
    for meta in (False, True)
}
_ADD_TURN = insert(_T).values(
    session_id=bindparam("session_id"), step=bindparam("step"), input=bindparam("input"),
    events=bindparam("events"), created_at=bindparam("created_at"),
)
_ANSWER_VALUES = ("value_number", "value_bool", "value_text", "value_json", "raw", "modality", "confidence",
                  "step", "extra", "answered_at")
_ADD_ANSWER = insert(_A).values(
    response_id=bindparam("b_response"), question_id=bindparam("b_question"),
    survey_id=bindparam("survey_id"), question_type=bindparam("question_type"), channel=bindparam("channel"),
    **{k: bindparam(k) for k in _ANSWER_VALUES},
)
_CHANGE_ANSWER = (
    update(_A)
    .where(_A.c.response_id == bindparam("b_response"), _A.c.question_id == bindparam("b_question"))
    .values(**{k: bindparam(k) for k in _ANSWER_VALUES})
)
_DROP_ANSWER = delete(_A).where(_A.c.response_id == bindparam("b_response"), _A.c.question_id == bindparam("b_question"))


def session_row(session_id: str) -> Any | None:
    """The session's columns with its response's ``response_id``, ``response_status``,
    ``response_locale`` and ``response_meta``, read fresh in one query (a row, not an ORM
    object), or None."""
    return db.session.execute(_SESSION_ROW, {"b_id": session_id}).first()


def apply_input(
    session_id: str,
    inp: eng.Input,
    *,
    step: int | None = None,
    extend_to: dt.datetime | None = None,
    meta: Mapping[str, Any] | None = None,
    response_meta: Mapping[str, Any] | None = None,
    row: Any = None,
    commit: bool = True,
) -> Turn:
    """Resume a session with one input and store what it produced. Commits (unless
    ``commit=False``: then the caller's transaction holds the writes, and a duplicate
    rolls nothing back).

    ``step`` is the step the client saw when it sent the input. When the session
    has already moved past it (a retried or duplicated request), nothing is
    stored again: the events of the first time are returned with ``duplicate``.
    ``extend_to`` moves the session's expiry to that time in the same write (a chat or
    SMS conversation lives on while the customer answers); ``meta`` and ``response_meta``
    add keys to the session's and the response's meta in the same writes. ``row`` is the
    session as :func:`session_row` read it just now (spares reading it again).

    No row is locked: the session's update applies only while its step is still the one
    that was read, so when two requests race with the same input, one stores it and the
    other answers like a duplicate with the first one's events.
    """
    db.session.flush()  # what the caller changed (if anything) is written first
    if row is None:
        row = session_row(session_id)
    if row is None:
        raise NotFound("no such session")
    if step is not None and step != row.step:
        return _duplicate(session_id, step, row, rollback=commit)
    if row.status != "active":
        if commit:
            db.session.rollback()
        return Turn(session_id, [], duplicate=True, snapshot=row.state)
    if row.response_id is None:
        raise NotFound("this session has no response")
    it = interview_for(row.version_id)
    answered_before = set((row.state or {}).get("answers") or {})
    try:
        state, events = it.resume(row.state, inp)
    except EngineError:
        if commit:
            db.session.rollback()
        raise
    snapshot = state.to_dict()
    now = utcnow()
    moved = {"b_id": session_id, "b_step": row.step, "state": snapshot, "step": state.step,
             "status": state.status, "locale": state.locale, "updated_at": now}
    if extend_to is not None:
        moved["expires_at"] = extend_to
    if meta:
        moved["meta"] = {**dict(row.meta or {}), **meta}
    # Everything is worked out before the first write: SQLite lets one transaction write at
    # a time, from its first write to its commit, so that stretch is kept short.
    stmt = _SESSION_MOVES_WITH[extend_to is not None, bool(meta)]
    turn_row = {"session_id": session_id, "step": row.step, "input": _input_to_dict(inp),
                "events": [_jsonable(e.to_dict()) for e in events], "created_at": now}
    answers = _answer_writes(row, it, events, answered_before, now)
    changed = _response_changes(row, state, events, now, response_meta)
    response_update = update(_R).where(_R.c.id == row.response_id).values(**changed) if changed else None
    try:
        if cast(CursorResult[Any], db.session.execute(stmt, moved)).rowcount != 1:
            # Another request applied an input at this step just now: this one is its twin
            # (nothing was written yet).
            return _duplicate(session_id, row.step, rollback=commit)
        db.session.execute(_ADD_TURN, turn_row)
        _write_answers(answers)
        if response_update is not None:
            db.session.execute(response_update)
        if not commit:
            return Turn(session_id, events, snapshot=snapshot)
        db.session.commit()
    except IntegrityError:
        if not commit:
            raise
        # A concurrent duplicate got there first (its turn at this step is stored): answer
        # like a duplicate, with its events.
        db.session.rollback()
        fresh = session_row(session_id)
        if fresh is None or not _turn_stored(session_id, row.step):
            raise  # no other request applied this step: a real error, not a duplicate
        return _duplicate(session_id, row.step, fresh)
    loaded = db.session.identity_map.get(identity_key(Session, session_id))
    if loaded is not None:
        # The caller's ORM row of this session now reads what was stored, without a query.
        values = {k: row._mapping[k] for k in _SESSION_KEYS}
        values.update(state=snapshot, step=state.step, status=state.status, locale=state.locale, updated_at=now)
        if extend_to is not None:
            values["expires_at"] = extend_to
        if meta:
            values["meta"] = moved["meta"]
        for key, value in values.items():
            set_committed_value(loaded, key, value)
    return Turn(session_id, events, snapshot=snapshot)


def _turn_stored(session_id: str, step: int) -> bool:
    return db.session.execute(_TURN_EVENTS, {"b_id": session_id, "b_step": step}).first() is not None


def start_with_input(survey_id: str, channel: str, inp: eng.Input, *, external_ref: str, **start: Any) -> Turn:
    """Start a session and apply its first input in one transaction, so that its response
    begins with its first answer (a page view, a link scanner or a bounce stores nothing).
    ``external_ref`` names the one session of a link: when another request started it
    just now, the input is applied to that session instead (a duplicate of the same
    input gets the first one's events, and nothing is stored twice). Commits."""
    try:
        begun = start_session(survey_id, channel, external_ref=external_ref, commit=False, **start)
        turn = apply_input(begun.session_id, inp, step=begun.state.step, commit=False)
        db.session.commit()
        return Turn(turn.session_id, begun.events + turn.events, snapshot=turn.snapshot)
    except IntegrityError:
        db.session.rollback()
        existing = find_session(channel, external_ref)
        if existing is None:
            raise
    return apply_input(existing.id, inp, step=0)


def _duplicate(session_id: str, step: int, row: Any = None, rollback: bool = True) -> Turn:
    """A repeated input: the events stored the first time (none when the session never
    reached that step), with the session as it is now. Nothing is stored; with
    ``rollback`` what the caller had changed is dropped too."""
    if rollback:
        db.session.rollback()
    if row is None:
        row = session_row(session_id)
        if row is None:
            raise NotFound("no such session")
    stored = db.session.execute(_TURN_EVENTS, {"b_id": session_id, "b_step": step}).first()
    if rollback:
        db.session.rollback()
    events = [_event_from_dict(e) for e in (stored.events or [])] if stored is not None else []
    return Turn(session_id, events, duplicate=True, snapshot=row.state,
                first_input=dict(stored.input or {}) if stored is not None else None)


def _answer_writes(row: Any, it: eng.Interview, events: list[eng.Event], answered_before: set[str],
                   now: dt.datetime) -> list[tuple[str, dict[str, Any]]]:
    """The answer rows the events accept or take back: ``("add" | "change" | "drop", values)``.
    A row exists only for questions the state had answers for (``answered_before``)."""
    final: dict[str, dict[str, Any] | None] = {}
    for ev in events:
        if isinstance(ev, eng.AnswerAccepted):
            q = it.question(ev.question_id)
            values = _typed_value(q.type, ev.value)
            values.update(raw=ev.raw, modality=ev.modality, confidence=ev.confidence, step=ev.step,
                          extra=_jsonable(ev.extra or {}), answered_at=now, question_type=q.type)
            final[q.id] = values
        elif isinstance(ev, eng.QuestionSkipped):
            final[ev.question_id] = None
    out: list[tuple[str, dict[str, Any]]] = []
    for qid, answer in final.items():
        key = {"b_response": row.response_id, "b_question": qid}
        if answer is None:
            if qid in answered_before:
                out.append(("drop", key))
            continue
        out.append(("change" if qid in answered_before else "add",
                    {**key, **answer, "survey_id": row.survey_id, "channel": row.channel}))
    return out


def _write_answers(writes: list[tuple[str, dict[str, Any]]]) -> None:
    for kind, values in writes:
        if kind == "drop":
            db.session.execute(_DROP_ANSWER, values)
            continue
        if kind == "change":
            changed = {k: values[k] for k in ("b_response", "b_question", *_ANSWER_VALUES)}
            if cast(CursorResult[Any], db.session.execute(_CHANGE_ANSWER, changed)).rowcount:
                continue
        db.session.execute(_ADD_ANSWER, values)


def _response_changes(row: Any, state: eng.State, events: list[eng.Event], now: dt.datetime,
                      meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if meta:
        out["meta"] = {**dict(row.response_meta or {}), **meta}
    for ev in events:
        if isinstance(ev, eng.SurveyCompleted):
            out.update(status="complete", ended_at=now)
        elif isinstance(ev, eng.SurveyEnded):
            merged = dict(out.get("meta", row.response_meta) or {})
            merged["end_reason"] = ev.reason
            out.update(status=ev.status, ended_at=now, meta=merged)
    if state.locale != row.response_locale:
        out["locale"] = state.locale
    if out:
        out["updated_at"] = now
    return out


def end_session(session_id: str, reason: str = "hangup") -> Turn:
    db.session.flush()
    row = session_row(session_id)
    if row is None:
        raise NotFound("no such session")
    if row.status != "active":
        return Turn(session_id, [], duplicate=True, snapshot=row.state)
    return apply_input(session_id, eng.HangUp(reason), step=row.step, row=row)


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
    """Store what the events say through the ORM (a session's start, a late answer; the
    caller flushes or commits). ``answered_before`` (the question ids the state held
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
                if response.id is None:
                    db.session.flush()  # the answer needs the response's id
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
    if response.locale != state.locale:
        response.locale = state.locale


def _typed_value(qtype: str, value: Any) -> dict[str, Any]:
    """The typed value columns of an answer (see :func:`_set_value`)."""
    out: dict[str, Any] = {"value_number": None, "value_bool": None, "value_text": None, "value_json": None}
    if qtype == "yes_no":
        out["value_bool"] = bool(value)
    elif qtype == "multiple_choice":
        out["value_json"] = list(value or [])
    elif qtype in ("nps", "csat", "ces", "rating", "number"):
        out["value_number"] = float(value) if value is not None else None
    else:
        out["value_text"] = None if value is None else str(value)
    return out


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
    body = asdict(inp) if is_dataclass(inp) and not isinstance(inp, type) else {}
    return _jsonable({"type": type(inp).__name__, **body})


#: How an input is stored with its turn (two inputs are the same when their records are).
input_record = _input_to_dict


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


def replace_api_key(name: str) -> str:
    """A new key named ``name`` in place of the keys of that name (the demo key of
    ``make run``: one key, however many times it runs). Commits."""
    db.session.execute(delete(ApiKey).where(ApiKey.name == name.strip()))
    return create_api_key(name)


_KEYS = ApiKey.__table__
_KEY_BY_HASH = select(*_KEYS.columns).where(_KEYS.c.key_hash == bindparam("b_hash"))
_KEY_USED = (
    update(_KEYS)
    .where(_KEYS.c.id == bindparam("b_id"),
           (_KEYS.c.last_used_at.is_(None)) | (_KEYS.c.last_used_at < bindparam("b_before")))
    .values(last_used_at=bindparam("last_used_at"))
)
#: A key's last use is written at most this often (seconds), not on every request.
KEY_USE_PRECISION = 60


def verify_api_key(key: str) -> ApiKey | None:
    """The unrevoked key with this secret, or None. Its ``last_used_at`` is kept to the
    minute: written at most once a minute, in a small transaction of its own that never
    fails the request (a busy database only delays the record)."""
    if not key:
        return None
    row = db.session.execute(_KEY_BY_HASH, {"b_hash": _hash_key(key)}).first()
    if row is None or row.revoked:
        return None
    now = utcnow()
    values = dict(row._mapping)
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > KEY_USE_PRECISION:
        try:
            db.session.execute(_KEY_USED, {"b_id": row.id, "b_before": now - dt.timedelta(seconds=KEY_USE_PRECISION),
                                           "last_used_at": now})
            db.session.commit()
            values["last_used_at"] = now
        except OperationalError:
            db.session.rollback()
            log.warning("could not record the use of API key %s (the database is busy); the request goes on",
                        row.prefix)
    return loaded(ApiKey, values)


def loaded(model: Any, values: Mapping[str, Any]) -> Any:
    """The ORM object of a row read with Core (every column in ``values``): the one the
    database session holds already, else a new one put in it as if loaded, no query."""
    mapper = sa_inspect(model)
    key = identity_key(model, tuple(values[c.key] for c in mapper.primary_key))
    found = db.session.identity_map.get(key)
    if found is not None:
        return found
    return _attached(model(**{c.key: values[c.key] for c in model.__table__.columns}))


def locale_key(code: str) -> str:
    """A locale code as compared: ``zh_CN``, ``zh-cn`` and ``zh-CN`` are one locale."""
    return code.strip().replace("_", "-").lower()


def match_locale(locales: Iterable[str], wanted: Any) -> str | None:
    """The one of ``locales`` that ``wanted`` names (the same code in any case or with
    ``_``, else the same language: ``zh`` or ``zh-TW`` for ``zh-CN``), or None."""
    if not wanted or not isinstance(wanted, str) or len(wanted) > 35:
        return None
    norm = locale_key(wanted)
    if not norm:
        return None
    locales = list(locales)
    for loc in locales:
        if locale_key(loc) == norm:
            return loc
    base = norm.split("-")[0]
    for loc in locales:
        if locale_key(loc).split("-")[0] == base:
            return loc
    return None


def set_locale(session_id: str, locale: str) -> Session:
    """Switch a running session to another of its survey's locales. Commits."""
    session = get_session(session_id)
    it = interview_for(session.version_id)
    chosen = match_locale(it.survey.all_locales, locale) or it.survey.default_locale
    if session.status == "active" and chosen != session.locale:
        state = dict(session.state)
        state["locale"] = chosen
        session.state = state
        session.locale = chosen
        session.response.locale = chosen
        db.session.commit()
    return session
