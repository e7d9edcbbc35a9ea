"""Answer understanding: a raw customer reply becomes a typed answer value.

One survey is answered on many channels: a keypad on a phone call (DTMF digits), a speech
transcript, a text message or chat line, or a web / email form. :func:`understand` turns
whatever the customer gave into an :class:`Understood` value of the question's type, a
:class:`NotUnderstood` (the channel re-prompts), a :class:`Command` (repeat, skip, back) or a
:class:`NeedsConfirmation` (low-confidence speech: "Did you say 8?").

Principles:

* **Never guess.** An ambiguous reply ("7 or 8", "yes and no", a label of two choices) or a
  value out of range is :class:`NotUnderstood`, never the nearest valid value.
* **Forgiving about form.** "9", "nine", "9/10", "I'd say a 9", "九分", "打9分", "给十分" all
  mean nine; labels and aliases match case-insensitively, inside a longer reply, with small
  typos, in English and Simplified Chinese, whatever the session locale (customers mix).
* **Strict for forms.** Web and email submit exact values (numeric strings, ``yes``/``no``,
  choice codes); no language understanding is applied to them.

Documented choices:

* A number with a fractional part for a whole-number question (a scale, or a ``number``
  question with ``integer: true``) is ``not_whole`` (the hint asks for a whole number).
* A bound is not a number: "more than 5", "at least 3", "10+", "over 8", "5 or more",
  "up to 4", "nearly 10", 不到3次, 三次以上, 至少两次, 十多次 are ``inexact`` (re-prompted,
  on scales too). An approximation is the respondent's own estimate and is accepted:
  "about 3", "around 3", "roughly 3", "3 or so", "~3", 大概3次, 三次左右 are 3.
* Yes/no idioms are read as a person would: the longer phrase wins over the words inside it
  ("no problem", "not a problem", "no worries", "no doubt", "why not", 没问题, 没毛病 are yes;
  木有, 冇 are no). When the question asks whether the respondent *had* a problem ("Did you
  have any problems?", 遇到问题了吗) "no problem" / 没问题 is a no and 有问题 a yes. Hedges
  ("kind of", "sort of", "I guess", "not quite", 也不是, 不完全, 马马虎虎) are ``ambiguous``.
  👍 / 👎 (and ✅ / ❌, "thumbs up") are yes / no, except to a question about problems
  (is 👍 "I had one" or "all fine"?), where they are ``ambiguous``. On a choice question they pick the one
  choice that reads as yes / no ("Yes, please"). On a scale of two or three points 👍 or a
  smile is the top and 👎 or a frown the bottom; on longer scales (an NPS, a CSAT) they name
  no point and are asked again. Stars are out of five: on a scale to 5 they are its points
  (⭐⭐⭐⭐ or "4 stars" is 4); on other scales up to five stars are asked again ("5 stars" or
  五星 to an NPS means the top, not 5 of 10). 💯 is the top of any scale, like "full marks".
* On a scale a number with a unit counts something else and is no score ("waited 2 hours",
  打了3次电话); the other numbers of the reply are read ("3 calls, I'd give 8" is 8).
* A number or a choice named to rule it out ("not 5", "definitely not a 10", 不是5分, "not
  billing", "anything but delivery") is ``ambiguous``; with exactly one other choice named
  ("not billing, delivery") that one is picked. 一分都不想给 is 0. "N/A" and 解决了一半 are
  ``ambiguous`` on yes/no questions.
* "Not even once" is zero on ``number`` questions ("not once", "never once", "none",
  一次都没有, 没有), never the one inside it.
* A choice reply that is a whole word or phrase of exactly one label or alias picks it
  (账户 for 我的账户, "account" for "My account"); of several, it is ``ambiguous``.
* Number words with one slip of the keyboard ("eigth", "nien", "sevn", "ninne") are read
  when the slip belongs to one number word and is no word of its own ("fine", "nice", "even",
  "there" and "ought" stay words).
* ``number`` answers are ``int`` when integral, ``float`` otherwise (only possible when
  ``question.integer`` is false).
* For scales, a bare number wins over a "weak" label such as 满分 / "full marks"; a number that
  contradicts a standard or end label ("1, very satisfied") is ``ambiguous``.
* Keypad ``multiple_choice`` with more than 9 choices takes ``*``-separated positions
  ("10*12"); with at most 9 each digit is a position.

Pure Python: imports only the standard library, cn2an, rapidfuzz and the definition model.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import cn2an
from rapidfuzz import fuzz

from feedback.definition.model import Question
from feedback.definition.templates import strip_unsafe

__all__ = [
    "Command",
    "Modality",
    "NeedsConfirmation",
    "NotUnderstood",
    "Result",
    "Understood",
    "parse_number",
    "understand",
    "understand_command",
    "understand_yes_no",
]

Modality = Literal["keypad", "speech", "text", "web", "email"]
MODALITIES: tuple[str, ...] = ("keypad", "speech", "text", "web", "email")
Reason = Literal[
    "empty", "unrecognised", "ambiguous", "inexact", "out_of_range", "not_whole", "too_long", "too_few",
    "too_many",
]


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Understood:
    """A reply understood as a typed value of the question's type."""

    value: Any


@dataclass(frozen=True)
class NotUnderstood:
    """A reply that cannot be used; the channel re-prompts."""

    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Command:
    """A navigation command instead of an answer."""

    name: Literal["repeat", "skip", "back"]


@dataclass(frozen=True)
class NeedsConfirmation:
    """Low-confidence speech that was understood as ``value``; ask the caller to confirm."""

    value: Any


Result: TypeAlias = Understood | NotUnderstood | Command | NeedsConfirmation
Number: TypeAlias = int | float


def _nu(reason: Reason, detail: str = "") -> NotUnderstood:
    return NotUnderstood(reason, detail)


@dataclass(frozen=True)
class _Ctx:
    """What a parser needs besides the question and the reply."""

    modality: str
    locale: str
    default_locale: str
    #: Choice codes in the order they were presented (positions are 1-based in this order).
    order: tuple[str, ...]


# -- text normalisation ------------------------------------------------------------------------

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
_SPACES = re.compile(r"\s+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_MAX_DIGITS = 15


_ELLIPSIS = re.compile(r"\.{2,}")


def _norm(text: str) -> str:
    """NFKC (full-width digits and punctuation become ASCII), lower case, single spaces.

    An ellipsis ("um... 7", "嗯…7分") is a pause, not a decimal point.
    """
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    text = _ELLIPSIS.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def _bare(text: str) -> str:
    """Normalised text with punctuation and symbols removed (apostrophes inside words kept)."""
    out = []
    for ch in _norm(text):
        cat = unicodedata.category(ch)
        if ch == "'" or not (cat.startswith("P") or cat.startswith("S") or cat.startswith("C")):
            out.append(ch)
        else:
            out.append(" ")
    bare = _SPACES.sub(" ", "".join(out)).strip()
    return re.sub(r"(?<![a-z])'|'(?![a-z])", "", bare).strip()


def _is_latin_edge(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A regex for a normalised phrase: flexible spaces, word boundaries at Latin edges."""
    body = r"\s+".join(re.escape(word) for word in phrase.split(" "))
    if _is_latin_edge(phrase[0]):
        body = r"(?<![a-z0-9])" + body
    if _is_latin_edge(phrase[-1]):
        body += r"(?![a-z0-9])"
    return re.compile(body)


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    phrase: str
    payloads: tuple[Any, ...]


class _Lexicon:
    """Phrases mapped to payloads, found in a text longest-first without overlaps.

    Matching the longest phrases first is what makes 不满意 win over 满意, "it wasn't" over
    "it was" and "billing address" over "billing". A phrase listed with several payloads
    (an alias shared by two choices) yields one hit carrying all of them.
    """

    def __init__(self, entries: Iterable[tuple[str, Any]]) -> None:
        merged: dict[str, list[Any]] = {}
        for phrase, payload in entries:
            key = _norm(phrase)
            if not key:
                continue
            bucket = merged.setdefault(key, [])
            if payload not in bucket:
                bucket.append(payload)
        self.phrases: dict[str, tuple[Any, ...]] = {k: tuple(v) for k, v in merged.items()}
        # Phrases filed under the first two characters of their first word (one for a one-
        # character word): only those whose key is in the text are tried, and only when every
        # word of the phrase is in the text does the pattern run.
        self._by_key: dict[str, list[tuple[str, re.Pattern[str], list[str]]]] = {}
        for p in self.phrases:
            words = p.split(" ")
            self._by_key.setdefault(words[0][:2], []).append((p, _phrase_pattern(p), words))

    def find(self, text: str) -> list[_Hit]:
        """Non-overlapping hits in ``text`` (already normalised), in text order."""
        keys = set(text) | {text[i : i + 2] for i in range(len(text) - 1)}
        found = [
            _Hit(m.start(), m.end(), phrase, self.phrases[phrase])
            for key in keys
            for phrase, pattern, words in self._by_key.get(key, ())
            if all(w in text for w in words)
            for m in pattern.finditer(text)
        ]
        found.sort(key=lambda h: (-(h.end - h.start), h.start))
        taken: list[_Hit] = []
        for hit in found:
            if all(hit.end <= t.start or hit.start >= t.end for t in taken):
                taken.append(hit)
        return sorted(taken, key=lambda h: h.start)


def _mask(text: str, hits: Sequence[_Hit], filler: str = " ") -> str:
    """``text`` with the hit spans replaced by ``filler``."""
    out, last = [], 0
    for hit in hits:
        out.append(text[last : hit.start])
        out.append(filler)
        last = hit.end
    out.append(text[last:])
    return "".join(out)


# -- commands ----------------------------------------------------------------------------------

_COMMANDS: dict[str, Literal["repeat", "skip", "back"]] = {}
for _name, _phrases in {
    "repeat": (
        "repeat", "again", "say that again", "say it again", "repeat that", "repeat it",
        "repeat the question", "repeat question", "come again", "pardon", "pardon me",
        "one more time", "重复", "再说一遍", "再说一次", "再讲一遍", "再讲一次", "再来一遍",
        "重复一遍", "重复一次", "重说", "没听清", "没听清楚",
    ),
    "skip": (
        "skip", "pass", "next", "skip it", "skip this", "skip this one", "skip this question",
        "skip question", "skip the question", "next question", "next one", "prefer not to say",
        "i'd rather not say", "rather not say", "跳过", "下一题", "下一个", "跳过这题",
        "跳过这个", "跳过此题", "跳过这个问题", "略过", "不想回答", "下一个问题",
    ),
    "back": (
        "back", "go back", "previous", "previous question", "the previous question",
        "go to the previous question", "go back to the previous question", "last question",
        "返回", "上一题", "上一个", "回到上一题", "返回上一题", "上一个问题", "后退",
    ),
}.items():
    for _p in _phrases:
        _COMMANDS[_p] = _name  # type: ignore[assignment]

_POLITE_HEAD = re.compile(
    r"^(?:please|pls|can you|could you|can we|could we|let's|let us|i want to|i'd like to|"
    r"i would like to|ok|okay|请|我要|我想|麻烦|能不能|可以)\s*"
)
_POLITE_TAIL = re.compile(r"\s*(?:please|pls|thanks|thank you|吧|一下|谢谢|好吗|可以吗|呗)$")


def _command(text: str) -> Command | None:
    """The command a short reply asks for, or None. Only the whole reply counts."""
    bare = _bare(text)
    for _ in range(3):
        if bare in _COMMANDS:
            return Command(_COMMANDS[bare])
        stripped = _POLITE_TAIL.sub("", _POLITE_HEAD.sub("", bare)).strip()
        if stripped == bare:
            break
        bare = stripped
    return Command(_COMMANDS[bare]) if bare in _COMMANDS else None


def understand_command(text: str) -> str | None:
    """"repeat", "skip" or "back" when the whole reply asks for it ("say that again", 重复)."""
    if not isinstance(text, str):
        return None
    command = _command(text)
    return command.name if command else None


# -- numbers -----------------------------------------------------------------------------------

_EN_SMALL = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_EN_SMALL["nought"] = 0
_EN_TENS = {
    w: 10 * i
    for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)
}
_EN_ORDINALS = {
    w: i
    for i, w in enumerate(
        "first second third fourth fifth sixth seventh eighth ninth tenth".split(), start=1
    )
}
#: Words before "one" that make it a pronoun ("that one", "the one"), not a number.
_ONE_PRONOUN_BEFORE = frozenset(
    "that this the which no any every each some other another last next good right wrong "
    "only same new old little big first second third fourth fifth".split()
)
_ONE_PRONOUN_AFTER = frozenset({"of", "another"})

_CN_DIGIT = "零〇一二两三四五六七八九"
_CN_DIGIT_VALUE = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0, "两": 2}
_CN_RUN = re.compile(r"负?[零〇一二两三四五六七八九十百千万亿]+(?:点[零〇一二三四五六七八九]+)?")
_CN_APPROX = re.compile(r"((?:[一二两三四五六七八九]?十)?)([一二两三四五六七八九])([一二三四五六七八九])")
#: Words that contain numerals but are not numbers.
_CN_NOT_NUMBERS = re.compile(
    r"一般般|一般|一下|一样|一直|一定|一些|一起|一切|一点儿|一点点|有一点|有点|一会儿?|万一|统一|"
    r"唯一|一致|一向|千万|一旦|一共|一边|一模一样|十分(?=[\u3400-\u9fff])(?![吧啊呀了呢嘛哦噢哈吗])|"
    r"一个(?=[^。.!?！？]{0,3}?[零〇一二两三四五六七八九十\d])"
)
_NUMBER_TOKEN = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?|\.\d+)")


def _cn_values(run: str) -> list[Number]:
    """The number(s) a run of Chinese numerals means; two for approximations like 七八."""
    negative = run.startswith("负")
    body = run[1:] if negative else run
    sign = -1 if negative else 1
    approx = _CN_APPROX.fullmatch(body)
    if approx:
        tens, first, second = approx.groups()
        a, b = _CN_DIGIT_VALUE[first], _CN_DIGIT_VALUE[second]
        if not tens or b == a + 1:
            base = 0
            if tens:
                base = 10 * (_CN_DIGIT_VALUE[tens[0]] if len(tens) == 2 else 1)
            return [sign * (base + a), sign * (base + b)]
    try:
        value = cn2an.cn2an(run, "smart")
    except Exception:  # cn2an raises ValueError and others on malformed runs
        if body and all(c in _CN_DIGIT for c in body) and len(body) <= _MAX_DIGITS:
            return [sign * int("".join(str(_CN_DIGIT_VALUE[c]) for c in body))]
        return []
    if isinstance(value, float) and value.is_integer() and "点" not in run:
        value = int(value)
    return [value]


#: "十几", "二十几", "几十": some number in a range, never one value.
_CN_VAGUE = re.compile(r"[零〇一二两三四五六七八九十百千万\d]*(?:十几|几十|几百|几千|几万)[零〇一二两三四五六七八九十百千万]*")


def _digitise_cn(text: str) -> str:
    """Replace Chinese numerals with ASCII numbers (two numbers for 七八, 十七八; a vague
    十几 becomes two numbers too, so that it is never read as one value)."""
    text = _CN_NOT_NUMBERS.sub(" ", text)
    text = _CN_VAGUE.sub(" 1 或 99 ", text)

    def repl(m: re.Match[str]) -> str:
        values = _cn_values(m.group())
        return " " + " 或 ".join(_fmt(v) for v in values) + " " if values else " "

    return _CN_RUN.sub(repl, text)


def _fmt(value: Number) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _parse_en_run(words: list[re.Match[str]], i: int, text: str) -> tuple[int, int] | None:
    """Parse English number words starting at ``words[i]``: (value, index after) or None."""
    n = len(words)

    def joinable(k: int) -> bool:
        gap = text[words[k - 1].end() : words[k].start()]
        return bool(re.fullmatch(r"\s+|\s*-\s*", gap))

    def word(k: int) -> str:
        return words[k].group()

    total, chunk, last, k = 0, 0, "", i
    first = word(i)
    if first in ("a", "an"):
        if i + 1 < n and word(i + 1) in ("hundred", "thousand") and joinable(i + 1):
            chunk, last, k = 1, "unit", i + 1
        else:
            return None
    elif first == "one":
        before = re.search(r"([a-z0-9]+)\W*$", text[: words[i].start()])
        after = word(i + 1) if i + 1 < n and joinable(i + 1) else ""
        if (before and (before.group(1) in _ONE_PRONOUN_BEFORE or before.group(1).isdigit())) or (
            after in _ONE_PRONOUN_AFTER
        ):
            return None
    elif first not in _EN_SMALL and first not in _EN_TENS and first != "hundred":
        return None
    while k < n:
        if k > i and not joinable(k):
            break
        w = word(k)
        if w in _EN_SMALL:
            v = _EN_SMALL[w]
            if last in ("", "hundred", "thousand"):
                chunk, last = chunk + v, ("unit" if v < 10 else "teen")
            elif last == "tens" and 0 < v < 10:
                chunk, last = chunk + v, "unit"
            else:
                break
        elif w in _EN_TENS:
            if last in ("", "hundred", "thousand"):
                chunk, last = chunk + _EN_TENS[w], "tens"
            else:
                break
        elif w == "hundred":
            if last == "":
                chunk, last = 100, "hundred"
            elif last in ("unit", "teen") and chunk < 100:
                chunk, last = chunk * 100, "hundred"
            else:
                break
        elif w == "thousand":
            if last in ("unit", "teen", "tens", "hundred") and total == 0:
                total, chunk, last = chunk * 1000, 0, "thousand"
            else:
                break
        elif w == "and" and last in ("hundred", "thousand"):
            if k + 1 < n and joinable(k + 1) and (word(k + 1) in _EN_SMALL or word(k + 1) in _EN_TENS):
                k += 1
                continue
            break
        else:
            break
        k += 1
    if not last:
        return None
    return total + chunk, k


def _number_typos() -> dict[str, str]:
    """Slips of the keyboard in number words ("eigth", "nien", "sevn", "ninne") mapped to the
    word: one letter left out, doubled, or two neighbours swapped. Only slips that belong to
    one number word and are not words of their own ("even", "seen", "there", "tree") count."""
    words = [w for w in [*_EN_SMALL, *_EN_TENS, "hundred", "thousand"] if len(w) >= 4 and w != "nought"]
    found: dict[str, set[str]] = {}
    for w in words:
        slips = {w[:i] + w[i + 1 :] for i in range(len(w))}
        slips |= {w[:i] + w[i + 1] + w[i] + w[i + 2 :] for i in range(len(w) - 1)}
        slips |= {w[: i + 1] + w[i] + w[i + 1 :] for i in range(len(w))}
        for slip in slips - {w}:
            if len(slip) >= 4:
                found.setdefault(slip, set()).add(w)
    taken = set(_EN_SMALL) | set(_EN_TENS) | set(_EN_ORDINALS) | {"hundred", "thousand"}
    typos = {
        slip: next(iter(targets)) for slip, targets in found.items()
        if len(targets) == 1 and slip not in taken and slip not in _REAL_WORDS
    }
    return typos | {"fourty": "forty"}  # the most common misspelling of all


#: Real words (and names) one slip away from a number word: never read as numbers.
_REAL_WORDS = frozenset(
    "even seen fort thee there tree elven sven eighth ninth tenth fifth sixth seventh fourth "
    "fours fives sixes sevens eights nines tens nones forte ought".split()
)
_NUMBER_TYPOS = _number_typos()
_WORD = re.compile(r"(?<![a-z'])[a-z]{4,}(?![a-z'])")


def _digitise_en(text: str) -> str:
    """Replace English number words with ASCII numbers ("twenty-two" → 22, "eigth" → 8)."""
    text = _WORD.sub(lambda m: _NUMBER_TYPOS.get(m.group(), m.group()), text)
    words = list(re.finditer(r"[a-z]+", text))
    out, last, i = [], 0, 0
    while i < len(words):
        parsed = _parse_en_run(words, i, text)
        if parsed is None:
            i += 1
            continue
        value, j = parsed
        out.append(text[last : words[i].start()])
        out.append(f" {value} ")
        last, i = words[j - 1].end(), j
    out.append(text[last:])
    return "".join(out)


def _digitise(text: str, *, ordinals: bool = False) -> str:
    """Normalised text with every number written in ASCII digits.

    With ``ordinals`` (choice questions) "second", "2nd" and 第二 become 2 as well.
    """
    if ordinals:
        text = re.sub(
            r"(?<![a-z])(" + "|".join(_EN_ORDINALS) + r")(?![a-z])",
            lambda m: f" {_EN_ORDINALS[m.group(1)]} ",
            text,
        )
        text = re.sub(r"(\d+)(?:st|nd|rd|th)(?![a-z])", r"\1", text)
    text = _digitise_cn(text)
    text = _digitise_en(text)
    text = re.sub(r"(\d+)\s*point\s*(\d+)", r"\1.\2", text)
    text = re.sub(r"(\d+)\s+and\s+a\s+half(?![a-z])", lambda m: f"{m.group(1)}.5", text)
    text = re.sub(r"(\d+)\s*个半", lambda m: f"{m.group(1)}.5", text)
    text = re.sub(r"(?<![\d,])(\d{1,3})((?:,\d{3})+)(?![\d,])", lambda m: m.group(1) + m.group(2).replace(",", ""), text)
    text = re.sub(r"(?:(?<![a-z])minus|(?<![a-z])negative|负)\s*(?=\d)", "-", text)
    return text


def _numbers(digitised: str) -> list[Number] | None:
    """All numbers in a digitised text, in order; None when one is absurdly long."""
    values: list[Number] = []
    for m in _NUMBER_TOKEN.finditer(digitised):
        token = m.group(1)
        if len(token.replace(".", "")) > _MAX_DIGITS:
            return None
        start = m.start(1)
        negative = (
            start > 0
            and digitised[start - 1] == "-"
            and (start < 2 or not digitised[start - 2].isalnum())
        )
        value = _as_number(float(token)) if "." in token else int(token)
        values.append(-value if negative else value)
    return values


def _distinct(values: Iterable[Number]) -> list[Number]:
    out: list[Number] = []
    for v in values:
        if not any(v == o for o in out):
            out.append(v)
    return out


def _as_number(value: Number) -> Number:
    """An int when the value is integral."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def parse_number(text: str) -> float | int | None:
    """The one number a reply contains ("9", "nine", "twenty two", "九", "八分", "7.5").

    None when there is no number or more than one distinct number ("7 or 8", "9/10").
    """
    if not isinstance(text, str) or not text.strip():
        return None
    values = _numbers(_digitise(_norm(text)))
    if not values:
        return None
    distinct = _distinct(values)
    return _as_number(distinct[0]) if len(distinct) == 1 else None


# -- yes / no ----------------------------------------------------------------------------------

_YES, _NO, _NEUTRAL, _WEAK_YES, _IGNORE = "yes", "no", "neutral", "weak_yes", "ignore"
#: "No problem" and "还有问题" mean yes or no depending on the question: "Was your problem
#: solved?" "No problem." is a yes; "Did you have any problems?" "No problem." is a no.
_NO_PROBLEM, _HAS_PROBLEM = "no_problem", "has_problem"
_YES_NO = _Lexicon(
    [(p, _YES) for p in (
        "y", "yes", "yep", "yeah", "yup", "ya", "yea", "yes please", "sure", "of course",
        "correct", "absolutely", "definitely", "it was", "it did", "i did",
        "indeed", "right", "that's right", "that is right", "true", "affirmative",
        "certainly", "totally", "uh huh", "yes it was", "sure was", "exactly", "precisely",
        "you bet", "why not", "no doubt", "no doubt about it", "without a doubt",
        "no question about it", "all good", "no complaints", "solved", "resolved", "fixed",
        "sorted", "all sorted", "problem solved",
        "是", "是的", "是啊", "是呀", "对", "对的", "对啊", "对呀", "没错", "不错", "有", "有的",
        "好", "好的", "行", "可以", "当然", "正确", "解决了", "已解决", "已经解决", "确定",
        "肯定", "对对", "对对对", "嗯呢", "是滴", "对滴", "当然是",
        "\U0001f44d", "\U0001f44c", "\u2705", "\u2714", "\u2611", "\U0001f197", "\U0001f4af",  # 👍 👌 ✅ ✔ ☑ 🆗 💯
        "thumbs up", "thumb up", "thumbs-up",
    )]
    + [(p, _NO_PROBLEM) for p in (
        "no problem", "no problems", "no problem at all", "not a problem", "not a problem at all",
        "no worries", "no worries at all", "no issue", "no issues", "no trouble",
        "没问题", "没有问题", "没啥问题", "没什么问题", "没有任何问题", "完全没问题", "都没问题",
        "木有问题", "没毛病", "应该没问题", "好像没问题", "好像没有问题", "应该没有问题",
    )]
    + [(p, _HAS_PROBLEM) for p in (
        "still a problem", "still have a problem", "still have problems", "still having problems",
        "有问题", "还有问题", "问题还在", "还是有问题",
    )]
    + [(p, _WEAK_YES) for p in (
        "ok", "okay", "i think so", "i guess so", "i suppose so", "i believe so", "can't complain",
        "嗯", "嗯嗯", "恩", "嗯哼", "还行", "还行吧", "还可以", "算是吧", "好像是", "好像是的",
        "应该是", "应该是的",
    )]
    + [(p, _NO) for p in (
        "n", "no", "nope", "nah", "not really", "not at all", "no it wasn't", "it wasn't",
        "it wasnt", "it was not", "wasn't", "wasnt", "was not", "it isn't", "it is not",
        "isn't", "isnt", "not", "never", "negative", "incorrect", "wrong", "didn't", "didnt",
        "did not", "haven't", "hasn't", "don't", "dont", "do not", "i don't think so",
        "absolutely not", "definitely not", "of course not", "certainly not", "not yet",
        "no way", "not correct", "not right", "that's not right", "that is not right",
        "not true", "no thanks", "no thank you", "it's not", "it is not", "i think not",
        "i guess not", "i suppose not", "not a chance", "no chance", "hell no",
        "not solved", "not resolved", "not fixed", "not sorted", "unsolved", "unresolved",
        "wasn't solved", "wasn't resolved", "wasn't fixed", "isn't solved", "isn't resolved",
        "isn't fixed", "never solved", "never resolved", "never fixed", "still broken",
        "不", "不是", "否", "没有", "没", "不对", "没解决", "没有解决", "未解决", "还没", "还没有",
        "还没解决", "还没有解决", "并没有", "不行", "不好", "不可以", "错", "错了", "不正确",
        "不用", "不要", "没能解决", "不能", "不太", "不太好", "不太行", "不怎么样", "不怎么好", "木有", "莫有", "冇", "冇有", "没得",
        "好像没有", "好像没", "好像不是", "应该没有", "应该没", "应该不是",
        "\U0001f44e", "\u274c", "\u2716", "\u274e", "\u2717", "\u2718",  # 👎 ❌ ✖ ❎ ✗ ✘
        "thumbs down", "thumb down", "thumbs-down",
    )]
    + [(p, _NEUTRAL) for p in (
        "maybe", "perhaps", "not sure", "unsure", "i don't know", "i dont know", "don't know",
        "dont know", "dunno", "kind of", "kinda", "sort of", "partly", "partially",
        "somewhat", "i guess", "i suppose", "more or less", "no idea", "not exactly", "not quite",
        "not completely", "not entirely", "not fully", "not necessarily", "not totally",
        "so so", "so-so", "never mind", "half and half", "not bad",
        "不知道", "不确定", "不一定", "不好说", "说不好", "说不清", "也许", "可能", "有可能",
        "好像", "差不多", "还好", "有点", "有一点", "一般", "不清楚", "部分解决", "解决了一部分",
        "没关系", "或许", "大概", "不完全", "不完全是", "也不是", "也不全是", "不全是", "不全",
        "不太确定", "一半一半", "马马虎虎", "凑合", "一半", "n/a", "not applicable", "does not apply",
        "doesn't apply", "不适用",
    )]
    + [(p, _IGNORE) for p in ("但是", "可是", "还是", "只是", "要是", "于是", "总是", "就是说")]
)
_YES_NO_WORDS = {"1": True, "2": False, "one": True, "two": False, "一": True, "二": False}

#: A yes/no question that asks whether the respondent had a problem ("Did you have any
#: problems?", 您遇到问题了吗？): there "no problem" is a no.
_PROBLEM_QUESTION = re.compile(
    r"(?<![a-z])(?:any|have|has|had|having|experience[sd]?|experiencing|encounter(?:ed|s)?|"
    r"face[sd]?|facing|run into|ran into|notice[sd]?|see|saw)\s+(?:any\s+|a\s+|an\s+|other\s+|"
    r"more\s+|further\s+|new\s+)*(?:problems?|issues?|trouble|difficult(?:y|ies)|errors?|bugs?)"
    r"(?![a-z])"
    r"|(?<![a-z])(?:go|goes|went|gone|going|anything|something)\s+wrong(?![a-z])"
    r"|(?:遇到|碰到|出现|发现|有没有|是否有|有任何|还有|存在)(?:了|过)?(?:任何|什么|其他|别的)?"
    r"(?:问题|困难|麻烦|故障|错误)|出错|出问题|出了问题|不顺利"
)


def asks_about_problems(question: Question) -> bool:
    """Whether a yes/no question asks if the respondent had a problem (any locale)."""
    texts = _ltexts(question.text)
    for channel in ("ivr", "sms", "chat", "web", "email"):
        texts += _ltexts(getattr(getattr(question, channel, None), "text", None))
    return any(_PROBLEM_QUESTION.search(_norm(t)) for t in texts)


def _yes_no_verdict(
    text: str, *, problem_question: bool = False
) -> tuple[bool | None, Reason | Literal[""]]:
    """(value, "") or (None, reason) for a free-text yes/no reply.

    Longer phrases win over the words inside them ("no problem" over "no", 没毛病 over 没,
    "not sure" over "not"); a reply holding both a yes and a no, or a hedge ("kind of",
    也不是, 不完全), is ambiguous and re-prompted.
    """
    norm = _norm(text)
    bare = _bare(text)
    if not norm:
        return None, "empty"
    if bare in _YES_NO_WORDS:
        return _YES_NO_WORDS[bare], ""
    flips = {_NO_PROBLEM: _NO, _HAS_PROBLEM: _YES} if problem_question else {
        _NO_PROBLEM: _YES, _HAS_PROBLEM: _NO
    }
    kinds = {flips.get(hit.payloads[0], hit.payloads[0]) for hit in _YES_NO.find(norm)}
    if _NEUTRAL in kinds:
        return None, "ambiguous"
    if _YES in kinds and _NO in kinds:
        return None, "ambiguous"
    if _YES in kinds:
        return True, ""
    if _NO in kinds:
        return False, ""
    if _WEAK_YES in kinds:
        return True, ""
    return None, "unrecognised"


def understand_yes_no(raw: str, locale: str) -> bool | None:
    """True for yes, False for no, None when neither or both ("yes and no").

    Used for yes/no questions and for confirmations ("Did you say 8?"). English and
    Chinese are recognised in every locale; "1" is yes and "2" is no.
    """
    if not isinstance(raw, str):
        return None
    return _yes_no_verdict(raw)[0]


# -- emoji -------------------------------------------------------------------------------------

#: Emoji that a person reads the same way whatever the question: approval, disapproval,
#: stars, smiles, frowns and a straight face.
_EMOJI_KINDS: dict[str, str] = {
    **dict.fromkeys("\U0001f44d\U0001f44c\u2705\u2714\u2611\U0001f197\U0001f4af", "up"),  # 👍 👌 ✅ ✔ ☑ 🆗 💯
    **dict.fromkeys("\U0001f44e\u274c\u2716\u274e\u2717\u2718", "down"),  # 👎 ❌ ✖ ❎ ✗ ✘
    **dict.fromkeys("\u2b50\u2605\U0001f31f", "star"),  # ⭐ ★ 🌟
    # 😀 😃 😄 😁 😊 🙂 😍 🥰 🤩 🥳 ☺
    **dict.fromkeys("\U0001f600\U0001f603\U0001f604\U0001f601\U0001f60a\U0001f642\U0001f60d\U0001f970"
                    "\U0001f929\U0001f973\u263a", "happy"),
    # ☹ 🙁 😞 😠 😡 🤬 😢 😭 😒 😩 😫
    **dict.fromkeys("\u2639\U0001f641\U0001f61e\U0001f620\U0001f621\U0001f92c\U0001f622\U0001f62d"
                    "\U0001f612\U0001f629\U0001f62b", "sad"),
    **dict.fromkeys("\U0001f610\U0001f611\U0001f636", "neutral"),  # 😐 😑 😶
}
#: What an emoji reply may hold besides those: skin tones, presentation selectors, joiners,
#: spaces and closing punctuation ("👍🏽", "⭐️⭐️⭐️", "😡!!").
_EMOJI_EXTRA = re.compile("[\ufe0e\ufe0f\u200d\U0001f3fb-\U0001f3ff\\s!.。！~～]+")
_EMOJI_POLARITY = {"up": "top", "happy": "top", "down": "bottom", "sad": "bottom", "neutral": "middle"}


def _emoji_reply(text: str) -> list[str] | None:
    """The kind of each emoji of a reply made only of emoji ("👍", "⭐⭐⭐⭐", "😡!"); None when
    the reply holds anything else (words, digits, other symbols)."""
    rest = _EMOJI_EXTRA.sub("", text)
    if not rest or any(ch not in _EMOJI_KINDS for ch in rest):
        return None
    return [_EMOJI_KINDS[ch] for ch in rest]


def _emoji_scale(kinds: list[str], lo: int, hi: int) -> Result:
    """A scale answered with emoji only, read as a person would.

    Stars are counted (see :func:`_star_count`: "⭐⭐⭐⭐" is 4 on a CSAT). On a scale of two or three points a thumbs-up or a smile is the top, a
    thumbs-down or a frown the bottom, a straight face the middle of three. On a longer scale
    they name no point (is 👍 a 4 or a 5?): asked again.
    """
    if set(kinds) == {"star"}:
        return _star_count(len(kinds), lo, hi)
    polarity = {_EMOJI_POLARITY.get(kind) for kind in kinds}
    if len(polarity) > 1 or None in polarity:
        return _nu("ambiguous", "emoji that disagree")
    if hi - lo > 2:
        return _nu("unrecognised", "an emoji names no point of this scale")
    (where,) = polarity
    if where == "top":
        return Understood(hi)
    if where == "bottom":
        return Understood(lo)
    if hi - lo == 2:
        return Understood(lo + 1)
    return _nu("ambiguous", "no middle point")


#: A number of stars: "5 stars", "5⭐", 五星, 五颗星.
_STARS = re.compile(r"\d\s*(?:stars?(?![a-z])|[\u2b50\u2605\U0001f31f]|颗?星(?!期))")  # not 星期, a week


def _star_count(value: Number, lo: int, hi: int) -> Result:
    """Stars are out of five: on a scale to 5 they are its points; on another scale up to five
    stars are asked again ("5 stars" to an NPS means the top, not 5 of 10), more are a count."""
    if hi != 5 and value <= 5:
        return _nu("ambiguous", f"{_fmt(value)} stars (out of five), the scale is {lo}-{hi}")
    return _check_scale(value, lo, hi)


def _emoji_choice(q: Question, kinds: list[str]) -> str | None:
    """The choice a thumbs-up / thumbs-down picks when exactly one choice reads as yes (or
    no): "Yes, please" / "No, thanks"."""
    if not kinds or any(kind not in ("up", "down") for kind in kinds) or len(set(kinds)) > 1:
        return None
    wanted = kinds[0] == "up"
    picked = [
        c.code
        for c in q.choices or []
        if any(_yes_no_verdict(t)[0] is wanted for t in [c.code, *_ltexts(c.label)])
    ]
    return picked[0] if len(picked) == 1 else None


# -- scales ------------------------------------------------------------------------------------

_CSAT_LABELS: dict[int, tuple[str, ...]] = {
    1: ("very dissatisfied", "extremely dissatisfied", "very unsatisfied", "completely dissatisfied",
        "very unhappy",
        "非常不满意", "很不满意", "十分不满意", "极不满意", "特别不满意"),
    2: ("dissatisfied", "unsatisfied", "somewhat dissatisfied", "unhappy", "不满意", "不太满意", "比较不满意"),
    3: ("neutral", "neither", "neither satisfied nor dissatisfied",
        "neither satisfied or dissatisfied", "一般", "一般般", "中立", "中等"),
    4: ("satisfied", "somewhat satisfied", "happy", "满意", "比较满意", "还算满意"),
    5: ("very satisfied", "extremely satisfied", "completely satisfied", "very happy", "非常满意", "很满意",
        "十分满意", "特别满意"),
}
#: Labels meaning "the top of the scale" that give way to an explicit number.
_WEAK_MAX_LABELS = ("满分", "full marks", "full score", "perfect score", "\U0001f4af")  # 💯
#: Words before a label that negate it ("not satisfied", 不满意) or hedge it ("almost full
#: marks", 几乎满分): the label then names no scale point.
_NEGATED_EN = re.compile(
    r"(?:(?<![a-z])not|n't|(?<![a-z])never|(?<![a-z])hardly|(?<![a-z])nor|(?<![a-z])almost|"
    r"(?<![a-z])nearly)\s+(?:[a-z']+\s+)?$"
)
_NEGATED_ZH = re.compile(r"(?:不|没|并非|几乎|接近|差不多)[^\s,.!?;，。！？；]{0,2}$")
_LABEL_FUZZ = 85.0


def _ltexts(value: Any) -> list[str]:
    """Every text of a localised value (a str, or all the values of a locale map)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [v for v in value.values() if isinstance(v, str)]


_LEXICONS: dict[tuple[int, str], tuple[Question, _Lexicon]] = {}


def _cached_lexicon(q: Question, kind: str, build: Callable[[], _Lexicon]) -> _Lexicon:
    """The lexicon of a question, built once per (frozen) question object."""
    key = (id(q), kind)
    hit = _LEXICONS.get(key)
    if hit is not None and hit[0] is q:
        return hit[1]
    lexicon = build()
    if len(_LEXICONS) >= 4096:
        _LEXICONS.clear()
    _LEXICONS[key] = (q, lexicon)
    return lexicon


def _scale_lexicon(q: Question, lo: int, hi: int) -> _Lexicon:
    """Labels that name a scale point: csat's standard labels, the end labels, 满分."""
    return _cached_lexicon(q, f"scale:{lo}:{hi}", lambda: _build_scale_lexicon(q, lo, hi))


def _build_scale_lexicon(q: Question, lo: int, hi: int) -> _Lexicon:
    entries: list[tuple[str, Any]] = []
    if q.type == "csat" and (lo, hi) == (1, 5):
        entries += [(p, (v, False)) for v, phrases in _CSAT_LABELS.items() for p in phrases]
    if q.scale is not None:
        entries += [(p, (lo, False)) for p in _ltexts(q.scale.labels.min)]
        entries += [(p, (hi, False)) for p in _ltexts(q.scale.labels.max)]
    entries += [(p, (hi, True)) for p in _WEAK_MAX_LABELS]
    return _Lexicon(entries)


def _is_negated(text: str, hit: _Hit) -> bool:
    before = text[: hit.start]
    return bool(_NEGATED_EN.search(before) or _NEGATED_ZH.search(before))


def _scale_numbers(norm: str, lo: int, hi: int, digitised: str | None = None) -> tuple[list[Number] | None, str]:
    """Numbers of a scale reply, with "9/10", "9 out of 10", "满分十分" reduced to 9 / 满分.

    The second item names another scale the reply was given on ("4/5" to an NPS question),
    which must not be read on ours.
    """
    text = _digitise(norm) if digitised is None else digitised
    other: list[str] = []

    def fraction(numerator: str, denominator: str) -> str:
        if denominator == str(hi):
            return f" {numerator} "
        other.append(denominator)
        return f" {numerator}/{denominator} "

    text = re.sub(
        r"(-?\d+)\s*(?:/|out\s+of|outta|of|over)\s*(\d+)(?:\s*分)?",
        lambda m: fraction(m.group(1), m.group(2)),
        text,
    )
    # 十分之八: eight out of ten (the denominator comes first in Chinese).
    text = re.sub(r"(\d+)\s*分之\s*(\d+)", lambda m: fraction(m.group(2), m.group(1)), text)
    text = re.sub(
        r"满分(?:是|为)?\s*(\d+)\s*分?", lambda m: "满分" if m.group(1) == str(hi) else m.group(0), text
    )
    text = re.sub(
        r"(?:on\s+)?(?:a\s+)?scale\s+(?:of\s+|from\s+)?(\d+)\s*(?:to|-|through)\s*(\d+)",
        lambda m: " " if (m.group(1), m.group(2)) == (str(lo), str(hi)) else m.group(0),
        text,
    )
    return _numbers(text), (other[0] if other else "")


#: A number given as a bound ("more than 5", "at least 3", "10+", 三次以上, 不到3次) is not a
#: value: re-prompted as ``inexact``. Approximations ("about 3", "around 3", 大概3次, 3次左右)
#: are the respondent's answer and are accepted.
_BOUND_BEFORE = re.compile(
    r"(?<![a-z])(?:(?:more|greater|higher|bigger|larger|less|fewer|lower|smaller|better|worse)\s+than|"
    r"over|above|under|below|beyond|at\s+least|at\s+most|at\s+the\s+(?:least|most)|up\s+to|"
    r"upwards?\s+of|in\s+excess\s+of|almost|nearly|close\s+to|shy\s+of|north\s+of|south\s+of)"
    r"\s*(?:(?:a|an|like|about|around|maybe)\s+)?-?\d"
    r"|(?:超过|多于|大于|高于|不止|至少|起码|最少|最多|至多|顶多|不超过|不到|没有|少于|小于|低于|不足|将近|"
    r"接近|几乎|不下于|不下)\s*了?\s*-?\d"
    # 快10次了 ("almost ten times"), but not 很快9分 ("fast, 9").
    r"|快要?\s*-?\d+\s*[^\d\s]{0,3}了"
)
_BOUND_AFTER = re.compile(
    r"\d\s*(?:\+(?!\s*-?\d)|plus(?!\s*\d)(?![a-z])"
    r"|(?:[a-z]+\s+)?(?:or|and)\s+(?:more|over|above|higher|greater|up|upwards|less|fewer|under|"
    r"below|lower|counting)(?![a-z])"
    r"|(?:[a-z]+\s+)?(?:at\s+(?:the\s+)?(?:most|least)|max(?:imum)?|minimum|tops)(?![a-z]))"
    r"|\d\s*(?:次|个|分|天|小时|人|元|块|遍|回|年|月|周|星期|岁|件|单|位|台|分钟)?\s*"
    r"(?:以上|以下|以内|之内|之上|之下|多(?![谢少])|出头|不到|开外|有余|往上|不止)"
)


def _is_bound(digitised: str) -> bool:
    """Whether a digitised reply gives a bound instead of a number ("more than 5", "10+")."""
    if _BOUND_AFTER.search(digitised):
        return True
    for m in _BOUND_BEFORE.finditer(digitised):
        # "9 over 10" is a score out of ten, not "over 10".
        if not re.search(r"\d\s*$", digitised[: m.start()]):
            return True
    return False


#: A number said to rule it out ("not 5", "definitely not a 10", 不是5分) is no answer.
_NOT_NUMBER = re.compile(
    r"(?:(?<![a-z])not|n't)\s+(?:(?:a|an|even|quite|really|exactly|just|like|give|giving|say|rate|you|it|us|them)\s+)"
    r"{0,3}-?\d|(?:不是|并非|不给)\s*-?\d"
)
#: A number with a unit counts something else ("waited 2 hours", 打了3次电话, "3 days late"):
#: it is no score. Points (分, "points") are the score's own unit.
_UNIT_NUMBER = re.compile(
    r"-?\d+(?:\.\d+)?\s*(?:(?:hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?|months?|years?|"
    r"times?|calls?|emails?|people|persons?|dollars?|bucks|euros?|pounds?|yuan|rmb|usd)(?![a-z])|"
    r"个?小时|分钟|秒钟?|天|个?星期|周|个?月|年|次|通|遍|回|岁|块钱?|元|美元|个人|人)"
)
#: "Not even one point" (一分都不想给, 一分也不给) is the bottom of the scale: 0.
_ZERO_SCORE = re.compile(r"(?<!\d)1\s*分\s*(?:都|也)\s*(?:不|没)")


def _check_scale(value: Number, lo: int, hi: int) -> Result:
    if isinstance(value, float) and not value.is_integer():
        return _nu("not_whole", f"{value} is not a whole number")
    if not lo <= value <= hi:
        return _nu("out_of_range", f"{_fmt(value)} is not between {lo} and {hi}")
    return Understood(int(value))


def _scale_text(q: Question, text: str, ctx: _Ctx) -> Result:
    """nps / csat / ces / rating from free text or speech."""
    lo, hi = q.scale_range or (1, 5)
    norm = _norm(text)
    digitised = _ZERO_SCORE.sub(" 0分", _digitise(norm))
    if _NOT_NUMBER.search(digitised):
        return _nu("ambiguous", "a number named to rule it out")
    counted = None if _is_bound(digitised) else _UNIT_NUMBER.search(digitised)
    if counted:
        digitised = _UNIT_NUMBER.sub(" ", digitised)
    numbers, other_scale = _scale_numbers(norm, lo, hi, digitised)
    if numbers is None:
        return _nu("unrecognised", "number too long")
    if other_scale:
        return _nu("ambiguous", f"answered out of {other_scale}, the scale is {lo}-{hi}")
    if _is_bound(digitised):
        return _nu("inexact", "a bound, not a number")
    lexicon = _scale_lexicon(q, lo, hi)
    hits = lexicon.find(norm)
    strong = {v for h in hits if not _is_negated(norm, h) for v, weak in h.payloads if not weak}
    distinct = _distinct(numbers)
    if len(distinct) > 1:
        return _nu("ambiguous", f"several numbers: {', '.join(map(_fmt, distinct))}")
    if distinct:
        value = distinct[0]
        if strong and strong != {value}:
            return _nu("ambiguous", "the number and the label disagree")
        if _STARS.search(digitised):
            return _star_count(value, lo, hi)
        return _check_scale(value, lo, hi)
    if any(_is_negated(norm, h) for h in hits):
        return _nu("unrecognised", "negated label")
    if counted and not hits:
        return _nu("unrecognised", f"'{counted.group(0).strip()}' counts something else, it is no score")
    values = {v for h in hits for v, _weak in h.payloads}
    if len(values) > 1:
        return _nu("ambiguous", "several labels")
    if values:
        return Understood(values.pop())
    best = _fuzzy(_bare(text), [(p, v) for p, pay in lexicon.phrases.items() for v, _w in pay])
    if len(best) > 1:
        return _nu("ambiguous", "close to several labels")
    if best:
        return Understood(best[0])
    kinds = _emoji_reply(text)
    if kinds is not None:
        return _emoji_scale(kinds, lo, hi)
    return _nu("unrecognised", "no number")


def _fuzzy(reply: str, candidates: Sequence[tuple[str, Any]], *, ngrams: bool = False) -> list[Any]:
    """Payloads of the candidates closest to ``reply`` (small typos tolerated).

    Returns one payload, several (a tie between different payloads: ambiguous) or none.
    With ``ngrams``, short replies are also compared word-group by word-group so that a
    misspelt label inside a short sentence is found ("it was biling").
    """
    if not reply or len(reply) > 200:
        return []
    words = reply.split(" ")
    scores: dict[Any, float] = {}
    for phrase, payload in candidates:
        cand = _bare(phrase)
        if len(cand) < 4:
            continue
        score = fuzz.ratio(reply, cand)
        if ngrams and not _CJK.search(cand) and 1 < len(words) <= 6:
            k = len(cand.split(" "))
            for j in range(0, len(words) - k + 1):
                score = max(score, fuzz.ratio(" ".join(words[j : j + k]), cand))
        if score >= _LABEL_FUZZ and score > scores.get(payload, 0):
            scores[payload] = score
    if not scores:
        return []
    top = max(scores.values())
    return [p for p, s in scores.items() if s >= top - 2]


# -- number questions --------------------------------------------------------------------------


def _check_number(q: Question, value: Number) -> Result:
    """Range and integer checks of a ``number`` question."""
    if q.integer and isinstance(value, float) and not value.is_integer():
        return _nu("not_whole", f"{value} is not a whole number")
    if q.min is not None and value < q.min:
        return _nu("out_of_range", f"{_fmt(value)} is below {_fmt(q.min)}")
    if q.max is not None and value > q.max:
        return _nu("out_of_range", f"{_fmt(value)} is above {_fmt(q.max)}")
    return Understood(int(value) if q.integer else _as_number(value))


#: Counts said as words ("How many times did you call?" "Twice.").
_EN_COUNTS = {"once": 1, "twice": 2, "thrice": 3, "never": 0}
_EN_COUNT_WORDS = re.compile(r"(?<![a-z'])(" + "|".join(_EN_COUNTS) + r")(?![a-z'])")
#: "Not even once" is zero, not the one inside it: "not once", "never once", "not a single
#: time", 一次都没有, 一次也没打过, 一个都没有.
_ZERO_PHRASE = re.compile(
    r"(?<![a-z'])(?:not\s+(?:even\s+)?once|never\s+(?:even\s+)?once|not\s+(?:even\s+)?(?:a\s+single|one)\s+time"
    r"|zero\s+times)(?![a-z'])"
    r"|(?:一|1)\s*(?:次|个|回|遍|单)\s*(?:都|也)\s*(?:没|不|未)"
)
#: Whole replies meaning "none" to a "how many" question.
_ZERO_REPLIES = frozenset(
    {"none", "not once", "not any", "nil", "nothing", "no times", "没有", "没", "无", "一次都没有", "从来没有",
     "从没有", "从来没", "从没", "都没有", "一个都没有", "一次也没有"}
)


def _number_text(q: Question, text: str, ctx: _Ctx) -> Result:
    """A ``number`` question from free text or speech."""
    if _bare(text) in _ZERO_REPLIES:
        return _check_number(q, 0)
    norm = _ZERO_PHRASE.sub(" 0 ", _norm(text))
    norm = _EN_COUNT_WORDS.sub(lambda m: f" {_EN_COUNTS[m.group(1)]} ", norm)
    digitised = _digitise(norm)
    if _is_bound(digitised):
        return _nu("inexact", "a bound, not a number")
    if _NOT_NUMBER.search(digitised):
        return _nu("ambiguous", "a number named to rule it out")
    values = _numbers(digitised)
    if values is None:
        return _nu("unrecognised", "number too long")
    distinct = _distinct(values)
    if not distinct:
        return _nu("unrecognised", "no number")
    if len(distinct) > 1:
        return _nu("ambiguous", f"several numbers: {', '.join(map(_fmt, distinct))}")
    return _check_number(q, distinct[0])


# -- yes / no questions ------------------------------------------------------------------------


def _yes_no_text(q: Question, text: str, ctx: _Ctx) -> Result:
    problem_question = asks_about_problems(q)
    if problem_question and _emoji_reply(text):
        # 👍 to "Did you have any problems?": "yes, I had" or "all fine"? Asked again.
        return _nu("ambiguous", "an emoji to a question about problems")
    value, reason = _yes_no_verdict(text, problem_question=problem_question)
    if value is None:
        detail = "both yes and no, or unsure" if reason == "ambiguous" else "neither yes nor no"
        return _nu(reason or "unrecognised", detail)
    return Understood(value)


# -- choices -----------------------------------------------------------------------------------


def _choice_lexicon(q: Question) -> _Lexicon:
    """Every label and alias of every choice, in every locale, mapped to its code."""
    return _cached_lexicon(q, "choices", lambda: _build_choice_lexicon(q))


def _build_choice_lexicon(q: Question) -> _Lexicon:
    entries: list[tuple[str, Any]] = []
    for choice in q.choices or []:
        entries += [(label, choice.code) for label in _ltexts(choice.label)]
        entries += [(alias, choice.code) for aliases in choice.aliases.values() for alias in aliases]
    return _Lexicon(entries)


def _choice_candidates(q: Question, lexicon: _Lexicon) -> list[tuple[str, Any]]:
    cands = [(phrase, code) for phrase, codes in lexicon.phrases.items() for code in codes]
    return cands + [(code, code) for code in q.choice_codes]


def _code_for(q: Question, bare: str) -> str | None:
    """The choice whose code is the whole reply (case-insensitive)."""
    for code in q.choice_codes:
        if bare == code.lower() or bare == _bare(code):
            return code
    return None


def _position(ctx: _Ctx, value: Number) -> str | NotUnderstood:
    """The code at a 1-based position in the presented order."""
    if isinstance(value, float) and not value.is_integer():
        return _nu("out_of_range", f"{value} is not a choice number")
    if not 1 <= value <= len(ctx.order):
        return _nu("out_of_range", f"there is no choice {_fmt(value)}")
    return ctx.order[int(value) - 1]


#: A choice named only to rule it out: "not billing", "anything but delivery", 不是账单, 除了配送.
#: Only a negation right before the label counts: "I never got my delivery" names delivery.
_CHOICE_NOT = re.compile(
    r"(?:(?<![a-z])(?:not|except(?:\s+for)?|excluding|anything\s+but|everything\s+but|all\s+but|"
    r"other\s+than|apart\s+from|besides)\s+(?:(?:about|the|a|an|my|for|with|regarding)\s+)?"
    r"|(?:不是|除了|不要|不选|并非)\s*(?:关于|因为)?\s*)$"
)
_CHOICE_NOT_WORD = re.compile(
    r"(?<![a-z])(?:not|except|excluding|other\s+than|apart\s+from|anything\s+but)(?![a-z])|不是|除了|不要|不选|并非"
)


def _ruled_out(norm: str, hit: _Hit) -> bool:
    """Whether a matched label is named to rule it out ("not billing")."""
    return bool(_CHOICE_NOT.search(norm[: hit.start]))


def _single_text(q: Question, text: str, ctx: _Ctx) -> Result:
    """A ``single_choice`` from free text or speech: number, code, label, alias, fuzzy."""
    norm, bare = _norm(text), _bare(text)
    code = _code_for(q, bare) or _code_for(q, norm.strip(" .!?"))
    if code:
        return Understood(code)
    lexicon = _choice_lexicon(q)
    hits = lexicon.find(norm)
    if any(_ruled_out(norm, h) for h in hits):
        # "not billing, delivery" is delivery; "not billing" alone says what it is not.
        out = {c for h in hits if _ruled_out(norm, h) for c in h.payloads}
        kept = _distinct_str(c for h in hits if not _ruled_out(norm, h) for c in h.payloads)
        if len(kept) == 1 and kept[0] not in out:
            return Understood(kept[0])
        return _nu("ambiguous", "a choice named to rule it out")
    if hits:
        codes = _distinct_str(c for h in hits for c in h.payloads)
        if len(codes) > 1:
            return _nu("ambiguous", f"matches {', '.join(codes)}")
        rest = _numbers(_digitise(_mask(norm, hits), ordinals=True)) or []
        rest_bare = _strip_choice_filler(_digitise(_mask(norm, hits), ordinals=True))
        if rest and re.fullmatch(r"[\d\s.]*", rest_bare):
            for value in _distinct(rest):
                picked = _position(ctx, value)
                if picked != codes[0]:
                    return _nu("ambiguous", "the number and the label disagree")
        return Understood(codes[0])
    numbers = _numbers(_digitise(norm, ordinals=True))
    if numbers is None:
        return _nu("unrecognised", "number too long")
    distinct = _distinct(numbers)
    if len(distinct) > 1:
        return _nu("ambiguous", "several numbers")
    if distinct:
        picked = _position(ctx, distinct[0])
        return picked if isinstance(picked, NotUnderstood) else Understood(picked)
    best = _contained(q, lexicon, bare) or _fuzzy(bare, _choice_candidates(q, lexicon), ngrams=True)
    if len(best) > 1:
        return _nu("ambiguous", f"close to {', '.join(best)}")
    best = best or _inflected(q, lexicon, bare)
    if len(best) > 1:
        return _nu("ambiguous", f"close to {', '.join(best)}")
    if best and _CHOICE_NOT_WORD.search(norm):
        return _nu("ambiguous", "a choice named to rule it out")
    if best:
        return Understood(best[0])
    kinds = _emoji_reply(text)
    emoji_code = _emoji_choice(q, kinds) if kinds else None
    if emoji_code is not None:
        return Understood(emoji_code)
    return _nu("unrecognised", "no choice named")


#: Characters that alone do not name anything (我的 is part of 我的账户 but names no choice).
_ZH_FUNCTION = frozenset("我的是了吧啊呀呢要有个这那就都和与也还在")


def _contained(q: Question, lexicon: _Lexicon, bare: str) -> list[str]:
    """Choices whose label or alias holds the whole reply as a word or phrase ("账户" in
    我的账户, "account" in "My account"): one code, several (ambiguous) or none."""
    reply = _strip_choice_filler(bare)
    if not reply or any(ch.isdigit() for ch in reply):
        return []
    if _CJK.search(reply):
        if len(reply) < 2 or all(ch in _ZH_FUNCTION for ch in reply):
            return []
        pattern = None
    else:
        if len(reply) < 3:
            return []
        pattern = _phrase_pattern(reply)
    codes: list[str] = []
    for phrase, payloads in lexicon.phrases.items():
        if phrase == reply:
            continue
        inside = reply in phrase if pattern is None else bool(pattern.search(phrase))
        if inside:
            codes += [c for c in payloads if c not in codes]
    return codes


#: Words too general to name a choice by themselves ("I had an issue" names no "Other issue").
_GENERIC_WORDS = frozenset(
    "issue problem question other else something thing service help support general experience "
    "time team there their about with have your what when which".split()
)


def _stem(word: str) -> str:
    """A crude English stem, the same for a word's inflections: bill, billed, billing, bills."""
    for suffix in ("ings", "ing", "ed", "es", "s", "y", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]
    return word


def _inflected(q: Question, lexicon: _Lexicon, bare: str) -> list[str]:
    """Choices named by another form of a word of their label or alias ("I was billed twice"
    for Billing, "delivered" for Delivery): one code, several (ambiguous) or none."""
    words = {_stem(w) for w in re.findall(r"[a-z]{4,}", bare) if w not in _GENERIC_WORDS}
    if not words:
        return []
    codes: list[str] = []
    for phrase, payloads in lexicon.phrases.items():
        stems = {_stem(w) for w in re.findall(r"[a-z]{4,}", phrase) if w not in _GENERIC_WORDS}
        if stems & words:
            codes += [c for c in payloads if c not in codes]
    return codes


def _distinct_str(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


_FILLER_EN = re.compile(
    r"(?<![a-z'])(?:options?|choices?|numbers?|the|i|i'd|i'll|i'm|pick|picked|choose|chose|"
    r"select|selected|go|with|want|like|both|also|please|say|it's|its|is|was|were|are|them|"
    r"ones?|and|plus|my|answer|answers|would|be|a|an|of|for)(?![a-z'])"
)
_FILLER_ZH = re.compile(r"第|个|项|号|种|条|选项|选择|选|我|要|吧|是|都|了|和|还有|以及|跟|与|及|呢|啊")
_ALL_CHOICES = frozenset(
    {"all", "all of them", "all of the above", "everything", "all of these", "all options",
     "全部", "全选", "都", "都是", "全都", "全都是", "所有", "以上都是", "以上全部", "都有"}
)
_MULTI_SPLIT = re.compile(r"[,;/&+、]|(?<![a-z])(?:and|plus|also)(?![a-z])|和|与|跟|以及|还有|及|并且|加上")
_MULTI_OR = re.compile(r"(?<![a-z])or(?![a-z])|或者|或|还是")
_MULTI_RANGE = re.compile(r"\d\s*(?:-|~|到|至|(?<![a-z])to(?![a-z]))\s*\d")


def _strip_choice_filler(text: str) -> str:
    text = _FILLER_ZH.sub(" ", _FILLER_EN.sub(" ", text))
    return _SPACES.sub(" ", re.sub(r"[^\w\s.]|_", " ", text)).strip()


def _segment_positions(digitised: str, ctx: _Ctx) -> list[Number] | None:
    """Positions a segment names when it is only numbers ("1 3", "options 1"), else None."""
    rest = _strip_choice_filler(digitised)
    if not rest:
        return []
    if not re.fullmatch(r"[\d\s.]+", rest):
        return None
    values = _numbers(rest) or []
    out: list[Number] = []
    for v in values:
        token = str(v)
        # "13" with at most nine choices: each digit is a position (there is no choice 13).
        if isinstance(v, int) and v > len(ctx.order) and len(ctx.order) <= 9 and len(token) > 1:
            out.extend(int(d) for d in token)
        else:
            out.append(v)
    return out


def _multi_text(q: Question, text: str, ctx: _Ctx) -> Result:
    """A ``multiple_choice`` from free text or speech: "1,3", "1 and 3", "billing and delivery"."""
    norm, bare = _norm(text), _bare(text)
    if bare in _ALL_CHOICES:
        return _check_selection(q, list(q.choice_codes))
    lexicon = _choice_lexicon(q)
    hits = lexicon.find(norm)
    codes: list[str] = []
    for hit in hits:
        if len(hit.payloads) > 1:
            return _nu("ambiguous", f"'{hit.phrase}' names several choices")
        if _ruled_out(norm, hit):
            return _nu("ambiguous", f"'{hit.phrase}' named to rule it out")
        codes.append(hit.payloads[0])
    masked = _mask(norm, hits, "\x00")
    if _MULTI_OR.search(masked.replace("\x00", " ")):
        return _nu("ambiguous", "'or' between choices")
    digitised = _digitise(masked, ordinals=True)
    if _MULTI_RANGE.search(digitised):
        return _nu("ambiguous", "a range of choices")
    # Split at separators; a segment holding a matched label is context, not another choice.
    for piece, had_hit in _split_keep_hits(digitised):
        if had_hit:
            continue
        positions = _segment_positions(piece, ctx)
        if positions is not None:
            for value in positions:
                picked = _position(ctx, value)
                if isinstance(picked, NotUnderstood):
                    return picked
                codes.append(picked)
            continue
        code = _code_for(q, _bare(piece))
        best = [code] if code else (
            _contained(q, lexicon, _bare(piece)) or _fuzzy(_bare(piece), _choice_candidates(q, lexicon), ngrams=True)
        )
        if len(best) > 1:
            return _nu("ambiguous", f"'{piece.strip()}' is close to {', '.join(best)}")
        if best and _CHOICE_NOT_WORD.search(piece):
            return _nu("ambiguous", f"'{piece.strip()}' named to rule it out")
        if not best:
            return _nu("unrecognised", f"'{piece.strip()}' is not a choice")
        codes.append(best[0])
    if not codes:
        return _nu("unrecognised", "no choice named")
    return _check_selection(q, codes)


def _split_keep_hits(digitised: str) -> list[tuple[str, bool]]:
    """Split a masked reply at separators: (segment, whether it contained a matched label)."""
    out: list[tuple[str, bool]] = []
    for part in _MULTI_SPLIT.split(digitised):
        had_hit = "\x00" in part
        cleaned = part.replace("\x00", " ").strip()
        if had_hit or cleaned:
            out.append((cleaned, had_hit))
    return out


def _check_selection(q: Question, codes: Iterable[str]) -> Result:
    """Dedupe, order by the survey, and check min_choices / max_choices."""
    chosen = set(codes)
    ordered = [c for c in q.choice_codes if c in chosen]
    minimum = q.min_choices if q.min_choices is not None else 1
    if len(ordered) < minimum:
        return _nu("too_few", f"{len(ordered)} chosen, at least {minimum} needed")
    if q.max_choices is not None and len(ordered) > q.max_choices:
        return _nu("too_many", f"{len(ordered)} chosen, at most {q.max_choices} allowed")
    return Understood(ordered)


# -- open text ---------------------------------------------------------------------------------


def _text_text(q: Question, text: str, ctx: _Ctx) -> Result:
    """A ``text`` question: the stripped reply, within max_length (without characters that
    no document or database can hold, such as NUL)."""
    value = strip_unsafe(text).strip()
    if not value:
        return _nu("empty")
    if len(value) > q.max_length:
        return _nu("too_long", f"{len(value)} characters, at most {q.max_length}")
    return Understood(value)


# -- keypad (DTMF) -----------------------------------------------------------------------------


def _keypad_int(digits: str) -> int | None:
    if not digits.isdigit() or not digits.isascii() or len(digits) > _MAX_DIGITS:
        return None
    return int(digits)


def _keypad_scale(q: Question, digits: str, ctx: _Ctx) -> Result:
    lo, hi = q.scale_range or (1, 5)
    value = _keypad_int(digits)
    if value is None:
        return _nu("unrecognised", f"keys {digits!r}")
    return _check_scale(value, lo, hi)


def _keypad_number(q: Question, digits: str, ctx: _Ctx) -> Result:
    if not q.integer and re.fullmatch(r"\d{1,15}\*\d{1,15}", digits):
        whole, frac = digits.split("*")
        return _check_number(q, float(f"{whole}.{frac}"))
    value = _keypad_int(digits)
    if value is None:
        return _nu("unrecognised", f"keys {digits!r}")
    return _check_number(q, value)


def _keypad_yes_no(q: Question, digits: str, ctx: _Ctx) -> Result:
    if digits == "1":
        return Understood(True)
    if digits == "2":
        return Understood(False)
    return _nu("unrecognised", "press 1 for yes or 2 for no")


def _keypad_single(q: Question, digits: str, ctx: _Ctx) -> Result:
    value = _keypad_int(digits)
    if value is None:
        return _nu("unrecognised", f"keys {digits!r}")
    picked = _position(ctx, value)
    return picked if isinstance(picked, NotUnderstood) else Understood(picked)


def _keypad_multi(q: Question, digits: str, ctx: _Ctx) -> Result:
    if len(ctx.order) <= 9:
        if not digits.isdigit() or not digits.isascii():
            return _nu("unrecognised", f"keys {digits!r}")
        parts = list(digits)
    else:
        parts = digits.split("*")
        if not all(p.isdigit() and p.isascii() and len(p) <= 3 for p in parts):
            return _nu("unrecognised", f"keys {digits!r}")
    codes: list[str] = []
    for part in parts:
        picked = _position(ctx, int(part))
        if isinstance(picked, NotUnderstood):
            return picked
        codes.append(picked)
    return _check_selection(q, codes)


def _keypad_text(q: Question, digits: str, ctx: _Ctx) -> Result:
    return _nu("unrecognised", "a text answer cannot be typed on a keypad")


# -- web and email forms -----------------------------------------------------------------------


def _form_single_value(raw: str | list[str]) -> str | None:
    if isinstance(raw, (list, tuple)):
        return str(raw[0]).strip() if len(raw) == 1 else None
    return str(raw).strip()


def _form_scale(q: Question, raw: Any, ctx: _Ctx) -> Result:
    value = _form_single_value(raw)
    if value is not None and re.fullmatch(r"-?\d{1,15}\.\d{1,15}", value) and not float(value).is_integer():
        return _nu("not_whole", f"{value} is not a whole number")
    if value is None or not re.fullmatch(r"-?\d{1,15}(?:\.0+)?", value):
        return _nu("unrecognised", "a whole number is expected")
    value = value.split(".")[0]
    lo, hi = q.scale_range or (1, 5)
    return _check_scale(int(value), lo, hi)


def _form_number(q: Question, raw: Any, ctx: _Ctx) -> Result:
    value = _form_single_value(raw)
    if value is None or not re.fullmatch(r"[-+]?(?:\d{1,15}(?:\.\d{1,15})?|\.\d{1,15})", value):
        return _nu("unrecognised", "a number is expected")
    number: Number = float(value) if "." in value else int(value)
    return _check_number(q, number)


def _form_yes_no(q: Question, raw: Any, ctx: _Ctx) -> Result:
    value = (_form_single_value(raw) or "").lower()
    if value in ("yes", "true"):
        return Understood(True)
    if value in ("no", "false"):
        return Understood(False)
    return _nu("unrecognised", "yes or no is expected")


def _form_single(q: Question, raw: Any, ctx: _Ctx) -> Result:
    value = _form_single_value(raw)
    if value is not None and value in q.choice_codes:
        return Understood(value)
    return _nu("unrecognised", "not a choice code")


def _form_multi(q: Question, raw: Any, ctx: _Ctx) -> Result:
    values = [str(v).strip() for v in raw] if isinstance(raw, (list, tuple)) else [str(raw).strip()]
    values = [v for v in values if v]
    if not values:
        return _nu("empty") if (q.min_choices or 0) > 0 or q.min_choices is None else Understood([])
    unknown = [v for v in values if v not in q.choice_codes]
    if unknown:
        return _nu("unrecognised", f"unknown choice code(s): {', '.join(unknown)}")
    return _check_selection(q, values)


def _form_text(q: Question, raw: Any, ctx: _Ctx) -> Result:
    value = " ".join(str(v) for v in raw) if isinstance(raw, (list, tuple)) else str(raw)
    return _text_text(q, value, ctx)


# -- dispatch ----------------------------------------------------------------------------------

Parser: TypeAlias = Callable[[Question, Any, _Ctx], Result]

#: Free text: SMS, chat and speech transcripts.
_TEXT_PARSERS: dict[str, Parser] = {
    "nps": _scale_text,
    "csat": _scale_text,
    "ces": _scale_text,
    "rating": _scale_text,
    "number": _number_text,
    "yes_no": _yes_no_text,
    "single_choice": _single_text,
    "multiple_choice": _multi_text,
    "text": _text_text,
}
_KEYPAD_PARSERS: dict[str, Parser] = {
    "nps": _keypad_scale,
    "csat": _keypad_scale,
    "ces": _keypad_scale,
    "rating": _keypad_scale,
    "number": _keypad_number,
    "yes_no": _keypad_yes_no,
    "single_choice": _keypad_single,
    "multiple_choice": _keypad_multi,
    "text": _keypad_text,
}
_FORM_PARSERS: dict[str, Parser] = {
    "nps": _form_scale,
    "csat": _form_scale,
    "ces": _form_scale,
    "rating": _form_scale,
    "number": _form_number,
    "yes_no": _form_yes_no,
    "single_choice": _form_single,
    "multiple_choice": _form_multi,
    "text": _form_text,
}


def _presented_order(q: Question, choice_order: Sequence[str] | None) -> tuple[str, ...]:
    """The order choices were shown in: ``choice_order`` (unknown codes dropped, missing
    codes appended) or the survey order."""
    codes = q.choice_codes
    if not choice_order:
        return tuple(codes)
    known = [c for c in dict.fromkeys(choice_order) if c in codes]
    return tuple(known + [c for c in codes if c not in known])


def _is_empty(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, (list, tuple)):
        return all(v is None or not str(v).strip() for v in raw)
    return False


def understand(
    question: Question,
    raw: str | list[str] | None,
    *,
    modality: Modality,
    locale: str,
    default_locale: str = "en",
    choice_order: Sequence[str] | None = None,
    confidence: float | None = None,
    min_confidence: float = 0.5,
) -> Result:
    """Understand one reply to ``question`` given on ``modality``.

    ``raw`` is the keypad digits (a trailing ``#`` is ignored), the speech transcript, the
    text message, or the web/email form value(s). ``choice_order`` is the order the choices
    were presented in (randomised surveys): numbers in replies are positions in it.
    Speech understood with ``confidence`` below ``min_confidence`` comes back as
    :class:`NeedsConfirmation`. English and Chinese replies are understood in every
    ``locale``.
    """
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}")
    if question.type not in _TEXT_PARSERS:
        raise ValueError(f"unknown question type {question.type!r}")
    ctx = _Ctx(modality, locale, default_locale, _presented_order(question, choice_order))
    if modality in ("web", "email"):
        if _is_empty(raw) and not (question.type == "multiple_choice" and isinstance(raw, (list, tuple))):
            return _nu("empty")
        return _FORM_PARSERS[question.type](question, raw, ctx)
    if _is_empty(raw):
        return _nu("empty")
    if isinstance(raw, (list, tuple)):
        items = [str(v) for v in raw if v is not None]
        if question.type == "multiple_choice" and all(v in question.choice_codes for v in items):
            return _form_multi(question, items, ctx)
        text = ", ".join(items)
    else:
        text = str(raw)
    if modality == "keypad":
        digits = text.strip().rstrip("#").strip()
        if not digits:
            return _nu("empty")
        if digits == "*":
            return Command("repeat")
        return _KEYPAD_PARSERS[question.type](question, digits, ctx)
    command = _command(text)
    if command is not None:
        return command
    result = _TEXT_PARSERS[question.type](question, text, ctx)
    if (
        modality == "speech"
        and confidence is not None
        and confidence < min_confidence
        and isinstance(result, Understood)
    ):
        return NeedsConfirmation(result.value)
    return result
