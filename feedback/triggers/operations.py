"""The operations of distribution: the only code of this part that writes and commits.

* :func:`receive` takes what an integrator posted (one event, ``{"events": [...]}`` or a
  JSON array), checks every event, stores the valid ones with their contact and, in the
  same transaction, what each matching trigger decided: an invitation with its ladder of
  steps and the job of its first step (the transactional outbox), or why not.
* :func:`run_step` and :func:`check_step` (run by jobs) move an invitation down its
  ladder: send on a channel, wait, and try the next channel while it goes unanswered.
* :func:`start_invitation` records an invitation for a survey put to a contact some other
  way (the web intercept, an email sent by hand), so it counts in the contact policy.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError, OperationalError

from feedback.errors import FeedbackError
from feedback.jobs import clock, iso, schedule, schedule_many
from feedback.store import operations as ops
from feedback.store.distribution import (
    EmailMessage,
    Invitation,
    InvitationStep,
    TouchpointEvent,
    TriggerDecision,
)
from feedback.store.models import Answer, CallAttempt, Contact, Response, Session, db

from . import policy as pol
from .definition import Trigger, format_duration, in_sample, triggers_of
from .validation import EventIn, event_context, parse_event

log = logging.getLogger(__name__)

MAX_BATCH = 1000
#: When the last step of a ladder has neither ``wait`` nor ``expires``: how long it stays open.
DEFAULT_LAST_WAIT = dt.timedelta(days=7)
OPEN_STEP_STATUSES = ("planned", "scheduled", "deferred", "sending")



# -- triggers of the active surveys ---------------------------------------------------------------


def active_triggers() -> list[Trigger]:
    """Every trigger of every active survey's current version (cached per set of versions)."""
    from flask import current_app

    rows = ops.active_versions()
    cache = current_app.extensions.setdefault("feedback_triggers", {})
    if cache.get("key") == rows:
        return cache["triggers"]
    out: list[Trigger] = []
    for _sid, vid in rows:
        try:
            compiled = ops.compiled_version(vid)
        except FeedbackError:
            log.exception("cannot compile survey version %s", vid)
            continue
        out.extend(triggers_of(compiled))
    cache["key"] = rows
    cache["triggers"] = out
    return out


# -- intake ---------------------------------------------------------------------------------------


@dataclass
class Received:
    status: int
    body: dict[str, Any]


def receive(payload: Any, *, api_key_id: int | None = None, source: str = "api") -> Received:
    """Check and store what was posted to ``/api/v1/events``; the HTTP status and body."""
    now = clock()
    batch = isinstance(payload, list) or (isinstance(payload, Mapping) and "events" in payload)
    if not batch:
        event, problems = parse_event(payload, now)
        if event is None:
            n = len(problems)
            return Received(
                400,
                {
                    "error": "invalid_event",
                    "message": f"the event has {n} problem{'s' if n != 1 else ''}; nothing was stored",
                    "errors": [p.to_dict() for p in problems],
                },
            )
        result = accept([event], now=now, api_key_id=api_key_id, source=source)[0]
        return Received(202, result)

    if isinstance(payload, Mapping):
        extra = [k for k in payload if k != "events"]
        items = payload.get("events")
        if extra:
            return Received(400, {
                "error": "invalid_batch",
                "message": f"a batch is {{\"events\": [...]}}; unknown field{'s' if len(extra) > 1 else ''} {', '.join(map(str, extra))}",
            })
        if not isinstance(items, list):
            return Received(400, {"error": "invalid_batch", "message": "events must be a list of events"})
    else:
        items = payload
    if not items:
        return Received(400, {"error": "invalid_batch", "message": "the batch has no events"})
    if len(items) > MAX_BATCH:
        return Received(413, {
            "error": "batch_too_large",
            "message": f"at most {MAX_BATCH} events per request; this one has {len(items)}. Nothing was stored.",
        })
    results: list[dict[str, Any] | None] = [None] * len(items)
    valid: list[tuple[int, EventIn]] = []
    for i, raw in enumerate(items):
        event, problems = parse_event(raw, now)
        if event is None:
            rid = raw.get("id") if isinstance(raw, Mapping) and isinstance(raw.get("id"), str | int) else None
            results[i] = {
                "index": i,
                "id": str(rid) if rid is not None else None,
                "status": "invalid",
                "errors": [p.to_dict() for p in problems],
            }
        else:
            valid.append((i, event))
    if valid:
        accepted = accept([e for _, e in valid], now=now, api_key_id=api_key_id, source=source)
        for (i, _), res in zip(valid, accepted, strict=True):
            results[i] = {"index": i, **res}
    counts = {"accepted": 0, "duplicate": 0, "invalid": 0}
    for r in results:
        assert r is not None
        counts[r["status"]] += 1
    body = {
        "accepted": counts["accepted"],
        "duplicates": counts["duplicate"],
        "rejected": counts["invalid"],
        "results": results,
    }
    return Received(202 if valid else 400, body)


#: Events stored per transaction in a batch (a transaction stays small and fast).
CHUNK = 100


@dataclass
class _Batch:
    """What one transaction of the intake shares: the triggers, the contacts already
    looked up, the contacts created here (they have no history to check), and the steps
    whose first job is still to be written."""

    triggers: list[Trigger]
    contacts: dict[str, Contact]
    new_contacts: set[int]
    first_steps: list[tuple[InvitationStep, dt.datetime]]
    histories: dict[int, pol.History] | None = None
    now: dt.datetime | None = None

    def history(self, contact: Contact) -> pol.History:
        """The contact's recent past: loaded for every known contact of the batch at once;
        empty for a contact created by the batch. Invitations made here are added to it."""
        key = id(contact)
        if self.histories is None:
            self.histories = {}
            known = {id(c): c for c in self.contacts.values() if c.id is not None}
            loaded = pol.load_histories([c.id for c in known.values()], self.now or clock())
            for k, c in known.items():
                self.histories[k] = loaded[c.id]
        if key not in self.histories:
            self.histories[key] = pol.History() if key in self.new_contacts else (
                pol.load_histories([contact.id], self.now or clock())[contact.id]
            )
        return self.histories[key]


def accept(
    events: Sequence[EventIn], *, now: dt.datetime | None = None, api_key_id: int | None = None, source: str = "api"
) -> list[dict[str, Any]]:
    """Store valid events and their decisions; one result per event, in order. An event id
    seen before (or earlier in the same batch) is a duplicate: its original decisions are
    returned and nothing is stored again."""
    now = now or clock()
    ids = list({e.id for e in events})
    existing: dict[str, TouchpointEvent] = {}
    for start in range(0, len(ids), 500):
        id_chunk = ids[start : start + 500]
        for row in db.session.scalars(select(TouchpointEvent).where(TouchpointEvent.external_id.in_(id_chunk))):
            existing[row.external_id] = row
    results: list[dict[str, Any] | None] = [None] * len(events)
    first_in_batch: dict[str, int] = {}
    fresh: list[int] = []
    for i, e in enumerate(events):
        if e.id in existing:
            results[i] = duplicate_result(existing[e.id], e)
            continue
        if e.id in first_in_batch:
            continue
        first_in_batch[e.id] = i
        fresh.append(i)
    triggers = active_triggers()
    for start in range(0, len(fresh), CHUNK):
        chunk = fresh[start : start + CHUNK]
        for attempt in range(BUSY_RETRIES + 1):
            try:
                batch = _new_batch(triggers, [events[i] for i in chunk])
                built = [(i, _store_and_decide(events[i], now, api_key_id, source, batch)) for i in chunk]
                _write_first_jobs(batch)
                db.session.flush()  # every new contact has its id for the answer
                for i, finish in built:
                    results[i] = finish()
                db.session.commit()
            except IntegrityError:
                # Someone stored one of these ids (or created one of these contacts) at the
                # same moment: take them one at a time, each in its own transaction.
                db.session.rollback()
                for i in chunk:
                    results[i] = _accept_alone(events[i], now, api_key_id, source, triggers)
            except OperationalError as exc:
                # SQLite: another process holds the write lock; wait a little and redo.
                db.session.rollback()
                if not _busy(exc) or attempt == BUSY_RETRIES:
                    raise
                time.sleep(0.05 * 2**attempt)
                continue
            break
        db.session.expunge_all()  # the next transaction starts with an empty session
    for i, e in enumerate(events):
        if results[i] is None:  # the same id earlier in this batch
            first = _find_event(e.id)
            if first is None:  # pragma: no cover - the first of the batch was stored above
                raise RuntimeError(f"event {e.id} vanished")
            results[i] = duplicate_result(first, e)
    return [r for r in results if r is not None]


BUSY_RETRIES = 6


def _busy(e: OperationalError) -> bool:
    """SQLite's write lock held by another process, or a PostgreSQL deadlock between two
    batches locking the same contacts: worth doing again."""
    text = str(e.orig if e.orig is not None else e).lower()
    return "database is locked" in text or "database is busy" in text or "deadlock detected" in text


def _new_batch(triggers: list[Trigger], events: Sequence[EventIn]) -> _Batch:
    """Look up, in one query, every contact the events name (by id, phone or email).

    On PostgreSQL their rows are locked (``FOR UPDATE``, in id order) until the transaction
    ends, so two requests deciding for the same contact take turns: the second sees the
    invitations of the first, and the frequency cap and minimum gap hold. (SQLite has one
    writer at a time already.)"""
    from sqlalchemy import or_
    from sqlalchemy.orm import selectinload

    batch = _Batch(triggers, {}, set(), [], now=clock())
    wanted = []
    for attr, key in ((Contact.external_id, "id"), (Contact.phone, "phone"), (Contact.email, "email")):
        values = list({getattr(e.contact, key) for e in events if getattr(e.contact, key)})
        if values:
            wanted.append(attr.in_(values))
    if not wanted:
        return batch
    stmt = select(Contact).where(or_(*wanted)).order_by(Contact.id).options(selectinload(Contact.opt_outs))
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Contact)
    found = list(db.session.scalars(stmt))
    for key in ("id", "phone", "email"):  # an id names a contact before a phone, a phone before an email
        for c in found:
            v = {"id": c.external_id, "phone": c.phone, "email": c.email}[key]
            if v:
                batch.contacts.setdefault(f"{key}:{v}", c)
    return batch


def _write_first_jobs(batch: _Batch) -> None:
    if not batch.first_steps:
        return
    db.session.flush()  # step ids, in one round of inserts
    schedule_many([("run_step", [step.id], run_at, f"step:{step.id}:run:0") for step, run_at in batch.first_steps])
    batch.first_steps.clear()


def _accept_alone(
    e: EventIn, now: dt.datetime, api_key_id: int | None, source: str, triggers: list[Trigger]
) -> dict[str, Any]:
    for _attempt in range(3):
        row = _find_event(e.id)
        if row is not None:
            return duplicate_result(row, e)
        try:
            batch = _new_batch(triggers, [e])
            finish = _store_and_decide(e, now, api_key_id, source, batch)
            _write_first_jobs(batch)
            db.session.flush()
            result = finish()
            db.session.commit()
            return result
        except IntegrityError:
            db.session.rollback()
    row = _find_event(e.id)
    if row is not None:
        return duplicate_result(row, e)
    raise RuntimeError(f"cannot store event {e.id}")


def _find_event(external_id: str) -> TouchpointEvent | None:
    return db.session.scalar(select(TouchpointEvent).where(TouchpointEvent.external_id == external_id))


def duplicate_result(row: TouchpointEvent, e: EventIn | None = None) -> dict[str, Any]:
    out = event_result(row, status="duplicate")
    if e is not None and row.payload_hash and row.payload_hash != e.payload_hash():
        out["warning"] = (
            "an event with this id was accepted before with different content; the first one stands "
            "(use a new id for a new event)"
        )
    return out


def _resolve_contact(c: Any, batch: _Batch) -> Contact:
    """The event's contact: by its id, else its phone, else its email (as
    :func:`ops.find_or_create_contact` finds them); created when there is none. Known
    fields are updated with what the event says."""
    contact = None
    for k, v in (("id", c.id), ("phone", c.phone), ("email", c.email)):
        if v and f"{k}:{v}" in batch.contacts:
            contact = batch.contacts[f"{k}:{v}"]
            break
    if contact is None:
        contact = Contact(
            external_id=c.id, phone=c.phone, email=c.email, locale=c.locale, timezone=c.timezone,
            attributes=dict(c.attributes),
        )
        contact.opt_outs = []
        db.session.add(contact)
        batch.new_contacts.add(id(contact))
    else:
        if c.id and not contact.external_id:
            contact.external_id = c.id
        if c.email:
            contact.email = c.email
        if c.phone and contact.phone != c.phone and f"phone:{c.phone}" not in batch.contacts:
            clash = db.session.scalar(select(Contact.id).where(Contact.phone == c.phone))
            if clash is None:
                contact.phone = c.phone
        if c.locale:
            contact.locale = c.locale
        if c.timezone:
            contact.timezone = c.timezone
        if c.attributes:
            merged = dict(contact.attributes or {})
            merged.update(c.attributes)
            if merged != contact.attributes:
                contact.attributes = merged
    for k, v in (("id", contact.external_id), ("phone", contact.phone), ("email", contact.email)):
        if v:
            batch.contacts.setdefault(f"{k}:{v}", contact)
    return contact


def _store_and_decide(
    e: EventIn, now: dt.datetime, api_key_id: int | None, source: str, batch: _Batch
) -> Any:
    """Store one event and what its triggers decide. Returns a function that describes the
    result once the step ids are known."""
    contact = _resolve_contact(e.contact, batch)
    row = TouchpointEvent(
        external_id=e.id,
        type=e.type,
        occurred_at=e.occurred_at,
        received_at=now,
        contact=contact,
        contact_data=e.contact.as_sent(),
        data=e.data,
        payload_hash=e.payload_hash(),
        source=source,
        api_key_id=api_key_id,
    )
    db.session.add(row)
    decisions: list[tuple[TriggerDecision, Invitation | None]] = []
    for trigger in batch.triggers:
        if trigger.matches_type(e.type):
            decisions.append(decide(trigger, row, contact, now, batch))
    return lambda: event_result(row, status="accepted", decisions=decisions, contact=contact)


def decide(
    trigger: Trigger, event: TouchpointEvent, contact: Contact, now: dt.datetime, batch: _Batch | None = None
) -> tuple[TriggerDecision, Invitation | None]:
    """What one trigger does with one event: record the decision, and the invitation with
    its steps and first job when it goes ahead. Does not commit."""
    ectx = event_context(event.external_id, event.type, event.occurred_at, event.data or {})
    cctx = contact.as_context()
    scope = {"event": ectx, "contact": cctx}

    def done(outcome: str, reason: str | None, detail: str, inv: Invitation | None = None,
             until: dt.datetime | None = None) -> tuple[TriggerDecision, Invitation | None]:
        decision = TriggerDecision(
            survey_id=trigger.survey_id, trigger_index=trigger.index, trigger_name=trigger.name,
            outcome=outcome, reason=reason, detail=detail, deferred_until=until, created_at=now,
        )
        db.session.add(decision)
        decision.event = event
        decision.invitation = inv
        return decision, inv

    if not trigger.condition_holds(scope):
        return done("skipped", "condition_false", f"if: {trigger.condition} is false for this event")
    if contact.id is None and not (contact.external_id or contact.phone or contact.email):
        db.session.flush()
    key = contact.external_id or contact.phone or contact.email or str(contact.id)
    if not in_sample(key, trigger.survey_id, trigger.sample):
        return done(
            "sampled_out", "sampled_out",
            f"sample {trigger.sample:.0%}: this contact is outside it (the same every time for this contact and survey)",
        )
    base = min(event.occurred_at, now)
    expires_at = base + trigger.expires if trigger.expires else None
    if expires_at is not None and expires_at <= now:
        return done("suppressed", "expired", f"the event is older than expires ({format_duration(trigger.expires)})")

    # Which rungs of the ladder can reach this contact at all.
    reach = [(ch, pol.check_reachable(contact, ch)) for ch in trigger.channels]
    usable = [ch for ch, d in reach if d.allowed]
    if not usable:
        reasons = {d.reason for _, d in reach}
        reason = "opted_out" if reasons == {"opted_out"} else ("no_address" if reasons == {"no_address"} else "unreachable")
        return done("suppressed", reason, "; ".join(f"{ch}: {d.detail}" for ch, d in reach))

    first_at = max(now, base + trigger.delay)
    try:
        history = batch.history(contact) if batch is not None else None
        check = pol.check(contact, trigger.survey_id, usable[0], now, when=first_at,
                          history=history if history is not None else True)
    except pol.PolicyUnavailable as e:
        # Fail closed: nothing goes out while the policy cannot be read; the trigger
        # decides again once it can (the event is kept).
        again = now + pol.POLICY_RETRY
        decision = done("deferred", "policy_unavailable", e.message, until=again)
        db.session.flush()
        schedule("decide_again", event.id, trigger.survey_id, trigger.index, run_at=again,
                 dedupe_key=f"decide:{event.id}:{trigger.survey_id}:{trigger.index}:{again.isoformat()}")
        return decision
    if check.outcome == "suppress":
        return done("suppressed", check.reason, check.detail)
    until = None
    if check.outcome == "defer":
        until = check.until
        assert until is not None
        first_at = until
        if expires_at is not None and first_at >= expires_at:
            return done("suppressed", "expired", f"{check.detail}, but the invitation expires at {iso(expires_at)} before that")

    inv = Invitation(
        survey_id=trigger.survey_id,
        source="trigger",
        trigger_index=trigger.index,
        trigger_name=trigger.name,
        channels=list(trigger.channels),
        wait_seconds=int(trigger.wait.total_seconds()) if trigger.wait else None,
        status="scheduled",
        locale=contact.locale,
        context={"contact": cctx, "event": ectx},
        expires_at=expires_at,
        created_at=now,
        updated_at=now,
    )
    db.session.add(inv)
    inv.event = event
    inv.contact = contact
    if history is not None:
        history.add_invitation(trigger.survey_id, now)
    k = 0
    first: InvitationStep | None = None
    for pos, (ch, d) in enumerate(reach):
        step = InvitationStep(position=pos, channel=ch, created_at=now, updated_at=now, history=[])
        if not d.allowed:
            _set(step, "skipped", now, d.reason, d.detail)
        else:
            if first is None:
                first = step
                _set(step, "deferred" if until else "scheduled", now, check.reason if until else None,
                     check.detail if until else None, until=until)
                step.scheduled_for = first_at
            else:
                step.status = "planned"
                step.scheduled_for = first_at + (trigger.wait or dt.timedelta(0)) * k
                step.history = [{"at": iso(now), "status": "planned"}]
            k += 1
        inv.steps.append(step)
    assert first is not None
    if batch is not None:
        batch.first_steps.append((first, first_at))
    else:
        db.session.flush()
        schedule("run_step", first.id, run_at=first_at, dedupe_key=f"step:{first.id}:run:0")
    if until:
        return done("deferred", check.reason, check.detail, inv, until)
    when = "now" if first_at <= now else f"at {iso(first_at)}"
    return done("scheduled", None, f"{usable[0]} {when}" + (f", then {', '.join(usable[1:])} if unanswered" if len(usable) > 1 else ""), inv)


def decide_again(event_id: int, survey_id: str, trigger_index: int) -> str:
    """A trigger that could not decide because the contact policy could not be read (the
    job ``decide_again``): decide now, or wait again while the policy is still broken.
    The earlier decision is replaced. Commits."""
    now = clock()
    event = db.session.get(TouchpointEvent, event_id)
    if event is None:
        return "missing"
    old = next((d for d in event.decisions if d.survey_id == survey_id and d.trigger_index == trigger_index), None)
    if old is None or old.reason != "policy_unavailable":
        return "decided"
    try:
        pol.current_policy()
    except pol.PolicyUnavailable as e:
        again = now + pol.POLICY_RETRY
        old.detail, old.deferred_until = e.message, again
        schedule("decide_again", event_id, survey_id, trigger_index, run_at=again,
                 dedupe_key=f"decide:{event_id}:{survey_id}:{trigger_index}:{again.isoformat()}")
        db.session.commit()
        return "deferred"
    trigger = next((t for t in active_triggers() if t.survey_id == survey_id and t.index == trigger_index), None)
    if trigger is None or event.contact is None:
        old.outcome, old.reason = "suppressed", "trigger_inactive"
        old.detail, old.deferred_until = f"survey '{survey_id}' no longer has this trigger", None
        db.session.commit()
        return "suppressed"
    event.decisions.remove(old)  # deleted with it (delete-orphan)
    decision, _inv = decide(trigger, event, event.contact, now)
    decision.detail = f"{decision.detail} (decided once the contact policy could be read again)"
    db.session.commit()
    return decision.outcome


def _set(
    step: InvitationStep, status: str, now: dt.datetime, reason: str | None = None, detail: str | None = None,
    *, until: dt.datetime | None = None,
) -> None:
    step.status = status
    step.reason = reason
    step.detail = detail
    entry: dict[str, Any] = {"at": iso(now), "status": status}
    if reason:
        entry["reason"] = reason
    if detail:
        entry["detail"] = detail
    if until:
        entry["until"] = iso(until)
    step.history = [*(step.history or []), entry]
    step.updated_at = now


# -- invitations started elsewhere ------------------------------------------------------------------


def start_invitation(
    survey_id: str,
    contact: Contact | None,
    channel: str,
    *,
    source: str,
    context: Mapping[str, Any] | None = None,
    locale: str | None = None,
    expires: dt.timedelta | None = None,
    now: dt.datetime | None = None,
    commit: bool = True,
) -> Invitation:
    """Record that ``survey_id`` is being put to ``contact`` on ``channel`` right now by some
    other means (the web intercept, an email sent by hand): an invitation with one sent
    step. It counts for the frequency cap and the minimum gap; a response whose
    ``meta.invitation_id`` is its id answers it; it closes as unanswered after ``expires``
    (default a week). Check :func:`policy.check` first."""
    now = now or clock()
    inv = Invitation(
        survey_id=survey_id,
        contact_id=contact.id if contact is not None else None,
        source=source,
        channels=[channel],
        status="in_progress",
        locale=locale or (contact.locale if contact is not None else None),
        context=dict(context or {}),
        expires_at=now + expires if expires else None,
        created_at=now,
        updated_at=now,
    )
    step = InvitationStep(position=0, channel=channel, created_at=now, updated_at=now, history=[])
    _set(step, "sent", now)
    step.sent_at = now
    step.scheduled_for = now
    inv.steps.append(step)
    db.session.add(inv)
    db.session.flush()
    schedule("check_step", step.id, run_at=now + (expires or DEFAULT_LAST_WAIT), dedupe_key=f"step:{step.id}:check")
    if commit:
        db.session.commit()
    return inv


# -- the ladder -------------------------------------------------------------------------------------


def find_answer(inv: Invitation, *, other_than_session: str | None = None) -> Response | None:
    """The response that answers the invitation: ``meta.invitation_id`` is its id and it
    holds at least one answer (from a session other than ``other_than_session``, when given)."""
    stmt = select(Response).where(
        Response.survey_id == inv.survey_id, exists().where(Answer.response_id == Response.id)
    )
    if other_than_session is not None:
        stmt = stmt.where(Response.session_id != other_than_session)
    if inv.contact_id is not None:
        stmt = stmt.where(Response.contact_id == inv.contact_id)
    else:
        stmt = stmt.order_by(Response.id.desc()).limit(1000)
    return next((r for r in db.session.scalars(stmt) if str((r.meta or {}).get("invitation_id")) == str(inv.id)), None)


def answered_elsewhere(invitation_id: Any, session_id: str | None) -> bool:
    """Whether the invitation ``invitation_id`` has a response with answers from a session
    other than ``session_id`` (a personal link's own session)."""
    try:
        inv = db.session.get(Invitation, int(invitation_id))
    except (TypeError, ValueError):
        return False
    return inv is not None and find_answer(inv, other_than_session=session_id) is not None


def _remaining(inv: Invitation, after: int = -1) -> list[InvitationStep]:
    return [s for s in inv.steps if s.position > after and s.status in OPEN_STEP_STATUSES]


def _finish(inv: Invitation, status: str, now: dt.datetime, reason: str | None = None) -> None:
    inv.status = status
    inv.status_reason = reason
    inv.updated_at = now
    for s in _remaining(inv):
        _set(s, "cancelled", now, status if status != "stopped" else (reason or status))


def _answered(inv: Invitation, response: Response, now: dt.datetime) -> None:
    inv.answered_at = inv.answered_at or now
    inv.response_id = response.id
    channel = {"web": "email"}.get(response.channel, response.channel)
    sent = [s for s in inv.steps if s.status in ("sent", "unanswered") or (s.status == "sending" and s.ref)]
    step = next((s for s in reversed(sent) if s.channel == channel or (channel == "sms" and s.channel == "whatsapp")), None)
    step = step or (sent[-1] if sent else None)
    if step is not None:
        _set(step, "answered", now, detail=f"response {response.id} ({response.channel})")
        step.finished_at = now
    _finish(inv, "answered", now)
    _close_other_sessions(inv, response)


def _close_other_sessions(inv: Invitation, answer: Response) -> None:
    """One response per invitation: the sessions other rungs opened (an SMS conversation
    still waiting for a reply) end once the invitation is answered elsewhere."""
    if inv.contact_id is None:
        return
    others = [
        s.id
        for s in db.session.scalars(
            select(Session).where(
                Session.contact_id == inv.contact_id,
                Session.survey_id == inv.survey_id,
                Session.status == "active",
                Session.id != answer.session_id,
            )
        )
        if str((s.meta or {}).get("invitation_id")) == str(inv.id)
    ]
    for sid in others:
        ops.end_session(sid, reason="answered_elsewhere")


def refresh(inv: Invitation, now: dt.datetime | None = None) -> bool:
    """Mark the invitation answered when a response has come in. Does not commit."""
    if inv.status == "answered" or inv.status in ("failed",):
        return inv.status == "answered"
    response = find_answer(inv)
    if response is None:
        return False
    _answered(inv, response, now or clock())
    return True


def run_step(step_id: int) -> str:
    """Send one step of a ladder (the job ``run_step``). Idempotent. Commits."""
    now = clock()
    step = db.session.get(InvitationStep, step_id)
    if step is None:
        return "missing"
    inv = step.invitation
    if step.status not in ("scheduled", "deferred", "sending"):
        return step.status
    if refresh(inv, now):
        db.session.commit()
        return "answered"
    if inv.finished:
        _set(step, "cancelled", now, inv.status)
        db.session.commit()
        return "cancelled"
    if inv.expires_at is not None and now >= inv.expires_at:
        _finish(inv, "expired", now)
        db.session.commit()
        return "expired"
    contact = inv.contact
    if step.status == "sending":
        if step.channel == "ivr" and step.ref:
            return sync_call_step(step.id)  # the call was requested; its outcome decides
        ref = _sent_before(step, inv)
        if ref is not None:
            return _handed_over(step, inv, ref, now)
    reach = pol.check_reachable(contact, step.channel)
    if not reach.allowed:
        _set(step, "skipped", now, reach.reason, reach.detail)
        step.finished_at = now
        if reach.reason == "opted_out" and pol.opt_out_of(contact, step.channel) == "all":
            _finish(inv, "stopped", now, "opted_out")
            db.session.commit()
            return "stopped"
        _advance(inv, step, now)
        db.session.commit()
        return "skipped"
    try:
        quiet = pol.check_quiet_hours(contact, step.channel, now)
    except pol.PolicyUnavailable as e:
        again = now + pol.POLICY_RETRY
        _set(step, "deferred", now, "policy_unavailable", e.message, until=again)
        step.scheduled_for = again
        n = len(step.history or [])
        schedule("run_step", step.id, run_at=again, dedupe_key=f"step:{step.id}:run:{n}")
        db.session.commit()
        return "deferred"
    if quiet.outcome == "defer":
        assert quiet.until is not None
        if inv.expires_at is not None and quiet.until >= inv.expires_at:
            _set(step, "skipped", now, "expired", f"{quiet.detail}, but the invitation expires first")
            _finish(inv, "expired", now)
            db.session.commit()
            return "expired"
        _set(step, "deferred", now, quiet.reason, quiet.detail, until=quiet.until)
        step.scheduled_for = quiet.until
        n = len(step.history or [])
        schedule("run_step", step.id, run_at=quiet.until, dedupe_key=f"step:{step.id}:run:{n}")
        db.session.commit()
        return "deferred"
    _set(step, "sending", now)
    db.session.commit()
    try:
        ref = _send(step, inv, contact)
    except FeedbackError as e:
        db.session.rollback()
        step = db.session.get(InvitationStep, step_id)
        assert step is not None
        inv = step.invitation
        _set(step, "failed", now, "refused", e.message)
        step.finished_at = now
        _advance(inv, step, now)
        db.session.commit()
        return "failed"
    except ModuleNotFoundError as e:
        db.session.rollback()
        step = db.session.get(InvitationStep, step_id)
        assert step is not None
        inv = step.invitation
        _set(step, "failed", now, "channel_unavailable", f"the {step.channel} channel is not installed ({e.name})")
        step.finished_at = now
        _advance(inv, step, now)
        db.session.commit()
        return "failed"
    step = db.session.get(InvitationStep, step_id)
    assert step is not None
    if step.status != "sending":  # the channel already reported it (failed or skipped)
        db.session.commit()
        return step.status
    return _handed_over(step, step.invitation, str(ref), now)


def _handed_over(step: InvitationStep, inv: Invitation, ref: str, now: dt.datetime) -> str:
    """The channel took the step. An email or an SMS is sent from here on; a call is sent
    once it is placed (it may wait for the survey's calling hours), which the IVR channel
    reports (:func:`sync_call_step`)."""
    if step.channel != "ivr":
        return _sent(step, inv, ref, now)
    step.ref = ref
    db.session.commit()
    return sync_call_step(step.id)


def report_step(step_id: Any, status: str, reason: str, detail: str | None = None) -> bool:
    """A channel could not deliver what a step handed it (an email the server refused, a
    message that failed for good, an address opted out meanwhile): record the step as
    ``failed`` (or ``skipped``) with why, and move down the ladder at once. Channels call it
    in their own transaction (it does not commit). Returns whether the step changed."""
    if status not in ("failed", "skipped"):
        raise ValueError(f"a step is reported failed or skipped, not {status}")
    try:
        step = db.session.get(InvitationStep, int(step_id))
    except (TypeError, ValueError):
        return False
    if step is None or step.status not in ("sending", "sent"):
        return False
    now = clock()
    inv = step.invitation
    _set(step, status, now, reason, detail)
    step.finished_at = now
    step.sent_at = None  # nothing reached the contact
    if inv.finished:
        return True
    if reason == "opted_out" and pol.opt_out_of(inv.contact, step.channel) == "all":
        _finish(inv, "stopped", now, "opted_out")
    else:
        _advance(inv, step, now)
    return True


def _messages_failed(step: InvitationStep) -> str | None:
    """When not one outgoing message of an SMS step's conversation went out (every one
    failed or was canceled): why, else None."""
    from feedback.store.models import Message

    if not step.ref:
        return None
    rows = list(db.session.scalars(
        select(Message).where(Message.session_id == step.ref, Message.direction == "out")
    ))
    if not rows or any(m.status not in ("failed", "undelivered", "canceled") for m in rows):
        return None
    errors = [str((m.meta or {}).get("error") or "") for m in rows]
    return next((e for e in errors if e), "the messages could not be sent")


def _run_step_failed(step_id: int, error: str | None = None) -> None:
    """The job gave up (after its retries): record the step as failed and move on."""
    now = clock()
    step = db.session.get(InvitationStep, step_id)
    if step is None or step.status not in ("scheduled", "deferred", "sending"):
        return
    _set(step, "failed", now, "error", error)
    step.finished_at = now
    _advance(step.invitation, step, now)
    db.session.commit()


def _sent(step: InvitationStep, inv: Invitation, ref: str, now: dt.datetime) -> str:
    _set(step, "sent", now)
    step.ref = ref
    step.sent_at = now
    inv.status = "in_progress"
    inv.updated_at = now
    nxt = _remaining(inv, step.position)
    wait = dt.timedelta(seconds=inv.wait_seconds) if inv.wait_seconds else None
    if nxt and wait is not None:
        check_at = now + wait
        if inv.expires_at is not None:
            check_at = min(check_at, inv.expires_at)
        for k, s in enumerate(nxt):
            if s.status == "planned":
                s.scheduled_for = check_at + wait * k
    else:
        check_at = inv.expires_at or now + max(wait or dt.timedelta(0), DEFAULT_LAST_WAIT)
    schedule("check_step", step.id, run_at=check_at, dedupe_key=f"step:{step.id}:check")
    db.session.commit()
    return "sent"


def _advance(inv: Invitation, after: InvitationStep, now: dt.datetime) -> None:
    """Start the next planned step now; end the invitation when there is none."""
    nxt = next((s for s in _remaining(inv, after.position) if s.status == "planned"), None)
    if nxt is None:
        if any(s.sent_at is not None for s in inv.steps):
            _finish(inv, "unanswered", now)
        else:
            reasons = {s.reason for s in inv.steps if s.status in ("skipped", "failed")}
            _finish(inv, "stopped", now, reasons.pop() if len(reasons) == 1 else "not_sent")
        return
    if inv.expires_at is not None and now >= inv.expires_at:
        _finish(inv, "expired", now)
        return
    _set(nxt, "scheduled", now)
    nxt.scheduled_for = now
    schedule("run_step", nxt.id, run_at=now, dedupe_key=f"step:{nxt.id}:run:0")


def check_step(step_id: int) -> str:
    """The wait of a sent step is over (the job ``check_step``): stop when answered, else
    try the next channel, else close the invitation. Commits."""
    now = clock()
    step = db.session.get(InvitationStep, step_id)
    if step is None:
        return "missing"
    inv = step.invitation
    if step.status not in ("sent", "sending") or (step.status == "sending" and step.channel != "ivr"):
        return step.status
    if refresh(inv, now):
        db.session.commit()
        return "answered"
    if inv.finished:
        db.session.commit()
        return inv.status
    if inv.expires_at is not None and now >= inv.expires_at:
        if step.status == "sent":
            _set(step, "unanswered", now)
        else:
            _set(step, "cancelled", now, "expired", "the invitation expired before the call was placed")
        step.finished_at = now
        _finish(inv, "expired", now)
        db.session.commit()
        return "expired"
    if step.channel == "ivr":
        state = _call_state(step, now)
        if state.open:
            # The call (or one of its retries) is still to come: the ladder moves on when
            # its outcome is known (the channel reports it), and looks again meanwhile.
            if not any(h.get("reason") == "call_in_progress" for h in step.history or []):
                _set(step, step.status, now, "call_in_progress", "waiting for the outcome of the call and its retries")
            again = max(now + CALL_RECHECK, state.waiting_until or now)  # a call waiting for its time
            schedule("check_step", step.id, run_at=again, dedupe_key=f"step:{step.id}:check:{again.isoformat()}")
            db.session.commit()
            return "waiting"
        if step.status == "sending":
            if state.placed:
                return _sent(step, inv, step.ref or str(state.attempts[0].id), now)
            return _call_not_placed(step, inv, state, now)
    if step.channel in ("sms", "whatsapp"):
        failure = _messages_failed(step)
        if failure is not None:
            report_step(step.id, "failed", "send_failed", failure)
            db.session.commit()
            return "failed"
    _set(step, "unanswered", now)
    step.finished_at = now
    if inv.expires_at is not None and now >= inv.expires_at:
        _finish(inv, "expired", now)
    else:
        _advance(inv, step, now)
    db.session.commit()
    return "unanswered"


# -- calls: a step lasts until the call's outcome is known ------------------------------------------

#: A call Twilio queued or rang that no status callback ever ended counts as over after this.
RING_LIMIT = dt.timedelta(minutes=10)
#: A call in progress with no survey session counts as over after this.
CALL_LIMIT = dt.timedelta(hours=1)
#: While a call step waits for its call, the ladder looks again this often (a safety net:
#: the IVR channel reports each outcome).
CALL_RECHECK = dt.timedelta(minutes=15)
_LIVE = ("queued", "initiated", "ringing")


@dataclass
class CallState:
    attempts: list[CallAttempt]
    placed: bool  # at least one call went out
    open: bool  # a call is scheduled, being dialled, ringing or in progress
    waiting_until: dt.datetime | None = None  # the next call waits for calling hours until then


def _call_chain(step: InvitationStep) -> list[CallAttempt]:
    inv = step.invitation
    rows = db.session.scalars(
        select(CallAttempt)
        .where(CallAttempt.contact_id == inv.contact_id, CallAttempt.survey_id == inv.survey_id,
               CallAttempt.direction == "outbound")
        .order_by(CallAttempt.id)
        .execution_options(populate_existing=True)
    )
    return [a for a in rows if isinstance(a.meta, Mapping) and str(a.meta.get("step_id")) == str(step.id)]


def _call_open(a: CallAttempt, now: dt.datetime) -> bool:
    if a.status in ("scheduled", "dialing"):
        return True
    since = a.scheduled_for or now
    if a.status in _LIVE:
        return now < since + RING_LIMIT
    if a.status == "in-progress":
        if a.session_id:
            session = db.session.get(Session, a.session_id)
            if session is not None:
                return session.status == "active"
        return now < since + CALL_LIMIT
    return False


def _call_state(step: InvitationStep, now: dt.datetime) -> CallState:
    chain = _call_chain(step)
    placed = any(a.call_sid for a in chain)
    is_open = any(_call_open(a, now) for a in chain)
    waiting = [a.scheduled_for for a in chain if a.status == "scheduled" and a.scheduled_for and a.scheduled_for > now]
    return CallState(chain, placed, is_open, min(waiting) if waiting else None)


def call_wanted(meta: Mapping[str, Any] | None, *, commit: bool = True) -> str | None:
    """Why a ladder's call should no longer be placed (answered elsewhere, expired,
    stopped), or None. Asked by the IVR channel before it dials or plans a retry. Commits
    what it learns unless ``commit`` is false (inside the channel's own transaction)."""
    if not isinstance(meta, Mapping) or meta.get("invitation_id") is None:
        return None
    try:
        inv = db.session.get(Invitation, int(meta["invitation_id"]))
    except (TypeError, ValueError):
        return None
    if inv is None:
        return None
    now = clock()
    if refresh(inv, now) and commit:
        db.session.commit()
    if inv.status == "answered":
        return "the invitation was answered on another channel"
    if inv.finished:
        return f"the invitation is {inv.status}"
    if inv.expires_at is not None and now >= inv.expires_at:
        return "the invitation has expired"
    step_id = meta.get("step_id")
    step = db.session.get(InvitationStep, int(step_id)) if isinstance(step_id, int | str) and str(step_id).isdigit() else None
    if step is not None and step.status not in ("sending", "sent"):
        return f"the ladder's step is {step.status}"
    return None


def sync_call_step(step_id: int) -> str:
    """The IVR channel placed, deferred, ended or gave up a call of a step (the job
    ``sync_step``): mark the step sent when its first call goes out, and once no call is
    left to come, unanswered (at the end of its wait, or now when the wait is over) or
    failed when no call could be placed. Idempotent. Commits."""
    now = clock()
    step = db.session.get(InvitationStep, step_id)
    if step is None:
        return "missing"
    if step.channel != "ivr" or step.status not in ("sending", "sent"):
        return step.status
    inv = step.invitation
    if refresh(inv, now):
        db.session.commit()
        return "answered"
    if inv.finished:
        return inv.status
    state = _call_state(step, now)
    if step.status == "sending":
        if state.placed:
            return _sent(step, inv, step.ref or str(state.attempts[0].id), now)
        if not state.open:
            return _call_not_placed(step, inv, state, now)
        if state.waiting_until is not None:
            if not any(h.get("until") == iso(state.waiting_until) for h in step.history or []):
                _set(step, "sending", now, "calling_hours",
                     f"the call waits for the survey's calling hours, until {iso(state.waiting_until)}",
                     until=state.waiting_until)
            if inv.expires_at is not None:
                schedule("check_step", step.id, run_at=inv.expires_at, dedupe_key=f"step:{step.id}:expiry")
        db.session.commit()
        return "sending"
    if state.open:
        return "sent"
    wait_end = (step.sent_at or now) + dt.timedelta(seconds=inv.wait_seconds or 0)
    if now < wait_end:
        return "sent"  # the check at the end of the wait moves the ladder on
    return check_step(step.id)


def _call_not_placed(step: InvitationStep, inv: Invitation, state: CallState, now: dt.datetime) -> str:
    last = state.attempts[-1] if state.attempts else None
    detail = (last.error if last is not None and last.error else None) or "no call could be placed"
    _set(step, "failed", now, "call_failed", detail)
    step.finished_at = now
    _advance(inv, step, now)
    db.session.commit()
    return "failed"


def _channel_meta(inv: Invitation, step: InvitationStep) -> dict[str, Any]:
    meta: dict[str, Any] = {"invitation_id": inv.id, "step_id": step.id}
    if inv.event is not None:
        meta["event_id"] = inv.event.external_id
    return meta


def _send(step: InvitationStep, inv: Invitation, contact: Contact | None) -> Any:
    """Hand the step to its channel (each writes and commits, and schedules its own job)."""
    assert contact is not None
    meta = _channel_meta(inv, step)
    context = dict(inv.context or {})
    if step.channel == "email":
        from channels.email.invitations import request_email

        assert contact.email
        return request_email(
            inv.survey_id, contact.email, contact_id=contact.id, context=context, meta=meta, locale=inv.locale
        )
    if step.channel in ("sms", "whatsapp"):
        from channels.sms.outbound import request_sms

        assert contact.phone
        return request_sms(
            inv.survey_id, contact.phone, contact_id=contact.id, context=context, meta=meta, locale=inv.locale,
            whatsapp=step.channel == "whatsapp",
        )
    if step.channel == "ivr":
        from channels.ivr.outbound import request_call

        assert contact.phone
        return request_call(
            inv.survey_id, contact.phone, contact_id=contact.id, context=context, meta=meta, locale=inv.locale
        )
    raise FeedbackError(f"channel {step.channel} cannot be sent")


def _sent_before(step: InvitationStep, inv: Invitation) -> str | None:
    """When a step was handed to its channel but not recorded as sent (the process stopped
    in between), what the channel made of it: so a retry never sends twice."""
    def mine(meta: Any) -> bool:
        return isinstance(meta, Mapping) and str(meta.get("step_id")) == str(step.id)

    if step.channel == "email":
        for m in db.session.scalars(select(EmailMessage).where(EmailMessage.invitation_id == inv.id)):
            if mine(m.meta):
                return str(m.id)
    elif step.channel in ("sms", "whatsapp"):
        for s in db.session.scalars(
            select(Session).where(Session.contact_id == inv.contact_id, Session.survey_id == inv.survey_id)
        ):
            if mine(s.meta):
                return s.id
    elif step.channel == "ivr":
        for c in db.session.scalars(
            select(CallAttempt).where(CallAttempt.contact_id == inv.contact_id, CallAttempt.survey_id == inv.survey_id)
        ):
            if mine(c.meta):
                return str(c.id)
    return None


# -- opt-outs ---------------------------------------------------------------------------------------

#: What a contact can opt out of: one channel, or ``all`` (``global`` is the same).
OPT_OUT_CHANNELS = ("all", "email", "sms", "whatsapp", "ivr", "web", "chat")


def opt_out_channel(value: Any) -> str:
    """The stored name of an opt-out channel; BadRequest for anything else."""
    from feedback.errors import BadRequest

    name = str(value or "").strip().lower()
    name = {"global": "all", "phone": "ivr", "call": "ivr", "voice": "ivr"}.get(name, name)
    if name not in OPT_OUT_CHANNELS:
        raise BadRequest(f"channel must be one of {', '.join(OPT_OUT_CHANNELS)} (or global), not '{value}'")
    return "sms" if name == "whatsapp" else name


def record_opt_out(contact_ref: str, channel: Any, *, source: str = "api") -> Contact:
    """Record that the contact (their id, or ``phone:+1555...`` / ``email:a@b``) opted out
    of ``channel`` (or of everything: ``all`` / ``global``). A contact not known yet is
    created, so the opt-out holds from their first event on. Commits."""
    from feedback.errors import BadRequest

    name = opt_out_channel(channel)
    ref = str(contact_ref or "").strip()
    if not ref:
        raise BadRequest("a contact id is needed")
    kind, _, value = ref.partition(":")
    if kind == "phone" and value:
        contact = ops.find_or_create_contact(phone=ops.normalize_phone(value), commit=False)
    elif kind == "email" and value:
        contact = ops.find_or_create_contact(email=value.strip().lower(), commit=False)
    else:
        contact = ops.find_or_create_contact(external_id=ref, commit=False)
    db.session.flush()
    ops.record_opt_out(contact, name, source=source[:200])
    db.session.refresh(contact)
    return contact


def opt_outs_of(contact: Contact) -> list[dict[str, Any]]:
    return [
        {"channel": o.channel, "source": o.source or None, "at": iso(o.created_at)}
        for o in sorted(contact.opt_outs, key=lambda o: o.id)
    ]


# -- describing -------------------------------------------------------------------------------------


def step_to_dict(step: InvitationStep) -> dict[str, Any]:
    return {
        "id": step.id,
        "position": step.position,
        "channel": step.channel,
        "status": step.status,
        "reason": step.reason,
        "detail": step.detail,
        "scheduled_for": iso(step.scheduled_for),
        "sent_at": iso(step.sent_at),
        "finished_at": iso(step.finished_at),
        "ref": step.ref,
        "history": list(step.history or []),
    }


def invitation_to_dict(inv: Invitation, *, live: bool = False) -> dict[str, Any]:
    status = inv.status
    response_id = inv.response_id
    if live and status != "answered":
        response = find_answer(inv)
        if response is not None:
            status, response_id = "answered", response.id
    out: dict[str, Any] = {
        "id": inv.id,
        "survey": inv.survey_id,
        "status": status,
        "reason": inv.status_reason,
        "source": inv.source,
        "channels": list(inv.channels or []),
        "wait": format_duration(dt.timedelta(seconds=inv.wait_seconds)) if inv.wait_seconds else None,
        "expires_at": iso(inv.expires_at),
        "created_at": iso(inv.created_at),
        "answered_at": iso(inv.answered_at),
        "response_id": response_id,
        "steps": [step_to_dict(s) for s in inv.steps],
    }
    if inv.event is not None:
        out["event"] = inv.event.external_id
    return out


def decision_to_dict(d: TriggerDecision, inv: Invitation | None = None, *, live: bool = False) -> dict[str, Any]:
    inv = inv if inv is not None else d.invitation
    return {
        "survey": d.survey_id,
        "trigger": d.trigger_name or f"{d.survey_id}#{d.trigger_index + 1}",
        "trigger_index": d.trigger_index,
        "outcome": d.outcome,
        "reason": d.reason,
        "detail": d.detail,
        "deferred_until": iso(d.deferred_until),
        "invitation": invitation_to_dict(inv, live=live) if inv is not None else None,
    }


def _contact_summary(contact: Contact | None) -> dict[str, Any] | None:
    if contact is None:
        return None
    return {"id": contact.external_id or str(contact.id), "ref": contact.id}


def event_result(
    row: TouchpointEvent,
    *,
    status: str,
    decisions: Iterable[tuple[TriggerDecision, Invitation | None]] | None = None,
    contact: Contact | None = None,
) -> dict[str, Any]:
    """The answer to a posted event: what was decided, per trigger."""
    if decisions is None:
        pairs = [(d, d.invitation) for d in row.decisions]
    else:
        pairs = list(decisions)
    out: dict[str, Any] = {
        "id": row.external_id,
        "status": status,
        "type": row.type,
        "received_at": iso(row.received_at),
        "contact": _contact_summary(contact if contact is not None else row.contact),
        "decisions": [decision_to_dict(d, inv) for d, inv in pairs],
    }
    if not pairs:
        out["note"] = f"no trigger of an active survey listens to '{row.type}'"
    return out


def event_to_dict(row: TouchpointEvent, *, detail: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.external_id,
        "type": row.type,
        "occurred_at": iso(row.occurred_at),
        "received_at": iso(row.received_at),
        "source": row.source,
        "contact": _contact_summary(row.contact),
    }
    if detail:
        out["contact_data"] = row.contact_data
        out["data"] = row.data
        out["decisions"] = [decision_to_dict(d, live=True) for d in row.decisions]
    else:
        out["decisions"] = [
            {"survey": d.survey_id, "outcome": d.outcome, "reason": d.reason, "invitation_id": d.invitation_id}
            for d in row.decisions
        ]
    return out


def get_event(external_id: str) -> TouchpointEvent | None:
    return _find_event(external_id)


def list_events(
    *,
    type: str | None = None,
    contact: str | None = None,
    survey: str | None = None,
    outcome: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> tuple[list[TouchpointEvent], int | None]:
    """Events, newest first, and the cursor of the next page (None at the end)."""
    stmt = select(TouchpointEvent)
    if type:
        stmt = stmt.where(TouchpointEvent.type == type)
    if contact:
        ids = select(Contact.id).where(Contact.external_id == contact)
        stmt = stmt.where(TouchpointEvent.contact_id.in_(ids))
    if survey or outcome:
        sub = select(TriggerDecision.event_id)
        if survey:
            sub = sub.where(TriggerDecision.survey_id == survey)
        if outcome:
            sub = sub.where(TriggerDecision.outcome == outcome)
        stmt = stmt.where(TouchpointEvent.id.in_(sub))
    if since:
        stmt = stmt.where(TouchpointEvent.received_at >= since)
    if until:
        stmt = stmt.where(TouchpointEvent.received_at < until)
    if before_id:
        stmt = stmt.where(TouchpointEvent.id < before_id)
    rows = list(db.session.scalars(stmt.order_by(TouchpointEvent.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)
