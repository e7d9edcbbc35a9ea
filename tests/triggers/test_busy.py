"""SQLite allows one writer at a time: an event that finds the database busy waits and is
stored; one that keeps finding it busy gets 503 with Retry-After, and a retry is safe."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from feedback.store.distribution import TouchpointEvent
from tests.triggers.support import Dist, close_dist, contact, event, make_dist


@pytest.fixture
def impatient(tmp_path: Path) -> Iterator[Dist]:
    # Another writer is not waited for more than 50 ms at a time.
    d = make_dist(tmp_path, "sqlite", SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 0.05}})
    assert d.get("/api/v1/policy").status_code == 200  # the key's first use is recorded now
    yield d
    close_dist(d)


def hold_write_lock(path: str, seconds: float) -> threading.Thread:
    ready = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, timeout=5, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        ready.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
        conn.close()

    t = threading.Thread(target=hold)
    t.start()
    ready.wait()
    return t


def db_path(d: Dist) -> str:
    return d.app.config["DATABASE_URL"].removeprefix("sqlite:///")


def test_a_short_busy_spell_is_waited_out(impatient: Dist) -> None:
    holder = hold_write_lock(db_path(impatient), 0.3)
    resp = impatient.post({"events": [event(f"b{i}", "t.email", contact(i)) for i in range(5)]})
    holder.join()
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["accepted"] == 5


def test_a_long_one_answers_503_and_the_retry_is_safe(impatient: Dist) -> None:
    holder = hold_write_lock(db_path(impatient), 5)
    resp = impatient.post(event("busy-1", "t.email", contact(1)))
    holder.join()
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "1" and resp.get_json()["error"] == "busy"
    assert impatient.count(TouchpointEvent) == 0
    again = impatient.post(event("busy-1", "t.email", contact(1)))
    assert again.status_code == 202 and again.get_json()["status"] == "accepted"
