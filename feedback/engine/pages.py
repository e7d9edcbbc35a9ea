"""Pages that show several questions at once (the web's ``all_on_one`` layout).

A web page may show every remaining question of a survey. A question whose ``show_if``
depends on an answer given on the same page must appear as soon as that answer makes its
condition true, and disappear when it no longer holds. :func:`visible_questions` answers
"which questions does the page show if these were the answers?" with the survey's own
conditions and answer understanding, so the web channel holds no survey logic.

Pure: imports only the engine and the definition model; the state is never changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .interview import Interview, State, choice_order
from .understanding import Understood, understand


def _as_state(state: State | Mapping[str, Any]) -> State:
    return state if isinstance(state, State) else State.from_dict(state)


def visible_questions(
    interview: Interview,
    state: State | Mapping[str, Any],
    values: Mapping[str, Any] | None = None,
    *,
    modality: str = "web",
) -> list[str]:
    """The ids of the questions a page shows, from the current question to the end.

    ``values`` are the form values the respondent has entered so far (question id -> value,
    as posted); when None, the answers already stored in ``state`` are used. A question is
    shown when it has no condition or its condition holds with the answers given before it
    (stored answers, overridden by the understood ``values`` of the questions on the page).
    The current question is always shown.
    """
    st = _as_state(state)
    if st.finished or st.current is None:
        return []
    survey = interview.survey
    questions = survey.questions
    start = next((i for i, q in enumerate(questions) if q.id == st.current), None)
    if start is None:
        return []
    answers = dict(st.answers)
    base_scope = st.scope()
    shown: list[str] = []
    for q in questions[start:]:
        if q.id != st.current:
            cond = interview.cs.condition(q.id)
            if cond is not None and not cond.test({**base_scope, "answers": dict(answers)}):
                answers.pop(q.id, None)
                continue
        shown.append(q.id)
        if values is None or q.id not in values:
            continue
        result = understand(
            q,
            values[q.id],
            modality=modality,  # type: ignore[arg-type]
            locale=st.locale,
            default_locale=survey.default_locale,
            choice_order=choice_order(st, q),
        )
        if isinstance(result, Understood):
            answers[q.id] = result.value
        else:
            answers.pop(q.id, None)
    return shown
