"""Jobs of the SMS / WhatsApp channel (run from the outbox, see :mod:`feedback.jobs`).

* ``send_sms(session_id)``: send the intro and first question of an outbound survey; when it
  fails for good after its retries, the messages are failed and the conversation ends.
* ``expire_conversation(session_id, at)``: end a conversation (SMS or chat) that has had no
  reply by ``at``; its answers stay as a partial response. When the customer wrote in
  the meantime the expiry was pushed back, and the job schedules itself for the new time.
  It never reads the clock: it runs when the outbox dispatches it, at or after ``at``.
"""

from __future__ import annotations

import datetime as dt
import logging

from feedback.jobs import job
from feedback.store import messaging as msgs
from feedback.store import operations as ops
from feedback.store.models import Session, db

log = logging.getLogger(__name__)


@job
def send_sms(session_id: str) -> str:
    from .outbound import send_session

    return send_session(session_id)


def _send_failed(session_id: str, error: str | None = None) -> None:
    """The send job gave up after its retries (Twilio kept answering with a passing error):
    its messages are failed, a ladder step that sent the survey moves on to the next
    channel, and the conversation ends."""
    session = db.session.get(Session, session_id)
    if session is None or session.status != "active":
        return
    msgs.send_gave_up(session_id, error)
    ops.end_session(session_id, reason="undeliverable")


send_sms.on_failure = _send_failed  # type: ignore[attr-defined]


@job
def expire_conversation(session_id: str, at: str) -> str:
    session = db.session.get(Session, session_id)
    if session is None or session.status != "active" or session.expires_at is None:
        return "nothing to do"
    due = dt.datetime.fromisoformat(at)
    if session.expires_at <= due:
        ops.end_session(session.id, reason="expired")
        log.info("%s session %s expired", session.channel, session.id)
        return "expired"
    msgs.reschedule_expiry(session)
    return "rescheduled"
