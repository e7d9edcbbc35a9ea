"""`feedback validate`: exit 0 when every file is valid, 1 with one FILE:LINE:COL line per
problem otherwise, warnings never fail, and never a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedback.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DEFS = ROOT / "survey_defs"
BROKEN = ROOT / "tests" / "fixtures" / "broken"
GOOD = ROOT / "tests" / "fixtures" / "good"
LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")


def validate(*paths: Path | str, quiet: bool = False):  # type: ignore[no-untyped-def]
    args = ["validate", *map(str, paths)] + (["--quiet"] if quiet else [])
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_the_example_surveys_are_valid() -> None:
    paths = sorted(DEFS.glob("*.yaml"))  # as a shell expands survey_defs/*.yaml
    result = validate(*paths)
    assert result.exit_code == 0, result.stderr
    surveys = len([p for p in paths if p.stem != "policy"])
    assert result.stdout.startswith(f"{surveys} survey files valid")
    assert result.stderr == ""


def test_a_folder_is_expanded() -> None:
    result = validate(DEFS)
    assert result.exit_code == 0 and "survey files valid" in result.stdout


def test_the_ten_mistakes_file_gets_ten_located_lines() -> None:
    path = BROKEN / "ten-mistakes.yaml"
    result = validate(path)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    located = [m for m in map(LOCATED.match, lines) if m]
    assert len(located) == 10
    assert all(m["file"] == str(path) for m in located)
    assert [(int(m["line"]), int(m["col"])) for m in located] == [
        (6, 27), (10, 11), (12, 11), (14, 9), (21, 16), (22, 16), (25, 5), (29, 29), (30, 29), (32, 11)
    ]
    assert lines[-1] == "1 of 1 files have errors"
    assert len(lines) == 11
    assert result.stdout == ""


@pytest.mark.parametrize("name", sorted(p.name for p in BROKEN.glob("*.yaml")))
def test_every_broken_fixture_fails_with_located_lines(name: str) -> None:
    result = validate(BROKEN / name)
    assert result.exit_code == 1
    *problems, summary = result.stderr.splitlines()
    assert problems and all(LOCATED.match(line) for line in problems), problems
    assert summary == "1 of 1 files have errors"


def test_warnings_do_not_fail_and_quiet_hides_them() -> None:
    result = validate(GOOD / "sms-long.yaml")
    assert result.exit_code == 0
    assert result.stdout.strip() == "1 survey file valid"
    (warning,) = result.stderr.splitlines()
    assert warning.startswith(f"{GOOD / 'sms-long.yaml'}:11:11: warning: sms: the en prompt takes 2 GSM-7 segments")
    quiet = validate(GOOD / "sms-long.yaml", quiet=True)
    assert quiet.exit_code == 0 and quiet.stderr == ""


OVERRIDES = """\
spec_version: 1
id: overrides
title: Overrides
channels: [web, email, sms]
questions:
  - id: nps
    type: nps
    text: How likely are you to recommend us?
    ivr: {input: dtmf}
    chat: {max_attempts: 3}
    sms: {max_attempts: 1}
    web: {text: Recommend us?}
    email: {text: Recommend us?}
"""


def test_overrides_for_a_channel_the_survey_does_not_use_are_warnings(tmp_path: Path) -> None:
    path = tmp_path / "overrides.yaml"
    path.write_text(OVERRIDES, encoding="utf-8")
    result = validate(path)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"{path}:9:10: warning: ivr: these settings have no effect, 'ivr' is not in channels (web, email, sms)",
        f"{path}:10:11: warning: chat: these settings have no effect, 'chat' is not in channels (web, email, sms)",
    ]
    # An email survey continues on the web pages: web overrides apply to it.
    email_only = tmp_path / "email-only.yaml"
    email_only.write_text(OVERRIDES.replace("[web, email, sms]", "[email]").replace("    ivr: {input: dtmf}\n", "")
                          .replace("    chat: {max_attempts: 3}\n", ""), encoding="utf-8")
    result = validate(email_only)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"{email_only}:9:10: warning: sms: these settings have no effect, 'sms' is not in channels (email)"
    ]


def test_good_and_bad_files_together() -> None:
    result = validate(DEFS / "support-call.yaml", BROKEN / "ids.yaml", BROKEN / "tabs.yaml")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "2 of 3 files have errors"
    assert str(BROKEN / "ids.yaml") + ":5:5: missing required key 'id'" in result.stderr


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.yaml", b"", ":1:1: a survey file must be a YAML map, but this one is empty"),
        ("list.yaml", b"- a\n- b\n", ":1:1: a survey file must be a YAML map, but this one is a list"),
        ("latin1.yaml", b"title: caf\xe9\n", ":1:11: the file is not UTF-8 text (byte 0xe9); save it as UTF-8"),
        ("binary.yaml", b"a: 1\nb: x\x01\n", ":2:5: the character U+0001 is not allowed in a YAML file"),
    ],
)
def test_files_that_are_not_surveys(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = validate(path)
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(str(path) + expected), first


def test_a_missing_file(tmp_path: Path) -> None:
    result = validate(tmp_path / "nope.yaml")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"{tmp_path / 'nope.yaml'}:1:1: no such file"


def test_an_empty_folder(tmp_path: Path) -> None:
    result = validate(tmp_path)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"{tmp_path}: no survey files (*.yaml, *.yml) in this folder"


def test_a_broken_policy_file_is_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("policy_version: 1\nmin_gap: soon\n", encoding="utf-8")
    result = validate(DEFS / "support-call.yaml", path)
    assert result.exit_code == 1
    assert any(line.startswith(f"{path}:2:") for line in result.stderr.splitlines()), result.stderr


def test_no_path_is_a_usage_error() -> None:
    result = validate()
    assert result.exit_code == 2 and "Missing argument" in result.stderr


def test_the_console_script_exits_and_prints_no_traceback(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "feedback"
    (tmp_path / "latin1.yaml").write_bytes(b"id: caf\xe9\n")
    (tmp_path / "empty.yaml").write_bytes(b"")
    (tmp_path / "list.yaml").write_bytes(b"- 1\n")
    cases = [
        ([str(p) for p in sorted(DEFS.glob("*.yaml"))], 0),
        ([str(BROKEN / "ten-mistakes.yaml")], 1),
        ([str(tmp_path / "missing.yaml")], 1),
        ([str(tmp_path)], 1),
        ([str(tmp_path / "latin1.yaml"), str(tmp_path / "empty.yaml"), str(tmp_path / "list.yaml")], 1),
    ]
    for args, code in cases:
        proc = subprocess.run([str(exe), "validate", *args], capture_output=True, text=True, timeout=60)
        assert proc.returncode == code, (args, proc.stderr)
        assert "Traceback" not in proc.stdout + proc.stderr


def located_lines(path: Path) -> list[tuple[int, int, str]]:
    result = validate(path)
    assert result.exit_code == 1
    *problems, summary = result.stderr.splitlines()
    assert summary == "1 of 1 files have errors"
    out = []
    for line in problems:
        m = LOCATED.match(line)
        assert m and m["file"] == str(path), line
        out.append((int(m["line"]), int(m["col"]), m["message"]))
    return out


def test_choices_respondents_could_not_tell_apart() -> None:
    assert located_lines(BROKEN / "choices.yaml") == [
        (11, 68, "warning: aliases for locale 'zh', which is not in locales (en, zh-CN); did you mean 'zh-CN'?"),
        (12, 16, "choice code 'Billing' differs from 'billing' only by case; replies match codes whatever "
                 "the case, so make them different"),
        (14, 21, "choices 1 and 3 have the same en label 'billing'; respondents could not tell them apart"),
        (17, 11, "warning: aliases for locale 'fr', which is not in locales (en, zh-CN)"),
        (18, 49, "choices 2 and 4 have the same zh-CN label '发票'; respondents could not tell them apart"),
        (19, 67, "warning: alias 'other' also names choice 4; a reply 'other' will be asked again"),
    ]


def test_aliases_in_an_undeclared_locale_are_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "aliases.yaml"
    path.write_text(
        "spec_version: 1\nid: a\ntitle: A\nquestions:\n  - id: q\n    type: single_choice\n    text: Q?\n"
        "    choices:\n      - {code: x, label: X, aliases: {zh-CN: [叉]}}\n      - {code: z, label: Z}\n",
        encoding="utf-8",
    )
    result = validate(path)
    assert result.exit_code == 0
    assert result.stderr.strip() == (
        f"{path}:9:39: warning: aliases for locale 'zh-CN', which is not in locales (en)"
    )


def test_control_characters_in_texts_are_located() -> None:
    assert located_lines(BROKEN / "control-chars.yaml") == [
        (4, 13, "the text holds the control character U+0001, which no channel can send; remove it"),
        (8, 31, "the text holds the control character U+0007, which no channel can send; remove it"),
        (12, 24, "the text holds the control character U+0002, which no channel can send; remove it"),
        (14, 64, "the text holds the control character U+0003, which no channel can send; remove it"),
    ]


def test_repaired_parts_never_show_in_messages() -> None:
    lines = located_lines(BROKEN / "repaired.yaml")
    assert [(line, col) for line, col, _ in lines] == [(12, 16), (14, 16), (15, 9), (16, 9)]
    text = "\n".join(message for _, _, message in lines)
    assert "invalid" not in text and "bad_code" not in text and "its choices are" not in text
    assert "unknown question 'Follow'" not in text
