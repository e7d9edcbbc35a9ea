"""Events for one contact that arrive at the same moment decide one after the other: the
frequency cap and the minimum gap hold across concurrent requests (PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.triggers.support import Dist, close_dist, contact, event, make_dist


@pytest.fixture
def pg_dist(tmp_path: Path, pg_url: str) -> Iterator[Dist]:
    d = make_dist(tmp_path, "postgres", pg_url)
    yield d
    close_dist(d)


def _post_together(dist: Dist, bodies: list[Any]) -> list[Any]:
    barrier = threading.Barrier(len(bodies))
    results: list[Any] = [None] * len(bodies)

    def post(i: int) -> None:
        client = dist.app.test_client()
        barrier.wait()
        resp = client.post("/api/v1/events", json=bodies[i], headers=dist.headers)
        results[i] = (resp.status_code, resp.get_json())

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_events_for_one_contact_keep_the_minimum_gap(pg_dist: Dist) -> None:
    c = contact(1)
    pg_dist.send("seed", "t.c", contact(1))  # the contact exists; t-c is another survey
    results = _post_together(pg_dist, [event(f"same-{i}", "t.b", c) for i in range(8)])
    assert all(status == 202 for status, _ in results), results
    outcomes = sorted(body["decisions"][0]["outcome"] for _, body in results)
    assert outcomes.count("scheduled") == 1, outcomes


def test_concurrent_events_for_one_contact_keep_the_frequency_cap(pg_dist: Dist) -> None:
    c = contact(2)
    pg_dist.send("seed-2", "t.c", c)  # one survey already: the cap (2 in 30 days) leaves one
    types = ["t.b", "t.email"] * 4
    results = _post_together(pg_dist, [event(f"cap-{i}", t, c) for i, t in enumerate(types)])
    assert all(status == 202 for status, _ in results), results
    outcomes = [body["decisions"][0]["outcome"] for _, body in results]
    assert outcomes.count("scheduled") == 1, outcomes
