"""Which Twilio voice speaks each locale, and which language Twilio listens for.

``<Say>`` takes a ``voice`` and a ``language`` that must be a pair Twilio accepts
(an invalid pair fails the call), and ``<Gather input="speech">`` takes a speech
recognition ``language`` from a separate list. This table keeps the three together
per locale. It can be extended or overridden with the ``IVR_VOICES`` setting (JSON,
e.g. ``{"en-GB": {"voice": "Polly.Amy-Neural", "language": "en-GB", "speech": "en-GB"}}``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from feedback.errors import BadRequest


@dataclass(frozen=True)
class Voice:
    #: ``<Say voice>``: a Twilio voice name (Amazon Polly or Google).
    voice: str
    #: ``<Say language>``: the language that voice speaks.
    language: str
    #: ``<Gather language>``: the speech recognition language.
    speech: str


#: Valid Twilio pairs (Amazon Polly neural voices; Mandarin is cmn-CN for speaking and
#: cmn-Hans-CN for recognition).
DEFAULT_VOICES: dict[str, Voice] = {
    "en": Voice("Polly.Joanna-Neural", "en-US", "en-US"),
    "en-US": Voice("Polly.Joanna-Neural", "en-US", "en-US"),
    "en-GB": Voice("Polly.Amy-Neural", "en-GB", "en-GB"),
    "en-AU": Voice("Polly.Olivia-Neural", "en-AU", "en-AU"),
    "zh": Voice("Polly.Zhiyu-Neural", "cmn-CN", "cmn-Hans-CN"),
    "zh-CN": Voice("Polly.Zhiyu-Neural", "cmn-CN", "cmn-Hans-CN"),
    "zh-Hans": Voice("Polly.Zhiyu-Neural", "cmn-CN", "cmn-Hans-CN"),
}
FALLBACK = "en"


def parse_voices(value: Any) -> dict[str, Voice]:
    """The ``IVR_VOICES`` setting (a JSON text or a mapping) as a table. Raises BadRequest
    with the entry that is wrong."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise BadRequest(f"IVR_VOICES is not valid JSON: {e}") from None
    if not isinstance(value, Mapping):
        raise BadRequest("IVR_VOICES must map a locale to {voice, language, speech}")
    table: dict[str, Voice] = {}
    for locale, entry in value.items():
        if not isinstance(entry, Mapping):
            raise BadRequest(f"IVR_VOICES[{locale!r}] must be an object with voice, language and speech")
        missing = [k for k in ("voice", "language") if not isinstance(entry.get(k), str) or not entry.get(k)]
        if missing:
            raise BadRequest(f"IVR_VOICES[{locale!r}] needs {' and '.join(missing)}")
        speech = entry.get("speech") or entry["language"]
        table[str(locale)] = Voice(str(entry["voice"]), str(entry["language"]), str(speech))
    return table


def voice_for(locale: str, overrides: Mapping[str, Voice] | None = None) -> Voice:
    """The voice for ``locale``: exact match, then the same language, then English."""
    table = {**DEFAULT_VOICES, **(overrides or {})}
    norm = (locale or FALLBACK).replace("_", "-")
    if norm in table:
        return table[norm]
    lower = {k.lower(): v for k, v in table.items()}
    if norm.lower() in lower:
        return lower[norm.lower()]
    base = norm.split("-")[0].lower()
    if base in lower:
        return lower[base]
    return table[FALLBACK]
