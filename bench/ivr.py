"""Benchmark of the phone survey webhooks: many simulated callers at once.

The app runs under gunicorn (the settings of ``bench/harness.py``: 2 workers x 2 threads,
gthread) on a fresh SQLite database (or PostgreSQL with ``--postgres``) with
``TWILIO_AUTH_TOKEN`` set, so every request is signed and checked. Each virtual caller
places calls one after another: the Voice webhook, an answer to every question (keys
and speech), and the ``completed`` status callback, as Twilio would send them (the call
simulator from the test suite plays Twilio), each request on a new connection as
Twilio's are. Next to it, with the same server settings and the same client work per
request (Twilio's parameters, a signature, the TwiML parsed), a bare Flask endpoint that
returns a static TwiML document. App and bare runs alternate ``--rounds`` times and each
side's rounds are pooled, so a passing disturbance of the machine does not decide the ratio.

    .venv/bin/python -m bench.ivr [--users 50] [--duration 10] [--rounds 3] [--pause 1.0]
                                  [--workers 2] [--threads 2] [--postgres]
    .venv/bin/python -m bench.ivr --profile 300 [--top 30]

Prints webhook throughput, p50/p99 latency and the server's CPU time per request of both
with callers answering as fast as the server replies (so latency there is mostly
queueing), the app's share of the bare endpoint's throughput, then the latency of 50
concurrent calls whose callers listen ``--pause`` seconds before each answer (real
callers take several seconds).

With ``--profile N`` nothing is served: N calls of the same scenario go through the
application in this process (Flask's test client, the app configured as above), and it
prints the CPU time per webhook of each kind and where it goes (cProfile, the app's side
only). CPU time rather than wall time, and one thread, so that other work on the machine
disturbs the figures less; the profiler's own overhead inflates the functions that are
called most, so read the table for where the time goes, the first figures for how much.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import os
import pstats
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any

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
from bench.web import postgres_url
from tests.support.callsim import ACCOUNT_SID, AUTH_TOKEN, CallSim, HttpTransport
from tests.support.twilio import sign

SUPPORT_EN = "+15551230000"
SUPPORT_ZH = "+15551230088"
_numbers = itertools.count(1)
_lock = threading.Lock()


class _Transport(HttpTransport):
    """The simulator's HTTP transport, one connection per request (unless the client keeps
    its connections), every latency recorded in the client's current stats."""

    def __init__(self, client: Client) -> None:
        super().__init__("127.0.0.1", client.port, on_request=lambda s, ok: client.stats.record(s, ok))
        self.keepalive = client.keepalive

    def post(self, url: str, params: dict[str, str], headers: dict[str, str]) -> Any:
        return super().post(url, params, headers if self.keepalive else {**headers, "Connection": "close"})


def _transport(client: Client, cache: dict[int, Any], i: int) -> HttpTransport:
    transport = cache.get(i)
    if transport is None:
        transport = cache[i] = _Transport(client)
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


def _play_call(sim: CallSim, i: int, caller: str) -> None:
    """The calls of :func:`caller_scenario`, without pauses."""
    if i % 2:
        call = sim.dial(SUPPORT_ZH, caller)
        call.press("9")
        call.say("是的")
    else:
        call = sim.dial(SUPPORT_EN, caller)
        if call.waiting is not None and "/ivr/language" in call.waiting.get("action", ""):
            call.press("1")
        call.press("7")
        call.say("The hold music was too loud")
        call.press("1")
    if not call.ended:
        call.hang_up()


def profile(calls: int, top: int) -> None:
    """Play ``calls`` calls in this process; print CPU ms per webhook and the top functions."""
    from tests.support.callsim import FlaskTransport

    with app_environment(None, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID) as env:
        os.environ.update(env)
        from feedback.app import create_app

        app = create_app({"RUN_JOBS_IN_PROCESS": False})
        inner = app.wsgi_app
        prof = cProfile.Profile()
        costs: dict[str, list[float]] = {}
        measuring = False

        def measured(environ: dict[str, Any], start_response: Any) -> Any:
            if not measuring:
                return list(inner(environ, start_response))
            t0 = time.process_time()
            prof.enable()
            try:
                return list(inner(environ, start_response))
            finally:
                prof.disable()
                kind = environ["PATH_INFO"].rstrip("/").split("/")[2]
                costs.setdefault(kind, []).append(time.process_time() - t0)

        app.wsgi_app = measured  # type: ignore[method-assign]
        sim = CallSim(FlaskTransport(app.test_client()), base_url="http://127.0.0.1:5000", token=AUTH_TOKEN,
                      check=False)
        callers = [f"+1555800{n:04d}" for n in range(50)]
        for i in range(100):  # every caller known, every cache warm
            _play_call(sim, i, callers[i % 50])
        measuring = True
        for i in range(calls):
            _play_call(sim, i, callers[i % 50])
    every = [c for kind in costs.values() for c in kind]
    console.print(f"{calls} calls, {len(every)} webhooks in-process (profiled, so slower than served): "
                  f"{sum(every) / len(every) * 1000:.2f} ms CPU per webhook; "
                  + ", ".join(f"{k} {sum(v) / len(v) * 1000:.2f} ms (x{len(v)})" for k, v in costs.items()))
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def run(args: argparse.Namespace, database_url: str | None, label: str) -> None:
    app_runs: list[Stats] = []
    bare_runs: list[Stats] = []
    paced = None
    settings = dict(workers=args.workers, threads=args.threads)
    with app_environment(database_url, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_ACCOUNT_SID=ACCOUNT_SID) as env, \
            serve("wsgi:app", env=env, **settings) as server, serve("bench.bare_app:app", **settings) as bare:
        for r in range(args.rounds):
            console.print(f"round {r + 1}/{args.rounds}: {args.users} callers answering at once, "
                          f"{args.duration:.0f}s on the app, then as long on the bare endpoint ...")
            app_runs.append(drive(server.port, caller_scenario(server.port), users=args.users,
                                  duration=args.duration, server=server, keepalive=False))
            bare_runs.append(drive(bare.port, bare_scenario(bare.port), users=args.users,
                                   duration=args.duration, server=bare, keepalive=False))
        if args.pause > 0:
            console.print(f"app: {args.users} calls, callers listening {args.pause:g}s before each answer ...")
            paced = drive(server.port, caller_scenario(server.port, args.pause), users=args.users,
                          duration=args.duration, warmup=args.pause * 2, server=server, keepalive=False)
    app, base = Stats.pooled(app_runs), Stats.pooled(bare_runs)
    report(f"IVR webhooks on {label}: {args.users} callers answering without pause, {args.rounds} rounds of "
           f"{args.duration:.0f} s each (gunicorn {args.workers} workers x {args.threads} threads, gthread)",
           [("ivr webhooks", app), ("bare TwiML", base)], baseline="bare TwiML")
    per_round = ", ".join(f"{a.rps / b.rps:.0%}" for a, b in zip(app_runs, bare_runs, strict=True) if b.rps)
    if base.rps:
        console.print(f"ratio: {app.rps / base.rps:.0%} of the bare endpoint (rounds: {per_round}; aim: at least 40%)")
    if paced is not None:
        report(f"IVR latency on {label}: {args.users} concurrent calls, callers listening {args.pause:g}s "
               "before each answer", [("ivr webhooks", paced)])
        console.print(f"p99 at {args.users} concurrent calls: {paced.p99_ms:.0f} ms (aim: under 100 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent callers")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating app / bare runs, pooled")
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=THREADS, help="gunicorn threads per worker")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="seconds a caller listens before each answer in the paced run (0: skip it)")
    parser.add_argument("--postgres", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="serve nothing: profile N calls in this process and print where the CPU goes")
    parser.add_argument("--top", type=int, default=30, help="functions listed with --profile")
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.top)
        return
    run(args, None, "SQLite")
    if args.postgres:
        try:
            with postgres_url() as url:
                run(args, url, "PostgreSQL")
        except Exception as e:  # noqa: BLE001 - report, do not hide the SQLite figures
            console.print(f"[yellow]PostgreSQL run skipped:[/yellow] {e}")


if __name__ == "__main__":
    main()
