"""Benchmark of touchpoint events and email delivery.

1. Intake: ``POST /api/v1/events`` under gunicorn (the settings of ``bench/harness.py``), one event per
   request and batches of 100 and 1,000, on SQLite and on PostgreSQL (a private schema of
   the ``test`` database, dropped afterwards). Every event is ``order.delivered`` for a new
   contact with an email address, so each one goes through the whole decision: the
   trigger of ``post-purchase``, the contact policy, and an invitation, its step and its
   job written in the outbox. Printed as events accepted per second, next to a bare Flask
   JSON endpoint (``bench/bare_app.py``) served the same way in the same run.
2. Delivery: invitation emails sent by ONE rq worker (the real Redis) to an SMTP sink
   (aiosmtpd), from the outbox to the sink's inbox; next to plain ``smtplib`` sending the
   same messages to the same sink, one connection per message as the worker does.

    .venv/bin/python -m bench.events [--users 8] [--duration 8] [--emails 300] [--no-postgres]

Nothing here passes or fails on timings: it prints figures.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .harness import (
    BIN,
    ROOT,
    THREADS,
    WORKERS,
    Client,
    Stats,
    app_environment,
    drive,
    free_port,
    serve,
)

console = Console(highlight=False, width=150)

REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
_seq = itertools.count()
_lock = threading.Lock()


def _n() -> int:
    with _lock:
        return next(_seq)


def make_event(run: str) -> dict[str, Any]:
    n = _n()
    return {
        "id": f"{run}-{n}",
        "type": "order.delivered",
        "occurred_at": "2026-11-23T10:00:00Z",
        "contact": {"id": f"{run}-cust-{n}", "email": f"c{n}@bench.example", "locale": "en",
                    "timezone": "Europe/London", "first_name": "Ann"},
        "data": {"order_id": f"A-{n}", "total": 42.5, "store": "online"},
    }


def events_scenario(batch: int, key: str, run: str) -> Callable[[Client, int], None]:
    headers = {"Authorization": f"Bearer {key}"}

    def scenario(client: Client, _user: int) -> None:
        body: Any = make_event(run) if batch == 1 else {"events": [make_event(run) for _ in range(batch)]}
        status, payload, _ = client.request("POST", "/api/v1/events", json_body=body, headers=headers)
        if status != 202:
            raise RuntimeError(f"events answered {status}: {payload[:200]!r}")
        if batch > 1 and json.loads(payload)["accepted"] != batch:
            raise RuntimeError("not every event of the batch was accepted")

    return scenario


def bare_scenario(batch: int, run: str) -> Callable[[Client, int], None]:
    def scenario(client: Client, _user: int) -> None:
        body: Any = make_event(run) if batch == 1 else {"events": [make_event(run) for _ in range(batch)]}
        client.request("POST", "/bare/json", json_body=body)

    return scenario


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    """A fresh schema on the PostgreSQL server, dropped afterwards."""
    import sqlalchemy as sa

    base = os.environ.get("DATABASE_TEST_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    schema = "bench_" + uuid.uuid4().hex[:10]
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def _api_key(env: dict[str, str]) -> str:
    out = subprocess.run([str(BIN / "feedback"), "apikeys", "create", "bench"], cwd=ROOT,
                         env={**os.environ, **env}, check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


Row = tuple[str, Stats, int]


def intake(users: int, duration: float, database_url: str | None, label: str) -> list[Row]:
    # With REDIS_URL set the web processes only write to the outbox (no in-process runner);
    # no worker runs during the measurement, so nothing is sent.
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    rows: list[Row] = []
    with app_environment(database_url, REDIS_URL=REDIS_URL, JOBS_QUEUE=queue) as env:
        key = _api_key(env)
        # Batches take longer per request: longer runs, so that enough of them complete.
        plan = ((1, users, duration), (100, max(1, users // 2), duration * 2), (1000, max(1, users // 4), duration * 4))
        with serve("bench.bare_app:app") as bare:
            for batch, n_users, secs in plan:
                stats = drive(bare.port, bare_scenario(batch, "bare"), users=n_users, duration=secs, warmup=2,
                              server=bare)
                rows.append((f"bare /bare/json, {batch} per request, {n_users} users", stats, batch))
        with serve("wsgi:app", env=env) as app:
            for batch, n_users, secs in plan:
                run = uuid.uuid4().hex[:6]
                stats = drive(app.port, events_scenario(batch, key, run), users=n_users, duration=secs,
                              warmup=2 if batch < 1000 else 12, server=app)
                rows.append((f"{label} /api/v1/events, {batch} per request, {n_users} users", stats, batch))
    return rows


def print_intake(title: str, rows: list[Row]) -> None:
    table = Table(title=title)
    for col in ("run", "requests", "errors", "req/s", "events/s", "p50 ms", "p99 ms", "server CPU ms/event",
                "vs bare"):
        table.add_column(col, justify="left" if col == "run" else "right")
    bare = {batch: s for name, s, batch in rows if name.startswith("bare")}
    for name, s, batch in rows:
        base = bare.get(batch)
        ratio = f"{s.rps / base.rps:.0%}" if base and base.rps and not name.startswith("bare") else ""
        cpu = s.cpu_ms_per_request
        table.add_row(name, str(s.requests), str(s.errors), f"{s.rps:,.1f}", f"{s.rps * batch:,.0f}",
                      f"{s.p50_ms:.1f}", f"{s.p99_ms:.1f}", f"{cpu / batch:.3f}" if cpu is not None else "-", ratio)
    console.print(table)


# -- delivery -------------------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.count = 0
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.count += len(envelope.rcpt_tos)
        return "250 OK"


def delivery(emails: int, database_url: str | None, label: str) -> list[tuple[str, int, float]]:
    from redis import Redis
    from rq import Queue

    from feedback import jobs
    from feedback.app import create_app
    from feedback.store import operations as ops
    from feedback.store.migrate import upgrade

    sink = Sink()
    sink.controller.start()
    tmp = Path(tempfile.mkdtemp(prefix="feedback-bench-mail-"))
    defs = tmp / "defs"
    shutil.copytree(ROOT / "survey_defs", defs)
    (defs / "policy.yaml").write_text("policy_version: 1\n", encoding="utf-8")  # no quiet hours at night
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    app = create_app({
        "DATABASE_URL": database_url or f"sqlite:///{tmp / 'mail.db'}", "SECRET_KEY": "bench",
        "LOAD_SURVEYS_ON_START": False, "RUN_JOBS_IN_PROCESS": False, "SURVEY_DEFS": str(defs),
        "REDIS_URL": REDIS_URL, "JOBS_QUEUE": queue, "SMTP_URL": f"smtp://127.0.0.1:{sink.port}",
        "PUBLIC_BASE_URL": "https://feedback.example", "MAIL_FROM": "Feedback <feedback@bench.example>",
    })
    out: list[tuple[str, int, float]] = []
    try:
        upgrade(app)
        with app.app_context():
            ops.load_surveys([defs])
            from channels.email.invitations import request_email

            for i in range(emails):
                request_email("post-purchase", f"m{i}@bench.example", locale="zh-CN" if i % 2 else "en",
                              context={"contact": {"first_name": "Ann"}, "event": {"order_id": f"A-{i}"}})
        worker = jobs.make_worker(app)
        start = time.perf_counter()
        with app.app_context():
            jobs.dispatch_all()
        worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
        elapsed = time.perf_counter() - start
        out.append((f"{label}: outbox -> 1 rq worker -> SMTP sink", sink.count, elapsed))

        # The same messages through plain smtplib, one connection each: the cost of SMTP itself.
        import smtplib

        with app.app_context():
            from sqlalchemy import select

            from channels.email.invitations import compose
            from feedback.store.distribution import EmailMessage
            from feedback.store.models import db

            messages = [compose(row)[1] for row in db.session.scalars(select(EmailMessage).limit(emails))]
        before = sink.count
        start = time.perf_counter()
        for msg in messages:
            with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
                client.send_message(msg)
        elapsed = time.perf_counter() - start
        out.insert(0, ("bare smtplib -> SMTP sink (the same messages, prebuilt)", sink.count - before, elapsed))
    finally:
        Queue(queue, connection=Redis.from_url(REDIS_URL)).delete(delete_jobs=True)
        with app.app_context():
            from feedback.store.models import db

            db.engine.dispose()
        sink.controller.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def print_delivery(title: str, rows: list[tuple[str, int, float]]) -> None:
    table = Table(title=title)
    for col in ("run", "emails", "seconds", "emails/s", "vs bare"):
        table.add_column(col, justify="left" if col == "run" else "right")
    base = rows[0][1] / rows[0][2] if rows and rows[0][2] else 0
    for i, (name, n, secs) in enumerate(rows):
        rate = n / secs if secs else 0
        table.add_row(name, str(n), f"{secs:.2f}", f"{rate:,.1f}", f"{rate / base:.0%}" if i and base else "")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=8, help="concurrent virtual users for single events")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured per run")
    parser.add_argument("--emails", type=int, default=300, help="invitation emails in the delivery run")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()

    sqlite_rows = intake(args.users, args.duration, None, "SQLite")
    print_intake(f"events accepted on SQLite (gunicorn {WORKERS} workers x {THREADS} threads; {args.duration:.0f} s per run, "
                 "x2 for batches of 100, x4 for 1,000)", sqlite_rows)
    if not args.no_postgres:
        try:
            with postgres_url() as url:
                pg_rows = intake(args.users, args.duration, url, "PostgreSQL")
            print_intake(f"events accepted on PostgreSQL (gunicorn {WORKERS} workers x {THREADS} threads; {args.duration:.0f} s per run, "
                         "x2 for batches of 100, x4 for 1,000)", pg_rows)
        except Exception as e:  # noqa: BLE001 - report, do not hide the SQLite figures
            console.print(f"[yellow]PostgreSQL run skipped:[/yellow] {e}")
    rows = delivery(args.emails, None, "SQLite")
    if not args.no_postgres:
        try:
            with postgres_url() as url:
                rows += delivery(args.emails, url, "PostgreSQL")[1:]
        except Exception as e:  # noqa: BLE001
            console.print(f"[yellow]PostgreSQL delivery run skipped:[/yellow] {e}")
    print_delivery(f"invitation emails delivered by one rq worker to an SMTP sink ({args.emails} emails)", rows)


if __name__ == "__main__":
    main()
