"""Property tests: whatever Twilio (or anyone) posts to the phone webhooks, the answer is a
well-formed TwiML document (never a 500), and a call in progress survives it."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ivr.conftest import SUPPORT_EN, Ivr
from tests.support.callsim import check_twiml

TWILIO_NAMES = [
    "CallSid", "AccountSid", "From", "To", "Direction", "CallStatus", "Digits", "SpeechResult",
    "Confidence", "RecordingUrl", "RecordingDuration", "RecordingSid", "CallDuration", "AnsweredBy",
    "TranscriptionText", "TranscriptionStatus", "ErrorCode", "ErrorMessage", "Caller", "Called",
]
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
values = st.one_of(
    text,
    st.sampled_from(["", "1", "10", "*", "#", "hangup", "0.2", "-1", "nan", "1e309", "completed", "busy",
                     "machine_start", "human", "+15551230000", "+15551230088", "anonymous", "九分", "yes"]),
    st.integers(min_value=-10**12, max_value=10**12).map(str),
)
params = st.dictionaries(st.one_of(st.sampled_from(TWILIO_NAMES), text.filter(bool)), values, max_size=8)
query = st.dictionaries(
    st.sampled_from(["step", "attempt", "noinput", "survey", "call"]),
    st.one_of(values, st.sampled_from(["0", "1", "2", "support-call", "phone-all-types"])),
    max_size=4,
)

_callers = itertools.count()
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def post(ivr: Ivr, path: str, q: dict[str, str], p: dict[str, str]) -> Any:
    resp = ivr.client.post(path, query_string=q, data=p)
    assert resp.status_code == 200, (path, q, p, resp.data[:300])
    check_twiml(resp.data, resp.content_type)
    return resp


def unsigned(ivr: Ivr) -> Ivr:
    ivr.app.config["TWILIO_AUTH_TOKEN"] = None  # reach the handlers; signatures are tested elsewhere
    return ivr


@SETTINGS
@given(q=query, p=params)
def test_the_voice_webhook_always_answers_twiml(sqlite_ivr: Ivr, q: dict[str, str], p: dict[str, str]) -> None:
    post(unsigned(sqlite_ivr), "/ivr/voice", q, p)


@SETTINGS
@given(q=query, p=params)
def test_the_language_menu_always_answers_twiml(sqlite_ivr: Ivr, q: dict[str, str], p: dict[str, str]) -> None:
    post(unsigned(sqlite_ivr), "/ivr/language", q, p)


@SETTINGS
@given(q=query, p=params)
def test_status_and_transcription_callbacks_always_answer(sqlite_ivr: Ivr, q: dict[str, str], p: dict[str, str]) -> None:
    ivr = unsigned(sqlite_ivr)
    post(ivr, "/ivr/status", q, p)
    post(ivr, "/ivr/transcription/abc/comment", q, p)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_call_in_progress_survives_arbitrary_answers(sqlite_ivr: Ivr, data: Any) -> None:
    ivr = sqlite_ivr
    call = ivr.sim.dial(SUPPORT_EN, f"+1555721{next(_callers):04d}")
    call.press("1")
    action = call.waiting.get("action")
    session_id = action.split("/ivr/answer/")[1].split("?")[0]
    ivr.app.config["TWILIO_AUTH_TOKEN"] = None
    try:
        for _ in range(data.draw(st.integers(1, 4))):
            q = data.draw(query)
            p = data.draw(params)
            if data.draw(st.booleans()):
                p["CallSid"] = call.call_sid
            sid = data.draw(st.sampled_from([session_id, session_id, "nope", "x" * 70]))
            post(ivr, f"/ivr/answer/{sid}", q, p)
    finally:
        ivr.app.config["TWILIO_AUTH_TOKEN"] = "test-auth-token"
    r = ivr.response("support-call", call.call_sid)
    assert r["status"] in ("partial", "complete", "abandoned")
    for answer in r["answers"].values():
        assert answer["value"] is not None
