"""The TwiML the phone survey sends is byte for byte the document the twilio library writes."""

from __future__ import annotations

import pytest
from twilio.twiml.voice_response import Gather, Record, VoiceResponse

from channels.ivr import twiml
from channels.ivr.voices import Voice

VOICE = Voice("Polly.Joanna-Neural", "en-US", "en-US")
ZH = Voice("Polly.Zhiyu-Neural", "cmn-CN", "cmn-Hans-CN")


def _documents() -> list[VoiceResponse]:
    docs = []
    vr = VoiceResponse()
    g = Gather(action="https://x.example/ivr/answer/abc?step=1&attempt=0", method="POST", input="dtmf speech",
               num_digits=2, timeout=6, finish_on_key="#", language="en-US", speech_timeout="auto",
               hints='zero, one, "two" & <three>\ttab\r\nline')
    vr.append(g)
    g.say("Rate us from 0 to 10 & tell us <why>. \"Quotes\" and 'apostrophes'.", voice=VOICE.voice,
          language=VOICE.language)
    vr.redirect("https://x.example/ivr/answer/abc?step=1&attempt=0&noinput=1", method="POST")
    docs.append(vr)
    docs.append(twiml.say_and_hang_up("您好，请问您对我们的服务满意吗？\n谢谢！", ZH))
    docs.append(twiml.empty())
    vr = VoiceResponse()
    vr.say("Please leave a message after the beep.", voice=VOICE.voice, language=VOICE.language)
    vr.append(Record(action="https://x.example/a", method="POST", max_length=60, timeout=5, finish_on_key="#",
                     play_beep=True, transcribe=True, transcribe_callback="https://x.example/t?q=1&r=2"))
    vr.redirect("https://x.example/n", method="POST")
    docs.append(vr)
    vr = VoiceResponse()
    say = vr.say("Before", voice=VOICE.voice)
    say.break_(time="1s")
    say.append("after the pause & more")
    say.emphasis("loud", level="strong")
    say.append("tail")
    vr.pause(length=2)
    vr.hangup()
    docs.append(vr)
    vr = VoiceResponse()
    vr.say("")
    vr.say("lone \ud800 surrogate", voice=VOICE.voice)
    docs.append(vr)
    docs.append(twiml.language_menu([("For English, press 1.", VOICE), ("中文请按 2。", ZH)],
                                    "https://x.example/l?call=1&attempt=0", "https://x.example/l?noinput=1"))
    return docs


@pytest.mark.parametrize("doc", _documents())
def test_the_document_is_the_one_the_library_writes(doc: VoiceResponse) -> None:
    expected = str(doc).encode("utf-8", "xmlcharrefreplace")
    resp = twiml.xml_response(doc)
    assert resp.get_data() == expected
    assert resp.mimetype == "text/xml"
    assert resp.status_code == 200


def test_a_text_document_is_sent_as_it_is() -> None:
    resp = twiml.xml_response("<Response></Response>", status=403)
    assert resp.get_data() == b"<Response></Response>"
    assert resp.status_code == 403
