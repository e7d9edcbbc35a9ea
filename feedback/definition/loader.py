"""Load a survey file: YAML with line numbers -> validated, compiled, frozen survey.

Every problem is reported as ``FILE:LINE:COL: message``, all of them in one run:
YAML syntax, unknown keys (with a suggestion), wrong types, missing or duplicate
ids, missing translations, bad ``show_if`` expressions and placeholders, choice
codes that YAML would silently turn into booleans or numbers, and channel fit.
Warnings are reported too but do not make a survey invalid.
"""

from __future__ import annotations

import datetime
import difflib
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from feedback.errors import DefinitionError, Problem

from . import expressions as ex
from .model import (
    CHANNELS,
    CHOICE_TYPES,
    CODE_RE,
    FIXED_SCALES,
    SCALE_TYPES,
    Question,
    Survey,
    text_for,
)
from .templates import UNSAFE_CHARS, Template, parse_template

# Words that YAML 1.1 readers (PyYAML, many editors and tools) turn into booleans.
_YAML11_BOOLS = {"yes", "no", "on", "off", "y", "n", "true", "false"}
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")

#: Top-level sections owned by other parts of the platform. Each maps a key to a
#: checker ``(value, survey_dict, report) -> None``; registered by those modules.
EXTENSION_SECTIONS: dict[str, Callable[..., None]] = {}


def register_extension(key: str, checker: Callable[..., None]) -> None:
    EXTENSION_SECTIONS[key] = checker


#: Pure modules that register a section checker when imported. They are imported before
#: the first survey is loaded, whatever imported the loader; a module that is not
#: there (a part not installed) is skipped. Add yours to the tuple.
EXTENSION_MODULES: tuple[str, ...] = ("feedback.intercept.definition", "feedback.triggers.definition")
_extensions_imported = False


def import_extensions() -> None:
    global _extensions_imported
    if _extensions_imported:
        return
    _extensions_imported = True
    import importlib

    for name in EXTENSION_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is None or not name.startswith(e.name):
                raise


@dataclass
class CompiledSurvey:
    """A validated survey with its conditions and templates parsed once."""

    survey: Survey
    conditions: dict[str, ex.Expression]
    warnings: list[Problem] = field(default_factory=list)
    text: str = ""

    @property
    def id(self) -> str:
        return self.survey.id

    @property
    def version(self) -> str:
        return self.survey.version

    def condition(self, qid: str) -> ex.Expression | None:
        return self.conditions.get(qid)


# -- positions ---------------------------------------------------------------------------


class _Locator:
    """Maps a path of keys and indices in the document to a (line, col), 1-based."""

    def __init__(self, root: Any) -> None:
        self.root = root

    def _walk(self, path: Iterable[Any], key_position: bool) -> tuple[int, int]:
        node = self.root
        line, col = 1, 1
        items = list(path)
        for i, step in enumerate(items):
            last = i == len(items) - 1
            if isinstance(node, CommentedMap) and isinstance(step, str) and step in node:
                try:
                    pos = node.lc.key(step) if (last and key_position) else node.lc.value(step)
                except (KeyError, TypeError, AttributeError):
                    pos = None
                if pos is not None:
                    line, col = pos[0] + 1, pos[1] + 1
                node = node[step]
            elif isinstance(node, CommentedSeq) and isinstance(step, int) and 0 <= step < len(node):
                try:
                    pos = node.lc.item(step)
                except (KeyError, TypeError, AttributeError, IndexError):
                    pos = None
                if pos is not None:
                    line, col = pos[0] + 1, pos[1] + 1
                node = node[step]
            else:
                if isinstance(node, CommentedMap | CommentedSeq) and i == 0 and node is self.root:
                    line, col = node.lc.line + 1, node.lc.col + 1
                # Not a real key (e.g. a pydantic union tag): stay where we are.
                continue
        return line, col

    def value(self, path: Iterable[Any]) -> tuple[int, int]:
        return self._walk(path, key_position=False)

    def key(self, path: Iterable[Any]) -> tuple[int, int]:
        return self._walk(path, key_position=True)

    def node(self, path: Iterable[Any]) -> Any:
        node = self.root
        for step in path:
            if isinstance(node, Mapping) and step in node:
                node = node[step]
            elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
                node = node[step]
            else:
                return None
        return node

    def quoted(self, path: list[Any]) -> bool:
        """Whether the scalar at ``path`` was written quoted (so text offsets shift by one)."""
        return bool(getattr(self.node(path), "style", None) in ("'", '"'))


def _text_position(
    lines: list[str], line: int, col: int, value: Any, offset: int
) -> tuple[int, int]:
    """The (line, col) of character ``offset`` of a scalar that starts at (line, col).

    Follows how the scalar was written: plain, quoted (escapes take more source
    characters than they stand for), or a literal / folded block (``|``, ``>``) whose
    text starts on the next line.
    """
    style = getattr(value, "style", None)
    if style in ("|", ">"):
        k = line  # 0-based index of the line after the indicator
        while k < len(lines) and not lines[k].strip():
            k += 1
        if k >= len(lines):
            return line, col
        indent = len(lines[k]) - len(lines[k].lstrip(" "))
        remaining = offset
        while k < len(lines):
            text = lines[k][indent:] if lines[k].strip() else ""
            if remaining <= len(text):
                return k + 1, indent + remaining + 1
            remaining -= len(text) + 1
            k += 1
            if k < len(lines) and lines[k].strip() and len(lines[k]) - len(lines[k].lstrip(" ")) < indent:
                break
        return line, col
    if style in ("'", '"') and 0 < line <= len(lines):
        src = lines[line - 1]
        i, seen = col, 0  # col (1-based) of the quote is index col-1; text starts at index col
        escapes = {"x": 4, "u": 6, "U": 10}
        while seen < offset and i < len(src):
            if style == '"' and src[i] == "\\":
                i += escapes.get(src[i + 1] if i + 1 < len(src) else "", 2)
            elif style == "'" and src[i : i + 2] == "''":
                i += 2
            else:
                i += 1
            seen += 1
        return line, i + 1
    return line, col + offset


#: The most values a survey file may hold once YAML aliases (``*name``) are expanded: room for
#: thousands of questions, while a file whose aliases multiply ("billion laughs") is refused
#: at once instead of expanding for minutes.
MAX_EXPANDED_VALUES = 250_000


def _expands_beyond(doc: Any, limit: int) -> bool:
    """Whether ``doc`` holds more than ``limit`` values with every alias expanded."""
    count = 0
    stack = [doc]
    while stack:
        node = stack.pop()
        count += 1
        if count > limit:
            return True
        if isinstance(node, Mapping):
            stack.extend(node.values())
            count += len(node)
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _plain(node: Any) -> Any:
    """ruamel's round-trip nodes -> plain dicts, lists and scalars."""
    if isinstance(node, Mapping):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


# -- the loader ---------------------------------------------------------------------------


class _Report:
    def __init__(self, filename: str, locator: _Locator, lines: list[str] | None = None) -> None:
        self.filename = filename
        self.loc = locator
        self.lines = lines or []
        self.problems: list[Problem] = []

    def at(self, line: int, col: int, message: str, severity: str = "error") -> None:
        problem = Problem(self.filename, line, col, message, severity)
        if problem not in self.problems:
            self.problems.append(problem)

    def error(self, path: list[Any], message: str, *, key: bool = False, offset: int | None = None) -> None:
        line, col = self.loc.key(path) if key else self.loc.value(path)
        if offset is not None and path and not key:
            line, col = _text_position(self.lines, line, col, self.loc.node(path), offset)
        self.at(line, col, message)

    def warning(self, path: list[Any], message: str, *, key: bool = False) -> None:
        line, col = self.loc.key(path) if key else self.loc.value(path)
        self.at(line, col, message, "warning")

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def _model_fields(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _known_keys_at(path: tuple[Any, ...]) -> list[str]:
    """The keys a map at ``path`` (a pydantic loc without the unknown key) may have."""
    from . import model as m

    names = [p for p in path if isinstance(p, str)]
    import_extensions()
    table: dict[tuple[str, ...], type[BaseModel]] = {
        (): m.Survey,
        ("questions",): m.Question,
        ("questions", "choices"): m.Choice,
        ("questions", "scale"): m.Scale,
        ("questions", "scale", "labels"): m.ScaleLabels,
        ("questions", "ivr"): m.IvrQuestion,
        ("questions", "sms"): m.SmsQuestion,
        ("questions", "chat"): m.ChatQuestion,
        ("questions", "web"): m.WebQuestion,
        ("questions", "email"): m.EmailQuestion,
        ("ivr",): m.IvrSettings,
        ("ivr", "numbers"): m.IvrNumber,
        ("sms",): m.SmsSettings,
        ("web",): m.WebSettings,
        ("chat",): m.ChatSettings,
        ("email",): m.EmailSettings,
    }
    model = table.get(tuple(names))
    if model is None:
        return []
    keys = [k for k in _model_fields(model) if k not in ("version", "source", "extensions")]
    if model is m.Survey:
        keys += list(EXTENSION_SECTIONS)
    return keys


def _pydantic_problems(
    report: _Report,
    err: ValidationError,
    prefix: tuple[Any, ...] = (),
    skip: Callable[[Any], bool] | None = None,
) -> None:
    items = err.errors(include_url=False)
    # A misspelt key ("titel") is one mistake: its "unknown key ...; did you mean 'title'?"
    # says it all, so the "missing required key 'title'" it causes is not reported too.
    unknown_at: dict[tuple[Any, ...], list[str]] = {}
    for item in items:
        if item["type"] == "extra_forbidden":
            unknown_at.setdefault(tuple(item["loc"][:-1]), []).append(str(item["loc"][-1]))
    for item in items:
        if skip is not None and skip(item):
            continue
        if item["type"] == "missing" and difflib.get_close_matches(
            str(item["loc"][-1]), unknown_at.get(tuple(item["loc"][:-1]), []), n=1, cutoff=0.6
        ):
            continue
        loc = prefix + tuple(item["loc"])
        kind = item["type"]
        msg = item["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        where = list(loc)
        if kind == "extra_forbidden":
            name = str(loc[-1])
            known = _known_keys_at(loc[:-1])
            report.error(where, f"unknown key '{name}'{suggest(name, known)}", key=True)
            continue
        if kind == "missing":
            report.error(where[:-1], f"missing required key '{loc[-1]}'", key=False)
            continue
        field_name = next((str(p) for p in reversed(loc) if isinstance(p, str)), "")
        if kind == "literal_error" and field_name == "type":
            given = item.get("input")
            from .model import QUESTION_TYPES

            report.error(
                where,
                f"unknown question type '{given}'{suggest(str(given), QUESTION_TYPES)} "
                f"(types: {', '.join(QUESTION_TYPES)})",
            )
            continue
        if kind == "literal_error" and "channels" in loc:
            from .model import CHANNELS

            given = item.get("input")
            report.error(
                where,
                f"unknown channel '{given}'{suggest(str(given), CHANNELS)} "
                f"(channels: {', '.join(CHANNELS)})",
            )
            continue
        if kind == "string_pattern_mismatch":
            given = item.get("input")
            if field_name == "id" and loc[0] == "questions":
                msg = (
                    f"question id '{given}' must start with a lowercase letter and use only "
                    "lowercase letters, digits and underscores"
                )
            elif field_name == "id":
                msg = f"survey id '{given}' must be a slug: lowercase letters, digits and dashes"
            elif field_name == "code":
                msg = f"choice code '{given}' may use only letters, digits, '_', '-' and '.'"
            else:
                msg = f"'{given}' is not a valid {field_name.replace('_', ' ')}"
        elif kind == "literal_error" and field_name == "spec_version":
            msg = "spec_version must be 1"
        report.error(where, f"{field_name}: {msg}" if field_name and field_name not in msg else msg)


def _collect_ltexts(survey: Survey) -> list[tuple[list[Any], Any]]:
    """(path, value) of every localised text in the survey."""
    out: list[tuple[list[Any], Any]] = []

    def add(path: list[Any], value: Any) -> None:
        if value is not None:
            out.append((path, value))

    for key in ("title", "description", "intro", "outro"):
        add([key], getattr(survey, key))
    add(["ivr", "machine_message"], survey.ivr.machine_message)
    add(["email", "subject"], survey.email.subject)
    add(["chat", "bot_name"], survey.chat.bot_name)
    for i, q in enumerate(survey.questions):
        base: list[Any] = ["questions", i]
        add(base + ["text"], q.text)
        add(base + ["help"], q.help)
        add(base + ["unit"], q.unit)
        if q.scale is not None:
            add(base + ["scale", "labels", "min"], q.scale.labels.min)
            add(base + ["scale", "labels", "max"], q.scale.labels.max)
        for j, c in enumerate(q.choices or []):
            add(base + ["choices", j, "label"], c.label)
        for ch in ("ivr", "sms", "chat", "web", "email"):
            add(base + [ch, "text"], getattr(getattr(q, ch), "text", None))
        add(base + ["web", "placeholder"], q.web.placeholder)
    return out


def _answer_info(q: Question) -> ex.AnswerInfo:
    if q.type in SCALE_TYPES or q.type == "number":
        return ex.AnswerInfo(ex.ValueType.NUMBER)
    if q.type == "yes_no":
        return ex.AnswerInfo(ex.ValueType.BOOL)
    if q.type == "single_choice":
        return ex.AnswerInfo(ex.ValueType.STRING, frozenset(q.choice_codes))
    if q.type == "multiple_choice":
        return ex.AnswerInfo(ex.ValueType.LIST, frozenset(q.choice_codes))
    return ex.AnswerInfo(ex.ValueType.STRING)


def _check_semantics(
    survey: Survey,
    report: _Report,
    raw: Mapping[str, Any],
    unreliable: set[str] | None = None,
    written_ids: Mapping[str, str] | None = None,
    partial_choices: set[str] | None = None,
) -> dict[str, ex.Expression]:
    """Everything beyond the shape of the document.

    Parts that were repaired so that checking could go on (an invalid question id becomes
    ``invalid_N``, a broken choice code is replaced) never appear in a message: references
    use the id as written (``written_ids``), and the codes of a question whose choices were
    repaired (``partial_choices``) are not listed or checked until they are fixed.
    """
    locales = survey.all_locales
    if survey.locales and survey.default_locale not in survey.locales:
        report.error(
            ["default_locale"],
            f"default_locale '{survey.default_locale}' is not in locales ({', '.join(survey.locales)})",
        )
    if len(set(locales)) != len(locales):
        report.error(["locales"], "a locale is listed twice")
    if len(set(survey.channels)) != len(survey.channels):
        report.error(["channels"], "a channel is listed twice")

    # Texts as written: a text that was missing or of the wrong type was replaced to go on
    # checking, and its own problem is already reported.
    texts = [
        (path, value) for path, value in _collect_ltexts(survey)
        if isinstance(_get(raw, *path), str | Mapping)
    ]

    # Characters no channel can send (YAML lets "\x01" through as an escape).
    words: list[tuple[list[Any], Any]] = []  # aliases and speech hints are said or matched too
    for i, q in enumerate(survey.questions):
        for k, hint in enumerate(q.ivr.hints):
            words.append((["questions", i, "ivr", "hints", k], hint))
        for j, c in enumerate(q.choices or []):
            for loc, aliases in c.aliases.items():
                words += [(["questions", i, "choices", j, "aliases", loc, n], a) for n, a in enumerate(aliases)]
    for path, value in texts + words:
        variants = [(path, value)] if isinstance(value, str) else [(path + [k], v) for k, v in value.items()]
        for vpath, text in variants:
            bad = UNSAFE_CHARS.search(text)
            if bad:
                report.error(
                    vpath,
                    f"the text holds the control character U+{ord(bad.group()):04X}, which no channel "
                    "can send; remove it",
                    offset=bad.start(),
                )

    # Translations: every text in every declared locale.
    for path, value in texts:
        if isinstance(value, str):
            if len(locales) > 1:
                missing = [loc for loc in locales if loc != survey.default_locale]
                report.error(
                    path,
                    f"this text has no {', '.join(missing)} translation; write it as a map "
                    f"{{{', '.join(f'{loc}: ...' for loc in locales)}}}",
                )
            continue
        for loc in locales:
            if loc not in value:
                report.error(path, f"missing the {loc} translation")
        for loc in value:
            if loc not in locales:
                report.warning(
                    path, f"locale '{loc}' is not declared in locales ({', '.join(locales)})"
                )

    # Question ids.
    seen: dict[str, int] = {}
    for i, q in enumerate(survey.questions):
        if q.id in seen:
            first_line, _ = report.loc.value(["questions", seen[q.id], "id"])
            report.error(
                ["questions", i, "id"],
                f"duplicate question id '{q.id}' (first used on line {first_line})",
            )
        else:
            seen[q.id] = i

    names = written_ids or {}
    all_ids = [names.get(q.id, q.id) for q in survey.questions]
    conditions: dict[str, ex.Expression] = {}
    earlier: dict[str, ex.AnswerInfo] = {}
    for i, q in enumerate(survey.questions):
        base: list[Any] = ["questions", i]
        _check_question_shape(q, base, report, raw_question=_get(raw, "questions", i))
        _check_choice_texts(survey, q, base, report, raw_question=_get(raw, "questions", i))
        if q.show_if is not None:
            later = frozenset(all_ids[i:])
            env = ex.TypeEnv(
                answers=dict(earlier),
                later=later,
                known_values={"channel": CHANNELS, "locale": tuple(survey.all_locales)},
            )
            compiled, problems = ex.compile_expression(q.show_if, env)
            for p in problems:
                report.error(base + ["show_if"], f"show_if: {p.message}", offset=p.offset)
            if compiled is not None and not problems:
                conditions[q.id] = compiled
        # Placeholders in this question's texts may use earlier answers only.
        _check_templates(
            survey, report, base, q, available=set(earlier), all_ids=set(all_ids)
        )
        ref = names.get(q.id, q.id)
        if ref not in earlier:
            if q.id in (unreliable or set()):
                earlier[ref] = ex.AnswerInfo(ex.ValueType.ANY)
            elif q.id in (partial_choices or set()):
                earlier[ref] = ex.AnswerInfo(_answer_info(q).type, frozenset(), codes_complete=False)
            else:
                earlier[ref] = _answer_info(q)

    for key in ("intro", "title", "description"):
        _check_text_templates(report, [key], getattr(survey, key), set(), set(all_ids))
    _check_text_templates(report, ["outro"], survey.outro, set(all_ids), set(all_ids))

    _check_channel_settings(survey, report)
    from .fit import check_channel_fit

    check_channel_fit(survey, report)
    return conditions


def _get(raw: Any, *path: Any) -> Any:
    node = raw
    for step in path:
        if isinstance(node, Mapping) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            return None
    return node


def _check_question_shape(q: Question, base: list[Any], report: _Report, raw_question: Any) -> None:
    is_choice = q.type in CHOICE_TYPES
    if is_choice and not q.choices:
        report.error(base + ["type"], f"a {q.type} question needs choices")
    if not is_choice and q.choices is not None:
        report.error(
            base + ["choices"], "choices are only used by single_choice and multiple_choice questions"
        )
    if q.randomize and not is_choice:
        report.error(base + ["randomize"], "randomize only applies to choice questions")
    if q.scale is not None and q.type not in SCALE_TYPES:
        report.error(base + ["scale"], "scale is only used by rating, nps, csat and ces questions")
    if q.scale is not None and q.type in FIXED_SCALES:
        lo, hi = FIXED_SCALES[q.type]
        raw_scale = _get(raw_question, "scale") or {}
        if ("min" in raw_scale and q.scale.min != lo) or ("max" in raw_scale and q.scale.max != hi):
            report.error(
                base + ["scale"],
                f"a {q.type} scale is always {lo}-{hi}; only its labels can be changed "
                "(use type: rating for another scale)",
            )
    if q.type != "number" and (q.min is not None or q.max is not None):
        key = "min" if q.min is not None else "max"
        report.error(base + [key], f"{key} is only used by number questions (use scale for ratings)")
    if q.type == "number" and q.min is not None and q.max is not None and q.min >= q.max:
        report.error(base + ["max"], f"max ({q.max:g}) must be greater than min ({q.min:g})")
    if q.type != "multiple_choice" and (q.min_choices is not None or q.max_choices is not None):
        report.error(base + ["type"], "min_choices/max_choices are only for multiple_choice")
    if q.type == "multiple_choice" and q.choices:
        lo_c, hi_c = q.min_choices or 0, q.max_choices or len(q.choices)
        if lo_c > hi_c or hi_c > len(q.choices):
            report.error(
                base + ["max_choices" if q.max_choices is not None else "min_choices"],
                f"min_choices/max_choices must satisfy 0 <= min <= max <= {len(q.choices)} (the number of choices)",
            )
    if q.ivr.record and q.type != "text":
        report.error(base + ["ivr", "record"], "record: true is only for text questions")

    # Choice codes: YAML would silently turn some unquoted words into booleans or numbers.
    codes: dict[str, int] = {}
    for j, choice in enumerate(_get(raw_question, "choices") or []):
        raw_code = _get(choice, "code")
        path = base + ["choices", j, "code"]
        if isinstance(raw_code, bool):
            report.error(
                path,
                f"choice code is read by YAML as the boolean {str(raw_code).lower()}; "
                f"quote it, e.g. code: \"{str(raw_code).lower()}\"",
            )
        elif isinstance(raw_code, int | float):
            report.error(
                path, f"choice code is read by YAML as the number {raw_code}; quote it, e.g. code: \"{raw_code}\""
            )
        elif isinstance(raw_code, datetime.date):
            report.error(
                path, f"choice code is read by YAML as the date {raw_code}; quote it, e.g. code: \"{raw_code}\""
            )
        elif raw_code is None and isinstance(choice, Mapping) and "code" in choice:
            report.error(path, "choice code is empty (YAML reads it as null)")
        elif isinstance(raw_code, str):
            parent = _get(raw_question, "choices", j)
            node = parent["code"] if isinstance(parent, Mapping) else None
            style = getattr(node, "style", None)
            if raw_code.lower() in _YAML11_BOOLS and style not in ("'", '"'):
                report.error(
                    path,
                    f"choice code {raw_code} is read as a boolean by many YAML tools; "
                    f"quote it: code: \"{raw_code}\"",
                )
            if raw_code in codes:
                report.error(path, f"duplicate choice code '{raw_code}'")
            else:
                same = next((c for c in codes if c.lower() == raw_code.lower()), None)
                if same is not None:
                    report.error(
                        path,
                        f"choice code '{raw_code}' differs from '{same}' only by case; replies match "
                        "codes whatever the case, so make them different",
                    )
            codes[raw_code] = j


def _check_choice_texts(survey: Survey, q: Question, base: list[Any], report: _Report, raw_question: Any) -> None:
    """Labels two choices share, and aliases in a locale the survey does not declare."""
    locales = survey.all_locales
    seen: dict[tuple[str, str], int] = {}
    for j, choice in enumerate(q.choices or []):
        raw_label = _get(raw_question, "choices", j, "label")
        if isinstance(raw_label, str | Mapping):
            for loc in locales:
                text = _label_key(text_for(choice.label, loc, survey.default_locale))
                if not text:
                    continue
                if (loc, text) in seen:
                    first = seen[(loc, text)]
                    where = base + ["choices", j, "label"] + ([loc] if isinstance(raw_label, Mapping) else [])
                    report.error(
                        where,
                        f"choices {first + 1} and {j + 1} have the same {loc} label "
                        f"'{text_for(choice.label, loc, survey.default_locale)}'; respondents could not "
                        "tell them apart",
                    )
                else:
                    seen[(loc, text)] = j
        raw_aliases = _get(raw_question, "choices", j, "aliases")
        if not isinstance(raw_aliases, Mapping):
            continue
        for loc, aliases in choice.aliases.items():
            if loc not in locales:
                same_language = [x for x in locales if x.split("-")[0].lower() == loc.split("-")[0].lower()]
                hint = f"; did you mean '{same_language[0]}'?" if same_language else suggest(loc, locales)
                report.warning(
                    base + ["choices", j, "aliases", loc],
                    f"aliases for locale '{loc}', which is not in locales ({', '.join(locales)}){hint}",
                    key=True,
                )
            for k, alias in enumerate(aliases):
                other = next(
                    (n for n, c in enumerate(q.choices or []) if n != j and _label_key(alias) in _names_of(c)),
                    None,
                )
                if other is not None:
                    report.warning(
                        base + ["choices", j, "aliases", loc, k],
                        f"alias '{alias}' also names choice {other + 1}; a reply '{alias}' will be asked again",
                    )


def _names_of(choice: Any) -> set[str]:
    """Every label and alias of a choice, as :func:`_label_key` keys."""
    labels = [choice.label] if isinstance(choice.label, str) else list(choice.label.values())
    aliases = [a for values in choice.aliases.values() for a in values]
    return {_label_key(t) for t in labels + aliases if isinstance(t, str)}


def _label_key(text: str) -> str:
    """A label as a respondent would read or say it: case and spacing do not count."""
    return " ".join(text.casefold().split())


def _check_templates(
    survey: Survey,
    report: _Report,
    base: list[Any],
    q: Question,
    available: set[str],
    all_ids: set[str],
) -> None:
    texts: list[tuple[list[Any], Any]] = [(base + ["text"], q.text), (base + ["help"], q.help)]
    for ch in ("ivr", "sms", "chat", "web", "email"):
        texts.append((base + [ch, "text"], getattr(getattr(q, ch), "text", None)))
    for path, value in texts:
        _check_text_templates(report, path, value, available, all_ids)


def _check_text_templates(
    report: _Report, path: list[Any], value: Any, available: set[str], all_ids: set[str]
) -> None:
    if value is None:
        return
    variants = [(path, value)] if isinstance(value, str) else [(path + [k], v) for k, v in value.items()]
    for vpath, source in variants:
        tpl, problems = parse_template(source)
        for p in problems:
            report.error(vpath, p.message, offset=p.offset)
        _check_placeholders(report, vpath, tpl, available, all_ids)


def _check_placeholders(
    report: _Report, path: list[Any], tpl: Template, available: set[str], all_ids: set[str]
) -> None:
    for ph in tpl.placeholders:
        if ph.root != "answers" or not ph.path:
            continue
        qid = ph.path[0]
        if qid in available:
            continue
        if qid in all_ids:
            msg = f"'{{{{ answers.{qid} }}}}' is answered later (or is this question); only earlier answers can be piped"
        else:
            msg = f"unknown question '{qid}' in '{{{{ answers.{qid} }}}}'{suggest(qid, all_ids)}"
        report.error(path, msg, offset=ph.start)


def _check_channel_settings(survey: Survey, report: _Report) -> None:
    from .model import IvrNumber

    locales = survey.all_locales
    seen_numbers: set[str] = set()
    for i, entry in enumerate(survey.ivr.numbers):
        number = entry.number if isinstance(entry, IvrNumber) else entry
        path: list[Any] = ["ivr", "numbers", i] + (["number"] if isinstance(entry, IvrNumber) else [])
        if not E164_RE.match(number):
            report.error(path, f"'{number}' is not a phone number in E.164 form, e.g. +15551230000")
        if number in seen_numbers:
            report.error(path, f"number {number} is listed twice")
        seen_numbers.add(number)
        if isinstance(entry, IvrNumber) and entry.locale and entry.locale not in locales:
            report.error(["ivr", "numbers", i, "locale"], f"locale '{entry.locale}' is not in locales")
    seen_kw: set[str] = set()
    for i, kw in enumerate(survey.sms.keywords):
        if not kw.strip() or len(kw.split()) != 1:
            report.error(["sms", "keywords", i], f"keyword '{kw}' must be a single word")
        if kw.upper() in seen_kw:
            report.error(["sms", "keywords", i], f"keyword '{kw}' is listed twice")
        seen_kw.add(kw.upper())
        from .fit import RESERVED_SMS_WORDS

        if kw.upper() in RESERVED_SMS_WORDS:
            report.error(
                ["sms", "keywords", i],
                f"'{kw}' is reserved for opt-out and help on SMS; choose another keyword",
            )
    if survey.sms.keywords and "sms" not in survey.channels:
        report.warning(["sms", "keywords"], "sms keywords are set but 'sms' is not in channels")
    template = survey.sms.whatsapp_template
    if template is not None:
        # Variables are filled when the template is sent: no answers exist yet.
        ids = {q.id for q in survey.questions}
        for key, value in template.variables.items():
            _check_text_templates(report, ["sms", "whatsapp_template", "variables", key], value, set(), ids)
    if survey.ivr.numbers and "ivr" not in survey.channels:
        report.warning(["ivr", "numbers"], "ivr numbers are set but 'ivr' is not in channels")


def load_text(text: str, filename: str = "<survey>") -> CompiledSurvey:
    """Validate and compile a survey from YAML text. Raises DefinitionError with every problem."""
    import_extensions()
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True  # quoted choice codes and text offsets need the style
    try:
        doc = yaml.load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = e.problem or e.context or "invalid YAML"
        hint = ""
        ctx_mark = e.context_mark
        if e.context and e.problem and ctx_mark is not None and e.problem_mark is not None and (
            ctx_mark.line != e.problem_mark.line or ctx_mark.column != e.problem_mark.column
        ):
            hint = f" ({e.context} that starts at line {ctx_mark.line + 1}, column {ctx_mark.column + 1})"
        if "found character '\\t'" in problem or "\t" in str(e):
            hint = " (YAML does not allow tabs for indentation; use spaces)"
        dup = re.match(r'found duplicate key "(.*?)"', problem)
        if dup:
            first = ""
            for n, src in enumerate(text.splitlines()[: line - 1], start=1):
                if src[col - 1 :].startswith(f"{dup.group(1)}:") and not src[: col - 1].strip(" -"):
                    first = f" (first on line {n})"
            raise DefinitionError(
                [Problem(filename, line, col, f"duplicate key '{dup.group(1)}' in the same map{first}")]
            ) from None
        raise DefinitionError([Problem(filename, line, col, f"YAML syntax error: {problem}{hint}")]) from None
    except YAMLError as e:
        position, character = getattr(e, "position", None), getattr(e, "character", None)
        if isinstance(position, int) and character is not None:  # a ReaderError
            before = text[:position]
            line, col = before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1
            code = ord(character) if isinstance(character, str) else int(character)
            raise DefinitionError(
                [Problem(filename, line, col, f"the character U+{code:04X} is not allowed in a YAML file")]
            ) from None
        raise DefinitionError([Problem(filename, 1, 1, f"YAML error: {e}")]) from None
    locator = _Locator(doc)
    report = _Report(filename, locator, text.splitlines())
    if not isinstance(doc, CommentedMap):
        what = "empty" if doc is None else "a list" if isinstance(doc, list) else f"a single value ({doc!r:.40})"
        raise DefinitionError([Problem(filename, 1, 1, f"a survey file must be a YAML map, but this one is {what}")])

    if _expands_beyond(doc, MAX_EXPANDED_VALUES):
        first_alias = re.search(r"(?<![\w&*])\*[^\s,\]\}]+", text)
        line, col = 1, 1
        if first_alias is not None:
            line = text.count("\n", 0, first_alias.start()) + 1
            col = first_alias.start() - (text.rfind("\n", 0, first_alias.start()) + 1) + 1
        raise DefinitionError([Problem(
            filename, line, col,
            f"the file holds more than {MAX_EXPANDED_VALUES:,} values once its YAML aliases (*name) are "
            "expanded; use fewer aliases or split the survey",
        )])
    raw = _plain(doc)
    extensions = {k: raw.pop(k) for k in list(raw) if k in EXTENSION_SECTIONS}
    raw_questions = raw.get("questions")
    header = {k: v for k, v in raw.items() if k != "questions"}
    dummy = [{"id": "x", "type": "text", "text": "x"}]
    header = _repair(
        report, header, lambda d: Survey.model_validate({**d, "questions": dummy}), (), _HEADER_FALLBACKS
    )

    questions: list[dict[str, Any]] = []
    unreliable: set[str] = set()
    written_ids: dict[str, str] = {}
    partial_choices: set[str] = set()
    if raw_questions is None:
        report.error([], "missing required key 'questions'")
    elif not isinstance(raw_questions, list) or not raw_questions:
        report.error(["questions"], "questions must be a non-empty list")
    else:
        for i, rq in enumerate(raw_questions):
            if not isinstance(rq, dict):
                report.error(["questions", i], "a question must be a map with id, type and text")
                continue
            fixed = _repair(report, dict(rq), Question.model_validate, ("questions", i), _QUESTION_FALLBACKS)
            if fixed.get("type") != rq.get("type"):
                unreliable.add(str(fixed.get("id")))
            written = rq.get("id")
            if fixed.get("id") != written and isinstance(written, str) and written.strip():
                written_ids[str(fixed.get("id"))] = written
            if _repaired_codes(rq.get("choices"), fixed.get("choices")):
                partial_choices.add(str(fixed.get("id")))
            questions.append(fixed)

    conditions: dict[str, ex.Expression] = {}
    survey: Survey | None = None
    if questions:
        try:
            survey = Survey.model_validate({**header, "questions": questions, "extensions": extensions})
        except ValidationError as e:  # pragma: no cover - repaired parts validate
            _pydantic_problems(report, e)
    if survey is not None:
        conditions = _check_semantics(survey, report, doc, unreliable, written_ids, partial_choices)
        for key, value in extensions.items():
            EXTENSION_SECTIONS[key](value, survey, report)

    report.problems.sort(key=lambda p: (p.line, p.col))
    if report.errors or survey is None:
        raise DefinitionError(report.problems or [Problem(filename, 1, 1, "invalid survey")])
    version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    survey = survey.model_copy(update={"version": version, "source": filename})
    return CompiledSurvey(survey, conditions, warnings=list(report.problems), text=text)


_HEADER_FALLBACKS: dict[str, Any] = {"spec_version": 1, "id": "invalid", "title": "invalid"}
_QUESTION_FALLBACKS: dict[str, Any] = {"type": "text", "text": "invalid"}


def _repair(
    report: _Report,
    data: dict[str, Any],
    validate: Callable[[dict[str, Any]], Any],
    prefix: tuple[Any, ...],
    fallbacks: dict[str, Any],
) -> dict[str, Any]:
    """Report every validation problem, then drop or replace the broken keys so the rest
    of the document can still be checked (all problems in one run, not just the first)."""
    for _round in range(4):
        try:
            validate(data)
            return data
        except ValidationError as e:
            errors = [
                err for err in e.errors(include_url=False)
                if not _reported_elsewhere(err, data)
            ]
            if _round == 0 or errors:
                _pydantic_problems(report, e, prefix, skip=lambda err: _reported_elsewhere(err, data))
            errs = e.errors(include_url=False)
            if any(not err["loc"] for err in errs):
                return data
            bad_items: dict[str, set[int]] = {}
            broken: set[Any] = set()
            for err in errs:
                loc = err["loc"]
                key = loc[0]
                if (
                    key != "choices" and len(loc) >= 2 and isinstance(loc[1], int)
                    and isinstance(data.get(str(key)), list) and len(loc) == 2
                ):
                    bad_items.setdefault(str(key), set()).add(loc[1])
                else:
                    broken.add(key)
            for key, idxs in bad_items.items():
                if key not in broken:
                    data[key] = [v for n, v in enumerate(data[key]) if n not in idxs]
            for key in broken:
                if key == "id" and prefix:
                    data["id"] = f"invalid_{prefix[-1]}"
                elif key == "choices" and isinstance(data.get("choices"), list):
                    data["choices"] = _repair_choices(data["choices"])
                elif key in fallbacks:
                    data[key] = fallbacks[key]
                else:
                    data.pop(key, None)
            for key, value in fallbacks.items():
                data.setdefault(key, value)
    return data


def _repair_choices(choices: list[Any]) -> list[Any]:
    out = []
    for j, c in enumerate(choices):
        if not isinstance(c, dict):
            continue
        c = dict(c)
        code = c.get("code")
        if not isinstance(code, str) or not CODE_RE.match(code):
            c["code"] = f"invalid_{j}" if code is None else re.sub(r"[^A-Za-z0-9_.-]", "_", str(code).lower()) or f"invalid_{j}"
        c.setdefault("label", "invalid")
        if not isinstance(c.get("label"), str | dict):
            c["label"] = "invalid"
        c = {k: v for k, v in c.items() if k in ("code", "label", "aliases", "score")}
        if not isinstance(c.get("aliases", {}), dict):
            c.pop("aliases")
        out.append(c)
    return out


def _repaired_codes(raw_choices: Any, fixed_choices: Any) -> bool:
    """Whether repairing a question's choices invented or changed a code."""
    if not isinstance(fixed_choices, list):
        return False
    written = {
        c["code"] for c in (raw_choices if isinstance(raw_choices, list) else [])
        if isinstance(c, Mapping) and isinstance(c.get("code"), str)
    }
    return any(isinstance(c, Mapping) and c.get("code") not in written for c in fixed_choices) or len(
        fixed_choices
    ) != len(raw_choices if isinstance(raw_choices, list) else [])


def _reported_elsewhere(err: Any, data: dict[str, Any]) -> bool:
    """Choice codes of the wrong YAML type get their own, clearer message."""
    loc = err["loc"]
    return (
        len(loc) >= 3 and loc[0] == "choices" and loc[-1] == "code" and err["type"] == "string_type"
    )


def load_file(path: str | Path) -> CompiledSurvey:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DefinitionError([Problem(str(path), 1, 1, "no such file")]) from None
    except IsADirectoryError:
        raise DefinitionError([Problem(str(path), 1, 1, "this is a folder, not a survey file")]) from None
    except OSError as e:
        raise DefinitionError([Problem(str(path), 1, 1, f"cannot read the file: {e.strerror}")]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = len(data[data.rfind(b"\n", 0, e.start) + 1 : e.start].decode("utf-8", "replace")) + 1
        raise DefinitionError(
            [Problem(str(path), line, col, f"the file is not UTF-8 text (byte 0x{data[e.start]:02x}); save it as UTF-8")]
        ) from None
    return load_text(text, str(path))


def survey_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders into their survey files (*.yaml, *.yml), skipping the policy file."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(
                f for f in sorted(p.iterdir()) if f.suffix in (".yaml", ".yml") and f.stem != "policy"
            )
        else:
            out.append(p)
    return out
