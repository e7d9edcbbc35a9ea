"""Webhooks that arrive together: several first calls from one new caller at the same
moment all get their survey (the caller becomes one contact)."""

from __future__ import annotations

import threading
from typing import Any

from feedback.store.models import Contact
from tests.ivr.conftest import SUPPORT_ZH, Ivr
from tests.sms.conftest import rows
from tests.support.callsim import CallSim, FlaskTransport

INTRO_ZH = "您好，感谢您的来电"


def together(n: int, work: Any) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads released at the same moment; their results in order."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as e:  # noqa: BLE001 - reported by the test
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_first_calls_from_one_new_caller_at_once_all_get_the_survey(ivr: Ivr) -> None:
    for round_no in range(4):
        caller = f"+86138001380{round_no:02d}"

        def dial(i: int, caller: str = caller) -> Any:
            sim = CallSim(FlaskTransport(ivr.app.test_client()))
            return sim.dial(SUPPORT_ZH, caller)

        calls = together(4, dial)
        for call in calls:
            assert not isinstance(call, Exception), call
            assert call.said[0].startswith(INTRO_ZH), call.said
            assert call.waiting is not None and call.waiting.tag == "Gather"
        assert len(rows(ivr.app, Contact, Contact.phone == caller)) == 1
        for call in calls:  # each call goes on to its own answers
            call.press("9")
        for call in calls:
            assert ivr.answers("support-call", call.call_sid)["nps"] == 9
