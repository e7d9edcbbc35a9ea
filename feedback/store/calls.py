"""Operations for phone calls (the IVR channel). Like :mod:`feedback.store.operations`,
these functions are the only code that writes call data, and each commits.

A call is a :class:`CallAttempt` (inbound or outbound; every attempt is kept) and,
once the caller is talking to the survey, an ``ivr`` session whose ``external_ref``
is the CallSid. Twilio's callbacks can be duplicated, late or out of order:

* the status only moves forward (``ringing`` after ``completed`` changes nothing), and
  the final outcome is decided once, so one busy signal schedules one retry;
* an answer whose webhook arrives after the ``completed`` status callback closed the
  session (a caller who hangs up while recording, say) is still stored: the session
  keeps the state it had when it was closed, and the late answer is applied to it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from feedback.engine import interview as eng
from feedback.errors import BadRequest, Forbidden, NotFound

from . import operations as ops
from .models import Answer, CallAttempt, Contact, Response, Session, SessionTurn, db, utcnow

log = logging.getLogger(__name__)

#: Outcomes after which a call attempt never changes status again.
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled", "machine"})
#: Progress of a live call; a status callback never moves an attempt backwards.
_PROGRESS = {"scheduled": 0, "dialing": 1, "queued": 2, "initiated": 3, "ringing": 4, "in-progress": 5}
MACHINE_ANSWERS = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}
)
#: How long an unfinished phone session stays open when Twilio never reports the end.
SESSION_TTL = dt.timedelta(hours=2)


@dataclass
class CallTurn:
    """What a call's webhook needs to answer, read before the commit (so no query after)."""

    session_id: str
    version_id: int
    step: int
    state: eng.State
    events: list[eng.Event]
    duplicate: bool = False

    @classmethod
    def of(cls, session: Session, events: list[eng.Event], duplicate: bool = False,
           state: dict[str, Any] | None = None) -> CallTurn:
        st = eng.State.from_dict(state if state is not None else session.state)
        return cls(session.id, session.version_id, st.step, st, events, duplicate)


def is_machine(answered_by: str | None) -> bool:
    return (answered_by or "").strip().lower() in MACHINE_ANSWERS


# -- finding surveys and calls ------------------------------------------------------------------


def ivr_numbers() -> dict[str, tuple[str, int, str | None]]:
    """Called number (E.164) -> (survey id, current version id, locale of that number) for
    the active IVR surveys."""
    key = ops.active_versions()
    cache = ops._cache("ivr_numbers")
    found = cache.get(key)
    if found is not None:
        return found
    from feedback.definition.model import IvrNumber

    table: dict[str, tuple[str, int, str | None]] = {}
    for sid, vid in key:
        survey = ops.compiled_version(vid).survey
        if "ivr" not in survey.channels:
            continue
        for entry in survey.ivr.numbers:
            number, locale = (entry.number, entry.locale) if isinstance(entry, IvrNumber) else (entry, None)
            if number in table and table[number][0] != sid:
                log.warning("number %s is mapped by %s and %s; calls go to %s", number, table[number][0], sid,
                            table[number][0])
                continue
            table[number] = (sid, vid, locale)
    cache.clear()
    cache[key] = table
    return table


_CALL_BY_SID = select(CallAttempt.__table__.c.id).where(CallAttempt.__table__.c.call_sid == bindparam("b_sid"))


def call_recorded(call_sid: str) -> bool:
    """Whether a call with this CallSid is stored (one small query, no ORM row)."""
    return db.session.execute(_CALL_BY_SID, {"b_sid": call_sid}).first() is not None


def find_attempt(*, attempt_id: int | None = None, call_sid: str | None = None) -> CallAttempt | None:
    """The call attempt by id (checked against the CallSid when both are known) or CallSid."""
    if attempt_id is not None:
        attempt = db.session.get(CallAttempt, attempt_id)
        if attempt is not None and call_sid and attempt.call_sid and attempt.call_sid != call_sid:
            return None
        return attempt
    if call_sid:
        return db.session.scalar(select(CallAttempt).where(CallAttempt.call_sid == call_sid))
    return None


def group_attempts(group_id: int) -> list[CallAttempt]:
    return list(
        db.session.scalars(select(CallAttempt).where(CallAttempt.group_id == group_id).order_by(CallAttempt.id))
    )


def _contact_by_phone(phone: str | None) -> Contact | None:
    if not phone:
        return None
    try:
        return ops.find_or_create_contact(phone=phone, commit=False)
    except BadRequest:
        return None  # "anonymous", a SIP address, a client name: no contact


# -- starting a call ------------------------------------------------------------------------------


_CALLS = CallAttempt.__table__
_ADD_ATTEMPT = insert(_CALLS)
_LINK_ATTEMPT = (
    update(_CALLS)
    .where(_CALLS.c.id == bindparam("b_id"), _CALLS.c.session_id.is_(None))
    .values(session_id=bindparam("session_id"), locale=bindparam("locale"), updated_at=bindparam("updated_at"))
)


def start_inbound_call(
    *,
    call_sid: str,
    survey_id: str,
    version_id: int,
    from_number: str | None,
    to_number: str | None,
    number_locale: str | None,
    pick_locale: Callable[[Contact | None], str | None],
) -> tuple[CallAttempt | None, CallTurn | None]:
    """Record an inbound call (the caller becomes a contact by their number) and, when
    ``pick_locale`` knows the language, start its survey, all in one transaction.

    Returns (attempt, turn); turn is None when the caller must pick a language first.
    Returns (None, None) when the same webhook arrived twice at once and the other
    request stored the call: then use :func:`find_attempt`. Commits."""
    for _ in range(3):
        try:
            contact = _contact_by_phone(from_number)
        except IntegrityError:
            # The caller became a contact in another call at this very moment (a first
            # call placed twice at once): the next round finds that contact.
            db.session.rollback()
            continue
        meta: dict[str, Any] = {"version_id": version_id}
        if number_locale:
            meta["number_locale"] = number_locale
        now = utcnow()
        values: dict[str, Any] = {
            "survey_id": survey_id, "contact_id": contact.id if contact else None, "session_id": None,
            "direction": "inbound", "call_sid": call_sid, "to_number": (to_number or "")[:32],
            "from_number": (from_number or "")[:32] or None, "attempt_no": 1, "group_id": None,
            "status": "in-progress", "answered_by": None, "duration": None, "error": None, "locale": None,
            "context": {}, "scheduled_for": None, "created_at": now, "updated_at": now, "meta": meta,
        }
        locale = pick_locale(contact)
        # The survey is started in memory first; then the writes follow one another.
        new = _prepare_call_session(values, contact, version_id=version_id, locale=locale) if locale else None
        try:
            attempt_pk = cast(CursorResult[Any], db.session.execute(_ADD_ATTEMPT, values)).inserted_primary_key
            assert attempt_pk is not None  # set by every single-row insert
            attempt_id = attempt_pk[0]
            turn = None
            if new is not None:
                turn = _insert_call_session(new, attempt_id, version_id)
                db.session.execute(_LINK_ATTEMPT, {"b_id": attempt_id, "session_id": new.id, "locale": locale,
                                                   "updated_at": now})
                values.update(session_id=new.id, locale=locale)
            attempt = ops._attached(CallAttempt(id=attempt_id, **values))
            ops.commit_keeping(attempt)
            return attempt, turn
        except IntegrityError:
            # The same webhook arrived twice at once, or the caller became a contact in
            # another call just now: try again, or let the caller use what is stored.
            db.session.rollback()
            if find_attempt(call_sid=call_sid) is not None:
                return None, None
    raise BadRequest("could not record the call")


def answer_outbound_call(attempt: CallAttempt, *, call_sid: str, answered_by: str | None, version_id: int) -> None:
    """The outbound call was answered (by a person or a machine). Commits."""
    if not attempt.call_sid and call_sid:
        attempt.call_sid = call_sid
    if answered_by and not attempt.answered_by:
        attempt.answered_by = answered_by[:32]
    meta = dict(attempt.meta or {})
    meta.setdefault("version_id", version_id)
    attempt.meta = meta
    if attempt.status not in FINAL_STATUSES and _PROGRESS.get(attempt.status, -1) < _PROGRESS["in-progress"]:
        attempt.status = "in-progress"
    db.session.commit()


def pinned_version(attempt: CallAttempt) -> int | None:
    value = (attempt.meta or {}).get("version_id")
    return int(value) if isinstance(value, int) else None


def call_locale(attempt: CallAttempt) -> str | None:
    return attempt.locale


def _prepare_call_session(
    attempt: dict[str, Any], contact: Contact | None, *, version_id: int, locale: str
) -> ops.NewSession:
    """The survey of a call, started in memory (``attempt`` holds the call's columns)."""
    meta: dict[str, Any] = {
        k: v for k, v in (attempt["meta"] or {}).items() if k not in ("version_id", "number_locale", "deferred")
    }
    meta.update({"call_sid": attempt["call_sid"], "direction": attempt["direction"],
                 "call_attempt_id": attempt.get("id")})
    return ops.prepare_session(
        attempt["survey_id"],
        "ivr",
        locale=locale,
        contact=contact,
        context=attempt["context"] or None,
        external_ref=attempt["call_sid"],
        expires_at=utcnow() + SESSION_TTL,
        meta=meta,
        version_id=version_id,
    )


def _insert_call_session(new: ops.NewSession, attempt_id: int, version_id: int) -> CallTurn:
    """Write the survey of a call and the job that closes it if Twilio never reports the
    end (the caller links the attempt and commits)."""
    from feedback import jobs

    for row in (new.session, new.response):
        row["meta"]["call_attempt_id"] = attempt_id
    turn = ops.insert_session(new)
    jobs.schedule("close_stale_call", new.id, run_at=new.session["expires_at"])
    return CallTurn(new.id, version_id, 0, turn.state, turn.events)


def _attempt_values(attempt: CallAttempt) -> dict[str, Any]:
    return {"id": attempt.id, "survey_id": attempt.survey_id, "meta": attempt.meta, "call_sid": attempt.call_sid,
            "direction": attempt.direction, "context": attempt.context}


def _started(session_id: str) -> CallTurn:
    """The session a repeated webhook finds already started."""
    return CallTurn.of(ops.get_session(session_id), [], duplicate=True)


def start_call_session(
    attempt: CallAttempt, *, version_id: int, locale: str, remember_locale: bool = False
) -> CallTurn:
    """Start the survey of a call recorded before (outbound, or after the language menu);
    once: a repeated webhook gets the session already started, marked duplicate. Commits."""
    if attempt.session_id:
        return _started(attempt.session_id)
    contact = db.session.get(Contact, attempt.contact_id) if attempt.contact_id else None
    if remember_locale and contact is not None and not contact.locale:
        contact.locale = locale
    attempt_id = attempt.id
    new = _prepare_call_session(_attempt_values(attempt), contact, version_id=version_id, locale=locale)
    db.session.flush()  # the contact's language, if it changed
    turn = _insert_call_session(new, attempt_id, version_id)
    claimed = cast(CursorResult[Any], db.session.execute(
        _LINK_ATTEMPT, {"b_id": attempt_id, "session_id": new.id, "locale": locale, "updated_at": utcnow()}
    )).rowcount
    if not claimed:
        # The same webhook is being answered by another request: use its session.
        db.session.rollback()
        fresh = db.session.get(CallAttempt, attempt_id)
        assert fresh is not None and fresh.session_id
        return _started(fresh.session_id)
    db.session.commit()
    return turn


# -- answers ----------------------------------------------------------------------------------------


def apply_call_input(session_id: str, inp: eng.Input, *, step: int, call_sid: str | None) -> CallTurn:
    """Apply what the caller keyed or said at ``step``. Idempotent per (session, step);
    a request for another call's session is refused. Commits."""
    row = ops.session_row(session_id)
    if row is None or row.channel != "ivr":
        raise NotFound("no such call session")
    if not call_sid or row.external_ref != call_sid:
        raise Forbidden("this webhook does not belong to the call of that session")
    closed = (row.meta or {}).get("closed_state")
    if row.status != "active" and isinstance(closed, dict) and closed.get("step") == step:
        session = db.session.get(Session, session_id, options=[joinedload(Session.response)])
        late = _apply_late_input(session, closed, inp, step) if session is not None else None
        if late is not None:
            return late
        row = None  # read it again: the late path may have rolled back
    turn = ops.apply_input(session_id, inp, step=step, row=row)
    state = turn.state
    return CallTurn(session_id, turn.session.version_id if row is None else row.version_id, state.step, state,
                    turn.events, turn.duplicate)


def _apply_late_input(session: Session, closed: dict[str, Any], inp: eng.Input, step: int) -> CallTurn | None:
    """An answer that arrives after the call's end closed the session: apply it to the
    state the session had then, and close it again after it."""
    if isinstance(inp, eng.NoInput | eng.HangUp):
        return None
    hangup_turn = db.session.scalar(
        select(SessionTurn).where(SessionTurn.session_id == session.id, SessionTurn.step == step)
    )
    if hangup_turn is None or (hangup_turn.input or {}).get("type") != "HangUp":
        return None
    it = ops.interview_for(session.version_id)
    try:
        state, events = it.resume(closed, inp)
    except Exception:  # noqa: BLE001 - a late input that does not fit is dropped, not fatal
        log.warning("late input for session %s at step %s could not be applied", session.id, step)
        return None
    reason = "hangup"
    end_events: list[eng.Event] = []
    final = state
    if state.status == "active":
        final, end_events = it.resume(state, eng.HangUp(reason))
    hangup_turn.input = ops._input_to_dict(inp)
    hangup_turn.events = [ops._jsonable(e.to_dict()) for e in events]
    if end_events:
        db.session.add(
            SessionTurn(
                session_id=session.id, step=step + 1, input=ops._input_to_dict(eng.HangUp(reason)),
                events=[ops._jsonable(e.to_dict()) for e in end_events],
            )
        )
    response = session.response
    meta = dict(session.meta or {})
    meta["closed_state"] = state.to_dict() if end_events else None
    session.meta = meta
    session.state = final.to_dict()
    session.step = final.step
    session.status = final.status
    if final.status == "complete":
        rmeta = dict(response.meta or {})
        rmeta.pop("end_reason", None)
        response.meta = rmeta
    ops._persist_events(session, response, final, events + end_events)
    result = CallTurn(session.id, session.version_id, final.step, final, events)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    log.info("stored a late answer for session %s (step %s)", result.session_id, step)
    return result


def close_call_session(session_id: str, reason: str = "hangup") -> None:
    """End a call's session (answers so far stay as a partial response), keeping the state
    it had so that an answer arriving late can still be stored. Commits."""
    for _ in range(3):
        row = ops.session_row(session_id)
        if row is None or row.status != "active":
            return
        turn = ops.apply_input(session_id, eng.HangUp(reason), step=row.step, row=row,
                               meta={"closed_state": dict(row.state)})
        if not turn.duplicate:
            return
        # An answer moved the session on at the same moment: close it after that answer.


def record_transcription(
    session_id: str, question_id: str, *, call_sid: str | None, text: str, status: str, recording_url: str | None
) -> bool:
    """Keep Twilio's transcription of a recorded answer on that answer (it usually arrives
    after the call). The answer's value becomes the transcription when it had none. Commits."""
    session = db.session.get(Session, session_id)
    if session is None or session.channel != "ivr":
        return False
    if not call_sid or session.external_ref != call_sid:
        raise Forbidden("this transcription does not belong to the call of that session")
    answer = db.session.scalar(
        select(Answer).join(Response, Answer.response_id == Response.id).where(
            Response.session_id == session_id, Answer.question_id == question_id
        )
    )
    if answer is None:
        return False
    extra = dict(answer.extra or {})
    if recording_url and extra.get("recording_url") and recording_url != extra["recording_url"]:
        # A transcription of another recording (an earlier attempt at the question).
        return False
    extra["transcription_status"] = status
    if status == "completed":
        extra["transcription"] = text
        if not (answer.value_text or "").strip() and answer.question_type == "text":
            answer.value_text = text
    answer.extra = extra
    db.session.commit()
    return True


# -- call status ---------------------------------------------------------------------------------


_CALL = CallAttempt.__table__
_CALL_COLUMNS = select(_CALL.c.id, _CALL.c.call_sid, _CALL.c.answered_by, _CALL.c.status, _CALL.c.duration,
                       _CALL.c.session_id, _CALL.c.direction)
_CALL_BY_ID = _CALL_COLUMNS.where(_CALL.c.id == bindparam("b_id"))
_CALL_ROW_BY_SID = _CALL_COLUMNS.where(_CALL.c.call_sid == bindparam("b_sid"))
_CALL_ENDS = (
    update(_CALL)
    .where(_CALL.c.id == bindparam("b_id"), _CALL.c.status.not_in(FINAL_STATUSES))
    .values(status=bindparam("status"), duration=bindparam("duration"), updated_at=bindparam("updated_at"))
)


def record_call_status(
    *,
    call_sid: str | None,
    status: str,
    attempt_id: int | None = None,
    duration: int | None = None,
    answered_by: str | None = None,
    error: str | None = None,
    plan_retry: Callable[[CallAttempt], dt.datetime | None] | None = None,
) -> tuple[int | None, bool]:
    """Record a status callback. Returns (the attempt's id, whether this callback ended
    the call).

    The status only moves forward; the final outcome (``completed``, ``busy``,
    ``no-answer``, ``failed``, ``canceled``, or ``machine`` for a call answered by a
    machine) is set once. Then the call's session is closed (partial unless it was
    complete), the call duration goes on the response, and ``plan_retry`` may ask for
    another attempt. Commits."""
    status = (status or "").strip().lower()
    if attempt_id is not None:
        call = db.session.execute(_CALL_BY_ID, {"b_id": attempt_id}).first()
        if call is not None and call_sid and call.call_sid and call.call_sid != call_sid:
            call = None
    else:
        call = db.session.execute(_CALL_ROW_BY_SID, {"b_sid": call_sid}).first() if call_sid else None
    if call is None and attempt_id is not None and call_sid:
        return None, False  # the attempt id and the CallSid disagree: ignore
    ended = False
    attempt: CallAttempt | None = None
    if call is not None:
        now = utcnow()
        changes: dict[str, Any] = {}
        if not call.call_sid and call_sid:
            changes["call_sid"] = call_sid
        answered = call.answered_by
        if answered_by and not call.answered_by:
            answered = changes["answered_by"] = answered_by[:32]
        if error:
            changes["error"] = error[:2000]
        if status in FINAL_STATUSES:
            outcome = "machine" if status == "completed" and is_machine(answered) else status
            # Decided once, whatever the duplicates racing this one do.
            ended = bool(cast(CursorResult[Any], db.session.execute(
                _CALL_ENDS, {"b_id": call.id, "status": outcome, "duration": duration, "updated_at": now}
            )).rowcount)
            if not ended and duration is not None and call.duration is None:
                changes["duration"] = duration
        elif status in _PROGRESS and call.status not in FINAL_STATUSES:
            if _PROGRESS[status] > _PROGRESS.get(call.status, -1):
                changes["status"] = status
        if changes:
            db.session.execute(update(_CALL).where(_CALL.c.id == call.id).values(**changes, updated_at=now))
        session_id = call.session_id
        if ended and plan_retry is not None and call.direction == "outbound":
            attempt = db.session.get(CallAttempt, call.id, populate_existing=True)
    else:
        found = ops.find_session("ivr", call_sid) if call_sid else None
        session_id = found.id if found is not None else None
        ended = status in FINAL_STATUSES
    retry_at = plan_retry(attempt) if attempt is not None and plan_retry is not None else None
    close_later = False
    if status in FINAL_STATUSES and session_id:
        row = ops.session_row(session_id)
        if row is not None and row.response_id is not None:
            facts: dict[str, Any] = {}
            if ended or "call_duration" not in (row.response_meta or {}):
                facts["call_status"] = status
                if duration is not None:
                    facts["call_duration"] = duration
            closed = None
            if row.status == "active":
                # The call is over: close its session (answers so far stay as a partial
                # response), keeping the state it had for an answer that arrives late,
                # with the call's facts on the response, in this same transaction.
                closed = ops.apply_input(session_id, eng.HangUp("hangup"), step=row.step, row=row, commit=False,
                                         meta={"closed_state": dict(row.state)}, response_meta=facts)
                close_later = closed.duplicate  # an answer moved the session on just now
            if (closed is None or closed.duplicate) and facts:
                meta = {**dict(row.response_meta or {}), **facts}
                db.session.execute(
                    update(ops._R).where(ops._R.c.id == row.response_id).values(meta=meta, updated_at=utcnow())
                )
    if retry_at is not None and attempt is not None:
        _add_retry(attempt, retry_at)
    db.session.commit()
    if close_later and session_id:
        close_call_session(session_id, reason="hangup")
    return (call.id if call is not None else None), ended


# -- outbound -----------------------------------------------------------------------------------


def create_outbound_attempt(
    *,
    survey_id: str,
    phone: str,
    contact: Contact,
    context: Mapping[str, Any] | None,
    meta: Mapping[str, Any] | None,
    locale: str | None,
    run_at: dt.datetime,
    deferred: str | None = None,
) -> CallAttempt:
    """A scheduled outbound call and the job that places it, in one transaction. Commits.
    ``deferred`` says why it waits (kept in the attempt's meta, not passed to the survey)."""
    from feedback import jobs

    attempt = CallAttempt(
        survey_id=survey_id,
        contact_id=contact.id,
        direction="outbound",
        to_number=phone,
        attempt_no=1,
        status="scheduled",
        locale=locale,
        context=ops._jsonable(dict(context or {})),
        meta=ops._jsonable({**dict(meta or {}), **({"deferred": deferred} if deferred else {})}),
        scheduled_for=run_at,
    )
    db.session.add(attempt)
    db.session.flush()
    attempt.group_id = attempt.id
    jobs.schedule("place_call", attempt.id, run_at=run_at, dedupe_key=f"place_call:{attempt.id}", max_attempts=3)
    db.session.commit()
    return attempt


def _add_retry(attempt: CallAttempt, run_at: dt.datetime) -> CallAttempt:
    from feedback import jobs

    retry = CallAttempt(
        survey_id=attempt.survey_id,
        contact_id=attempt.contact_id,
        direction="outbound",
        to_number=attempt.to_number,
        attempt_no=attempt.attempt_no + 1,
        group_id=attempt.group_id or attempt.id,
        status="scheduled",
        locale=attempt.locale,
        context=dict(attempt.context or {}),
        meta={k: v for k, v in (attempt.meta or {}).items() if k not in ("version_id", "deferred")},
        scheduled_for=run_at,
    )
    db.session.add(retry)
    db.session.flush()
    jobs.schedule("place_call", retry.id, run_at=run_at, dedupe_key=f"place_call:{retry.id}", max_attempts=3)
    return retry


def schedule_retry(attempt: CallAttempt, run_at: dt.datetime) -> CallAttempt:
    """The next attempt of the same request (the earlier one is kept). Commits."""
    retry = _add_retry(attempt, run_at)
    db.session.commit()
    return retry


def claim_for_dialing(attempt_id: int) -> CallAttempt | None:
    """Mark a scheduled attempt as being dialled (once: a job run twice places one call). Commits."""
    claimed = cast(CursorResult[Any], db.session.execute(
        update(CallAttempt)
        .where(CallAttempt.id == attempt_id, CallAttempt.status == "scheduled")
        .values(status="dialing", updated_at=utcnow())
    )).rowcount
    db.session.commit()
    if not claimed:
        return None
    return db.session.get(CallAttempt, attempt_id)


def defer_attempt(attempt: CallAttempt, run_at: dt.datetime, reason: str) -> None:
    """Put a claimed attempt back to wait until ``run_at`` (outside calling hours). Commits."""
    from feedback import jobs

    attempt.status = "scheduled"
    attempt.scheduled_for = run_at
    meta = dict(attempt.meta or {})
    meta["deferred"] = reason
    attempt.meta = meta
    jobs.schedule("place_call", attempt.id, run_at=run_at,
                  dedupe_key=f"place_call:{attempt.id}:{run_at.isoformat()}", max_attempts=3)
    db.session.commit()


def record_dialled(attempt: CallAttempt, *, call_sid: str, status: str | None, from_number: str) -> None:
    """Twilio accepted the call. Commits."""
    fresh = db.session.get(CallAttempt, attempt.id)
    assert fresh is not None
    if not fresh.call_sid:
        fresh.call_sid = call_sid
    if fresh.status == "dialing":
        fresh.status = status if status in _PROGRESS else "queued"
    fresh.from_number = from_number[:32]
    db.session.commit()


def record_dial_failure(attempt: CallAttempt, error: str, *, retry_at: dt.datetime | None) -> CallAttempt | None:
    """Twilio refused the call (the error is kept on the attempt); maybe try again. Commits."""
    fresh = db.session.get(CallAttempt, attempt.id)
    assert fresh is not None
    fresh.status = "failed"
    fresh.error = error[:2000]
    db.session.commit()
    if retry_at is not None:
        return schedule_retry(fresh, retry_at)
    return None


def cancel_attempt(attempt: CallAttempt, reason: str) -> None:
    fresh = db.session.get(CallAttempt, attempt.id)
    assert fresh is not None
    fresh.status = "canceled"
    fresh.error = reason[:2000]
    db.session.commit()
