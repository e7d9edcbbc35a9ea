"""Copies of one request arriving at once (a double click, a retried request, a link
fetched by a scanner while the person opens it): one session, one response, one answer,
and every copy gets an ordinary page. On a SQLite file and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .support import Respondent
from .test_invitations import responses, token_for

COPIES = 6


def clone(app: Any, client: Any) -> Any:
    """Another browser tab: a client with the same cookies."""
    other = app.test_client()
    for ck in client._cookies.values():
        other.set_cookie(ck.key, ck.value, domain=ck.domain, path=ck.path)
    return other


def at_once(fn: Callable[[], int]) -> list[int]:
    barrier = threading.Barrier(COPIES)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            statuses.append(fn())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(COPIES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return statuses


def test_first_answer_posted_several_times_at_once_makes_one_response(app: Any, client: Any) -> None:
    r = Respondent(client, "/s/support-call")
    page = r.open()
    data = {k: list(v) for k, v in page.fields.items()}
    data["q_nps"] = ["7"]
    statuses = at_once(lambda: clone(app, client).post("/s/support-call", data=data).status_code)
    assert statuses == [303] * COPIES
    [row] = responses(app, "support-call")
    assert row["answers"] == {"nps": (7, "web", "7")}


def test_a_later_answer_posted_several_times_at_once_is_stored_once(app: Any, client: Any) -> None:
    r = Respondent(client, "/s/support-call")
    r.open()
    page = r.submit({"nps": "4"})
    data = {k: list(v) for k, v in page.fields.items()}
    data["q_reason"] = ["Slow"]
    statuses = at_once(lambda: clone(app, client).post("/s/support-call", data=data).status_code)
    assert statuses == [303] * COPIES
    [row] = responses(app, "support-call")
    assert row["answers"] == {"nps": (4, "web", "4"), "reason": ("Slow", "web", "Slow")}
    from feedback.store.models import SessionTurn

    with app.app_context():
        assert SessionTurn.query.count() == 2


def test_a_personal_link_clicked_several_times_at_once_makes_one_response(app: Any) -> None:
    token = token_for(app, "support-call", invitation_id=5)
    statuses = at_once(lambda: app.test_client().get(f"/i/{token}?a=8").status_code)
    assert statuses == [303] * COPIES
    [row] = responses(app, "support-call")
    assert row["answers"] == {"nps": (8, "email", "8")}


def test_a_personal_link_answered_in_two_tabs_at_once_makes_one_response(app: Any, client: Any) -> None:
    token = token_for(app, "support-call", invitation_id=6)
    r = Respondent(client, f"/i/{token}")
    page = r.open()
    data = {k: list(v) for k, v in page.fields.items()}
    data["q_nps"] = ["10"]
    statuses = at_once(lambda: clone(app, client).post(f"/i/{token}", data=data).status_code)
    assert statuses == [303] * COPIES
    [row] = responses(app, "support-call")
    assert row["answers"] == {"nps": (10, "web", "10")}
