"""The application commands of the ``feedback`` CLI: serve, db, surveys, apikeys, run-demo."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

console = Console(highlight=False)


def _app(load_surveys: bool = False):  # type: ignore[no-untyped-def]
    from feedback.app import create_app

    return create_app({"LOAD_SURVEYS_ON_START": load_surveys})


#: Modules that add their own commands (``feedback call``, ``feedback sms``, ``feedback worker`` ...).
#: Each defines ``register(cli)``; a module that is not there is skipped.
COMMAND_MODULES = (
    "channels.ivr.cli",
    "channels.sms.cli",
    "channels.chat.cli",
    "channels.email.cli",
    "feedback.triggers.cli",
    "feedback.intercept.cli",
)


def _register_command_modules(cli: click.Group) -> None:
    import importlib

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is None or not name.startswith(e.name):
                raise
            continue
        module.register(cli)


def register(cli: click.Group) -> None:
    _register_command_modules(cli)

    @cli.command()
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=5000, show_default=True, type=int)
    @click.option("--debug", is_flag=True, help="Reload on code changes (development only).")
    def serve(host: str, port: int, debug: bool) -> None:
        """Serve the app (development server; use gunicorn in production)."""
        app = _app(load_surveys=True)
        app.run(host=host, port=port, debug=debug, use_reloader=debug)

    @cli.group()
    def db() -> None:
        """Database migrations."""

    @db.command("upgrade")
    @click.option("--revision", default="heads", show_default=True)
    def db_upgrade(revision: str) -> None:
        """Create or migrate the database schema."""
        from feedback.store.migrate import upgrade

        app = _app()
        upgrade(app, revision)
        click.echo(f"database at {_safe_url(app.config['SQLALCHEMY_DATABASE_URI'])} is up to date")

    @cli.group()
    def surveys() -> None:
        """Survey definitions in the store."""

    @surveys.command("load")
    @click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
    def surveys_load(paths: tuple[Path, ...]) -> None:
        """Load survey files (a changed file becomes a new version)."""
        from feedback.store import operations as ops

        app = _app()
        with app.app_context():
            report = ops.load_surveys(paths)
        for sid, version, created in report.loaded:
            if sid in report.reverted:
                click.echo(f"{sid}: back to an earlier version {version} (the file is as it was then)")
            else:
                click.echo(f"{sid}: {'new version ' if created else 'unchanged, version '}{version}")
        for p in report.warnings:
            click.echo(str(p), err=True)
        for p in report.problems:
            click.echo(str(p), err=True)
        if report.problems:
            sys.exit(1)

    @surveys.command("list")
    def surveys_list() -> None:
        """List the surveys in the store."""
        from feedback.store import operations as ops

        app = _app()
        with app.app_context():
            table = Table("id", "title", "version")
            for s in ops.active_surveys():
                table.add_row(s.id, s.title, str(s.current_version_id))
            console.print(table)

    @cli.group()
    def apikeys() -> None:
        """API keys for integrators."""

    @apikeys.command("create")
    @click.argument("name")
    def apikeys_create(name: str) -> None:
        """Create a key; it is printed once and stored hashed."""
        from feedback.store import operations as ops

        app = _app()
        with app.app_context():
            key = ops.create_api_key(name)
        click.echo(key)

    @cli.command("run-demo", hidden=True)
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=5000, show_default=True, type=int)
    def run_demo(host: str, port: int) -> None:
        """`make run`: migrate, load the example surveys, print links and a key, serve."""
        from feedback.store import operations as ops
        from feedback.store.migrate import upgrade

        app = _app()
        upgrade(app)
        with app.app_context():
            report = ops.load_surveys([Path(app.config["SURVEY_DEFS"])])
            for p in report.problems:
                click.echo(f"skipped: {p}", err=True)
            key = ops.replace_api_key("demo admin")
            base = (app.config.get("PUBLIC_BASE_URL") or f"http://{host}:{port}").rstrip("/")
            rows = []
            personal = None
            for s in ops.active_surveys():
                _, compiled = ops.current_version(s.id)
                channels = compiled.survey.channels
                rows.append((s.id, ", ".join(channels), f"{base}/s/{s.id}" if "web" in channels else "-"))
                if personal is None and "email" in channels:
                    personal = _demo_invitation(app, s.id, compiled.survey.questions[0])
        # Plain lines (no wrapping or cutting) so that links and the key can be copied.
        width = max((len(r[0]) for r in rows), default=6) + 2
        chan = max((len(r[1]) for r in rows), default=8) + 2
        click.echo("\nExample surveys:")
        for sid, channel_list, link in rows:
            click.echo(f"  {sid.ljust(width)}{channel_list.ljust(chan)}{link}")
        click.echo(f"\nAdmin API key (shown once; the demo key of an earlier run no longer works): {key}")
        click.echo(f"  curl -H 'Authorization: Bearer {key}' {base}/api/v1/surveys")
        if personal:
            click.echo(f"\nA personal link, as an email invitation with the first score clicked:\n  {base}{personal}")
        click.echo("\nAdd ?lang=zh-CN to a link for Chinese, ?embed=1 for the compact embedded view.")
        click.echo(f"\nServing on {base}  (Ctrl+C to stop)\n")
        app.run(host=host, port=port, debug=False, use_reloader=False)


def _demo_invitation(app, survey_id: str, first) -> str:  # type: ignore[no-untyped-def]
    """A personal link (``/i/<token>``) that pre-answers the first question, like a score
    clicked in an invitation email."""
    from channels.web.tokens import make_invitation_token

    with app.test_request_context():
        token = make_invitation_token(survey_id, context={"contact": {"first_name": "Alex"}})
    rng = first.scale_range
    answer = f"?a={rng[1]}" if rng else ""
    return f"/i/{token}{answer}"


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "(database)"
