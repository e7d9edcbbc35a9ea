"""The touchpoint events API (Bearer API key).

* ``POST /api/v1/events``: one event, ``{"events": [...]}`` or a JSON array (up to 1,000):
  202 with what each trigger decided; 400 listing every problem of an invalid event.
* ``GET /api/v1/events``: events, newest first (filters: type, contact, survey, outcome,
  since, until; ``limit`` and ``cursor``).
* ``GET /api/v1/events/<id>``: one event with every decision, invitation and step.
* ``GET /api/v1/invitations/<id>``; ``GET /api/v1/jobs`` and ``POST /api/v1/jobs/<id>/retry``
  (the outbox); ``GET /api/v1/policy`` (the contact policy in force).
* ``POST /api/v1/contacts/<id>/opt-outs`` ``{"channel": "all"}``: record an opt-out (per
  channel, or ``all``/``global``); ``GET`` lists them.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy.exc import OperationalError

from feedback import jobs as outbox
from feedback.api.auth import require_api_key
from feedback.errors import FeedbackError
from feedback.store.distribution import Invitation
from feedback.store.models import Contact, db

from . import operations as dist
from . import policy as pol
from .validation import parse_time

bp = Blueprint("events_api", __name__, url_prefix="/api/v1")

MAX_EVENTS_BYTES = 16 * 1024 * 1024


def _error(status: int, error: str, message: str, **extra: Any) -> Any:
    resp = jsonify(error=error, message=message, **extra)
    resp.status_code = status
    return resp


@bp.post("/events")
@require_api_key
def post_events() -> Any:
    request.max_content_length = int(current_app.config.get("EVENTS_MAX_BYTES") or MAX_EVENTS_BYTES)
    raw = request.get_data(cache=False)
    if not raw.strip():
        return _error(400, "invalid_json", "send the event as a JSON object (or a batch: {\"events\": [...]})")
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        return _error(400, "invalid_json", f"the body is not valid JSON: {e}")
    key = getattr(g, "api_key", None)
    try:
        result = dist.receive(payload, api_key_id=key.id if key is not None else None)
    except OperationalError as e:
        db.session.rollback()
        if not dist._busy(e):
            raise
        resp = _error(
            503, "busy",
            "the database is busy; send the same request again (events already stored are reported as duplicates)",
        )
        resp.headers["Retry-After"] = "1"
        return resp
    resp = jsonify(result.body)
    resp.status_code = result.status
    return resp


def _limit() -> int:
    raw = request.args.get("limit")
    if raw is None:
        return 100
    try:
        n = int(raw)
    except ValueError:
        raise _BadQuery(f"limit must be a whole number, not '{raw}'") from None
    if not 1 <= n <= 1000:
        raise _BadQuery("limit must be between 1 and 1000")
    return n


def _time_arg(name: str) -> dt.datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        if len(raw) == 10:  # a date: midnight UTC
            return dt.datetime.fromisoformat(raw)
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _BadQuery(f"{name}: '{raw}' is not an ISO 8601 date or time, e.g. 2026-11-23T10:00:00Z") from None
    if parsed.tzinfo is None:
        return parsed  # read as UTC
    return parse_time(parsed.isoformat())


class _BadQuery(Exception):
    pass


@bp.errorhandler(_BadQuery)
def _bad_query(e: _BadQuery) -> Any:
    return _error(400, "invalid_query", str(e))


@bp.get("/events")
@require_api_key
def list_events() -> Any:
    cursor = request.args.get("cursor")
    before = None
    if cursor:
        if not cursor.isdigit():
            raise _BadQuery("cursor is not valid; use next_cursor from the previous page")
        before = int(cursor)
    outcome = request.args.get("outcome")
    outcomes = ("scheduled", "deferred", "suppressed", "sampled_out", "skipped")
    if outcome and outcome not in outcomes:
        raise _BadQuery(f"outcome must be one of {', '.join(outcomes)}")
    rows, nxt = dist.list_events(
        type=request.args.get("type") or None,
        contact=request.args.get("contact") or None,
        survey=request.args.get("survey") or None,
        outcome=outcome or None,
        since=_time_arg("since"),
        until=_time_arg("until"),
        limit=_limit(),
        before_id=before,
    )
    return jsonify(events=[dist.event_to_dict(r, detail=False) for r in rows], next_cursor=str(nxt) if nxt else None)


@bp.get("/events/<path:event_id>")
@require_api_key
def get_event(event_id: str) -> Any:
    row = dist.get_event(event_id)
    if row is None:
        return _error(404, "not_found", f"no event with id '{event_id}'")
    return jsonify(dist.event_to_dict(row, detail=True))


@bp.get("/invitations/<int:invitation_id>")
@require_api_key
def get_invitation(invitation_id: int) -> Any:
    inv = db.session.get(Invitation, invitation_id)
    if inv is None:
        return _error(404, "not_found", f"no invitation {invitation_id}")
    return jsonify(dist.invitation_to_dict(inv, live=True))


@bp.get("/jobs")
@require_api_key
def list_jobs() -> Any:
    status = request.args.get("status") or None
    statuses = ("pending", "enqueued", "running", "done", "failed")
    if status and status not in statuses:
        raise _BadQuery(f"status must be one of {', '.join(statuses)}")
    rows = outbox.list_jobs(status, limit=_limit(), name=request.args.get("name") or None)
    redis = outbox.redis_status()
    return jsonify(
        jobs=[outbox.job_to_dict(r) for r in rows],
        counts=outbox.job_counts(),
        runner="rq" if current_app.config.get("REDIS_URL") else "in-process",
        redis_down_since=outbox.iso(redis["down_since"]),
    )


@bp.post("/jobs/<int:job_id>/retry")
@require_api_key
def retry_job(job_id: int) -> Any:
    try:
        row = outbox.retry_job(job_id)
    except KeyError:
        return _error(404, "not_found", f"no job {job_id}")
    except ValueError as e:
        return _error(409, "conflict", str(e))
    return jsonify(outbox.job_to_dict(row))


@bp.get("/policy")
@require_api_key
def get_policy() -> Any:
    try:
        return jsonify(pol.current_policy().to_dict())
    except pol.PolicyUnavailable as e:
        resp = jsonify({"error": e.code, "message": e.message, "problems": e.problems})
        resp.status_code = 503
        return resp


@bp.post("/contacts/<path:ref>/opt-outs")
@require_api_key
def post_opt_out(ref: str) -> Any:
    """Record an opt-out: ``{"channel": "email" | "sms" | "ivr" | ... | "all" | "global",
    "source"?: "..."}``. ``ref`` is the contact's id, or ``phone:+1555...`` / ``email:...``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _error(400, "bad_request", 'send {"channel": "all"} (or email, sms, ivr, whatsapp, web, chat)')
    try:
        contact = dist.record_opt_out(ref, body.get("channel"), source=str(body.get("source") or "api"))
    except FeedbackError as e:
        db.session.rollback()
        return _error(400, "bad_request", e.message)
    resp = jsonify({"contact": contact.external_id or str(contact.id), "opt_outs": dist.opt_outs_of(contact)})
    resp.status_code = 201
    return resp


@bp.get("/contacts/<path:ref>/opt-outs")
@require_api_key
def get_opt_outs(ref: str) -> Any:
    from sqlalchemy import select

    contact = db.session.scalar(select(Contact).where(Contact.external_id == ref))
    if contact is None:
        return _error(404, "not_found", f"no contact '{ref}'")
    return jsonify({"contact": ref, "opt_outs": dist.opt_outs_of(contact)})
