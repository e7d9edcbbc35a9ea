"""Shared machinery for the benchmarks: serve the app and the bare baseline under gunicorn,
drive them with concurrent virtual users, and print throughput and latency side by side.

Benchmarks print figures; they never pass or fail on timings.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
console = Console(highlight=False, width=max(130, Console().width))
#: The gunicorn settings of every benchmark, for the app and the bare endpoint alike:
#: one worker process per core of this 2-core machine, two threads each (see the README).
WORKERS = 2
THREADS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become healthy in time")


@dataclass
class Server:
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU time used so far by the gunicorn master and its workers (Linux /proc)."""
        return process_tree_cpu(self.proc.pid)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # the fields after "pid (name)"


def process_tree_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its children (0 where /proc is missing)."""
    total = 0.0
    for entry in Path("/proc").iterdir() if Path("/proc").exists() else ():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is None:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:  # fields[1] is the parent's pid
            total += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
    return total


def gunicorn_cmd(target: str, port: int, workers: int = WORKERS, threads: int = THREADS) -> list[str]:
    return [
        str(BIN / "gunicorn"), "-w", str(workers), "-k", "gthread", "--threads", str(threads),
        "-b", f"127.0.0.1:{port}", "--log-level", "warning", "--backlog", "2048", target,
    ]


@contextlib.contextmanager
def serve(
    target: str = "wsgi:app",
    *,
    env: dict[str, str] | None = None,
    workers: int = WORKERS,
    threads: int = THREADS,
) -> Iterator[Server]:
    """Run ``target`` under gunicorn on a free port until the block ends."""
    port = free_port()
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(gunicorn_cmd(target, port, workers, threads), cwd=ROOT, env=full_env)
    try:
        _wait_healthy(port, proc)
        yield Server(port, full_env, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def app_environment(database_url: str | None = None, **extra: str) -> Iterator[dict[str, str]]:
    """Environment for the application on a fresh database (SQLite in a temporary folder
    unless ``database_url`` is given), migrated, with the example surveys loaded."""
    tmp = Path(tempfile.mkdtemp(prefix="feedback-bench-"))
    env = {
        "DATABASE_URL": database_url or f"sqlite:///{tmp / 'bench.db'}",
        "SECRET_KEY": "bench-secret",
        "SURVEY_DEFS": str(ROOT / "survey_defs"),
        "PUBLIC_BASE_URL": "",
        **extra,
    }
    full = {**os.environ, **env}
    try:
        for args in (["db", "upgrade"], ["surveys", "load", str(ROOT / "survey_defs")]):
            subprocess.run([str(BIN / "feedback"), *args], cwd=ROOT, env=full, check=True,
                           stdout=subprocess.DEVNULL)
        yield env
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class Client:
    """One virtual user's connection; every request's latency is recorded. With
    ``keepalive`` the connection is kept between requests (a browser); without it every
    request comes on a new connection (a webhook: Twilio does not hold connections open),
    so requests spread over the server's worker processes as they come."""

    def __init__(self, port: int, stats: Stats, keepalive: bool = True) -> None:
        self.port = port
        self.stats = stats
        self.keepalive = keepalive
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes, http.client.HTTPResponse]:
        hdrs = dict(headers or {})
        if not self.keepalive:
            hdrs["Connection"] = "close"
        body: bytes | None = None
        if json_body is not None:
            import json

            body = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        elif data is not None:
            body = urlencode(data, doseq=True).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        start = time.perf_counter()
        for retry in range(2):
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                payload = resp.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if retry:
                    self.stats.record(time.perf_counter() - start, ok=False)
                    raise
        self.stats.record(time.perf_counter() - start, ok=resp.status < 400)
        for header, value in resp.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return resp.status, payload, resp

    def get(self, path: str, **kw: Any) -> tuple[int, bytes, http.client.HTTPResponse]:
        return self.request("GET", path, **kw)

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> tuple[int, bytes, http.client.HTTPResponse]:
        return self.request("POST", path, data, **kw)


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    #: CPU seconds the server used while the requests were counted (None: not measured).
    server_cpu: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def pooled(cls, runs: list[Stats]) -> Stats:
        """Several runs of the same thing as one: all their requests over all their time."""
        out = cls()
        for s in runs:
            out.latencies.extend(s.latencies)
            out.errors += s.errors
            out.elapsed += s.elapsed
            if s.server_cpu is not None:
                out.server_cpu = (out.server_cpu or 0.0) + s.server_cpu
        return out

    @property
    def cpu_ms_per_request(self) -> float | None:
        if self.server_cpu is None or not self.requests:
            return None
        return self.server_cpu / self.requests * 1000

    def record(self, seconds: float, ok: bool = True) -> None:
        with self._lock:
            self.latencies.append(seconds)
            if not ok:
                self.errors += 1

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        data = sorted(self.latencies)
        k = min(len(data) - 1, max(0, round(p / 100 * (len(data) - 1))))
        return data[k]

    @property
    def p50_ms(self) -> float:
        return self.percentile(50) * 1000

    @property
    def p99_ms(self) -> float:
        return self.percentile(99) * 1000

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies) * 1000 if self.latencies else 0.0


def drive(
    port: int,
    scenario: Callable[[Client, int], None],
    *,
    users: int,
    duration: float,
    warmup: float = 1.0,
    server: Server | None = None,
    keepalive: bool = True,
) -> Stats:
    """Run ``scenario(client, user_index)`` repeatedly in ``users`` threads for ``duration``
    seconds (after a warm-up whose requests are not counted). With ``server``, the CPU
    time its processes used meanwhile is measured too."""
    stats = Stats()
    warm = Stats()
    stop = threading.Event()
    counting = threading.Event()
    failures: list[BaseException] = []

    def user(i: int) -> None:
        client = Client(port, warm, keepalive=keepalive)
        while not stop.is_set():
            client.stats = stats if counting.is_set() else warm
            try:
                scenario(client, i)
            except Exception as e:  # noqa: BLE001 - counted, the run goes on
                client.stats.errors += 1
                if len(failures) < 5:
                    failures.append(e)

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
    for t in threads:
        t.start()
    time.sleep(warmup)
    cpu_before = server.cpu_seconds() if server is not None else None
    counting.set()
    start = time.perf_counter()
    time.sleep(duration)
    stop.set()
    stats.elapsed = time.perf_counter() - start
    if server is not None and cpu_before is not None:
        stats.server_cpu = server.cpu_seconds() - cpu_before
    for t in threads:
        t.join(timeout=30)
    for e in failures:
        console.print(f"[yellow]scenario error:[/yellow] {type(e).__name__}: {e}")
    return stats


def report(title: str, rows: list[tuple[str, Stats]], baseline: str | None = None) -> None:
    """Print a table of the runs; with ``baseline``, each row's throughput as a ratio of it."""
    base = dict(rows).get(baseline) if baseline else None
    cpu = any(s.cpu_ms_per_request is not None for _, s in rows)
    table = Table(title=title)
    for col in ("run", "requests", "errors", "req/s", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right" if col != "run" else "left")
    if cpu:
        table.add_column("server CPU ms/req", justify="right")
    if base:
        table.add_column(f"vs {baseline}", justify="right")
    for name, s in rows:
        cells = [name, str(s.requests), str(s.errors), f"{s.rps:,.0f}", f"{s.p50_ms:.1f}", f"{s.p99_ms:.1f}"]
        if cpu:
            ms = s.cpu_ms_per_request
            cells.append(f"{ms:.2f}" if ms is not None else "-")
        if base:
            cells.append(f"{s.rps / base.rps:.0%}" if base.rps else "-")
        table.add_row(*cells)
    console.print(table)
