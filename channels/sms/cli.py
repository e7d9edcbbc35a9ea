"""``feedback sms SURVEY PHONE``: start an SMS / WhatsApp survey now, and
``feedback sms-expire``: end conversations whose time is up (the job does it too)."""

from __future__ import annotations

import sys

import click


def register(cli: click.Group) -> None:
    @cli.command("sms")
    @click.argument("survey")
    @click.argument("phone")
    @click.option("--whatsapp", is_flag=True, help="Send on WhatsApp instead of SMS.")
    @click.option("--locale", default=None, help="Language of the survey, e.g. zh-CN.")
    @click.option("--context", "context_json", default=None,
                  help='JSON {"contact": {...}, "event": {...}} for piping and logic.')
    def sms(survey: str, phone: str, whatsapp: bool, locale: str | None, context_json: str | None) -> None:
        """Send SURVEY to PHONE by SMS (or WhatsApp) now: the intro and first question."""
        from sqlalchemy import select

        from channels.telephony import parse_context_option
        from feedback.app import create_app
        from feedback.errors import FeedbackError
        from feedback.jobs import dispatch_due
        from feedback.store import messaging as msgs
        from feedback.store.models import Job, Session, db

        from .outbound import request_sms

        try:
            context = parse_context_option(context_json)
        except FeedbackError as e:
            click.echo(f"error: {e.message}", err=True)
            sys.exit(1)
        app = create_app({"LOAD_SURVEYS_ON_START": False})
        with app.app_context():
            try:
                session_id = request_sms(survey, phone, context=context, locale=locale, whatsapp=whatsapp)
            except FeedbackError as e:
                click.echo(f"error: {e.message}", err=True)
                sys.exit(1)
            job = db.session.scalar(select(Job).where(Job.dedupe_key == f"sms-send:{session_id}"))
            dispatch_due()
            click.echo(f"session {session_id}")
            for m in msgs.messages_of(session_id):
                sid = m.message_sid or "-"
                click.echo(f"  {m.status:<10} {sid:<34} [{m.segments} {m.encoding}] {m.body}")
            failed = [m for m in msgs.messages_of(session_id) if m.status == "failed"]
            if failed:
                reason = (failed[0].meta or {}).get("error") or failed[0].error_code
                session = db.session.get(Session, session_id)
                ended = f"; session {session_id} ended ({session.status})" if session and session.status != "active" else ""
                click.echo(f"not sent: {reason}{ended}", err=True)
                sys.exit(1)
            if job is not None:
                db.session.refresh(job)
                if job.status != "done":
                    click.echo(f"not sent yet ({job.status}): {job.last_error}; the outbox retries it", err=True)
                    sys.exit(1)

    @cli.command("sms-expire")
    def sms_expire() -> None:
        """End SMS and chat conversations past their expiry (kept as partial responses)."""
        from feedback.app import create_app
        from feedback.store import operations as ops

        app = create_app({"LOAD_SURVEYS_ON_START": False})
        with app.app_context():
            n = ops.expire_sessions("sms") + ops.expire_sessions("chat")
        click.echo(f"{n} conversation{'s' if n != 1 else ''} expired")
