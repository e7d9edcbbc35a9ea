"""Piping: ``{{ answers.nps }}``, ``{{ contact.first_name | default('there') }}``.

A deliberately tiny template language: a placeholder is a dotted path under
``answers``, ``contact`` or ``event``, optionally followed by ``| default('text')``.
Templates are parsed once when a survey loads (errors are located problems) and
rendered with a formatter that turns typed answers into words in the right locale.
Rendering never raises: a missing value is the default, or empty.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.S)
_BODY = re.compile(
    r"""^\s*(?P<path>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*
        (?:\|\s*(?P<filter>[A-Za-z_]+)\s*(?:\(\s*(?P<arg>'[^']*'|"[^"]*")?\s*\))?\s*)?$""",
    re.X,
)
ROOTS = ("answers", "contact", "event")

#: Characters that XML 1.0 does not allow (C0 controls except tab, newline and carriage
#: return; lone surrogates; U+FFFE and U+FFFF), and the C1 controls and DEL, which no
#: prompt needs. Outside text (contact and event fields, typed answers) can hold them;
#: they would make a TwiML <Say> or <Message> ill-formed, so rendering drops them.
UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def strip_unsafe(text: str) -> str:
    """``text`` without characters that are illegal in XML 1.0 (and C1 controls).

    Everything else stays: Chinese, emoji, accents, tabs and line breaks.
    """
    return UNSAFE_CHARS.sub("", text)
FILTERS = ("default",)


@dataclass(frozen=True)
class Placeholder:
    root: str
    path: tuple[str, ...]
    default: str | None
    start: int  # offset of "{{" in the source
    end: int


@dataclass(frozen=True)
class TemplateProblem:
    message: str
    offset: int


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> list[Placeholder]:
        return [p for p in self.parts if isinstance(p, Placeholder)]

    def render(
        self,
        scope: Mapping[str, Any],
        fmt: Callable[[Placeholder, Any], str] | None = None,
    ) -> str:
        out: list[str] = []
        gap = False  # the previous placeholder rendered as nothing
        for part in self.parts:
            if isinstance(part, str):
                out.append(_close_gap(out, part) if gap else part)
                gap = False
                continue
            value: Any = scope.get(part.root)
            for key in part.path:
                value = value.get(key) if isinstance(value, Mapping) else None
            if value is None or value == "" or value == []:
                text = part.default or ""
            else:
                text = strip_unsafe(fmt(part, value) if fmt else str(value))
                if not text:  # nothing but characters no channel can send
                    text = part.default or ""
            if text:
                out.append(text)
            gap = not text
        if gap and out:
            out[-1] = out[-1].rstrip(" ")
        return "".join(out)


#: Punctuation that takes no space before it (Latin and full-width).
_NO_SPACE_BEFORE = frozenset(".,;:!?)]}…。，、；：！？）」』》")


def _is_cjk(ch: str) -> bool:
    return "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef"


def _close_gap(out: list[str], following: str) -> str:
    """Tidy the spaces around a placeholder that rendered as nothing.

    "Your ticket {{ event.id | default('') }} was closed" must not read "ticket  was",
    "order {{ event.order_id }}?" must not read "order ?", and in Chinese
    "订单 {{ event.order_id }} 满意吗" reads "订单满意吗".
    """
    if not out:
        return following.lstrip(" ")  # the text began with the empty placeholder
    if not out[-1].endswith(" ") or not following:
        return following
    before = out[-1].rstrip(" ")
    after = following.lstrip(" ")
    if not after:
        out[-1] = before
        return after
    if not before:
        return after
    if after[0] in _NO_SPACE_BEFORE:
        out[-1] = before
        return after
    if _is_cjk(before[-1]) and _is_cjk(after[0]):
        out[-1] = before
        return after
    if following[0] == " ":
        return after  # "a  b" -> "a b": one of the two spaces goes
    return following


def parse_template(source: str) -> tuple[Template, list[TemplateProblem]]:
    """Parse ``source``; return the template and any problems (bad placeholders become text)."""
    parts: list[str | Placeholder] = []
    problems: list[TemplateProblem] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(source):
        if m.start() > pos:
            parts.append(source[pos : m.start()])
        body = _BODY.match(m.group(1))
        if not body:
            problems.append(
                TemplateProblem(
                    f"cannot read the placeholder '{m.group(0)}'; write it as "
                    "{{ answers.<id> }}, {{ contact.<field> }} or {{ event.<field> }}, "
                    "optionally with | default('...')",
                    m.start(),
                )
            )
            parts.append(m.group(0))
            pos = m.end()
            continue
        path = body.group("path").split(".")
        root, rest = path[0], tuple(path[1:])
        flt, arg = body.group("filter"), body.group("arg")
        if root not in ROOTS:
            problems.append(
                TemplateProblem(
                    f"unknown name '{root}' in '{m.group(0)}'; use answers, contact or event",
                    m.start(),
                )
            )
        elif not rest:
            problems.append(
                TemplateProblem(f"'{m.group(0)}' needs a field, e.g. {root}.something", m.start())
            )
        if flt is not None and flt not in FILTERS:
            problems.append(
                TemplateProblem(f"unknown filter '{flt}'; the only filter is default('...')", m.start())
            )
        if flt == "default" and arg is None:
            problems.append(TemplateProblem("default() needs a text, e.g. default('there')", m.start()))
        default = arg[1:-1] if arg else None
        parts.append(Placeholder(root, rest, default, m.start(), m.end()))
        pos = m.end()
    if pos < len(source):
        parts.append(source[pos:])
    stray = source.count("{{") - len(_PLACEHOLDER.findall(source))
    if stray > 0:
        problems.append(TemplateProblem("'{{' is never closed with '}}'", source.rfind("{{")))
    return Template(source, tuple(parts)), problems


_cache: dict[str, Template] = {}


def template(source: str) -> Template:
    """A parsed template, cached by source text (surveys are validated before use)."""
    tpl = _cache.get(source)
    if tpl is None:
        tpl, _ = parse_template(source)
        if len(_cache) < 10000:
            _cache[source] = tpl
    return tpl
