"""Messages from one number that arrive at the same moment are handled one after the
other: each is an answer to the question waiting when its turn comes, none is lost or
taken twice. On SQLite (a file, several connections) and PostgreSQL."""

from __future__ import annotations

from typing import Any

from feedback.store.models import Message
from tests.ivr.test_concurrency import together

from .conftest import Phone, api_responses, rows

BODIES = ("6", "7")
REASON = "What is the main reason for your score of"
RESOLVED = "Was your problem solved on this call?"


def test_two_answers_sent_together_are_both_kept_in_turn(app: Any, twilio: Any) -> None:
    for n in range(4):
        number = f"+155512307{n:02d}"
        assert "How likely are you to recommend us" in Phone(app.test_client(), number).reply("FEEDBACK")
        # "6" and "7" both fit the score and the (text) reason: whichever comes first is
        # the score, the other the reason.
        replies = together(2, lambda i, number=number: Phone(app.test_client(), number).text(BODIES[i]))
        for r in replies:
            assert not isinstance(r, Exception), r
        assert sorted(len(r) for r in replies) == [1, 1], replies
        texts = [r[0] for r in replies]
        assert sorted(t.startswith(REASON) for t in texts) == [False, True], texts
        assert sorted(t.startswith(RESOLVED) for t in texts) == [False, True], texts
        first = BODIES[[t.startswith(REASON) for t in texts].index(True)]
        second = "7" if first == "6" else "6"
        assert any(t.startswith(f"{REASON} {first}?") for t in texts), texts
        inbound = rows(app, Message, Message.direction == "in", Message.from_number == number)
        [resp] = [r for r in api_responses(app, "support-call", channel="sms") if r["session_id"] == inbound[0].session_id]
        assert {k: a["raw"] for k, a in resp["answers"].items()} == {"nps": first, "reason": second}
        assert [(m.body, (m.meta or {}).get("step")) for m in inbound] == [("FEEDBACK", None), (first, 0), (second, 1)]
        assert all(m.status == "processed" for m in inbound)
