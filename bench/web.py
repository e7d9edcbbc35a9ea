"""Benchmark of the web survey: showing a survey page and answering survey pages.

Runs the application under gunicorn (2 workers, gthread) on a fresh SQLite database (or
PostgreSQL with ``--postgres``), next to the bare Flask endpoint of ``bench/bare_app.py``
served the same way in the same run, and prints requests per second and p50/p99 latency
with the ratio to the bare endpoint.

* show: ``GET /s/support-call``, the landing page of an anonymous link (first question,
  CSRF token, signed start ticket; nothing is stored).
* answer: a full one-question-per-page walk of ``support-call`` by a new respondent
  (score, reason, yes/no): measured once counting only the answer POSTs (each stores an
  answer and redirects), once counting every request of the walk (the page views too).

    .venv/bin/python -m bench.web [--users 16] [--duration 10] [--postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import uuid
from collections.abc import Iterator

from .harness import Client, Stats, app_environment, console, drive, report, serve

SURVEY = "/s/support-call"
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


def show(client: Client, _user: int) -> None:
    status, _body, _ = client.get(SURVEY)
    if status != 200:
        raise RuntimeError(f"survey page answered {status}")


def answer_walk(client: Client, _user: int, *, posts_only: bool = True) -> None:
    """A new respondent answers every page; only the answer POSTs count (``posts_only``),
    or every request of the walk (page views and redirects too)."""
    measured = client.stats
    quiet = Stats() if posts_only else measured
    client.cookies.clear()
    client.stats = quiet
    status, body, _ = client.get(SURVEY)
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
        client.stats = measured
        status, _body, resp = client.post(SURVEY, fields)
        client.stats = quiet
        if status != 303:
            raise RuntimeError(f"answer refused ({status})")
        status, body, _ = client.get(resp.getheader("Location") or SURVEY)
    raise RuntimeError("the survey did not finish")


def whole_walk(client: Client, user: int) -> None:
    answer_walk(client, user, posts_only=False)


def bare_show(client: Client, _user: int) -> None:
    client.get("/bare/html")


def bare_answer(client: Client, _user: int) -> None:
    client.post("/bare/html", {"csrf_token": "x" * 90, "_step": "1", "_q": "nps", "q_nps": "3"})


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


def run(users: int, duration: float, database_url: str | None, label: str) -> None:
    with app_environment(database_url) as env:
        with serve("bench.bare_app:app", workers=2) as bare:
            bare_show_stats = drive(bare.port, bare_show, users=users, duration=duration)
            bare_answer_stats = drive(bare.port, bare_answer, users=users, duration=duration)
        with serve("wsgi:app", env=env, workers=2) as app:
            show_stats = drive(app.port, show, users=users, duration=duration)
            answer_stats = drive(app.port, answer_walk, users=users, duration=duration)
            walk_stats = drive(app.port, whole_walk, users=users, duration=duration)
    title = f"web survey on {label}: {users} users, {duration:.0f} s per run, gunicorn 2 workers x 8 threads"
    report(title + " (show a page)", [("bare GET /bare/html", bare_show_stats), ("GET /s/<id>", show_stats)],
           baseline="bare GET /bare/html")
    report(title + " (answer a page)", [("bare POST /bare/html", bare_answer_stats),
                                         ("POST /s/<id> (answers only)", answer_stats),
                                         ("walk: every request", walk_stats)],
           baseline="bare POST /bare/html")
    console.print("answers only: the POSTs that store an answer and redirect (the page views between "
                  "them run too but are not counted); walk: every request of the same walk.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=16, help="concurrent virtual users")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    args = parser.parse_args()
    run(args.users, args.duration, None, "SQLite")
    if args.postgres:
        try:
            with postgres_url() as url:
                run(args.users, args.duration, url, "PostgreSQL")
        except Exception as e:  # noqa: BLE001 - report, do not hide the SQLite figures
            console.print(f"[yellow]PostgreSQL run skipped:[/yellow] {e}")


if __name__ == "__main__":
    main()
