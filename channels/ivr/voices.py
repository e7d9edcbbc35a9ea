"""Which Twilio voice speaks each locale, and which language Twilio listens for.

``<Say>`` takes a ``voice`` and a ``language`` that must be a pair Twilio accepts
(an invalid pair fails the call), and ``<Gather input="speech">`` takes a speech
recognition ``language`` from a separate list. This table keeps the three together
per locale. It can be extended or overridden with the ``IVR_VOICES`` setting (JSON,
e.g. ``{"en-GB": {"voice": "Polly.Amy-Neural", "language": "en-GB", "speech": "en-GB"}}``).

The setting is checked when the application starts (:func:`parse_voices`, called when
the IVR blueprint is registered): each voice must speak the language it is paired with
in Twilio's table (:data:`POLLY_VOICES`, Google voices by their name, ``man``/``woman``),
so a wrong entry stops the start with a message naming it instead of failing calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from feedback.errors import FeedbackError


class VoicesError(FeedbackError):
    """``IVR_VOICES`` is not a valid table of Twilio voices."""

    code = "invalid_ivr_voices"


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

#: The Amazon Polly voices Twilio offers (``Polly.<Name>`` for the standard engine,
#: ``Polly.<Name>-Neural`` for the neural one), by the ``<Say language>`` each speaks.
#: ``(standard voices, neural voices)``.
POLLY_VOICES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "arb": (("Zeina",), ()),
    "ar-AE": ((), ("Hala", "Zayd")),
    "ca-ES": ((), ("Arlet",)),
    "cmn-CN": (("Zhiyu",), ("Zhiyu",)),
    "cs-CZ": ((), ("Jitka",)),
    "cy-GB": (("Gwyneth",), ()),
    "da-DK": (("Naja", "Mads"), ("Sofie",)),
    "de-AT": ((), ("Hannah",)),
    "de-CH": ((), ("Sabrina",)),
    "de-DE": (("Marlene", "Vicki", "Hans"), ("Vicki", "Daniel")),
    "en-AU": (("Nicole", "Russell"), ("Olivia",)),
    "en-GB": (("Amy", "Emma", "Brian"), ("Amy", "Emma", "Brian", "Arthur")),
    "en-GB-WLS": (("Geraint",), ()),
    "en-IE": ((), ("Niamh",)),
    "en-IN": (("Aditi", "Raveena"), ("Kajal",)),
    "en-NZ": ((), ("Aria",)),
    "en-SG": ((), ("Jasmine",)),
    "en-US": (("Ivy", "Joanna", "Kendra", "Kimberly", "Salli", "Joey", "Justin", "Matthew"),
              ("Ivy", "Joanna", "Kendra", "Kimberly", "Salli", "Joey", "Justin", "Matthew", "Kevin", "Ruth",
               "Stephen", "Danielle", "Gregory", "Patrick")),
    "en-ZA": ((), ("Ayanda",)),
    "es-ES": (("Conchita", "Lucia", "Enrique"), ("Lucia", "Sergio")),
    "es-MX": (("Mia",), ("Mia", "Andres")),
    "es-US": (("Lupe", "Penelope", "Miguel"), ("Lupe", "Pedro")),
    "fi-FI": ((), ("Suvi",)),
    "fr-BE": ((), ("Isabelle",)),
    "fr-CA": (("Chantal",), ("Gabrielle", "Liam")),
    "fr-FR": (("Celine", "Lea", "Mathieu"), ("Lea", "Remi")),
    "hi-IN": (("Aditi",), ("Kajal",)),
    "is-IS": (("Dora", "Karl"), ()),
    "it-IT": (("Carla", "Bianca", "Giorgio"), ("Bianca", "Adriano")),
    "ja-JP": (("Mizuki", "Takumi"), ("Takumi", "Kazuha", "Tomoko")),
    "ko-KR": (("Seoyeon",), ("Seoyeon",)),
    "nb-NO": (("Liv",), ("Ida",)),
    "nl-BE": ((), ("Lisa",)),
    "nl-NL": (("Lotte", "Ruben"), ("Laura",)),
    "pl-PL": (("Ewa", "Maja", "Jacek", "Jan"), ("Ola",)),
    "pt-BR": (("Camila", "Vitoria", "Ricardo"), ("Camila", "Vitoria", "Thiago")),
    "pt-PT": (("Ines", "Cristiano"), ("Ines",)),
    "ro-RO": (("Carmen",), ()),
    "ru-RU": (("Tatyana", "Maxim"), ()),
    "sv-SE": (("Astrid",), ("Elin",)),
    "tr-TR": (("Filiz",), ("Burcu",)),
    "yue-CN": ((), ("Hiujin",)),
}
#: Twilio's basic voices and the languages they speak.
BASIC_VOICES: dict[str, frozenset[str]] = {
    name: frozenset({"en-US", "en-GB", "es-ES", "fr-FR", "de-DE"}) for name in ("man", "woman")
}
_GOOGLE = re.compile(r"^Google\.([a-z]{2,3}-[A-Z]{2})-[A-Za-z0-9]+-[A-Z]$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def languages_of(voice: str) -> frozenset[str] | None:
    """The ``<Say language>`` values Twilio accepts with ``voice``; None for a voice it does not have."""
    if voice in BASIC_VOICES:
        return BASIC_VOICES[voice]
    google = _GOOGLE.match(voice)
    if google:
        return frozenset({google.group(1)})
    if not voice.startswith("Polly."):
        return None
    name = voice[len("Polly."):]
    neural = name.endswith("-Neural")
    if neural:
        name = name[: -len("-Neural")]
    found = frozenset(lang for lang, (std, nrl) in POLLY_VOICES.items() if name in (nrl if neural else std))
    return found or None


def check_voice(locale: str, voice: Voice) -> None:
    """Raise VoicesError unless Twilio accepts ``voice`` (its Say pair and speech language)."""
    where = f"IVR_VOICES[{locale!r}]"
    if not _LANGUAGE.match(locale.replace("_", "-")):
        raise VoicesError(f"{where}: {locale!r} is not a locale such as \"en\" or \"zh-CN\"")
    spoken = languages_of(voice.voice)
    if spoken is None:
        raise VoicesError(f"{where}: {voice.voice!r} is not a Twilio voice (use e.g. \"Polly.Joanna-Neural\", "
                          f"\"Polly.Zhiyu-Neural\" or \"Google.en-US-Standard-C\")")
    if voice.language not in spoken:
        raise VoicesError(f"{where}: Twilio's {voice.voice} does not speak language {voice.language!r}; "
                          f"it speaks {', '.join(sorted(spoken))}")
    if not _LANGUAGE.match(voice.speech):
        raise VoicesError(f"{where}: speech {voice.speech!r} is not a speech recognition language such as "
                          f"\"en-US\" or \"cmn-Hans-CN\"")


def parse_voices(value: Any) -> dict[str, Voice]:
    """The ``IVR_VOICES`` setting (a JSON text or a mapping) as a table. Raises VoicesError
    with the entry that is wrong (including a voice and language Twilio does not pair)."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise VoicesError(f"IVR_VOICES is not valid JSON: {e}") from None
    if not isinstance(value, Mapping):
        raise VoicesError("IVR_VOICES must map a locale to {voice, language, speech}")
    table: dict[str, Voice] = {}
    for locale, entry in value.items():
        if not isinstance(entry, Mapping):
            raise VoicesError(f"IVR_VOICES[{locale!r}] must be an object with voice, language and speech")
        missing = [k for k in ("voice", "language") if not isinstance(entry.get(k), str) or not entry.get(k)]
        if missing:
            raise VoicesError(f"IVR_VOICES[{locale!r}] needs {' and '.join(missing)}")
        speech = entry.get("speech") or entry["language"]
        if not isinstance(speech, str):
            raise VoicesError(f"IVR_VOICES[{locale!r}]: speech must be a text such as \"en-US\"")
        voice = Voice(str(entry["voice"]), str(entry["language"]), str(speech))
        check_voice(str(locale), voice)
        table[str(locale)] = voice
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
