"""``feedback email preview`` and ``feedback email send``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click


def _context(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as e:
        click.echo(f"error: --context is not valid JSON: {e}", err=True)
        sys.exit(2)
    if not isinstance(value, dict):
        click.echo('error: --context is an object like {"contact": {...}, "event": {...}}', err=True)
        sys.exit(2)
    return value


def register(cli: click.Group) -> None:
    @cli.group()
    def email() -> None:
        """Email invitations."""

    @email.command("preview")
    @click.argument("survey")
    @click.option("--locale", help="Locale (default: the survey's default).")
    @click.option("--context", "context_json", help='JSON: {"contact": {...}, "event": {...}}.')
    @click.option("--output", "-o", type=click.Path(path_type=Path),
                  help="Write the email: .eml (the whole message) or .html (the HTML part).")
    def preview(survey: str, locale: str | None, context_json: str | None, output: Path | None) -> None:
        """Show the invitation email of a loaded survey (nothing is sent or stored)."""
        from email.policy import SMTP

        from feedback.app import create_app
        from feedback.errors import FeedbackError
        from feedback.store import operations as ops

        from .invitations import base_url
        from .render import build_message, render_invitation

        app = create_app({"LOAD_SURVEYS_ON_START": False})
        with app.app_context():
            try:
                _, compiled = ops.current_version(survey)
            except FeedbackError as e:
                click.echo(f"error: {e.message} (load it with `feedback surveys load`)", err=True)
                sys.exit(1)
            base = base_url()
            rendered = render_invitation(
                compiled, context=_context(context_json), locale=locale,
                survey_url=f"{base}/i/PREVIEW", unsubscribe_url=f"{base}/email/unsubscribe/PREVIEW",
            )
            msg = build_message(
                rendered, to="preview@example.invalid", sender=str(app.config.get("MAIL_FROM")),
                message_id="<preview@feedback>",
            )
        if output is None:
            click.echo(f"Subject: {rendered.subject}\n")
            click.echo(rendered.text)
        elif output.suffix.lower() == ".html":
            output.write_text(rendered.html, encoding="utf-8")
            click.echo(f"wrote {output}")
        else:
            output.write_bytes(msg.as_bytes(policy=SMTP))
            click.echo(f"wrote {output}")

    @email.command("send")
    @click.argument("survey")
    @click.argument("address")
    @click.option("--locale")
    @click.option("--context", "context_json", help='JSON: {"contact": {...}, "event": {...}}.')
    def send(survey: str, address: str, locale: str | None, context_json: str | None) -> None:
        """Invite ADDRESS to SURVEY by email (queued in the outbox; the worker sends it)."""
        from feedback.app import create_app
        from feedback.errors import FeedbackError

        from .invitations import request_email

        app = create_app({"LOAD_SURVEYS_ON_START": False})
        with app.app_context():
            try:
                mid = request_email(survey, address, context=_context(context_json), locale=locale)
            except FeedbackError as e:
                click.echo(f"error: {e.message}", err=True)
                sys.exit(1)
        where = "the worker" if app.config.get("REDIS_URL") else "the server (or `feedback jobs run`)"
        click.echo(f"email {mid} queued; {where} sends it")
