"""Benchmark: conversations by SMS and chat under concurrency, next to a bare Flask endpoint.

    .venv/bin/python -m bench.conversation [--users 16] [--duration 10] [--rounds 2] [--database-url URL]

Serves the application under gunicorn (the settings of ``bench/harness.py``) on a fresh
SQLite database (or ``--database-url``), and the bare Flask baseline
(``bench/bare_app.py``) the same way, in the same run. Then, alternating app and bare runs
``--rounds`` times (each side's rounds pooled):

* **SMS**: many phone numbers at once each complete the support-call survey through the
  inbound webhook (keyword, score, reason, yes/no: four signed Twilio requests, each
  answered with TwiML, each on a new connection as Twilio's are), against ``/bare/twiml``
  taking the same signed form posts;
* **chat**: many chat sessions at once each complete the support-ticket survey through the
  JSON API (one create, four messages, on a kept connection as a browser's), against
  ``/bare/json``.

Prints throughput, p50/p99 latency, the server's CPU time per request and the ratio to the
bare endpoint; never passes or fails.
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import uuid
from collections.abc import Callable

from twilio.request_validator import RequestValidator

from bench.harness import (
    THREADS,
    WORKERS,
    Client,
    Stats,
    app_environment,
    console,
    drive,
    report,
    serve,
)

AUTH_TOKEN = "bench-auth-token"
ACCOUNT_SID = "AC" + "b" * 32
OUR_NUMBER = "+15550001000"
SMS_SCRIPT = ("FEEDBACK", "I'd say a 7", "Too long on hold", "yes")
CHAT_SCRIPT = ({"value": "3"}, {"value": "billing"}, {"text": "2 times"}, {"text": "Answer the first email"})


class Tally:
    def __init__(self) -> None:
        self.done = 0
        self.lock = threading.Lock()

    def add(self) -> None:
        with self.lock:
            self.done += 1


def sms_user(port: int, path: str, tally: Tally) -> Callable[[Client, int], None]:
    validator = RequestValidator(AUTH_TOKEN)
    url = f"http://127.0.0.1:{port}{path}"
    numbers = itertools.count(1)
    lock = threading.Lock()

    def scenario(client: Client, user: int) -> None:
        with lock:
            n = next(numbers)
        phone = f"+1555{n % 10_000_000:07d}"
        for body in SMS_SCRIPT:
            params = {
                "MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": ACCOUNT_SID, "From": phone,
                "To": OUR_NUMBER, "Body": body, "NumMedia": "0", "NumSegments": "1",
            }
            headers = {"X-Twilio-Signature": validator.compute_signature(url, params)}
            status, payload, _ = client.post(path, params, headers=headers)
            if status != 200 or b"<Response" not in payload:
                raise RuntimeError(f"{path} answered {status}: {payload[:200]!r}")
        tally.add()

    return scenario


def chat_user(path_create: str, path_message: str, tally: Tally) -> Callable[[Client, int], None]:
    def scenario(client: Client, user: int) -> None:
        status, payload, _ = client.post(path_create, json_body={"survey": "support-ticket", "locale": "en"})
        if status not in (200, 201):
            raise RuntimeError(f"{path_create} answered {status}: {payload[:200]!r}")
        created = json.loads(payload)
        sid, token = created.get("session_id", "x"), created.get("token", "x")
        headers = {"Authorization": f"Bearer {token}"}
        for body in CHAT_SCRIPT:
            status, payload, _ = client.post(path_message.format(sid=sid), json_body=body, headers=headers)
            if status != 200:
                raise RuntimeError(f"chat message answered {status}: {payload[:200]!r}")
        tally.add()

    return scenario


def run(users: int, duration: float, rounds: int, database_url: str | None) -> None:
    console.print(f"[bold]Conversations[/bold]: {users} concurrent users, {rounds} rounds of {duration:.0f} s, "
                  f"gunicorn {WORKERS} workers x {THREADS} threads (gthread)")
    runs: dict[str, list[Stats]] = {k: [] for k in ("bare sms", "sms", "bare chat", "chat")}
    tallies = {k: Tally() for k in runs}
    env_extra = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_FROM_NUMBER": OUR_NUMBER}
    with app_environment(database_url, **env_extra) as env, serve("wsgi:app", env=env) as app, \
            serve("bench.bare_app:app") as bare:
        for r in range(rounds):
            console.print(f"round {r + 1}/{rounds} ...")
            runs["bare sms"].append(drive(bare.port, sms_user(bare.port, "/bare/twiml", tallies["bare sms"]),
                                          users=users, duration=duration, server=bare, keepalive=False))
            runs["sms"].append(drive(app.port, sms_user(app.port, "/sms/inbound", tallies["sms"]),
                                     users=users, duration=duration, server=app, keepalive=False))
            runs["bare chat"].append(drive(bare.port, chat_user("/bare/json", "/bare/json", tallies["bare chat"]),
                                           users=users, duration=duration, server=bare))
            runs["chat"].append(drive(app.port, chat_user("/chat/api/sessions", "/chat/api/sessions/{sid}/messages",
                                                          tallies["chat"]), users=users, duration=duration,
                                      server=app))
    pooled = {k: Stats.pooled(v) for k, v in runs.items()}
    report("Inbound SMS webhook (signed, TwiML replies)",
           [("bare /bare/twiml", pooled["bare sms"]), ("SMS /sms/inbound", pooled["sms"])], baseline="bare /bare/twiml")
    report("Chat API (JSON)", [("bare /bare/json", pooled["bare chat"]), ("chat /chat/api", pooled["chat"])],
           baseline="bare /bare/json")
    sms_stats, chat_stats = pooled["sms"], pooled["chat"]
    console.print(f"SMS: {sms_stats.rps:,.0f} inbound messages/s, {sms_stats.rps / len(SMS_SCRIPT):,.1f} surveys "
                  f"completed/s ({len(SMS_SCRIPT)} messages each)")
    console.print(f"chat: {chat_stats.rps:,.0f} requests/s ({chat_stats.rps * 4 / 5:,.0f} messages/s), "
                  f"{chat_stats.rps / 5:,.1f} conversations completed/s (one create and four messages each)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=16, help="concurrent phone numbers / chat sessions")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating app / bare runs, pooled")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args(argv)
    run(args.users, args.duration, args.rounds, args.database_url)


if __name__ == "__main__":
    main()

