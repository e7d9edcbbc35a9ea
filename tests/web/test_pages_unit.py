"""Unit tests of the pure helpers behind the web pages (no app, no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedback.definition.loader import load_file
from feedback.engine.interview import FormValues, Interview
from feedback.engine.pages import visible_questions

DEFS = Path(__file__).resolve().parents[2] / "survey_defs"


@pytest.fixture(scope="module")
def rnps() -> Interview:
    return Interview(load_file(DEFS / "relationship-nps.yaml"))


def test_conditional_question_hidden_until_its_answers_make_it_apply(rnps: Interview) -> None:
    state, _ = rnps.start({}, channel="web", seed=1)
    base = ["nps", "wait_time", "agent_knowledge", "resolution", "price"]
    assert visible_questions(rnps, state) == base
    assert visible_questions(rnps, state, {"nps": "9"}) == base
    assert visible_questions(rnps, state, {"nps": "6"}) == [*base, "improve"]
    assert visible_questions(rnps, state, {"nps": "9", "price": "2"}) == [*base, "improve"]
    assert visible_questions(rnps, state, {"nps": "9", "price": "3"}) == base
    # A value the engine would refuse does not count as an answer.
    assert visible_questions(rnps, state, {"nps": "66"}) == base
    assert visible_questions(rnps, state, {"nps": ""}) == base


def test_preview_agrees_with_the_engine(rnps: Interview) -> None:
    """What the page shows is exactly what the engine asks when the page is posted."""
    for nps in ("0", "6", "7", "10"):
        for price in ("1", "2", "3", "5"):
            state, _ = rnps.start({}, channel="web", seed=1)
            values = {"nps": nps, "wait_time": "3", "agent_knowledge": "3", "resolution": "3", "price": price}
            shown = visible_questions(rnps, state, values)
            after, _events = rnps.resume(state, FormValues(values))
            expected_next = "improve" if "improve" in shown else None
            assert after.current == expected_next
            assert (after.status == "complete") == (expected_next is None)


def test_state_is_not_changed(rnps: Interview) -> None:
    state, _ = rnps.start({}, channel="web", seed=1)
    before = state.to_dict()
    visible_questions(rnps, state, {"nps": "1"})
    assert state.to_dict() == before


def test_finished_interview_shows_nothing(rnps: Interview) -> None:
    state, _ = rnps.start({}, channel="web", seed=1)
    values = {"nps": "9", "wait_time": "3", "agent_knowledge": "3", "resolution": "3", "price": "4"}
    done, _ = rnps.resume(state, FormValues(values))
    assert done.status == "complete"
    assert visible_questions(rnps, done) == []


def test_one_per_page_survey_from_a_later_question() -> None:
    it = Interview(load_file(DEFS / "support-call.yaml"))
    state, _ = it.start({}, channel="web", seed=1)
    state, _ = it.resume(state, FormValues({"nps": "10"}))
    assert visible_questions(it, state) == ["resolved"]
