"""What can go wrong on a call: silence, mistakes, repeats, hang-ups, duplicated and late
webhooks, forged requests, a survey edited during a call, errors inside a webhook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ivr.conftest import ALL_TYPES, SUPPORT_EN, SUPPORT_ZH, Ivr
from tests.support.callsim import CallError

ROOT = Path(__file__).resolve().parents[2]


def english_call(ivr: Ivr, number: str = SUPPORT_EN, caller: str = "+15557000001") -> Any:
    call = ivr.sim.dial(number, caller)
    call.press("1")
    return call


def store_counts(ivr: Ivr) -> dict[str, int]:
    from sqlalchemy import func, select

    from feedback.store.models import Answer, CallAttempt, Response, Session, db

    with ivr.ctx():
        return {
            m.__name__: db.session.scalar(select(func.count()).select_from(m)) or 0
            for m in (Answer, CallAttempt, Response, Session)
        }


# -- silence, mistakes, repeats ------------------------------------------------------------------


def test_silence_reprompts_then_the_answer_counts(ivr: Ivr) -> None:
    call = english_call(ivr)
    question = call.prompt
    call.silence()  # the Gather times out: Twilio follows the Redirect
    assert call.prompt.startswith("Sorry, I didn't hear anything.")
    assert question in call.prompt
    call.press("9")
    assert call.prompt.startswith("Was your problem solved")
    assert ivr.answers("support-call", call.call_sid) == {"nps": 9}


def test_a_key_out_of_range_gets_a_short_hint(sqlite_ivr: Ivr) -> None:
    ivr = sqlite_ivr
    call = english_call(ivr)
    call.press("12#")
    assert call.prompt.startswith("Sorry, that number is out of range.")
    assert "0 to 10" in call.prompt
    call.press("3")
    assert call.prompt.startswith("What is the main reason for your score of 3?")


def test_max_attempts_on_a_required_question_ends_the_call(ivr: Ivr) -> None:
    call = english_call(ivr)
    call.silence()
    call.press("99#")
    assert not call.ended
    call.silence()  # the third miss: max_attempts (2 re-prompts) is used up
    assert call.ended
    assert call.last_said == "Sorry, we could not understand. Thank you for your time. Goodbye."
    r = ivr.response("support-call", call.call_sid)
    assert r["status"] == "abandoned" and r["answers"] == {}
    assert r["meta"]["end_reason"] == "max_attempts"


def test_max_attempts_on_an_optional_question_moves_on(ivr: Ivr) -> None:
    call = english_call(ivr)
    call.press("9")
    for _ in range(3):
        call.silence()
    assert call.ended and call.last_said == "Thank you for your feedback. Goodbye!"
    r = ivr.response("support-call", call.call_sid)
    assert r["status"] == "complete"
    assert {k: v["value"] for k, v in r["answers"].items()} == {"nps": 9}


def test_a_silent_caller_cannot_loop_forever(sqlite_ivr: Ivr) -> None:
    ivr = sqlite_ivr
    call = english_call(ivr)
    for _ in range(20):
        if call.ended:
            break
        call.silence()
    assert call.ended
    gathers = [p for p in call.posted if "/ivr/answer/" in p.url]
    assert len(gathers) <= 6


def test_star_repeats_the_question_without_using_an_attempt(ivr: Ivr) -> None:
    call = english_call(ivr)
    question = call.prompt
    for _ in range(4):
        call.press("*")
        assert call.prompt == question
    call.press("8")
    assert ivr.answers("support-call", call.call_sid) == {"nps": 8}


def test_saying_repeat_repeats_the_question(sqlite_ivr: Ivr) -> None:
    ivr = sqlite_ivr
    call = english_call(ivr)
    question = call.prompt
    call.say("can you repeat that")
    assert call.prompt == question


def test_low_confidence_speech_is_confirmed(ivr: Ivr) -> None:
    call = english_call(ivr)
    call.say("seven", confidence=0.31)
    assert call.prompt == "I heard 7. Is that right? Press 1 or say yes, press 2 or say no."
    call.press("1")
    assert call.prompt.startswith("What is the main reason for your score of 7?")
    r = ivr.response("support-call", call.call_sid)
    assert r["answers"]["nps"]["value"] == 7
    assert r["answers"]["nps"]["confidence"] == pytest.approx(0.31)


def test_a_rejected_confirmation_asks_again(sqlite_ivr: Ivr) -> None:
    ivr = sqlite_ivr
    call = english_call(ivr)
    call.say("seven", confidence=0.2)
    call.say("no")
    assert "How likely are you to recommend us" in call.prompt
    call.press("5")
    assert ivr.answers("support-call", call.call_sid) == {"nps": 5}


def test_speech_where_only_keys_are_heard_is_silence(ivr: Ivr) -> None:
    call = english_call(ivr, ALL_TYPES, "+15557000002")
    call.press("4")
    call.press("4")
    call.press("2")
    call.press("1#")
    call.press("2#")
    call.press("2")
    assert call.waiting is not None and call.waiting.tag == "Record"
    call.silence()  # nothing recorded: Twilio skips the action and runs the Redirect
    assert call.last_said.startswith("Sorry, I didn't hear anything.")
    assert call.waiting is not None and call.waiting.tag == "Record"
    call.record(3)
    assert call.prompt.startswith("What is the name of the person")
    call.press("5")  # keys at a speech-only Gather are not heard
    assert call.prompt.startswith("Sorry, I didn't hear anything.")


# -- hang-ups and late callbacks -----------------------------------------------------------------------


def test_hang_up_mid_survey_keeps_the_answers_so_far(ivr: Ivr) -> None:
    call = english_call(ivr)
    call.press("4")
    call.hang_up()
    r = ivr.response("support-call", call.call_sid)
    assert r["status"] == "partial"
    assert {k: v["value"] for k, v in r["answers"].items()} == {"nps": 4}
    assert r["meta"]["end_reason"] == "hangup"
    assert r["meta"]["call_duration"] == call.seconds
    assert r["ended_at"] is not None


def test_hang_up_without_a_status_callback_still_leaves_a_partial_response(ivr: Ivr) -> None:
    call = english_call(ivr)
    call.press("4")
    call.hang_up(send_status=False)
    r = ivr.response("support-call", call.call_sid)
    assert r["status"] == "partial" and r["answers"]["nps"]["value"] == 4
    # The stale-call job closes the session once its time is up.
    import datetime as dt

    from feedback.jobs import dispatch_due
    from feedback.store.models import Session, db, utcnow

    with ivr.ctx():
        dispatch_due(now=utcnow() + dt.timedelta(hours=3))
        session = db.session.get(Session, r["session_id"])
        assert session is not None and session.status == "partial"
    assert ivr.response("support-call", call.call_sid)["meta"]["end_reason"] == "expired"


def test_a_recording_posted_after_the_call_ended_is_still_stored(ivr: Ivr) -> None:
    call = english_call(ivr, ALL_TYPES, "+15557000003")
    for keys in ("3", "3", "2", "2#", "1#", "1"):
        call.press(keys)
    assert call.waiting is not None and call.waiting.tag == "Record"
    record = call.waiting
    document = call.document_url
    # The caller speaks and hangs up: the status callback overtakes the recording.
    call.hang_up()
    assert ivr.response("phone-all-types", call.call_sid)["status"] == "partial"
    from urllib.parse import urljoin

    params = call.params(RecordingUrl="https://api.twilio.com/rec/RE1", RecordingDuration="9",
                         RecordingSid="RE1", Digits="hangup")
    call.post(urljoin(document, record.get("action")), params)
    r = ivr.response("phone-all-types", call.call_sid)
    assert r["status"] == "partial"
    assert r["answers"]["comment"]["extra"]["recording_url"] == "https://api.twilio.com/rec/RE1"
    assert r["answers"]["resolved"]["value"] is True
    # Twilio retries the same late request: stored once.
    call.post(urljoin(document, record.get("action")), params)
    assert len(ivr.response("phone-all-types", call.call_sid)["answers"]) == 7


def test_a_last_answer_arriving_after_the_end_completes_the_response(ivr: Ivr) -> None:
    call = english_call(ivr)
    call.press("9")
    gather = call.waiting
    document = call.document_url
    call.hang_up()
    from urllib.parse import urljoin

    call.post(urljoin(document, gather.get("action")), call.params(Digits="1"))
    r = ivr.response("support-call", call.call_sid)
    assert r["status"] == "complete"
    assert {k: v["value"] for k, v in r["answers"].items()} == {"nps": 9, "resolved": True}
    assert "end_reason" not in r["meta"]


def test_transcription_arrives_later_and_lands_on_the_answer(ivr: Ivr) -> None:
    call = english_call(ivr, ALL_TYPES, "+15557000004")
    for keys in ("3", "3", "2", "2#", "1#", "1"):
        call.press(keys)
    record = call.waiting
    assert record is not None and record.get("transcribe") == "true"
    callback = record.get("transcribeCallback")
    call.record(8)
    call.say("Carol")
    recording = next(p.params["RecordingUrl"] for p in call.posted if "RecordingUrl" in p.params)
    params = call.params(TranscriptionText="Shorter queues please", TranscriptionStatus="completed",
                         TranscriptionSid="TR1", RecordingUrl=recording)
    call.post(callback, params)
    answer = ivr.response("phone-all-types", call.call_sid)["answers"]["comment"]
    assert answer["value"] == "Shorter queues please"
    assert answer["extra"]["transcription"] == "Shorter queues please"
    assert answer["extra"]["transcription_status"] == "completed"


def test_chinese_recordings_are_not_sent_for_english_transcription(sqlite_ivr: Ivr) -> None:
    ivr = sqlite_ivr
    call = ivr.sim.dial(ALL_TYPES, "+15557000005")
    call.press("2")
    for keys in ("3", "3", "2", "2#", "1#", "1"):
        call.press(keys)
    assert call.waiting is not None and call.waiting.tag == "Record"
    assert call.waiting.get("transcribe") is None


def test_status_callbacks_out_of_order_do_not_reopen_a_call(ivr: Ivr) -> None:
    call = english_call(ivr)
    call.press("4")
    call.hang_up()
    call.status("ringing")
    call.status("in-progress")
    call.status("completed", CallDuration="999")
    r = ivr.response("support-call", call.call_sid)
    assert r["status"] == "partial" and r["meta"]["call_duration"] == call.seconds
    from feedback.store import calls

    with ivr.ctx():
        attempt = calls.find_attempt(call_sid=call.call_sid)
        assert attempt is not None and attempt.status == "completed" and attempt.duration == call.seconds


# -- duplicates ----------------------------------------------------------------------------------


def test_a_repeated_answer_webhook_stores_once_and_gets_the_same_twiml(ivr: Ivr) -> None:
    call = english_call(ivr)
    call.press("6")
    first = call.posted[-1]
    again = call.post(first.url, first.params)
    assert again.body == first.body
    call.say("Too slow")
    # Even after the call moved on, the old request gets its old answer back.
    late = call.post(first.url, first.params)
    assert late.body == first.body
    call.press("1")
    r = ivr.response("support-call", call.call_sid)
    assert r["status"] == "complete"
    assert {k: v["value"] for k, v in r["answers"].items()} == {"nps": 6, "reason": "Too slow", "resolved": True}


def test_a_repeated_voice_webhook_starts_one_session(ivr: Ivr) -> None:
    call = ivr.sim.dial(SUPPORT_ZH, "+15557000006")
    first = call.posted[0]
    again = call.post(first.url, first.params)
    assert again.body == first.body
    before = store_counts(ivr)
    call.post(first.url, first.params)
    assert store_counts(ivr) == before
    assert before["Session"] == 1 and before["CallAttempt"] == 1


def test_a_repeated_language_choice_starts_one_session(ivr: Ivr) -> None:
    call = english_call(ivr)
    choice = call.posted[-1]
    again = call.post(choice.url, choice.params)
    assert again.body == choice.body
    assert store_counts(ivr)["Session"] == 1


def test_a_repeated_status_callback_changes_nothing(ivr: Ivr) -> None:
    call = english_call(ivr)
    call.press("4")
    call.hang_up()
    status = call.posted[-1]
    before = store_counts(ivr)
    call.post(status.url, status.params)
    assert store_counts(ivr) == before


# -- signatures ------------------------------------------------------------------------------------


def test_a_forged_voice_webhook_is_refused_and_stores_nothing(ivr: Ivr) -> None:
    before = store_counts(ivr)
    params = {"CallSid": "CAforged", "From": "+15557000007", "To": SUPPORT_EN, "AccountSid": "AC1"}
    for headers in ({}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}):
        resp = ivr.client.post("/ivr/voice", data=params, headers=headers)
        assert resp.status_code == 403
    assert store_counts(ivr) == before


def test_a_tampered_answer_is_refused_and_stores_nothing(ivr: Ivr) -> None:
    call = english_call(ivr)
    action = call.waiting.get("action")
    params = call.params(Digits="3")
    headers = ivr.sim.sign(action, params)
    tampered = {**params, "Digits": "10"}
    with pytest.raises(CallError, match="403"):
        call.post(action, tampered, headers=headers)
    with pytest.raises(CallError, match="403"):
        call.post(action + "&step=99", params, headers=headers)
    assert ivr.answers("support-call", call.call_sid) == {}
    call.press("3")
    assert ivr.answers("support-call", call.call_sid) == {"nps": 3}


@pytest.mark.parametrize("path", ["/ivr/status", "/ivr/transcription/abc/comment", "/ivr/language?call=1",
                                  "/ivr/answer/abc?step=0"])
def test_every_webhook_checks_the_signature(sqlite_ivr: Ivr, path: str) -> None:
    ivr = sqlite_ivr
    resp = ivr.client.post(path, data={"CallSid": "CA1", "CallStatus": "completed"},
                           headers={"X-Twilio-Signature": "AAAA"})
    assert resp.status_code == 403


def test_an_answer_for_another_calls_session_is_refused(ivr: Ivr) -> None:
    mine = english_call(ivr, caller="+15557000008")
    other = english_call(ivr, caller="+15557000009")
    action = mine.waiting.get("action")
    # Validly signed (a Twilio request of the other call), but not this session's call.
    other.post(action, other.params(Digits="2"))
    assert "Sorry, something went wrong" in other.posted[-1].body.decode()
    assert ivr.answers("support-call", mine.call_sid) == {}


def test_unknown_parameters_are_accepted(sqlite_ivr: Ivr) -> None:
    ivr = sqlite_ivr
    ivr.sim.extra_params = {"CallToken": "x", "StirVerstat": "TN-Validation-Passed-A", "NewParam2031": "é&<>"}
    call = english_call(ivr)
    call.press("9")
    call.press("1")
    assert call.ended and ivr.response("support-call", call.call_sid)["status"] == "complete"


# -- a survey edited during a call -------------------------------------------------------------------


def test_a_call_goes_on_with_the_version_it_started_on(ivr: Ivr) -> None:
    from feedback.definition.loader import load_text
    from feedback.store import operations as ops

    call = english_call(ivr)
    started_version = ivr.response("support-call", call.call_sid)["version"]
    text = (ROOT / "survey_defs" / "support-call.yaml").read_text(encoding="utf-8")
    edited = text.replace("Was your problem solved on this call?", "Did we fix it?").replace(
        "show_if: answers.nps <= 8", "show_if: answers.nps <= 10"
    )
    assert edited != text
    with ivr.ctx():
        ops.sync_survey(load_text(edited, "support-call.yaml"))
    call.press("9")  # 9 > 8: the old version skips the reason question
    assert call.prompt.startswith("Was your problem solved on this call?")
    call.press("1")
    r = ivr.response("support-call", call.call_sid)
    assert r["status"] == "complete" and r["version"] == started_version
    # A new call gets the new version.
    fresh = english_call(ivr, caller="+15557000010")
    fresh.press("9")
    assert fresh.prompt.startswith("What is the main reason for your score of 9?")
    assert ivr.response("support-call", fresh.call_sid)["version"] != started_version


def test_a_call_in_the_language_menu_keeps_its_version(ivr: Ivr) -> None:
    from feedback.definition.loader import load_text
    from feedback.store import operations as ops

    call = ivr.sim.dial(SUPPORT_EN, "+15557000011")
    text = (ROOT / "survey_defs" / "support-call.yaml").read_text(encoding="utf-8")
    with ivr.ctx():
        old_version, _ = ops.current_version("support-call")
        old = old_version.content_hash
        ops.sync_survey(load_text(text.replace("Two quick questions", "Three quick questions"), "x.yaml"))
    call.press("1")
    assert "Two quick questions" in call.said[2]
    assert ivr.response("support-call", call.call_sid)["version"] == old


# -- errors --------------------------------------------------------------------------------------


def test_an_error_inside_a_webhook_is_an_apology_in_the_callers_language(ivr: Ivr, monkeypatch: Any) -> None:
    from feedback.store import calls

    call = ivr.sim.dial(SUPPORT_ZH, "+15557000012")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(calls, "apply_call_input", broken)
    call.press("5")
    assert call.ended
    assert call.last_said == "抱歉，我们这边出了点问题，请稍后再试。再见。"
    assert call.heard[-1].voice == "Polly.Zhiyu-Neural"


def test_a_number_without_a_survey_hears_an_apology(sqlite_ivr: Ivr) -> None:
    ivr = sqlite_ivr
    call = ivr.sim.dial("+15550000000", "+15557000013")
    assert call.ended and call.said == ["Sorry, this number is not taking surveys at the moment. Goodbye."]
    assert store_counts(ivr)["CallAttempt"] == 0


def test_a_survey_without_the_phone_channel_is_not_offered(sqlite_ivr: Ivr) -> None:
    ivr = sqlite_ivr
    call = ivr.sim.dial("+15550000000", "+15557000014", path="/ivr/voice?survey=post-purchase")
    assert call.ended and "not taking surveys" in call.last_said
