"""TwiML for the phone survey, built with the twilio library (never by string concatenation).

The wording comes from :func:`feedback.engine.render.spoken` (the same turns
``feedback simulate --channel ivr`` prints); this module only puts those turns into
``<Say>``, ``<Gather>``, ``<Record>``, ``<Redirect>`` and ``<Hangup>`` with the right
voice and attributes:

* every question is one ``<Gather>`` whose ``action`` is an absolute URL carrying the
  session, the step and the attempt, followed by a ``<Redirect>`` for the no-input case;
* ``input`` is one string (``dtmf``, ``speech`` or ``dtmf speech``), never a list;
* a ``<Say>`` never exceeds what Polly accepts (3,000 bytes): longer text is split.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from flask import Response
from twilio.twiml.voice_response import Gather, Record, VoiceResponse

from feedback.engine.render import Turn

from .voices import Voice

#: Polly voices take at most 3,000 bytes of text per <Say>.
MAX_SAY_BYTES = 2900
#: Twilio's limit for a TwiML document is 64 KB; stay far below it.
MAX_TWIML_BYTES = 64 * 1024
MAX_HINTS = 100
MAX_HINT_CHARS = 100
#: Seconds of silence that end a recorded answer.
RECORD_SILENCE = 5


@dataclass(frozen=True)
class Actions:
    """Where Twilio goes after a question: the answer, and the no-input redirect."""

    answer: str
    no_input: str
    #: Where Twilio posts the transcription of a recorded answer (English only).
    transcription: str | None = None


def xml_response(twiml: VoiceResponse | str, status: int = 200) -> Response:
    body = str(twiml)
    return Response(body, status=status, mimetype="text/xml")


def split_text(text: str, limit: int = MAX_SAY_BYTES) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-8 bytes, cut after sentences when possible."""
    text = text.strip()
    if len(text.encode("utf-8")) <= limit:
        return [text] if text else []
    pieces: list[str] = []
    current = ""
    for sentence in re.split(r"(?<=[.!?。！？；;])\s*", text):
        while len(sentence.encode("utf-8")) > limit:
            cut = limit
            while len(sentence[:cut].encode("utf-8")) > limit:
                cut -= 1
            head, sentence = sentence[:cut], sentence[cut:]
            if current:
                pieces.append(current)
                current = ""
            pieces.append(head)
        candidate = f"{current} {sentence}".strip() if current else sentence
        if len(candidate.encode("utf-8")) > limit:
            pieces.append(current)
            current = sentence
        else:
            current = candidate
    if current.strip():
        pieces.append(current)
    return [p.strip() for p in pieces if p.strip()]


def say(parent: VoiceResponse | Gather, text: str, voice: Voice) -> None:
    for piece in split_text(text):
        parent.say(piece, voice=voice.voice, language=voice.language)


def _hints(words: Sequence[str]) -> str:
    clean: list[str] = []
    for w in words:
        w = re.sub(r"[,\s]+", " ", str(w)).strip()[:MAX_HINT_CHARS]
        if w and w not in clean:
            clean.append(w)
    return ", ".join(clean[:MAX_HINTS])


def gather(parent: VoiceResponse, spec: dict, voice: Voice, action: str) -> Gather:
    """One ``<Gather>`` from a :func:`feedback.engine.render.gather_spec`."""
    mode = str(spec.get("input") or "dtmf")
    if mode not in ("dtmf", "speech", "dtmf speech"):
        mode = "dtmf speech"
    attrs: dict[str, object] = {
        "action": action,
        "method": "POST",
        "input": mode,
        "timeout": int(spec.get("timeout") or 6),
    }
    if "dtmf" in mode:
        digits = spec.get("num_digits") or spec.get("max_digits")
        if digits:
            attrs["num_digits"] = int(digits)
        attrs["finish_on_key"] = spec.get("finish_on_key") or "#"
    if "speech" in mode:
        attrs["language"] = voice.speech
        attrs["speech_timeout"] = "auto"
        hints = _hints(spec.get("hints") or [])
        if hints:
            attrs["hints"] = hints
    g = Gather(**attrs)
    parent.append(g)
    return g


def render_turns(
    turns: Sequence[Turn],
    voice: Voice,
    actions: Actions | None,
    *,
    transcribe: bool = False,
    hang_up_when_done: bool = True,
) -> VoiceResponse:
    """The TwiML for spoken turns: says, then the one question (a Gather or a Record)
    followed by the no-input redirect, or a hang-up once the survey is over."""
    vr = VoiceResponse()
    interactive = [i for i, t in enumerate(turns) if (t.gather or t.record)]
    ask_at = interactive[-1] if interactive and actions is not None else None
    hangup = False
    for i, turn in enumerate(turns):
        if i == ask_at and actions is not None:
            if turn.gather:
                g = gather(vr, turn.gather, voice, actions.answer)
                say(g, turn.say, voice)
            else:
                say(vr, turn.say, voice)
                rec = turn.record or {}
                attrs: dict[str, object] = {
                    "action": actions.answer,
                    "method": "POST",
                    "max_length": int(rec.get("max_length") or 60),
                    "timeout": RECORD_SILENCE,
                    "finish_on_key": "#",
                    "play_beep": True,
                }
                if transcribe and actions.transcription:
                    attrs["transcribe"] = True
                    attrs["transcribe_callback"] = actions.transcription
                vr.append(Record(**attrs))
            vr.redirect(actions.no_input, method="POST")
            return vr
        say(vr, turn.say, voice)
        hangup = hangup or turn.hangup
    if hangup or hang_up_when_done:
        vr.hangup()
    return vr


def say_and_hang_up(text: str, voice: Voice) -> VoiceResponse:
    vr = VoiceResponse()
    say(vr, text, voice)
    vr.hangup()
    return vr


def language_menu(
    options: Sequence[tuple[str, Voice]], action: str, no_input: str, timeout: int = 5
) -> VoiceResponse:
    """"For English press 1. 中文请按 2." with each sentence in its own voice."""
    vr = VoiceResponse()
    g = Gather(action=action, method="POST", input="dtmf", num_digits=1, timeout=timeout, finish_on_key="#")
    vr.append(g)
    for text, voice in options:
        say(g, text, voice)
    vr.redirect(no_input, method="POST")
    return vr


def empty() -> VoiceResponse:
    return VoiceResponse()
