"""Helpers of the API tests: responses stored through the operations layer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.web import fastapp

# The faster per-test database (see fastapp); same parameters as the shared fixture.
app = fastapp.app
sqlite_template = fastapp.sqlite_template
postgres_template = fastapp.postgres_template


def respond(
    app: Any,
    survey_id: str,
    replies: list[Any],
    *,
    channel: str = "sms",
    locale: str = "en",
    contact: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    finish: bool = True,
    keep_open: bool = False,
    started_at: dt.datetime | None = None,
) -> int:
    """One response answered reply by reply the way ``channel`` would (text for SMS and
    chat, form values on the web). Unfinished ones are ended like a hang-up. Returns its id."""
    from feedback.engine import interview as eng
    from feedback.store import operations as ops
    from feedback.store.models import db

    with app.app_context():
        person = ops.find_or_create_contact(**contact) if contact else None
        turn = ops.start_session(survey_id, channel, locale=locale, contact=person, context=context, meta=meta)
        sid = turn.session.id
        for reply in replies:
            session = ops.get_session(sid)
            if session.status != "active":
                break
            state = eng.State.from_dict(session.state)
            if channel in ("web", "email"):
                inp: Any = eng.FormValues({state.current: reply}, modality="web")
            else:
                inp = eng.Text(str(reply))
            turn = ops.apply_input(sid, inp, step=session.step)
            assert not any(isinstance(e, eng.Reprompt) for e in turn.events), (reply, turn.events)
        if not finish and not keep_open:
            ops.end_session(sid, "hangup")
        response = ops.get_session(sid).response
        if started_at is not None:
            response.started_at = started_at
            db.session.commit()
        return response.id


@pytest.fixture
def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}
