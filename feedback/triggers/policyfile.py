"""The contact policy file (``survey_defs/policy.yaml``): one policy for every survey and channel.

Pure Python (YAML in, a frozen :class:`Policy` out); every problem is located at
``FILE:LINE:COL`` like in survey files.

.. code-block:: yaml

    policy_version: 1
    frequency:                 # at most this many surveys per contact, all channels together
      max_surveys: 2
      per: 30d                 # a list of rules works too: [{max_surveys: 1, per: 7d}, ...]
    min_gap: 14d               # before the same survey goes to the same contact again
    surveys:                   # per-survey exceptions
      support-call: {min_gap: 7d}
    quiet_hours:               # in the contact's time zone; a send in them waits until they end
      start: "21:00"
      end: "08:00"
      timezone: UTC            # for contacts whose time zone is not known
      channels: [ivr, sms, whatsapp, email]

Opt-outs (per channel, or from everything) are recorded per contact and always honoured.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from feedback.errors import DefinitionError, Problem

from .definition import LADDER_CHANNELS, DurationError, format_duration, parse_duration

POLICY_KEYS = ("policy_version", "frequency", "min_gap", "surveys", "quiet_hours")
FREQUENCY_KEYS = ("max_surveys", "per")
QUIET_KEYS = ("start", "end", "timezone", "channels")
SURVEY_KEYS = ("min_gap", "exempt_from_frequency")
POLICY_CHANNELS = (*LADDER_CHANNELS, "web")
TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class FrequencyRule:
    max_surveys: int
    per: dt.timedelta

    def to_dict(self) -> dict[str, Any]:
        return {"max_surveys": self.max_surveys, "per": format_duration(self.per)}


@dataclass(frozen=True)
class QuietHours:
    start: dt.time
    end: dt.time
    timezone: str = "UTC"
    channels: tuple[str, ...] = POLICY_CHANNELS

    def applies_to(self, channel: str) -> bool:
        return channel in self.channels

    def until(self, when_utc: dt.datetime, tz_name: str | None) -> dt.datetime | None:
        """When the quiet hours around ``when_utc`` (naive UTC) end, as naive UTC; None if
        ``when_utc`` is not in quiet hours for a contact in ``tz_name``."""
        tz = zone(tz_name) or zone(self.timezone) or dt.UTC
        local = when_utc.replace(tzinfo=dt.UTC).astimezone(tz)
        t = local.time().replace(tzinfo=None)
        start, end = self.start, self.end
        if start == end:
            return None
        if start < end:
            inside = start <= t < end
            end_date = local.date()
        else:  # wraps midnight, e.g. 21:00-08:00
            inside = t >= start or t < end
            end_date = local.date() + dt.timedelta(days=1) if t >= start else local.date()
        if not inside:
            return None
        end_local = _localize(dt.datetime.combine(end_date, end), tz)
        return end_local.astimezone(dt.UTC).replace(tzinfo=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.strftime("%H:%M"),
            "end": self.end.strftime("%H:%M"),
            "timezone": self.timezone,
            "channels": list(self.channels),
        }


def _localize(naive: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """A local wall time in ``tz``; a time skipped by a DST change moves forward."""
    aware = naive.replace(tzinfo=tz)
    roundtrip = aware.astimezone(dt.UTC).astimezone(tz)
    if roundtrip.replace(tzinfo=None) != naive:  # in a DST gap
        aware = (naive + dt.timedelta(hours=1)).replace(tzinfo=tz)
    return aware


def zone(name: str | None) -> dt.tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def valid_timezone(name: str) -> bool:
    return zone(name) is not None


@dataclass(frozen=True)
class SurveyRule:
    min_gap: dt.timedelta | None = None
    exempt_from_frequency: bool = False


@dataclass(frozen=True)
class Policy:
    frequency: tuple[FrequencyRule, ...] = ()
    min_gap: dt.timedelta | None = None
    surveys: Mapping[str, SurveyRule] = field(default_factory=dict)
    quiet_hours: QuietHours | None = None
    source: str = ""

    def min_gap_for(self, survey_id: str) -> dt.timedelta | None:
        rule = self.surveys.get(survey_id)
        if rule is not None and rule.min_gap is not None:
            return rule.min_gap
        return self.min_gap

    def capped(self, survey_id: str) -> bool:
        rule = self.surveys.get(survey_id)
        return not (rule is not None and rule.exempt_from_frequency)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source or None,
            "frequency": [r.to_dict() for r in self.frequency],
            "min_gap": format_duration(self.min_gap),
            "surveys": {
                k: {"min_gap": format_duration(v.min_gap), "exempt_from_frequency": v.exempt_from_frequency}
                for k, v in self.surveys.items()
            },
            "quiet_hours": self.quiet_hours.to_dict() if self.quiet_hours else None,
            "opt_outs": "always honoured, per channel and global",
        }


EMPTY = Policy()


# -- loading ---------------------------------------------------------------------------------


class _Report:
    def __init__(self, filename: str, doc: Any) -> None:
        self.filename = filename
        self.doc = doc
        self.problems: list[Problem] = []

    def _pos(self, path: list[Any], key: bool) -> tuple[int, int]:
        node, line, col = self.doc, 1, 1
        for i, step in enumerate(path):
            last = i == len(path) - 1
            try:
                if isinstance(node, CommentedMap) and step in node:
                    pos = node.lc.key(step) if (last and key) else node.lc.value(step)
                    node = node[step]
                elif isinstance(node, CommentedSeq) and isinstance(step, int) and 0 <= step < len(node):
                    pos = node.lc.item(step)
                    node = node[step]
                else:
                    break
            except (KeyError, TypeError, AttributeError, IndexError):
                break
            if pos is not None:
                line, col = pos[0] + 1, pos[1] + 1
        return line, col

    def error(self, path: list[Any], message: str, *, key: bool = False) -> None:
        line, col = self._pos(path, key)
        problem = Problem(self.filename, line, col, message)
        if problem not in self.problems:
            self.problems.append(problem)


def _suggest(word: str, options: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _unknown(report: _Report, path: list[Any], value: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    for k in value:
        if k not in known:
            report.error(path + [k], f"unknown key '{k}' in {where}{_suggest(str(k), known)}", key=True)


def _duration(report: _Report, path: list[Any], value: Any, name: str) -> dt.timedelta | None:
    try:
        out = parse_duration(value)
    except DurationError as e:
        report.error(path, f"{name}: {e}")
        return None
    return out


def _time(report: _Report, path: list[Any], value: Any, name: str) -> dt.time | None:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 readers turn an unquoted 21:00 into a number of minutes; ruamel (1.2) keeps
        # it as text, but be helpful either way.
        report.error(path, f"{name}: write the time quoted, e.g. \"21:00\"")
        return None
    if not isinstance(value, str) or not TIME_RE.match(value.strip()):
        report.error(path, f"{name}: '{value}' is not a time of day; write HH:MM, e.g. \"21:00\"")
        return None
    h, m = value.strip().split(":")
    return dt.time(int(h), int(m))


def parse_policy(text: str, filename: str = "policy.yaml") -> Policy:
    """Validate and compile a policy file's text. Raises DefinitionError with every problem."""
    yaml = YAML(typ="rt")
    try:
        doc = yaml.load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise DefinitionError([Problem(filename, line, col, f"YAML syntax error: {e.problem or e.context}")]) from None
    except YAMLError as e:
        raise DefinitionError([Problem(filename, 1, 1, f"YAML error: {e}")]) from None
    if doc is None:
        return Policy(source=filename)
    report = _Report(filename, doc)
    if not isinstance(doc, CommentedMap):
        raise DefinitionError([Problem(filename, 1, 1, "a policy file must be a YAML map (policy_version: 1, frequency: ...)")])
    _unknown(report, [], doc, POLICY_KEYS, "the policy")
    version = doc.get("policy_version", 1)
    if version != 1:
        report.error(["policy_version"], "policy_version must be 1")

    rules: list[FrequencyRule] = []
    freq = doc.get("frequency")
    if freq is not None:
        items = list(enumerate(freq)) if isinstance(freq, list) else [(None, freq)]
        for j, rule in items:
            path: list[Any] = ["frequency"] + ([j] if j is not None else [])
            if not isinstance(rule, Mapping):
                report.error(path, "frequency is a map {max_surveys: N, per: 30d} (or a list of them)")
                continue
            _unknown(report, path, rule, FREQUENCY_KEYS, "frequency")
            n = rule.get("max_surveys")
            if "max_surveys" not in rule:
                report.error(path, "frequency needs max_surveys: the most surveys a contact gets in the period")
            elif isinstance(n, bool) or not isinstance(n, int) or n < 0:
                report.error(path + ["max_surveys"], f"max_surveys must be a whole number, 0 or more; not {n!r}")
                n = None
            per = None
            if "per" not in rule:
                report.error(path, "frequency needs per: the period, e.g. per: 30d")
            else:
                per = _duration(report, path + ["per"], rule["per"], "per")
                if per is not None and per <= dt.timedelta(0):
                    report.error(path + ["per"], "per must be longer than 0")
                    per = None
            if isinstance(n, int) and per is not None:
                rules.append(FrequencyRule(n, per))

    min_gap = None
    if "min_gap" in doc:
        min_gap = _duration(report, ["min_gap"], doc["min_gap"], "min_gap")

    surveys: dict[str, SurveyRule] = {}
    sv = doc.get("surveys")
    if sv is not None:
        if not isinstance(sv, Mapping):
            report.error(["surveys"], "surveys is a map of survey id to its exceptions, e.g. support-call: {min_gap: 7d}")
        else:
            for sid, rule in sv.items():
                path = ["surveys", sid]
                if not isinstance(sid, str) or not SLUG_RE.match(sid):
                    report.error(path, f"'{sid}' is not a survey id", key=True)
                    continue
                if not isinstance(rule, Mapping):
                    report.error(path, "a survey's exceptions are a map, e.g. {min_gap: 7d}")
                    continue
                _unknown(report, path, rule, SURVEY_KEYS, f"the exceptions of {sid}")
                gap = _duration(report, path + ["min_gap"], rule["min_gap"], "min_gap") if "min_gap" in rule else None
                exempt = rule.get("exempt_from_frequency", False)
                if not isinstance(exempt, bool):
                    report.error(path + ["exempt_from_frequency"], "exempt_from_frequency is true or false")
                    exempt = False
                surveys[sid] = SurveyRule(gap, exempt)

    quiet = None
    qh = doc.get("quiet_hours")
    if qh is not None:
        if not isinstance(qh, Mapping):
            report.error(["quiet_hours"], 'quiet_hours is a map {start: "21:00", end: "08:00", timezone: UTC}')
        else:
            _unknown(report, ["quiet_hours"], qh, QUIET_KEYS, "quiet_hours")
            start = end = None
            for key in ("start", "end"):
                if key not in qh:
                    report.error(["quiet_hours"], f'quiet_hours needs {key}, e.g. {key}: "{"21:00" if key == "start" else "08:00"}"')
            if "start" in qh:
                start = _time(report, ["quiet_hours", "start"], qh["start"], "start")
            if "end" in qh:
                end = _time(report, ["quiet_hours", "end"], qh["end"], "end")
            tz = qh.get("timezone", "UTC")
            if not isinstance(tz, str) or not valid_timezone(tz):
                report.error(["quiet_hours", "timezone"], f"unknown time zone '{tz}'; use an IANA name like Europe/London or Asia/Shanghai")
                tz = "UTC"
            channels: tuple[str, ...] = POLICY_CHANNELS
            if "channels" in qh:
                raw = qh["channels"]
                if not isinstance(raw, list) or not raw:
                    report.error(["quiet_hours", "channels"], "channels is a list like [ivr, sms, email]")
                else:
                    for j, ch in enumerate(raw):
                        if ch not in POLICY_CHANNELS:
                            report.error(
                                ["quiet_hours", "channels", j],
                                f"unknown channel '{ch}'{_suggest(str(ch), POLICY_CHANNELS)} (channels: {', '.join(POLICY_CHANNELS)})",
                            )
                    channels = tuple(str(c) for c in raw)
            if start is not None and end is not None:
                if start == end:
                    report.error(["quiet_hours", "end"], "quiet_hours start and end are the same time")
                quiet = QuietHours(start, end, tz, channels)

    report.problems.sort(key=lambda p: (p.line, p.col))
    if report.problems:
        raise DefinitionError(report.problems)
    return Policy(tuple(rules), min_gap, surveys, quiet, filename)


def load_policy_file(path: str | Path) -> Policy:
    """The policy in ``path``; the empty policy (opt-outs only) when there is no such file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Policy(source="")
    except (OSError, UnicodeDecodeError) as e:
        raise DefinitionError([Problem(str(path), 1, 1, f"cannot read the policy file: {e}")]) from None
    return parse_policy(text, str(path))
