"""Jobs of the email channel (module-level, taking ids; run from the outbox)."""

from __future__ import annotations

from feedback.jobs import job

from . import invitations


@job
def send_email(message_id: int) -> str:
    """Render and send one invitation or reminder email (SMTP, or the outbox folder)."""
    return invitations.send(message_id)


def _send_failed(message_id: int, error: str | None = None) -> None:
    invitations.send_failed(message_id, error)


send_email.on_failure = _send_failed  # type: ignore[attr-defined]


@job
def send_email_reminder(original_id: int, n: int) -> str:
    """Reminder ``n`` of an invitation email, unless the contact has answered."""
    return invitations.remind(original_id, n)
