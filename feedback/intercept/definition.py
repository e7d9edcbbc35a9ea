"""The ``intercept:`` section of a survey file: when a web page opens the survey.

Pure Python (no web framework, no database): validated by the survey loader
like every other section, with each problem located at ``FILE:LINE:COL``.

.. code-block:: yaml

    intercept:
      site: shop                 # a site created with `feedback sites create shop`
      sample: 0.5                # share of visitors ever asked (deterministic per visitor)
      recontact_days: 30         # not asked again this long after answering or closing it
      rules:                     # the survey opens when ANY rule holds
        - url: {contains: /checkout/done}      # all conditions of a rule must hold
          seconds: 5
        - url: [{regex: '^https://shop\\.example\\.com/products/'}]
          pages_viewed: 3
          scroll: 50
        - exit_intent: true

The browser loader (``/intercept.js``) evaluates the rules; the server keeps
the last word on sampling, recontact and the contact policy when a survey opens.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

SECTION = "intercept"
SITE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MATCH_KINDS = ("exact", "contains", "regex")
RULE_KEYS = ("url", "exclude_url", "pages_viewed", "seconds", "scroll", "exit_intent")
SECTION_KEYS = ("site", "rules", "sample", "recontact_days", "placement")
PLACEMENTS = ("center", "bottom-right", "bottom-left")
DEFAULT_RECONTACT_DAYS = 30
MAX_SECONDS = 3600

#: Regular-expression syntax that Python accepts but a browser's RegExp does not
#: (or reads differently). Rules run in the browser, so these are load errors.
_PY_ONLY = (
    (re.compile(r"\(\?P[<=>]"), "named groups are written (?<name>...) in browser regular expressions, not (?P<name>...)"),
    (re.compile(r"\(\?[aiLmsux]+[):-]"), "inline flags like (?i) are not supported by browser regular expressions"),
    (re.compile(r"\(\?#"), "(?#...) comments are not supported by browser regular expressions"),
    (re.compile(r"\\[AZ]"), "\\A and \\Z are not supported by browser regular expressions; use ^ and $"),
    (re.compile(r"[*+?}][+]"), "possessive quantifiers (*+, ++, ?+) are not supported by browser regular expressions"),
    (re.compile(r"\(\?>"), "atomic groups (?>...) are not supported by browser regular expressions"),
)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a true/false value"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a map"
    return type(value).__name__


def _suggest(word: str, options: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _unescaped(pattern: str) -> str:
    """The pattern with escaped characters and [...] classes blanked (same length), so the
    checks for Python-only syntax do not trip over ``\\(`` or ``[(?P]``."""
    out = list(pattern)
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            if pattern[i + 1] not in "AZ":
                out[i] = out[i + 1] = "_"
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            else:
                out[i] = "_"
        elif c == "[":
            in_class = True
        i += 1
    return "".join(out)


def regex_problem(pattern: str) -> tuple[str, int] | None:
    """Why ``pattern`` is not a regular expression both Python and a browser read the same
    way, and the 0-based offset of the problem in it; None when it is fine."""
    try:
        re.compile(pattern)
    except re.error as e:
        pos = e.pos if e.pos is not None else 0
        return f"regex: {e.msg} at position {pos + 1}", pos
    plain = _unescaped(pattern)
    for check, message in _PY_ONLY:
        m = check.search(plain)
        if m:
            return f"regex: {message} (at position {m.start() + 1})", m.start()
    return None


class _Checker:
    def __init__(self, report: Any) -> None:
        self.report = report

    def error(self, path: list[Any], message: str, *, key: bool = False, offset: int | None = None) -> None:
        if offset is None:
            self.report.error([SECTION, *path], message, key=key)
        else:
            self.report.error([SECTION, *path], message, key=key, offset=offset)

    def warning(self, path: list[Any], message: str) -> None:
        self.report.warning([SECTION, *path], message)

    def unknown_keys(self, path: list[Any], value: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
        for k in value:
            if k not in known:
                self.error(
                    path + [k],
                    f"unknown key '{k}' in {where}{_suggest(str(k), known)} (keys: {', '.join(known)})",
                    key=True,
                )

    def number(
        self, path: list[Any], value: Any, name: str, *, lo: float, hi: float | None = None, integer: bool = False
    ) -> bool:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and integer and not float(value).is_integer():
            ok = False
        if not ok:
            what = "a whole number" if integer else "a number"
            self.error(path, f"{name} must be {what}, not {_kind(value)}")
            return False
        if value < lo or (hi is not None and value > hi):
            bound = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
            self.error(path, f"{name} must be {bound}, not {value:g}")
            return False
        return True

    def url_matches(self, path: list[Any], value: Any, name: str) -> None:
        items = value if isinstance(value, list) else [value]
        if isinstance(value, list) and not value:
            self.error(path, f"{name} is an empty list; give at least one match or leave {name} out")
        for i, item in enumerate(items):
            ipath = path + [i] if isinstance(value, list) else path
            example = f"e.g. {name}: {{contains: /checkout}}"
            if not isinstance(item, Mapping):
                self.error(
                    ipath,
                    f"{name} must be a map with one of {', '.join(MATCH_KINDS)} ({example}), not {_kind(item)}",
                )
                continue
            kinds = [k for k in item if k in MATCH_KINDS]
            for k in item:
                if k not in MATCH_KINDS:
                    self.error(
                        ipath + [k],
                        f"unknown URL match '{k}'{_suggest(str(k), MATCH_KINDS)} (matches: {', '.join(MATCH_KINDS)})",
                        key=True,
                    )
            if not kinds:
                if not any(k not in MATCH_KINDS for k in item):
                    self.error(ipath, f"{name} needs one of {', '.join(MATCH_KINDS)} ({example})")
                continue
            if len(kinds) > 1:
                self.error(ipath + [kinds[1]], f"a URL match has one of {', '.join(MATCH_KINDS)}, not several; "
                           f"write them as a list of matches", key=True)
                continue
            kind = kinds[0]
            text = item[kind]
            if not isinstance(text, str) or not text:
                self.error(ipath + [kind], f"{kind} must be a non-empty text, not {_kind(text)}")
                continue
            if kind == "regex":
                problem = regex_problem(text)
                if problem is not None:
                    message, offset = problem
                    self.error(ipath + [kind], message, offset=offset)


def check_section(value: Any, survey: Any, report: Any) -> None:
    """The loader's checker for ``intercept:``: every problem is reported, located."""
    c = _Checker(report)
    if not isinstance(value, Mapping):
        c.error([], f"intercept must be a map with site and rules, not {_kind(value)}")
        return
    c.unknown_keys([], value, SECTION_KEYS, "intercept")

    def misspelt(key: str) -> bool:  # "sit: shop" already got "did you mean 'site'?"
        return bool(difflib.get_close_matches(key, [k for k in value if k not in SECTION_KEYS], n=1, cutoff=0.6))

    if "site" not in value:
        if not misspelt("site"):
            c.error([], "intercept needs a site: the name of a site created with `feedback sites create NAME`")
    else:
        sites = value["site"]
        names = sites if isinstance(sites, list) else [sites]
        if isinstance(sites, list) and not sites:
            c.error(["site"], "site is an empty list; name at least one site")
        for i, name in enumerate(names):
            path = ["site", i] if isinstance(sites, list) else ["site"]
            if not isinstance(name, str) or not SITE_RE.match(name):
                shown = f"'{name}'" if isinstance(name, str) else _kind(name)
                c.error(path, f"site {shown} must be a site name: lowercase letters, digits and dashes")

    if "sample" in value:
        c.number(["sample"], value["sample"], "sample", lo=0, hi=1)
    if "recontact_days" in value:
        c.number(["recontact_days"], value["recontact_days"], "recontact_days", lo=0, hi=3650)
    if "placement" in value and value["placement"] not in PLACEMENTS:
        c.error(
            ["placement"],
            f"placement must be one of {', '.join(PLACEMENTS)}, not {value['placement']!r}"
            f"{_suggest(str(value['placement']), PLACEMENTS)}",
        )

    channels = list(getattr(survey, "channels", None) or [])
    if survey is not None and "web" not in channels:
        c.error([], "the intercept opens the web survey, so channels must include web")

    if "rules" not in value:
        if not misspelt("rules"):
            c.error([], "intercept needs rules: a list of when to open the survey (e.g. - seconds: 10)")
        return
    rules = value["rules"]
    if not isinstance(rules, list) or not rules:
        c.error(["rules"], f"rules must be a non-empty list of rules, not {_kind(rules)}")
        return
    for i, rule in enumerate(rules):
        base: list[Any] = ["rules", i]
        if not isinstance(rule, Mapping):
            c.error(base, f"a rule must be a map of conditions (e.g. seconds: 10), not {_kind(rule)}")
            continue
        c.unknown_keys(base, rule, RULE_KEYS, "a rule")
        if "url" in rule:
            c.url_matches(base + ["url"], rule["url"], "url")
        if "exclude_url" in rule:
            c.url_matches(base + ["exclude_url"], rule["exclude_url"], "exclude_url")
        if "pages_viewed" in rule:
            c.number(base + ["pages_viewed"], rule["pages_viewed"], "pages_viewed", lo=1, hi=1000, integer=True)
        if "seconds" in rule:
            c.number(base + ["seconds"], rule["seconds"], "seconds", lo=0, hi=MAX_SECONDS)
        if "scroll" in rule:
            c.number(base + ["scroll"], rule["scroll"], "scroll (a percentage of the page)", lo=1, hi=100)
        if "exit_intent" in rule and not isinstance(rule["exit_intent"], bool):
            c.error(base + ["exit_intent"], f"exit_intent must be true or false, not {_kind(rule['exit_intent'])}")


# -- the compiled form sent to browsers --------------------------------------------------------


def _matches(value: Any) -> list[list[str]]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        for kind in MATCH_KINDS:
            if kind in item:
                out.append([kind[0], str(item[kind])])  # ["e"|"c"|"r", text]
    return out


def sites_of(section: Mapping[str, Any]) -> list[str]:
    sites = section.get("site")
    return list(sites) if isinstance(sites, list) else [sites] if sites else []


def intercept_section(survey: Any) -> dict[str, Any] | None:
    """The (validated) ``intercept:`` section of a compiled survey, or None."""
    extensions = getattr(survey, "extensions", None) or {}
    section = extensions.get(SECTION)
    return dict(section) if isinstance(section, Mapping) else None


def recontact_days(section: Mapping[str, Any]) -> float:
    return float(section.get("recontact_days", DEFAULT_RECONTACT_DAYS))


def sample_rate(section: Mapping[str, Any]) -> float:
    return float(section.get("sample", 1))


def client_rules(survey_id: str, section: Mapping[str, Any]) -> dict[str, Any]:
    """The compact JSON the loader evaluates (short keys keep the loader small)."""
    rules = []
    for rule in section.get("rules") or []:
        r: dict[str, Any] = {}
        if rule.get("url") is not None:
            r["u"] = _matches(rule["url"])
        if rule.get("exclude_url") is not None:
            r["x"] = _matches(rule["exclude_url"])
        if rule.get("pages_viewed"):
            r["p"] = int(rule["pages_viewed"])
        if rule.get("seconds"):
            r["s"] = float(rule["seconds"])
        if rule.get("scroll"):
            r["y"] = float(rule["scroll"])
        if rule.get("exit_intent"):
            r["e"] = 1
        rules.append(r)
    return {
        "id": survey_id,
        "sample": sample_rate(section),
        "wait": recontact_days(section),
        "place": section.get("placement", "center"),
        "rules": rules,
    }


def bucket(visitor: str, survey_id: str) -> float:
    """Where a visitor falls in [0, 1) for a survey's sample: 32-bit FNV-1a of
    ``visitor + ":" + survey_id`` over UTF-16 code units, exactly as the loader computes it,
    so the browser and the server decide the same way for the same visitor."""
    return fnv1a(f"{visitor}:{survey_id}") / 2**32


def fnv1a(text: str) -> int:
    """32-bit FNV-1a over the UTF-16 code units of ``text`` (bytes, for ASCII text)."""
    h = 0x811C9DC5
    units = text.encode("utf-16-le")
    for i in range(0, len(units), 2):
        h ^= units[i] | (units[i + 1] << 8)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def in_sample(visitor: str, survey_id: str, rate: float) -> bool:
    return rate > 0 and bucket(visitor, survey_id) < rate


_MATCH = {
    "type": "object",
    "description": "One URL match: exact (a full URL, or a path starting with /), contains, or regex "
                   "(a browser regular expression searched in the page URL).",
    "properties": {k: {"type": "string", "minLength": 1} for k in MATCH_KINDS},
    "additionalProperties": False,
    "oneOf": [{"required": [k]} for k in MATCH_KINDS],
}
_MATCHES = {"anyOf": [_MATCH, {"type": "array", "items": _MATCH, "minItems": 1}]}

JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The web intercept: when a page with the site's script tag opens this survey.",
    "properties": {
        "site": {
            "description": "The site (created with `feedback sites create NAME`) or sites this intercept runs on.",
            "anyOf": [
                {"type": "string", "pattern": SITE_RE.pattern},
                {"type": "array", "items": {"type": "string", "pattern": SITE_RE.pattern}, "minItems": 1},
            ],
        },
        "sample": {"type": "number", "minimum": 0, "maximum": 1,
                   "description": "Share of visitors ever asked, decided the same way for the same visitor."},
        "recontact_days": {"type": "number", "minimum": 0, "maximum": 3650,
                           "description": "Days before a visitor who answered or closed the survey is asked again."},
        "placement": {"enum": list(PLACEMENTS), "description": "Where the overlay opens on a wide screen."},
        "rules": {
            "type": "array",
            "minItems": 1,
            "description": "The survey opens when any rule holds; every condition of a rule must hold.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "url": _MATCHES,
                    "exclude_url": _MATCHES,
                    "pages_viewed": {"type": "integer", "minimum": 1, "maximum": 1000},
                    "seconds": {"type": "number", "minimum": 0, "maximum": MAX_SECONDS},
                    "scroll": {"type": "number", "minimum": 1, "maximum": 100},
                    "exit_intent": {"type": "boolean"},
                },
            },
        },
    },
    "required": ["site", "rules"],
    "additionalProperties": False,
}
check_section.json_schema = JSON_SCHEMA  # type: ignore[attr-defined]


def register() -> None:
    from feedback.definition.loader import register_extension

    register_extension(SECTION, check_section)


register()
