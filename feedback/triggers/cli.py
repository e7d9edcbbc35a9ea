"""Commands of distribution: ``feedback worker``, ``feedback jobs``, ``feedback events``,
``feedback policy``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _app(**overrides: Any) -> Any:
    from feedback.app import create_app

    return create_app({"LOAD_SURVEYS_ON_START": False, **overrides})


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--burst", is_flag=True, help="Run what is due, then exit (for cron or tests).")
    @click.option("--fork", is_flag=True, help="Run each job in a forked work horse (isolation; slower).")
    @click.option("--interval", default=1.0, show_default=True, type=float,
                  help="Seconds between two looks at the outbox.")
    def worker(burst: bool, fork: bool, interval: float) -> None:
        """Run the rq worker (with its scheduler) and the outbox dispatcher against REDIS_URL."""
        import logging

        from feedback.jobs import queue_name, redis_connection, run_worker

        app = _app(RUN_JOBS_IN_PROCESS=False)
        if not app.config.get("REDIS_URL"):
            err.print(
                "error: feedback worker needs REDIS_URL, e.g. REDIS_URL=redis://localhost:6379/0 feedback worker\n"
                "Without Redis, `feedback serve` (and `make run`) run the jobs in-process.",
                markup=False,
            )
            sys.exit(1)
        with app.app_context():
            conn = redis_connection()
            assert conn is not None  # REDIS_URL is set (checked above)
            try:
                conn.ping()
            except Exception as e:  # noqa: BLE001
                err.print(f"error: cannot reach Redis at {_safe(app.config['REDIS_URL'])}: {e}", markup=False)
                sys.exit(1)
            qname = queue_name()
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        console.print(f"worker on queue '{qname}' at {_safe(app.config['REDIS_URL'])}"
                      f"{' (burst)' if burst else ''}; Ctrl+C to stop", markup=False)
        run_worker(app, burst=burst, fork=fork, interval=interval)

    @cli.group()
    def jobs() -> None:
        """The job outbox: list, retry, run what is due."""

    @jobs.command("list")
    @click.option("--status", type=click.Choice(["pending", "enqueued", "running", "done", "failed"]))
    @click.option("--limit", default=50, show_default=True, type=int)
    @click.option("--json", "as_json", is_flag=True)
    def jobs_list(status: str | None, limit: int, as_json: bool) -> None:
        """Jobs, newest first, with their errors."""
        from feedback import jobs as outbox

        app = _app()
        with app.app_context():
            rows = [outbox.job_to_dict(r) for r in outbox.list_jobs(status, limit=limit)]
            counts = outbox.job_counts()
        if as_json:
            click.echo(json.dumps({"jobs": rows, "counts": counts}, indent=2))
            return
        table = Table("id", "job", "args", "status", "attempts", "run at", "last error", title="Jobs")
        for r in rows:
            table.add_row(str(r["id"]), r["name"], json.dumps(r["args"]), r["status"],
                          f"{r['attempts']}/{r['max_attempts']}", r["run_at"] or "", (r["last_error"] or "")[:80])
        console.print(table)
        console.print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no jobs", markup=False)

    @jobs.command("retry")
    @click.argument("ids", nargs=-1, type=int)
    @click.option("--all-failed", is_flag=True, help="Retry every failed job.")
    def jobs_retry(ids: tuple[int, ...], all_failed: bool) -> None:
        """Put failed jobs back in the outbox, due now."""
        from feedback import jobs as outbox

        if not ids and not all_failed:
            err.print("error: give job ids, or --all-failed", markup=False)
            sys.exit(2)
        app = _app()
        with app.app_context():
            n = 0
            if all_failed:
                n += outbox.retry_failed()
            for job_id in ids:
                try:
                    outbox.retry_job(job_id)
                    n += 1
                except KeyError:
                    err.print(f"error: no job {job_id}", markup=False)
                    sys.exit(1)
                except ValueError as e:
                    err.print(f"error: {e}", markup=False)
                    sys.exit(1)
        console.print(f"{n} job{'s' if n != 1 else ''} back in the outbox", markup=False)

    @jobs.command("run")
    def jobs_run() -> None:
        """Dispatch what is due now (in-process without REDIS_URL, else onto rq)."""
        from feedback import jobs as outbox

        app = _app(RUN_JOBS_IN_PROCESS=False)
        with app.app_context():
            n = outbox.dispatch_all()
            outbox.recover_stuck()
        console.print(f"{n} job{'s' if n != 1 else ''} "
                      f"{'run' if not app.config.get('REDIS_URL') else 'handed to rq'}", markup=False)

    @cli.group()
    def events() -> None:
        """Touchpoint events: send one from a file, show what was decided."""

    @events.command("send")
    @click.argument("file", type=click.File("r", encoding="utf-8"))
    @click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")
    def events_send(file: Any, as_json: bool) -> None:
        """Send an event (or a batch) from a JSON file ('-' for stdin), as POST /api/v1/events would."""
        from feedback.triggers.operations import receive

        try:
            payload = json.load(file)
        except ValueError as e:
            err.print(f"{file.name}: not valid JSON: {e}", markup=False)
            sys.exit(1)
        app = _app()
        with app.app_context():
            result = receive(payload, source="cli")
        if as_json:
            click.echo(json.dumps(result.body, indent=2, ensure_ascii=False))
        else:
            _print_result(result.body)
        sys.exit(0 if result.status < 400 else 1)

    @events.command("show")
    @click.argument("event_id")
    def events_show(event_id: str) -> None:
        """An event with every decision, invitation and step (JSON)."""
        from feedback.triggers.operations import event_to_dict, get_event

        app = _app()
        with app.app_context():
            row = get_event(event_id)
            if row is None:
                err.print(f"error: no event with id '{event_id}'", markup=False)
                sys.exit(1)
            click.echo(json.dumps(event_to_dict(row), indent=2, ensure_ascii=False))

    @events.command("list")
    @click.option("--type", "event_type")
    @click.option("--contact")
    @click.option("--limit", default=30, show_default=True, type=int)
    def events_list(event_type: str | None, contact: str | None, limit: int) -> None:
        """The latest events and their decisions."""
        from feedback.triggers.operations import event_to_dict, list_events

        app = _app()
        with app.app_context():
            rows, _ = list_events(type=event_type, contact=contact, limit=limit)
            table = Table("event", "type", "received", "contact", "decisions", title="Events")
            for r in rows:
                d = event_to_dict(r, detail=False)
                table.add_row(
                    d["id"], d["type"], d["received_at"] or "", (d["contact"] or {}).get("id", ""),
                    "; ".join(f"{x['survey']}: {x['outcome']}{' (' + x['reason'] + ')' if x['reason'] else ''}"
                              for x in d["decisions"]) or "-",
                )
            console.print(table)

    @cli.group()
    def contacts() -> None:
        """Contacts: opt-outs."""

    @contacts.command("opt-out")
    @click.argument("contact")
    @click.option("--channel", "-c", default="all", show_default=True,
                  help="email, sms, whatsapp, ivr, web, chat, or all (global) for every channel")
    @click.option("--source", default="cli", show_default=True, help="Why or where it was asked for.")
    def contacts_opt_out(contact: str, channel: str, source: str) -> None:
        """Record that CONTACT (their id, or phone:+1555... / email:a@b) opted out."""
        from feedback.errors import FeedbackError
        from feedback.triggers.operations import opt_outs_of, record_opt_out

        app = _app()
        with app.app_context():
            try:
                row = record_opt_out(contact, channel, source=source)
            except FeedbackError as e:
                click.echo(f"error: {e.message}", err=True)
                raise SystemExit(1) from None
            names = ", ".join(o["channel"] for o in opt_outs_of(row))
            click.echo(f"{row.external_id or contact}: opted out of {names}")

    @cli.group()
    def policy() -> None:
        """The contact policy (survey_defs/policy.yaml)."""

    @policy.command("validate")
    @click.argument("path", required=False, type=click.Path(path_type=Path))
    def policy_validate(path: Path | None) -> None:
        """Check the policy file; FILE:LINE:COL: message for every problem."""
        from feedback.errors import DefinitionError
        from feedback.triggers.policyfile import parse_policy

        if path is None:
            app = _app()
            with app.app_context():
                from feedback.triggers.policy import policy_path

                path = policy_path()
            if path is None:
                err.print("error: no policy file configured (CONTACT_POLICY or SURVEY_DEFS)", markup=False)
                sys.exit(1)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            click.echo(f"{path}:1:1: cannot read the policy file: {e.strerror}", err=True)
            sys.exit(1)
        try:
            parse_policy(text, str(path))
        except DefinitionError as e:
            for p in e.problems:
                click.echo(str(p), err=True)
            sys.exit(1)
        click.echo(f"{path}: valid")

    @policy.command("show")
    def policy_show() -> None:
        """The policy in force (JSON)."""
        from feedback.triggers.policy import PolicyUnavailable, current_policy

        app = _app()
        with app.app_context():
            try:
                click.echo(json.dumps(current_policy().to_dict(), indent=2))
            except PolicyUnavailable as e:
                for line in e.problems:
                    click.echo(line, err=True)
                click.echo("error: the contact policy has errors; nothing is sent until it is fixed", err=True)
                raise SystemExit(1) from None


def _print_result(body: dict[str, Any]) -> None:
    items = body.get("results") or [body]
    for item in items:
        if item.get("status") == "invalid" or item.get("error"):
            label = item.get("id") or f"#{item.get('index', 0)}"
            console.print(f"{label}: rejected", markup=False)
            for e in item.get("errors") or []:
                console.print(f"  {e['field'] or '(event)'}: {e['message']}", markup=False)
            if item.get("message") and not item.get("errors"):
                console.print(f"  {item['message']}", markup=False)
            continue
        console.print(f"{item['id']}: {item['status']}", markup=False)
        if item.get("note"):
            console.print(f"  {item['note']}", markup=False)
        for d in item.get("decisions") or []:
            line = f"  {d['survey']} ({d['trigger']}): {d['outcome']}"
            if d.get("reason"):
                line += f" [{d['reason']}]"
            if d.get("detail"):
                line += f": {d['detail']}"
            console.print(line, markup=False)
            inv = d.get("invitation")
            if inv:
                for s in inv["steps"]:
                    console.print(f"    step {s['position'] + 1} {s['channel']}: {s['status']}"
                                  f"{' at ' + s['scheduled_for'] if s.get('scheduled_for') else ''}", markup=False)


def _safe(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
