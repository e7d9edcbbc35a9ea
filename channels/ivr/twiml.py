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
import xml.etree.ElementTree as ET
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
    body = to_xml(twiml) if isinstance(twiml, VoiceResponse) else str(twiml)
    return Response(body.encode("utf-8", "xmlcharrefreplace"), status=status, mimetype="text/xml")


_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def to_xml(twiml: VoiceResponse) -> str:
    """The document the twilio library builds (``str(twiml)``), written out in one pass.

    The library decides every element, attribute and text (``twiml.xml()``); only the
    writing of that tree is done here, the way ``ElementTree.tostring`` does it, without its
    namespace bookkeeping and stream set-up (most of the library's cost per webhook). A
    tree this writer does not expect (namespaced names, values that are not text) is left
    to the library.
    """
    root = twiml.xml()
    out: list[str] = [_DECLARATION]
    if _write(out, root):
        return "".join(out)
    return str(twiml)


def _escape_text(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _escape_attribute(value: str) -> str:
    value = _escape_text(value)
    if '"' in value:
        value = value.replace('"', "&quot;")
    if "\r" in value:
        value = value.replace("\r", "&#13;")
    if "\n" in value:
        value = value.replace("\n", "&#10;")
    if "\t" in value:
        value = value.replace("\t", "&#09;")
    return value


def _write(out: list[str], el: ET.Element) -> bool:
    """Append ``el`` as XML to ``out`` (as ElementTree writes it); False when it cannot."""
    tag, text, tail = el.tag, el.text, el.tail
    if type(tag) is not str or tag[:1] == "{" or not (text is None or type(text) is str) \
            or not (tail is None or type(tail) is str):
        return False
    out.append("<" + tag)
    for key, value in el.items():
        if type(key) is not str or type(value) is not str or key[:1] == "{":
            return False
        out.append(f' {key}="{_escape_attribute(value)}"')
    if text or len(el):
        out.append(">")
        if text:
            out.append(_escape_text(text))
        for child in el:
            if not _write(out, child):
                return False
        out.append(f"</{tag}>")
    else:
        out.append(" />")
    if tail:
        out.append(_escape_text(tail))
    return True


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
