"""`feedback simulate --channel sms|chat` shows exactly what the channels send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from feedback.definition.loader import load_file
from feedback.simulate import Simulation

from .conftest import Phone

DEFS = Path(__file__).resolve().parents[2] / "survey_defs"


def simulated(path: Path, channel: str, locale: str, answers: list[str], context: dict[str, Any]) -> list[str]:
    sim = Simulation(load_file(path), channel=channel, locale=locale, context=context)
    sim.begin(None)
    for a in answers:
        sim.feed(a, None)
    return [t["text"] for t in sim.transcript if t.get("from") == "system"]


@pytest.mark.parametrize("locale, answers", [
    ("en", ["banana", "6", "Long wait", "maybe", "no"]),
    ("zh-CN", ["十分", "是"]),
])
def test_sms_replies_are_the_simulated_messages(sqlite_app: Any, sqlite_twilio: Any, locale: str, answers: list[str]) -> None:
    phone = Phone(sqlite_app.test_client(), "+15551230801")
    sent = phone.text("FEEDBACK" if locale == "en" else "反馈")
    for a in answers:
        sent += phone.text(a)
    assert sent == simulated(DEFS / "support-call.yaml", "sms", locale, answers, {})


def test_chat_messages_are_the_simulated_messages(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    context = {"contact": {"first_name": "Ana"}, "event": {"ticket_id": "T-5"}}
    start = client.post("/chat/api/sessions", json={"survey": "support-ticket", "locale": "en", "context": context}).json
    auth = {"Authorization": f"Bearer {start['token']}"}
    sent = [m["text"] for m in start["messages"]]
    order = [r["value"] for r in start["messages"][-1]["quick_replies"]]
    assert order == [str(n) for n in range(1, 8)]
    answers = ["2", "billing", "lots", "3", "Call back"]
    for a in answers:
        reply = client.post(f"/chat/api/sessions/{start['session_id']}/messages", json={"text": a}, headers=auth).json
        sent += [m["text"] for m in reply["messages"]]
    # (Only the order of the shuffled choices' quick replies may differ: it is per session.)
    assert sent == simulated(DEFS / "support-ticket.yaml", "chat", "en", answers, context)
    assert reply["status"] == "complete"
