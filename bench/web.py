"""Benchmark of the web survey: showing a survey page and answering survey pages.

Runs the application under gunicorn (the settings of ``bench/harness.py``) on a fresh
SQLite database (or PostgreSQL with ``--postgres``), next to the bare Flask endpoints of
``bench/bare_app.py`` served the same way in the same run, and prints requests per
second, p50/p99 latency and the server's CPU time per request, with the ratio to the
bare endpoint. App and bare runs alternate ``--rounds`` times; each side's rounds are
pooled.

* show: ``GET /s/support-call``, the landing page of an anonymous link (first question,
  CSRF token, signed start ticket; nothing is stored), against ``GET /bare/page``, a
  static page of the same size with the same form fields.
* answer: a full one-question-per-page walk of ``support-call`` by a new respondent
  (score, reason, yes/no: each answer is posted, stored, and redirected to the next page,
  which is then shown), against the same walk through the static pages of
  ``/bare/page`` (the same seven requests, the same forms parsed by the client). The
  walk counts every request; the answers alone (the POSTs) are shown below it with
  their latency and the number of answers stored per second.

    .venv/bin/python -m bench.web [--users 16] [--duration 10] [--rounds 2] [--postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import uuid
from collections.abc import Callable, Iterator

from .harness import Client, Stats, app_environment, console, drive, report, serve

SURVEY = "/s/support-call"
BARE = "/bare/page"
HIDDEN = re.compile(r'<input[^>]*?name="(csrf_token|_start|_step)"[^>]*?value="([^"]*)"')
HIDDEN_ALT = re.compile(r'<input[^>]*?value="([^"]*)"[^>]*?name="(csrf_token)"')
QUESTION = re.compile(r'name="_q" value="([a-z_0-9]+)"')
ANSWERS = {"nps": "3", "reason": "The wait was too long", "resolved": "yes"}


def _form(html: str) -> dict[str, str]:
    main = html.split('id="back-form"', 1)[0]
    fields = {name: value for name, value in HIDDEN.findall(main)}
    for value, name in HIDDEN_ALT.findall(main):
        fields.setdefault(name, value)
    return fields


def show(path: str) -> Callable[[Client, int], None]:
    def scenario(client: Client, _user: int) -> None:
        status, _body, _ = client.get(path)
        if status != 200:
            raise RuntimeError(f"{path} answered {status}")

    return scenario


def walk(start: str, posts: list[tuple[Stats, float, bool]]) -> Callable[[Client, int], None]:
    """A new respondent answers every page from ``start``; every request counts in the
    client's stats, and each answer POST is noted in ``posts`` with the stats it counted in."""

    def scenario(client: Client, _user: int) -> None:
        client.cookies.clear()
        path = start
        status, body, _ = client.get(path)
        for _ in range(6):
            html = body.decode()
            if "end-state" in html:
                return
            fields = _form(html)
            qid = QUESTION.search(html)
            if status != 200 or qid is None or "csrf_token" not in fields:
                raise RuntimeError(f"unexpected survey page ({status})")
            fields["_q"] = qid.group(1)
            fields[f"q_{qid.group(1)}"] = ANSWERS[qid.group(1)]
            stats, before = client.stats, len(client.stats.latencies)
            status, _body, resp = client.post(path, fields)
            if len(stats.latencies) > before:
                posts.append((stats, stats.latencies[before], status == 303))
            if status != 303:
                raise RuntimeError(f"answer refused ({status})")
            path = resp.getheader("Location") or start
            status, body, _ = client.get(path)
        raise RuntimeError("the survey did not finish")

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


def run(users: int, duration: float, rounds: int, database_url: str | None, label: str) -> None:
    runs: dict[str, list[Stats]] = {k: [] for k in ("bare show", "app show", "bare walk", "app walk")}
    posts = {"bare": Stats(), "app": Stats()}
    with app_environment(database_url) as env, serve("wsgi:app", env=env) as app, \
            serve("bench.bare_app:app") as bare:
        for r in range(rounds):
            console.print(f"{label}, round {r + 1}/{rounds}: {users} users, {duration:.0f} s per run ...")
            runs["bare show"].append(drive(bare.port, show(BARE), users=users, duration=duration, server=bare))
            runs["app show"].append(drive(app.port, show(SURVEY), users=users, duration=duration, server=app))
            for side, server, start in (("bare", bare, BARE), ("app", app, SURVEY)):
                noted: list[tuple[Stats, float, bool]] = []
                stats = drive(server.port, walk(start, noted), users=users, duration=duration, server=server)
                runs[f"{side} walk"].append(stats)
                for counted_in, seconds, ok in noted:  # only the answers posted while counting
                    if counted_in is stats:
                        posts[side].record(seconds, ok)
                posts[side].elapsed += stats.elapsed
    pooled = {k: Stats.pooled(v) for k, v in runs.items()}
    title = f"web survey on {label}: {users} users, {rounds} rounds of {duration:.0f} s"
    report(title + " (show a page)", [("bare GET /bare/page", pooled["bare show"]),
                                      ("GET /s/<id>", pooled["app show"])], baseline="bare GET /bare/page")
    report(title + " (answer every page: GET, POST, redirect, GET ...)",
           [("bare walk: every request", pooled["bare walk"]), ("app walk: every request", pooled["app walk"])],
           baseline="bare walk: every request")
    app_posts, bare_posts = posts["app"], posts["bare"]
    console.print(
        f"answers (the POSTs of the walk): app p50 {app_posts.p50_ms:.1f} ms, p99 {app_posts.p99_ms:.1f} ms, "
        f"{app_posts.requests / app_posts.elapsed if app_posts.elapsed else 0:,.0f} answers stored/s; bare "
        f"p50 {bare_posts.p50_ms:.1f} ms, p99 {bare_posts.p99_ms:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=16, help="concurrent virtual users")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating app / bare runs, pooled")
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    args = parser.parse_args()
    run(args.users, args.duration, args.rounds, None, "SQLite")
    if args.postgres:
        try:
            with postgres_url() as url:
                run(args.users, args.duration, args.rounds, url, "PostgreSQL")
        except Exception as e:  # noqa: BLE001 - report, do not hide the SQLite figures
            console.print(f"[yellow]PostgreSQL run skipped:[/yellow] {e}")


if __name__ == "__main__":
    main()
