"""``feedback call SURVEY PHONE``: place a survey call now (or at the next calling hour),
and ``feedback calls SURVEY``: list the latest call attempts of a survey."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import click


def _make_app() -> Any:
    from feedback.app import create_app

    return create_app({"LOAD_SURVEYS_ON_START": False})


def _parse_at(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        click.echo(f"error: --at {value!r} is not an ISO 8601 time like 2030-01-07T15:00:00+08:00", err=True)
        sys.exit(1)
    if when.tzinfo is None:
        click.echo("error: --at needs a time zone, e.g. 2030-01-07T15:00:00+08:00 or ...Z", err=True)
        sys.exit(1)
    return when


def _show(attempt: Any) -> None:
    from feedback.store.models import Contact, db

    from .outbound import zone_for_attempt

    contact = db.session.get(Contact, attempt.contact_id) if attempt.contact_id else None
    click.echo(f"call attempt {attempt.id} (try {attempt.attempt_no}) to {attempt.to_number}: {attempt.status}")
    if attempt.call_sid:
        click.echo(f"  CallSid {attempt.call_sid}")
    if attempt.status == "scheduled" and attempt.scheduled_for:
        zone = zone_for_attempt(attempt)
        local = attempt.scheduled_for.replace(tzinfo=dt.UTC).astimezone(zone)
        why = (attempt.meta or {}).get("deferred") or "scheduled"
        click.echo(f"  {why}: rings at {local:%Y-%m-%d %H:%M} {zone.key} ({attempt.scheduled_for:%Y-%m-%d %H:%M} UTC)")
    if attempt.error:
        click.echo(f"  error: {attempt.error}")
    if contact is not None and contact.locale:
        click.echo(f"  language: {attempt.locale or contact.locale}")


def register(cli: click.Group) -> None:
    @cli.command("call")
    @click.argument("survey")
    @click.argument("phone")
    @click.option("--locale", default=None, help="Language of the call, e.g. zh-CN (else the contact's, or a menu).")
    @click.option("--context", "context_json", default=None,
                  help='JSON {"contact": {...}, "event": {...}} for piping and logic.')
    @click.option("--at", "at", default=None, help="Ring at this time (ISO 8601 with a zone) instead of now.")
    def call(survey: str, phone: str, locale: str | None, context_json: str | None, at: str | None) -> None:
        """Call PHONE with SURVEY now, within the survey's calling hours in the contact's time zone."""
        from sqlalchemy import select

        from channels.telephony import parse_context_option
        from feedback.errors import FeedbackError
        from feedback.jobs import clock, run_job
        from feedback.store.models import CallAttempt, Job, db

        from .outbound import request_call

        try:
            context = parse_context_option(context_json)
        except FeedbackError as e:
            click.echo(f"error: {e.message}", err=True)
            sys.exit(1)
        when = _parse_at(at)
        app = _make_app()
        with app.app_context():
            try:
                attempt_id = request_call(survey, phone, context=context, locale=locale, run_at=when)
            except FeedbackError as e:
                click.echo(f"error: {e.message}", err=True)
                sys.exit(1)
            job = db.session.scalar(select(Job).where(Job.dedupe_key == f"place_call:{attempt_id}"))
            if job is not None and job.run_at <= clock():
                run_job(job.id)
            attempt = db.session.get(CallAttempt, attempt_id)
            assert attempt is not None
            db.session.refresh(attempt)
            _show(attempt)
            if attempt.status == "failed":
                sys.exit(1)

    @cli.command("calls")
    @click.argument("survey")
    @click.option("--limit", default=20, show_default=True, type=int)
    def calls_list(survey: str, limit: int) -> None:
        """List the latest call attempts of SURVEY, with their outcomes."""
        from sqlalchemy import select

        from feedback.store.models import CallAttempt, db

        app = _make_app()
        with app.app_context():
            rows = db.session.scalars(
                select(CallAttempt).where(CallAttempt.survey_id == survey)
                .order_by(CallAttempt.id.desc()).limit(max(1, min(limit, 1000)))
            )
            found = False
            for attempt in rows:
                found = True
                _show(attempt)
            if not found:
                click.echo(f"no calls for survey '{survey}'")
