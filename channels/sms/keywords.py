"""Whole-message keywords of the SMS channel: opt-out, opt-in, help, and survey keywords.

Carriers and Twilio treat a message that is only one of these words (in any case) as a
keyword; we do the same, tolerating spaces and punctuation around it ("Stop.", " stop!").
A keyword inside a longer message ("please stop calling me") is an ordinary reply.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select

from feedback.store import operations as ops
from feedback.store.models import Survey, db

#: Exactly the words that end every conversation and record the opt-out.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "退订", "TD"})
#: Re-subscribe. (Twilio also treats YES as opt-in; we do so only when no survey is waiting
#: for an answer from that person, so a YES that answers a question stays an answer.)
START_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

_CJK = re.compile(r"[\u3400-\u9fff]")


def normalise(body: str) -> str:
    """The message as a keyword: NFKC, upper case, surrounding spaces and punctuation removed."""
    text = unicodedata.normalize("NFKC", body or "")
    start, end = 0, len(text)
    while start < end and _edge(text[start]):
        start += 1
    while end > start and _edge(text[end - 1]):
        end -= 1
    return text[start:end].upper()


def _edge(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return ch.isspace() or cat[0] in ("P", "S", "C", "Z")


def classify(body: str) -> str | None:
    """'stop', 'start', 'help', 'yes' (Twilio's other opt-in word) or None."""
    word = normalise(body)
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    if word == "YES":
        return "yes"
    return None


def looks_chinese(text: str) -> bool:
    return bool(_CJK.search(text or ""))


@dataclass(frozen=True)
class SurveyKeyword:
    survey_id: str
    version_id: int
    keyword: str


def survey_keywords() -> dict[str, SurveyKeyword]:
    """Keyword (normalised) -> the SMS survey it starts, over the active surveys.

    Cached per set of current survey versions, so loading a new version is seen at once.
    When two surveys declare the same keyword, the first by survey id wins."""
    rows = db.session.execute(
        select(Survey.id, Survey.current_version_id)
        .where(Survey.active.is_(True), Survey.current_version_id.is_not(None))
        .order_by(Survey.id)
    ).all()
    key = tuple((sid, int(vid)) for sid, vid in rows if vid is not None)
    cache = ops._cache("sms_keywords")
    found = cache.get(key)
    if found is not None:
        return found
    table: dict[str, SurveyKeyword] = {}
    for sid, vid in key:
        survey = ops.compiled_version(vid).survey
        if "sms" not in survey.channels:
            continue
        for kw in survey.sms.keywords:
            table.setdefault(normalise(kw), SurveyKeyword(sid, vid, kw))
    cache.clear()
    cache[key] = table
    return table


def match_survey(body: str) -> SurveyKeyword | None:
    """The survey a message asks for: the whole message, or its first word, is a keyword."""
    table = survey_keywords()
    if not table:
        return None
    word = normalise(body)
    if word in table:
        return table[word]
    first = normalise(word.split(maxsplit=1)[0]) if word.split() else ""
    return table.get(first)


def keyword_list(locale: str) -> list[str]:
    """The survey keywords to tell a customer about, those in their script first."""
    words = [kw.keyword for kw in survey_keywords().values()]
    chinese = locale.lower().startswith("zh")
    words.sort(key=lambda w: 0 if looks_chinese(w) == chinese else 1)
    return words
