"""Benchmark of the phone survey webhooks: many simulated callers at once.

The app runs under gunicorn (2 workers, gthread) on a fresh SQLite database with
``TWILIO_AUTH_TOKEN`` set, so every request is signed and checked. Each virtual caller
places calls one after another: the Voice webhook, an answer to every question (keys
and speech), and the ``completed`` status callback, as Twilio would send them (the call
simulator from the test suite plays Twilio). Next to it, in the same run and with the
same server settings, a bare Flask endpoint that returns a static TwiML document.

    .venv/bin/python -m bench.ivr [--users 50] [--duration 10] [--pause 1.0]

Prints webhook throughput and p50/p99 latency of both with callers answering as fast as
the server replies (so latency there is mostly queueing), the app's share of the bare
endpoint's throughput, then the latency of 50 concurrent calls whose callers listen
``--pause`` seconds before each answer (real callers take several seconds).
"""

from __future__ import annotations

import argparse
import itertools
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any

from bench.harness import Client, app_environment, console, drive, report, serve
from tests.support.callsim import ACCOUNT_SID, AUTH_TOKEN, CallSim, HttpTransport
from tests.support.twilio import sign

SUPPORT_EN = "+15551230000"
SUPPORT_ZH = "+15551230088"
_numbers = itertools.count(1)
_lock = threading.Lock()


def _transport(client: Client, cache: dict[int, Any], i: int) -> HttpTransport:
    transport = cache.get(i)
    if transport is None:
        transport = HttpTransport("127.0.0.1", client.port, on_request=lambda s, ok: client.stats.record(s, ok))
        cache[i] = transport
    return transport


def caller_scenario(port: int, pause: float = 0.0) -> Any:
    """One survey call per run: support-call in English (menu the first time) or Chinese.
    With ``pause`` the caller listens that many seconds before each answer."""
    transports: dict[int, HttpTransport] = {}
    callers: dict[int, str] = {}

    def listen() -> None:
        if pause:
            time.sleep(pause)

    def scenario(client: Client, i: int) -> None:
        sim = CallSim(_transport(client, transports, i), base_url=f"http://127.0.0.1:{port}",
                      token=AUTH_TOKEN, check=False)
        if i not in callers:
            with _lock:
                callers[i] = f"+1555800{next(_numbers):04d}"
        listen()
        if i % 2:
            call = sim.dial(SUPPORT_ZH, callers[i])
            listen()
            call.press("9")          # NPS 9: no reason question
            listen()
            call.say("是的")          # resolved
        else:
            call = sim.dial(SUPPORT_EN, callers[i])
            if call.waiting is not None and "/ivr/language" in call.waiting.get("action", ""):
                listen()
                call.press("1")
            listen()
            call.press("7")
            listen()
            call.say("The hold music was too loud")
            listen()
            call.press("1")
        if not call.ended:
            call.hang_up()

    return scenario


def bare_scenario(port: int) -> Any:
    """The same client work per request as a simulated caller (Twilio's parameters, a
    signature, the TwiML parsed), against the bare endpoint."""
    url = f"http://127.0.0.1:{port}/bare/twiml"
    calls = itertools.count()

    def scenario(client: Client, i: int) -> None:
        params = {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": f"CA{next(calls):032d}",
                  "CallStatus": "in-progress", "Direction": "inbound", "From": "+15557654321",
                  "To": SUPPORT_EN, "Called": SUPPORT_EN, "Caller": "+15557654321", "Digits": "7"}
        status, body, _ = client.post("/bare/twiml", params, headers={"X-Twilio-Signature": sign(url, params)})
        if status != 200 or ET.fromstring(body).tag != "Response":
            raise RuntimeError(f"bare endpoint answered {status}")

    return scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent callers")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="seconds a caller listens before each answer in the paced run (0: skip it)")
    args = parser.parse_args()

    rows = []
    paced = None
    with app_environment(TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID) as env:
        with serve("wsgi:app", env=env, workers=2, threads=args.threads) as server:
            console.print(f"app: {args.users} callers answering at once for {args.duration:.0f}s ...")
            stats = drive(server.port, caller_scenario(server.port), users=args.users, duration=args.duration)
            rows.append(("ivr webhooks", stats))
            if args.pause > 0:
                console.print(f"app: {args.users} calls, callers listening {args.pause:g}s before each answer ...")
                paced = drive(server.port, caller_scenario(server.port, args.pause), users=args.users,
                              duration=args.duration, warmup=args.pause * 2)
    with serve("bench.bare_app:app", workers=2, threads=args.threads) as bare:
        console.print(f"bare: {args.users} clients for {args.duration:.0f}s ...")
        rows.append(("bare TwiML", drive(bare.port, bare_scenario(bare.port), users=args.users,
                                         duration=args.duration)))
    report(f"Throughput: {args.users} callers answering without pause (gunicorn 2 workers x {args.threads} "
           "threads, gthread, SQLite)", rows, baseline="bare TwiML")
    app, base = rows[0][1], rows[1][1]
    if base.rps:
        console.print(f"ratio: {app.rps / base.rps:.0%} of the bare endpoint (aim: at least 40%)")
    if paced is not None:
        report(f"Latency: {args.users} concurrent calls, callers listening {args.pause:g}s before each answer",
               [("ivr webhooks", paced)])
        console.print(f"p99 at {args.users} concurrent calls: {paced.p99_ms:.0f} ms (aim: under 100 ms)")


if __name__ == "__main__":
    main()
