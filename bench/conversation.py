"""Benchmark: conversations by SMS and chat under concurrency, next to a bare Flask endpoint.

    .venv/bin/python -m bench.conversation [--users 16] [--duration 10] [--database-url URL]

Serves the application under gunicorn (2 workers, gthread) on a fresh SQLite database
(or ``--database-url``), and the bare Flask baseline (``bench/bare_app.py``) the same way,
in the same run. Then:

* **SMS**: many phone numbers at once each complete the support-call survey through the
  inbound webhook (keyword, score, reason, yes/no: four signed Twilio requests, each
  answered with TwiML), against ``/bare/twiml`` taking the same form posts;
* **chat**: many chat sessions at once each complete the support-ticket survey through the
  JSON API (one create, four messages), against ``/bare/json``.

Prints throughput, p50/p99 latency and the ratio to the bare endpoint; never passes or fails.
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import uuid
from collections.abc import Callable

from twilio.request_validator import RequestValidator

from bench.harness import Client, Stats, app_environment, console, drive, report, serve

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


def run(users: int, duration: float, database_url: str | None) -> None:
    console.print(f"[bold]Conversations[/bold]: {users} concurrent users, {duration:.0f} s per run, "
                  "gunicorn 2 workers x 8 threads (gthread)")
    results: dict[str, tuple[Stats, Tally]] = {}
    with serve("bench.bare_app:app") as bare:
        t = Tally()
        results["bare /bare/twiml"] = (drive(bare.port, sms_user(bare.port, "/bare/twiml", t),
                                              users=users, duration=duration), t)
        t = Tally()
        results["bare /bare/json"] = (drive(bare.port, chat_user("/bare/json", "/bare/json", t),
                                             users=users, duration=duration), t)
    env_extra = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_FROM_NUMBER": OUR_NUMBER}
    with app_environment(database_url, **env_extra) as env, serve("wsgi:app", env=env) as app:
        t = Tally()
        results["SMS /sms/inbound"] = (drive(app.port, sms_user(app.port, "/sms/inbound", t),
                                             users=users, duration=duration), t)
        t = Tally()
        results["chat /chat/api"] = (drive(app.port, chat_user(
            "/chat/api/sessions", "/chat/api/sessions/{sid}/messages", t), users=users, duration=duration), t)

    report("Inbound SMS webhook (signed, TwiML replies)",
           [("bare /bare/twiml", results["bare /bare/twiml"][0]), ("SMS /sms/inbound", results["SMS /sms/inbound"][0])],
           baseline="bare /bare/twiml")
    report("Chat API (JSON)",
           [("bare /bare/json", results["bare /bare/json"][0]), ("chat /chat/api", results["chat /chat/api"][0])],
           baseline="bare /bare/json")
    sms_stats, sms_done = results["SMS /sms/inbound"]
    chat_stats, chat_done = results["chat /chat/api"]
    console.print(
        f"SMS: {sms_stats.rps:,.0f} inbound messages/s, {sms_done.done / sms_stats.elapsed:,.1f} surveys completed/s "
        f"({sms_done.done} phone numbers in {sms_stats.elapsed:.1f} s)"
    )
    console.print(
        f"chat: {chat_stats.rps:,.0f} requests/s ({chat_stats.rps * 4 / 5:,.0f} messages/s), "
        f"{chat_done.done / chat_stats.elapsed:,.1f} conversations completed/s"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=16, help="concurrent phone numbers / chat sessions")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args(argv)
    run(args.users, args.duration, args.database_url)


if __name__ == "__main__":
    main()

