"""Jobs of the IVR channel (run from the outbox, see :mod:`feedback.jobs`).

* ``place_call(attempt_id)``: place one scheduled survey call through the twilio REST
  client: the voice URL of the attempt, a status callback for initiated, ringing,
  answered and completed, and answering machine detection. Outside the survey's calling
  hours in the contact's time zone the attempt waits for the next opening. A refusal by
  Twilio is recorded on the attempt (and tried again later when it was a passing
  failure). The attempt is claimed before dialling, so a job that runs twice places one
  call.
* ``close_stale_call(session_id)``: end a phone session that Twilio never reported the
  end of (a number without a status callback); its answers stay as a partial response.
"""

from __future__ import annotations

import datetime as dt
import logging

from twilio.base.exceptions import TwilioException, TwilioRestException

from feedback.jobs import clock, job, schedule
from feedback.store import calls
from feedback.store.models import CallAttempt, Contact, Session, db

log = logging.getLogger(__name__)

STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
#: Twilio REST errors worth another try: throttling and Twilio's own failures.
TRANSIENT_HTTP = frozenset({429, 500, 502, 503, 504})


def _retry_after_error(attempt, survey) -> dt.datetime | None:  # type: ignore[no-untyped-def]
    from .outbound import call_window, next_allowed, zone_for_attempt

    if survey is None or attempt.attempt_no >= survey.ivr.retry.attempts:
        return None
    at = clock() + dt.timedelta(minutes=survey.ivr.retry.delay_minutes)
    return next_allowed(at, call_window(survey), zone_for_attempt(attempt))


@job
def place_call(attempt_id: int) -> str:
    from channels.telephony import from_number, twilio_client

    from .outbound import call_window, next_allowed, survey_for_attempt, zone_for_attempt
    from .urls import absolute_url

    attempt = calls.claim_for_dialing(attempt_id)
    if attempt is None:
        return "nothing to do"
    survey = survey_for_attempt(attempt)
    if survey is None or "ivr" not in survey.channels:
        return _cancel(attempt, f"survey '{attempt.survey_id}' is no longer offered on the phone")
    contact = db.session.get(Contact, attempt.contact_id) if attempt.contact_id else None
    if contact is not None and contact.opted_out("ivr"):
        return _cancel(attempt, "the contact opted out of phone surveys")
    from feedback.triggers.operations import call_wanted

    unwanted = call_wanted(attempt.meta)
    if unwanted is not None:
        return _cancel(attempt, unwanted)
    # The outbox runs a job at or after its time: judge the calling hours from then.
    now = clock()
    now = max(now, attempt.scheduled_for or now)
    opening = next_allowed(now, call_window(survey), zone_for_attempt(attempt))
    if opening > now + dt.timedelta(minutes=1):
        notify_ladder(attempt, f"deferred:{opening.isoformat()}")
        calls.defer_attempt(attempt, opening, "outside calling hours")
        log.info("call attempt %s waits for calling hours: %s UTC", attempt.id, opening)
        return "deferred"
    try:
        client = twilio_client()
        caller_id = from_number()
        url = absolute_url("ivr.voice_webhook", attempt=attempt.id)
        callback = absolute_url("ivr.status", attempt=attempt.id)
    except Exception as e:  # noqa: BLE001 - configuration problems are recorded, not retried
        notify_ladder(attempt, "failed")
        calls.record_dial_failure(attempt, str(getattr(e, "message", e)), retry_at=None)
        log.error("call attempt %s not placed: %s", attempt.id, e)
        return "failed"
    try:
        call = client.calls.create(
            to=attempt.to_number,
            from_=caller_id,
            url=url,
            method="POST",
            status_callback=callback,
            status_callback_method="POST",
            status_callback_event=STATUS_EVENTS,
            machine_detection="DetectMessageEnd" if survey.ivr.on_machine == "message" else "Enable",
            timeout=survey.ivr.ring_timeout,
        )
    except TwilioRestException as e:
        error = f"Twilio error {e.code}: {e.msg}" if e.code else f"Twilio HTTP {e.status}: {e.msg}"
        retry_at = _retry_after_error(attempt, survey) if e.status in TRANSIENT_HTTP else None
        notify_ladder(attempt, "failed")
        calls.record_dial_failure(attempt, error, retry_at=retry_at)
        log.warning("call attempt %s refused by Twilio: %s", attempt.id, error)
        return "failed"
    except (TwilioException, OSError) as e:
        notify_ladder(attempt, "failed")
        calls.record_dial_failure(attempt, f"could not reach Twilio: {e}", retry_at=_retry_after_error(attempt, survey))
        log.warning("call attempt %s: could not reach Twilio: %s", attempt.id, e)
        return "failed"
    notify_ladder(attempt, "placed")
    calls.record_dialled(attempt, call_sid=str(call.sid), status=str(call.status or ""), from_number=caller_id)
    log.info("call attempt %s placed: %s", attempt.id, call.sid)
    return "placed"


def notify_ladder(attempt: CallAttempt, what: str) -> None:
    """Tell the invitation ladder that asked for this call what became of it (the job
    ``sync_step``), in the transaction the channel commits next."""
    step_id = (attempt.meta or {}).get("step_id")
    if step_id is None or not str(step_id).isdigit():
        return
    schedule("sync_step", int(step_id), run_at=clock(), dedupe_key=f"step:{step_id}:call:{attempt.id}:{what}")


def _cancel(attempt: CallAttempt, reason: str) -> str:
    notify_ladder(attempt, "canceled")
    calls.cancel_attempt(attempt, reason)
    return "canceled"


@job
def close_stale_call(session_id: str) -> str:
    session = db.session.get(Session, session_id)
    if session is None or session.status != "active" or session.channel != "ivr":
        return "nothing to do"
    calls.close_call_session(session_id, reason="expired")
    return "closed"
