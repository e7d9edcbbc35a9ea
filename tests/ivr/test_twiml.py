"""Conformance of every TwiML document the app emits, signatures behind a TLS-terminating
proxy, and the simulator's checker itself (it must catch what Twilio would refuse)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_app
from tests.ivr.conftest import ALL_TYPES, SUPPORT_EN, SUPPORT_ZH, Ivr, configure, make_ivr
from tests.support.callsim import CallError, CallSim, FlaskTransport, TwimlError, check_twiml

ROOT = Path(__file__).resolve().parents[2]


# -- the checker catches bad documents ------------------------------------------------------------

GOOD = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="https://x.test/a?step=1" input="dtmf speech" '
    'language="en-US" numDigits="1" timeout="6"><Say voice="Polly.Joanna-Neural" language="en-US">Hi</Say>'
    '</Gather><Redirect method="POST">https://x.test/a?step=1&amp;noinput=1</Redirect></Response>'
)


@pytest.mark.parametrize("bad,why", [
    (GOOD.replace('input="dtmf speech"', "input=\"['dtmf', 'speech']\""), "a list rendered as text"),
    (GOOD.replace('<Redirect method="POST">https://x.test/a?step=1&amp;noinput=1</Redirect>', ""),
     "not followed by a <Redirect>"),
    (GOOD.replace('language="en-US">Hi', 'language="cmn-CN">Hi'), "not a pair Twilio accepts"),
    (GOOD.replace('action="https://x.test/a?step=1"', 'action="/a?step=1"'), "not an absolute URL"),
    (GOOD.replace("https://x.test/a?step=1&amp;", "http://x.test/a?step=1&amp;"), "must be https"),
    (GOOD.replace("<Say", "<Redirect>https://x.test/b</Redirect><Say"), "may contain only Say, Play and Pause"),
    (GOOD.replace("Response>", "Reply>"), "root element"),
    (GOOD.replace("</Response>", "<Hangup/></Response>"), "after a <Redirect>"),
    (GOOD.replace(">Hi<", "><"), "with no text"),
    (GOOD.replace('numDigits="1"', 'numDigits="one"'), "numDigits"),
    (GOOD.replace('timeout="6"', 'timeout="6" speech="yes"'), "attributes Twilio does not accept"),
    (GOOD[:-5], "not well-formed"),
])
def test_the_checker_refuses_what_twilio_would(bad: str, why: str) -> None:
    check_twiml(GOOD.encode(), "text/xml", https=True)
    with pytest.raises(TwimlError, match=why.replace("[", r"\[").replace("(", r"\(")):
        check_twiml(bad.encode(), "text/xml", https=True)


def test_the_checker_wants_xml_content() -> None:
    with pytest.raises(TwimlError, match="Content-Type"):
        check_twiml(GOOD.encode(), "text/html; charset=utf-8")


# -- every document the app emits ------------------------------------------------------------------


def tour(ivr: Ivr) -> list[Any]:
    """Calls that reach every kind of TwiML the app sends."""
    sim = ivr.sim
    calls = []
    c = sim.dial(SUPPORT_EN, "+15557100001")       # language menu
    c.silence()                                    # menu again
    c.press("7")                                   # not a language: menu once more / default
    calls.append(c)
    c = sim.dial(SUPPORT_EN, "+15557100002")
    c.press("1")                                   # intro + question
    c.press("*")                                   # repeat
    c.silence()                                    # no input
    c.say("seven", confidence=0.1)                 # confirmation
    c.silence()                                    # no answer to the confirmation
    c.press("4")
    c.say("the line kept dropping")                # speech-only question
    c.press("9")                                   # not yes/no
    c.press("2")                                   # outro + hang-up
    calls.append(c)
    c = sim.dial(ALL_TYPES, "+15557100003")
    c.press("1")
    for keys in ("4", "4", "1", "12#", "3#", "1"):
        c.press(keys)
    c.silence()                                    # nothing recorded: re-prompt with Record
    c.record(5)
    c.say("Eve")
    calls.append(c)
    c = sim.dial(SUPPORT_ZH, "+15557100004")
    for _ in range(3):
        c.silence()                                # max attempts: the goodbye
    calls.append(c)
    calls.append(sim.dial("+15550000000", "+15557100005"))  # not set up
    return calls


def test_every_document_conforms_with_https_actions_behind_a_public_https_url(tmp_path: Path) -> None:
    app = make_app(tmp_path, "sqlite", PUBLIC_BASE_URL="https://surveys.example.com")
    ivr = make_ivr(app, base_url="https://surveys.example.com", https=True)
    ivr.sim.transport = FlaskTransport(ivr.client, internal_base="http://localhost")
    calls = tour(ivr)
    documents = [p for c in calls for p in c.posted if p.body.startswith(b"<?xml")]
    assert len(documents) >= 30
    for p in documents:
        check_twiml(p.body, "text/xml", https=True)
        assert b"http://" not in p.body
        assert len(p.body) < 8 * 1024


def test_a_long_question_is_split_into_says_polly_accepts(tmp_path: Path) -> None:
    from feedback.definition.loader import load_text
    from feedback.store import operations as ops

    app = make_app(tmp_path, "sqlite")
    ivr = make_ivr(app)
    text = (ROOT / "survey_defs" / "support-call.yaml").read_text(encoding="utf-8")
    long_en = "Our service had many parts. " * 200
    edited = text.replace("How likely are you to recommend us to a friend or colleague?",
                          long_en + "How likely are you to recommend us?")
    with app.app_context():
        ops.sync_survey(load_text(edited, "support-call.yaml"))
    call = ivr.sim.dial(SUPPORT_EN, "+15557100006")
    call.press("1")
    says = [h for h in call.heard[2:] if h.in_gather]
    assert len(says) >= 2
    assert all(len(h.text.encode()) <= 3000 for h in says)
    assert " ".join(h.text for h in says).startswith(long_en.strip()[:200])


# -- signatures behind a proxy ---------------------------------------------------------------------


def test_signatures_check_out_behind_a_tls_terminating_proxy(tmp_path: Path) -> None:
    app = make_app(tmp_path, "sqlite", PUBLIC_BASE_URL=None, TRUSTED_PROXIES=1)
    ivr = make_ivr(app, base_url="https://surveys.example.com", https=True)
    ivr.sim.transport = FlaskTransport(ivr.client, proxy=True)
    call = ivr.sim.dial(SUPPORT_ZH, "+15557100007")
    assert call.waiting is not None
    assert call.waiting.get("action", "").startswith("https://surveys.example.com/ivr/answer/")
    call.press("9")
    call.press("1")
    assert call.ended
    assert ivr.response("support-call", call.call_sid)["status"] == "complete"


def test_without_trusting_the_proxy_the_forwarded_request_is_refused(tmp_path: Path) -> None:
    app = make_app(tmp_path, "sqlite", PUBLIC_BASE_URL=None, TRUSTED_PROXIES=0)
    ivr = make_ivr(app, base_url="https://surveys.example.com", https=True)
    ivr.sim.transport = FlaskTransport(ivr.client, proxy=True)
    with pytest.raises(CallError, match="403"):
        ivr.sim.dial(SUPPORT_ZH, "+15557100008")


def test_the_signature_of_a_port_or_host_twilio_did_not_sign_is_refused(tmp_path: Path) -> None:
    app = make_app(tmp_path, "sqlite", PUBLIC_BASE_URL="https://surveys.example.com")
    configure(app)
    sim = CallSim(FlaskTransport(app.test_client(), internal_base="http://localhost"),
                  base_url="https://evil.example.com")
    with pytest.raises(CallError, match="403"):
        sim.dial(SUPPORT_ZH, "+15557100009")


# -- the simulator and the call say the same -------------------------------------------------------


def simulate(path: Path, locale: str, answers: list[str]) -> list[str]:
    """`feedback simulate --channel ivr --json` with scripted answers: what it says."""
    from click.testing import CliRunner

    from feedback.cli import cli

    args = ["simulate", str(path), "--channel", "ivr", "--locale", locale, "--json"]
    for a in answers:
        args += ["--answer", a]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    transcript = json.loads(out.stdout)["transcript"]
    return [t["text"] for t in transcript if t.get("from") == "system" and t.get("text")]


@pytest.mark.parametrize("locale,key", [("en", "1"), ("zh-CN", "2")])
def test_feedback_simulate_prints_what_the_call_says(sqlite_ivr: Ivr, locale: str, key: str) -> None:
    call = sqlite_ivr.sim.dial(SUPPORT_EN, "+1555710001" + key)
    call.press(key)
    call.press("7")
    call.silence()
    call.say("not quick enough")
    call.press("*")
    call.press("1")
    heard = call.said[2:]  # after the language menu
    expected = simulate(ROOT / "survey_defs" / "support-call.yaml", locale,
                        ["dtmf:7", "(silence)", "not quick enough", "dtmf:*", "dtmf:1"])
    assert heard == expected


def test_feedback_simulate_prints_what_the_call_says_for_every_question_type(sqlite_ivr: Ivr) -> None:
    call = sqlite_ivr.sim.dial(ALL_TYPES, "+15557100020")
    call.press("2")
    for keys in ("4", "9", "5", "3", "12#", "7#", "1"):
        call.press(keys)
    call.record(4)
    call.say("小张")
    expected = simulate(ROOT / "tests" / "ivr" / "surveys" / "phone-all-types.yaml", "zh-CN",
                        ["dtmf:4", "dtmf:9", "dtmf:5", "dtmf:3", "dtmf:12#", "dtmf:7#", "dtmf:1", "record:", "小张"])
    assert call.said[2:] == expected
