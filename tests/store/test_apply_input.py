"""Applying inputs through the operations layer: every answer stored once, whatever the
concurrency, on SQLite and PostgreSQL.

The session's update applies only while its step is still the one the input was applied
to, so of several requests racing with the same input exactly one stores it; the others
answer like duplicates, with the events of the first."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from sqlalchemy import func, select

from feedback.engine import interview as eng
from feedback.store import operations as ops
from feedback.store.models import Answer, Response, Session, SessionTurn, db


def _count(model: Any, *where: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _events(turn: ops.Turn) -> list[dict[str, Any]]:
    return [ops._jsonable(e.to_dict()) for e in turn.events]


def test_racing_copies_of_one_answer_store_it_once(app: Any) -> None:
    with app.app_context():
        sid = ops.start_session("support-call", "web", locale="en").session_id
    copies = 8
    start = threading.Barrier(copies)
    turns: list[ops.Turn] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def post() -> None:
        try:
            with app.app_context():
                start.wait()
                turn = ops.apply_input(sid, eng.FormValues({"nps": "7"}, modality="web"), step=0)
                events = _events(turn)
                with lock:
                    turns.append(turn)
                    turn.events_json = events  # type: ignore[attr-defined]
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=post) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    first = [t for t in turns if not t.duplicate]
    assert len(first) == 1
    assert all(t.events_json == first[0].events_json for t in turns)  # type: ignore[attr-defined]
    assert any(e["type"] == "AnswerAccepted" for e in first[0].events_json)  # type: ignore[attr-defined]
    with app.app_context():
        assert _count(SessionTurn, SessionTurn.session_id == sid) == 1
        assert _count(Answer, Answer.question_id == "nps") == 1
        session = ops.get_session(sid)
        assert session.step == 1 and session.state["answers"]["nps"] == 7


def test_many_conversations_at_once_lose_no_answer(app: Any) -> None:
    per_thread, threads_n = 4, 6
    errors: list[BaseException] = []

    def respondent() -> None:
        try:
            for _ in range(per_thread):
                with app.app_context():
                    sid = ops.start_session("support-call", "sms", locale="en").session_id
                for text in ("8", "The hold music", "yes"):
                    with app.app_context():
                        step = ops.get_session(sid).step
                        turn = ops.apply_input(sid, eng.Text(text), step=step)
                        assert not turn.duplicate
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=respondent) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    total = per_thread * threads_n
    with app.app_context():
        assert _count(Response, Response.status == "complete") == total
        assert _count(Answer) == total * 3
        assert _count(SessionTurn) == total * 3


def test_a_repeated_input_gets_the_first_events_and_stores_nothing(app: Any) -> None:
    with app.app_context():
        sid = ops.start_session("support-call", "ivr", locale="en").session_id
        first = ops.apply_input(sid, eng.Digits("9"), step=0)
        again = ops.apply_input(sid, eng.Digits("3"), step=0)
        assert not first.duplicate and again.duplicate
        assert _events(again) == _events(first)
        assert again.state.step == first.state.step == 1
        answer = db.session.scalar(select(Answer).where(Answer.question_id == "nps"))
        assert answer is not None and answer.value == 9
        future = ops.apply_input(sid, eng.Digits("3"), step=5)  # a step never reached
        assert future.duplicate and future.events == []


def test_an_answer_given_again_after_going_back_replaces_the_first(app: Any) -> None:
    with app.app_context():
        sid = ops.start_session("support-call", "web", locale="en").session_id
        ops.apply_input(sid, eng.FormValues({"nps": "3"}, modality="web"), step=0)
        ops.apply_input(sid, eng.Back(), step=1)
        turn = ops.apply_input(sid, eng.FormValues({"nps": "10"}, modality="web"), step=2)
        assert not turn.duplicate
        rows = list(db.session.scalars(select(Answer).where(Answer.question_id == "nps")))
        assert [a.value for a in rows] == [10]
        assert rows[0].step == 3


def test_the_callers_session_row_reads_what_was_stored(app: Any) -> None:
    with app.app_context():
        sid = ops.start_session("support-call", "chat", locale="en").session_id
        session = ops.get_session(sid)
        until = dt.datetime(2030, 1, 1, 12, 0)
        turn = ops.apply_input(sid, eng.Text("9"), step=session.step, extend_to=until)
        assert turn.session is session
        assert (session.step, session.expires_at) == (1, until)
        assert session.state == turn.snapshot
        db.session.expire_all()
        stored = db.session.get(Session, sid)
        assert stored is not None
        assert (stored.step, stored.expires_at, stored.status) == (1, until, "active")
        assert stored.state == turn.snapshot


def test_the_end_of_a_session_closes_its_response(app: Any) -> None:
    with app.app_context():
        sid = ops.start_session("support-call", "ivr", locale="en").session_id
        ops.apply_input(sid, eng.Digits("6"), step=0)
        ended = ops.end_session(sid, reason="hangup")
        assert [type(e).__name__ for e in ended.events] == ["SurveyEnded"]
        again = ops.end_session(sid, reason="hangup")
        assert again.duplicate and again.events == []
        response = ops.get_session(sid).response
        assert response.status == "partial" and response.ended_at is not None
        assert response.meta["end_reason"] == "hangup"
        assert [a.question_id for a in response.answers] == ["nps"]
