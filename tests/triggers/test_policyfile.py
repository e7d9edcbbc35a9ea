"""The contact policy file: located problems and the quiet hours arithmetic (no app)."""

from __future__ import annotations

import datetime as dt

import pytest

from feedback.errors import DefinitionError
from feedback.triggers.policyfile import QuietHours, load_policy_file, parse_policy
from tests.conftest import SURVEY_DEFS


def problems(text: str) -> list[str]:
    with pytest.raises(DefinitionError) as exc:
        parse_policy(text, "policy.yaml")
    return [str(p) for p in exc.value.problems]


def test_the_example_policy_is_valid() -> None:
    policy = load_policy_file(SURVEY_DEFS / "policy.yaml")
    assert policy.frequency and policy.quiet_hours is not None
    assert policy.min_gap_for("support-call") == dt.timedelta(days=7)
    assert policy.min_gap_for("post-purchase") == dt.timedelta(days=14)


def test_a_missing_file_is_the_empty_policy(tmp_path) -> None:  # type: ignore[no-untyped-def]
    policy = load_policy_file(tmp_path / "nope.yaml")
    assert policy.frequency == () and policy.quiet_hours is None and policy.min_gap is None


def test_every_problem_is_located() -> None:
    assert problems(
        "frequency: {max_surveys: -1, per: 3 dayz}\n"
        "min_gap: 2\n"
        'quiet_hours: {start: "25:00", end: "08:00", timezone: Mars/Base, channels: [sms, fax]}\n'
        "surveys:\n"
        "  Bad Id: {min_gap: 1d}\n"
        "  ok-survey: {min_gap: 1d, exempt: yes}\n"
        "foo: 1\n"
    ) == [
        "policy.yaml:1:26: max_surveys must be a whole number, 0 or more; not -1",
        "policy.yaml:1:35: per: unknown unit 'dayz' in '3 dayz' (did you mean '3d'?); write a number and a unit, "
        "e.g. 30s, 10m, 2h, 3d or 1w (or combined: 1h30m)",
        "policy.yaml:2:10: min_gap: '2' has no unit; write a number and a unit, e.g. 30s, 10m, 2h, 3d or 1w "
        "(or combined: 1h30m)",
        "policy.yaml:3:22: start: '25:00' is not a time of day; write HH:MM, e.g. \"21:00\"",
        "policy.yaml:3:55: unknown time zone 'Mars/Base'; use an IANA name like Europe/London or Asia/Shanghai",
        "policy.yaml:3:82: unknown channel 'fax' (channels: ivr, sms, whatsapp, email, web)",
        "policy.yaml:5:3: 'Bad Id' is not a survey id",
        "policy.yaml:6:28: unknown key 'exempt' in the exceptions of ok-survey",
        "policy.yaml:7:1: unknown key 'foo' in the policy",
    ]


def test_structure_problems() -> None:
    assert problems("- a\n") == ["policy.yaml:1:1: a policy file must be a YAML map (policy_version: 1, frequency: ...)"]
    assert problems("frequency: [{max_surveys: 1}, {per: 7d}]\nquiet_hours: {start: '21:00'}\n") == [
        "policy.yaml:1:13: frequency needs per: the period, e.g. per: 30d",
        "policy.yaml:1:31: frequency needs max_surveys: the most surveys a contact gets in the period",
        'policy.yaml:2:14: quiet_hours needs end, e.g. end: "08:00"',
    ]
    assert problems("policy_version: 2\n") == ["policy.yaml:1:17: policy_version must be 1"]
    assert problems("frequency: {max_surveys: 1, per: 1d\n")[0].startswith("policy.yaml:2:1: YAML syntax error")


def test_several_frequency_rules() -> None:
    policy = parse_policy("frequency:\n  - {max_surveys: 1, per: 7d}\n  - {max_surveys: 3, per: 90d}\n")
    assert [(r.max_surveys, r.per.days) for r in policy.frequency] == [(1, 7), (3, 90)]


QH = QuietHours(dt.time(21, 0), dt.time(8, 0), "Europe/London")


@pytest.mark.parametrize(
    ("utc", "tz", "until"),
    [
        (dt.datetime(2026, 11, 23, 12, 0), None, None),  # noon in London
        (dt.datetime(2026, 11, 23, 21, 30), None, dt.datetime(2026, 11, 24, 8, 0)),  # evening
        (dt.datetime(2026, 11, 24, 3, 0), None, dt.datetime(2026, 11, 24, 8, 0)),  # small hours
        (dt.datetime(2026, 11, 23, 12, 0), "Asia/Shanghai", None),  # 20:00 in Shanghai
        (dt.datetime(2026, 11, 23, 14, 0), "Asia/Shanghai", dt.datetime(2026, 11, 24, 0, 0)),  # 22:00 -> 08:00 local
        (dt.datetime(2026, 7, 1, 20, 30), None, dt.datetime(2026, 7, 2, 7, 0)),  # 21:30 BST -> 08:00 BST
        (dt.datetime(2026, 11, 23, 15, 0), "America/New_York", None),  # 10:00 in New York
        (dt.datetime(2026, 11, 23, 6, 0), "America/New_York", dt.datetime(2026, 11, 23, 13, 0)),
    ],
)
def test_quiet_hours_end_in_the_contact_time_zone(utc: dt.datetime, tz: str | None, until: dt.datetime | None) -> None:
    assert QH.until(utc, tz) == until


def test_quiet_hours_within_a_day() -> None:
    lunch = QuietHours(dt.time(12, 0), dt.time(14, 0), "UTC")
    assert lunch.until(dt.datetime(2026, 1, 1, 13, 0), None) == dt.datetime(2026, 1, 1, 14, 0)
    assert lunch.until(dt.datetime(2026, 1, 1, 14, 0), None) is None
    assert lunch.until(dt.datetime(2026, 1, 1, 11, 59), None) is None
