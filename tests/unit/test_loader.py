"""The survey loader and validator: good files pass; broken files report every problem at
its exact FILE:LINE:COL with a plain message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from feedback.definition.loader import CompiledSurvey, load_file, load_text, survey_files
from feedback.errors import DefinitionError, Problem

from .helpers import EXAMPLES, FIXTURES, survey_from

BROKEN = FIXTURES / "broken"


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(DefinitionError) as err:
        load_file(path)
    return err.value.problems + err.value.warnings


def located(problems: list[Problem]) -> list[tuple[int, int, str]]:
    return [(p.line, p.col, p.message) for p in sorted(problems, key=lambda p: (p.line, p.col))]


# -- good files ---------------------------------------------------------------------------------


def test_there_are_at_least_four_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_survey_is_valid_in_en_and_zh(path: Path) -> None:
    compiled = load_file(path)
    survey = compiled.survey
    assert compiled.warnings == []
    assert survey.default_locale == "en" and set(survey.locales) == {"en", "zh-CN"}
    assert survey.id == path.stem
    assert compiled.version and survey.source == str(path)


def test_the_examples_cover_the_cx_surveys_the_platform_promises() -> None:
    by_id = {load_file(p).survey.id: load_file(p).survey for p in EXAMPLES}
    call = by_id["support-call"]
    assert {"ivr", "sms"} <= set(call.channels)
    assert call.questions[0].type == "nps" and call.questions[1].show_if
    purchase = by_id["post-purchase"]
    assert {"email", "web"} <= set(purchase.channels) and purchase.questions[0].type == "csat"
    ticket = by_id["support-ticket"]
    assert {"chat", "email"} <= set(ticket.channels) and ticket.questions[0].type == "ces"
    relationship = by_id["relationship-nps"]
    assert {"web", "email"} <= set(relationship.channels)
    assert {q.id for q in relationship.questions} >= {"nps", "wait_time", "agent_knowledge", "resolution", "price"}


def test_warnings_do_not_fail_validation() -> None:
    compiled = load_file(FIXTURES / "good" / "sms-long.yaml")
    assert located(compiled.warnings) == [
        (11, 11, "sms: the en prompt takes 2 GSM-7 segments (176 characters); keep it within 1 (sms.max_segments)")
    ]
    assert compiled.warnings[0].severity == "warning"
    assert str(compiled.warnings[0]).endswith(":11:11: warning: sms: the en prompt takes 2 GSM-7 segments "
                                              "(176 characters); keep it within 1 (sms.max_segments)")


def test_a_chinese_sms_prompt_is_counted_in_ucs2_segments() -> None:
    long_zh = "请告诉我们您对本次服务的看法，包括做得好的地方和需要改进的地方，我们会认真阅读每一条反馈。" * 2
    compiled = survey_from({
        "spec_version": 1, "id": "zh-sms", "title": {"en": "T", "zh-CN": "标题"}, "locales": ["en", "zh-CN"],
        "channels": ["sms"], "sms": {"max_segments": 1},
        "questions": [{"id": "c", "type": "text", "required": True, "text": {"en": "Tell us.", "zh-CN": long_zh}}],
    })
    (warning,) = compiled.warnings
    assert "zh-CN prompt takes 2 UCS-2 segments" in warning.message


def test_the_version_is_a_content_hash() -> None:
    text = (EXAMPLES[0]).read_text(encoding="utf-8")
    assert load_text(text).version == load_text(text).version
    assert load_text(text + "\n# a comment\n").version != load_text(text).version


# -- broken files: exact positions ------------------------------------------------------------

EXPECTED: dict[str, list[tuple[int, int, str]]] = {
    "yaml-syntax.yaml": [
        (5, 10, "YAML syntax error: expected ',' or ']', but got ':' (while parsing a flow sequence "
                "that starts at line 4, column 11)"),
    ],
    "tabs.yaml": [
        (6, 1, "YAML syntax error: found character '\\t' that cannot start any token "
               "(YAML does not allow tabs for indentation; use spaces)"),
    ],
    "duplicate-key.yaml": [(8, 5, "duplicate key 'text' in the same map (first on line 7)")],
    "unknown-keys.yaml": [
        (3, 1, "unknown key 'titel'; did you mean 'title'?"),
        (8, 5, "unknown key 'requird'; did you mean 'required'?"),
        (14, 25, "unknown key 'lable'; did you mean 'label'?"),
        (15, 11, "unknown key 'imput'; did you mean 'input'?"),
    ],
    "ids.yaml": [
        (5, 5, "missing required key 'id'"),
        (10, 9, "duplicate question id 'nps' (first used on line 7)"),
        (18, 16, "duplicate choice code 'billing'"),
    ],
    "translations.yaml": [
        (5, 8, "this text has no zh-CN translation; write it as a map {en: ..., zh-CN: ...}"),
        (9, 11, "missing the zh-CN translation"),
        (15, 33, "missing the zh-CN translation"),
        (16, 8, "locale 'fr' is not declared in locales (en, zh-CN)"),
    ],
    "expressions.yaml": [
        (11, 29, "show_if: expected a value after '>=' but found 'and'"),
        (15, 22, "show_if: unknown question 'nsp'; did you mean 'nps'?"),
        (19, 24, "show_if: 'last' is asked later (or is this question); a condition can only use earlier answers"),
        (23, 29, 'show_if: answers.nps is a number but is compared with the text "high"'),
        (27, 25, 'show_if: channel is never "phone" (channels: web, email, ivr, sms, chat)'),
        (27, 53, 'show_if: locale is never "zh" (this survey\'s locales: en)'),
    ],
    "yaml-booleans.yaml": [
        (9, 16, 'choice code yes is read as a boolean by many YAML tools; quote it: code: "yes"'),
        (10, 16, 'choice code off is read as a boolean by many YAML tools; quote it: code: "off"'),
        (11, 16, 'choice code is read by YAML as the boolean true; quote it, e.g. code: "true"'),
        (11, 29, 'label: this text is read by YAML as the boolean true; quote it: "true"'),
        (12, 16, 'choice code is read by YAML as the number 1; quote it, e.g. code: "1"'),
        (13, 16, 'choice code is read by YAML as the number 2.5; quote it, e.g. code: "2.5"'),
        (15, 16, 'choice code is read by YAML as the date 2024-06-01; quote it, e.g. code: "2024-06-01"'),
    ],
    "channel-fit.yaml": [
        (10, 7, "ivr: a keypad menu can offer at most 9 choices, this one has 10; split the question "
                "or use ivr: {input: speech}"),
        (21, 11, "ivr: a text question cannot be answered on the keypad; add ivr: {record: true} "
                 "or ivr: {input: speech}"),
    ],
    "choices.yaml": [
        (11, 68, "aliases for locale 'zh', which is not in locales (en, zh-CN); did you mean 'zh-CN'?"),
        (12, 16, "choice code 'Billing' differs from 'billing' only by case; replies match codes whatever "
                 "the case, so make them different"),
        (14, 21, "choices 1 and 3 have the same en label 'billing'; respondents could not tell them apart"),
        (17, 11, "aliases for locale 'fr', which is not in locales (en, zh-CN)"),
        (18, 49, "choices 2 and 4 have the same zh-CN label '发票'; respondents could not tell them apart"),
        (19, 67, "alias 'other' also names choice 4; a reply 'other' will be asked again"),
    ],
    "control-chars.yaml": [
        (4, 13, "the text holds the control character U+0001, which no channel can send; remove it"),
        (8, 31, "the text holds the control character U+0007, which no channel can send; remove it"),
        (12, 24, "the text holds the control character U+0002, which no channel can send; remove it"),
        (14, 64, "the text holds the control character U+0003, which no channel can send; remove it"),
    ],
    "repaired.yaml": [
        (12, 16, 'choice code is read by YAML as the number 1.5; quote it, e.g. code: "1.5"'),
        (14, 16, "choice code 'bad code' may use only letters, digits, '_', '-' and '.'"),
        (15, 9, "missing required key 'code'"),
        (16, 9, "question id 'Follow' must start with a lowercase letter and use only lowercase letters, "
                "digits and underscores"),
    ],
    "aliases.yaml": [
        (6, 8, "the file holds more than 250,000 values once its YAML aliases (*name) are expanded; "
               "use fewer aliases or split the survey"),
    ],
    "ten-mistakes.yaml": [
        (6, 27, "unknown channel 'fax' (channels: web, email, ivr, sms, chat)"),
        (10, 11, "missing the zh-CN translation"),
        (12, 11, "unknown question type 'txt'; did you mean 'text'? (types: nps, csat, ces, rating, "
                 "single_choice, multiple_choice, yes_no, number, text)"),
        (14, 9, "duplicate question id 'nps' (first used on line 8)"),
        (21, 16, 'choice code no is read as a boolean by many YAML tools; quote it: code: "no"'),
        (22, 16, 'choice code is read by YAML as the number 1; quote it, e.g. code: "1"'),
        (25, 5, "unknown key 'show_iff'; did you mean 'show_if'?"),
        (29, 29, 'show_if: answers.nps is a number but is compared with the text "high"'),
        (30, 29, "'{{ answers.later }}' is answered later (or is this question); only earlier answers can be piped"),
        (32, 11, "ivr: a text question cannot be answered on the keypad; add ivr: {record: true} "
                 "or ivr: {input: speech}"),
    ],
}


def test_aliases_may_share_a_list_of_choices(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "spec_version: 1\nid: anchors\ntitle: Anchors\nquestions:\n"
        "  - {id: first, type: single_choice, text: First?, choices: &topics [{code: a, label: A}, {code: b, label: B}]}\n"
        "  - {id: second, type: single_choice, text: Second?, choices: *topics}\n",
        encoding="utf-8",
    )
    survey = load_file(path).survey
    assert [q.choice_codes for q in survey.questions] == [["a", "b"], ["a", "b"]]


def test_every_broken_fixture_has_expectations() -> None:
    assert {p.name for p in BROKEN.glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file_reports_every_problem_at_its_line_and_column(name: str) -> None:
    path = BROKEN / name
    problems = problems_of(path)
    assert located(problems) == EXPECTED[name]
    assert all(p.file == str(path) for p in problems)


def test_the_ten_mistakes_file_gets_ten_located_errors() -> None:
    with pytest.raises(DefinitionError) as err:
        load_file(BROKEN / "ten-mistakes.yaml")
    assert len(err.value.problems) == 10 and err.value.warnings == []
    assert len({(p.line, p.col) for p in err.value.problems}) == 10
    assert "(and 9 more problems)" in err.value.message


def test_each_located_position_points_at_the_offending_text() -> None:
    """The column really is where the mistake is written, not just a stable number."""
    text = (BROKEN / "ten-mistakes.yaml").read_text(encoding="utf-8").splitlines()

    def at(line: int, col: int, length: int) -> str:
        return text[line - 1][col - 1 : col - 1 + length]

    assert at(6, 27, 3) == "fax"
    assert at(12, 11, 3) == "txt"
    assert at(21, 16, 2) == "no"
    assert at(25, 5, 8) == "show_iff"
    assert at(29, 29, 6) == '"high"'
    assert at(30, 29, 19) == "{{ answers.later }}"
    expressions = (BROKEN / "expressions.yaml").read_text(encoding="utf-8").splitlines()
    assert expressions[10][28:31] == "and"
    assert expressions[14][21:24] == "nsp"
    assert expressions[18][23:27] == "last"


# -- offsets inside quoted and block text -------------------------------------------------------


def one_problem(text: str) -> tuple[int, int, str]:
    with pytest.raises(DefinitionError) as err:
        load_text(text, "t.yaml")
    (problem,) = err.value.problems
    return problem.line, problem.col, problem.message


HEAD = "spec_version: 1\nid: t\ntitle: T\nquestions:\n  - id: a\n    type: nps\n    text: A?\n  - id: b\n    type: text\n"


@pytest.mark.parametrize(
    ("tail", "line", "col"),
    [
        ("    text: Why {{ answers.zz }}?\n", 10, 15),
        ('    text: "Why {{ answers.zz }}?"\n', 10, 16),
        ("    text: 'It''s {{ answers.zz }}'\n", 10, 18),
        ('    text: "Say \\"hi\\" {{ answers.zz }}"\n', 10, 23),
        ("    text: |\n      First line\n      then {{ answers.zz }}\n", 12, 12),
        ("    text: >\n      Folded first line\n      then {{ answers.zz }}\n", 12, 12),
        ("    text: {en: 'x {{ answers.zz }}'}\n", 10, 19),
    ],
)
def test_placeholder_errors_point_into_the_text(tail: str, line: int, col: int) -> None:
    got = one_problem(HEAD + tail)
    assert got[:2] == (line, col), got
    assert "unknown question 'zz'" in got[2]
    assert (HEAD + tail).splitlines()[line - 1][col - 1 :].startswith("{{ answers.zz }}")


@pytest.mark.parametrize(
    ("show_if", "col", "at", "message"),
    [
        ("answers.a > 5 and answers.q == 1", 40, "q ==", "unknown question 'q'"),
        ('"answers.a > 5 and answers.q == 1"', 41, "q ==", "unknown question 'q'"),
        ("answers.a > 'x'", 26, "'x'", "compared with the text"),
        ("answers.a >", 25, "", "expected a value after '>'"),
        ("answers.b == 'x'", 22, "b ==", "asked later"),
        ("selected(a, 'x')", 23, "a,", "selected() needs a choice question"),
    ],
)
def test_show_if_errors_point_into_the_expression(show_if: str, col: int, at: str, message: str) -> None:
    source_line = f"    show_if: {show_if}"
    line, got_col, got_message = one_problem(HEAD + f"    text: B\n{source_line}\n")
    assert line == 11 and message in got_message
    assert got_col == col, got_message
    assert source_line[col - 1 :].startswith(at)


def test_quoted_yaml11_words_are_fine_as_choice_codes() -> None:
    compiled = load_text(
        "spec_version: 1\nid: q\ntitle: Q\nquestions:\n  - id: a\n    type: single_choice\n    text: A?\n"
        "    choices:\n      - {code: \"yes\", label: Yes}\n      - {code: 'no', label: No}\n"
    )
    assert compiled.survey.questions[0].choice_codes == ["yes", "no"]


# -- files that are not surveys ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", (1, 1, "a survey file must be a YAML map, but this one is empty")),
        (b"# only a comment\n", (1, 1, "a survey file must be a YAML map, but this one is empty")),
        (b"- a\n- b\n", (1, 1, "a survey file must be a YAML map, but this one is a list")),
        (b"hello\n", (1, 1, "a survey file must be a YAML map, but this one is a single value ('hello')")),
        (b"id: caf\xe9\n", (1, 8, "the file is not UTF-8 text (byte 0xe9); save it as UTF-8")),
        (b"a: 1\nb: \xff\xfe\n", (2, 4, "the file is not UTF-8 text (byte 0xff); save it as UTF-8")),
    ],
)
def test_files_that_are_not_surveys(tmp_path: Path, content: bytes, expected: tuple[int, int, str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    assert located(problems_of(path)) == [expected]


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert located(problems_of(tmp_path / "nope.yaml")) == [(1, 1, "no such file")]
    assert located(problems_of(tmp_path)) == [(1, 1, "this is a folder, not a survey file")]


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeff".encode() + EXAMPLES[0].read_bytes())
    assert load_file(path).survey.id == EXAMPLES[0].stem


def test_survey_files_expands_folders_and_skips_the_policy_file(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.yml", "policy.yaml", "notes.txt"):
        (tmp_path / name).write_text("x: 1\n")
    assert [p.name for p in survey_files([tmp_path])] == ["a.yml", "b.yaml"]


# -- more checks, one problem each ---------------------------------------------------------------


def base(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"spec_version": 1, "id": "s", "title": "S",
                            "questions": [{"id": "a", "type": "nps", "text": "A?"}]}
    data.update(extra)
    return data


def messages_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(DefinitionError) as err:
        survey_from(data)
    return [p.message for p in err.value.problems]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"spec_version": 2}, "spec_version must be 1"),
        ({"id": "Bad Id"}, "survey id 'Bad Id' must be a slug"),
        ({"questions": []}, "questions must be a non-empty list"),
        ({"channels": ["web", "web"]}, "a channel is listed twice"),
        ({"locales": ["en", "zh-CN"], "default_locale": "fr"}, "default_locale 'fr' is not in locales"),
        ({"questions": [{"id": "a", "type": "rating", "text": "A?", "scale": {"min": 5, "max": 1}}]},
         "scale max (1) must be greater than min (5)"),
        ({"questions": [{"id": "a", "type": "nps", "text": "A?", "scale": {"min": 1, "max": 5}}]},
         "a nps scale is always 0-10"),
        ({"questions": [{"id": "a", "type": "single_choice", "text": "A?"}]},
         "a single_choice question needs choices"),
        ({"questions": [{"id": "a", "type": "nps", "text": "A?", "randomize": True}]},
         "randomize only applies to choice questions"),
        ({"questions": [{"id": "a", "type": "number", "text": "A?", "min": 5, "max": 1}]},
         "max (1) must be greater than min (5)"),
        ({"questions": [{"id": "a", "type": "nps", "text": "A?", "ivr": {"record": True}}]},
         "record: true is only for text questions"),
        ({"questions": [{"id": "a", "type": "nps", "text": "Hi {{ contact }}"}]}, "needs a field"),
        ({"questions": [{"id": "a", "type": "nps", "text": "Hi {{ contact.x | upper }}"}]}, "unknown filter 'upper'"),
        ({"questions": [{"id": "a", "type": "nps", "text": "Hi {{ contact.x "}]}, "is never closed"),
        ({"ivr": {"numbers": ["555-1234"]}, "channels": ["ivr"]}, "is not a phone number in E.164 form"),
        ({"sms": {"keywords": ["STOP"]}, "channels": ["sms"]}, "'STOP' is reserved for opt-out"),
        ({"channels": ["ivr"], "questions": [{"id": "a", "type": "rating", "text": "A?",
                                              "scale": {"min": -2, "max": 2}, "ivr": {"input": "dtmf"}}]},
         "ivr: a scale from -2 cannot be keyed on a keypad"),
        ({"questions": [{"id": "a", "type": "multiple_choice", "text": "A?", "max_choices": 3,
                         "choices": [{"code": "x", "label": "X"}, {"code": "y", "label": "Y"}]}]},
         "min_choices/max_choices must satisfy"),
    ],
)
def test_single_problems(change: dict[str, Any], expected: str) -> None:
    found = messages_of(base(**change))
    assert any(expected in m for m in found), found


def test_all_problems_of_a_file_come_in_one_run() -> None:
    data = base(questions=[
        {"id": "a", "type": "nps", "text": "A?", "requird": True},
        {"id": "a", "type": "txt", "text": "B?"},
        {"id": "c", "type": "text", "text": "C?", "show_if": "answers.zz > 1"},
    ])
    found = messages_of(data)
    assert len(found) == 4, found


def test_definition_error_keeps_problems_sorted_and_printable() -> None:
    with pytest.raises(DefinitionError) as err:
        load_file(BROKEN / "translations.yaml")
    lines = [str(p) for p in err.value.problems + err.value.warnings]
    assert lines[0] == f"{BROKEN / 'translations.yaml'}:5:8: this text has no zh-CN translation; write it as a map {{en: ..., zh-CN: ...}}"
    assert lines[-1].endswith(":16:8: warning: locale 'fr' is not declared in locales (en, zh-CN)")


def test_compiled_conditions_are_parsed_once_at_load(all_types: CompiledSurvey) -> None:
    condition = all_types.condition("reason")
    assert condition is not None
    assert condition.test({"answers": {"nps": 3}}) is True
    assert condition.test({"answers": {"nps": 9}}) is False
    assert condition.test({"answers": {}}) is False  # unanswered is null: false, no error
    assert all_types.condition("nps") is None


def test_json_surveys_load_like_yaml() -> None:
    compiled = survey_from(base())
    assert json.loads(compiled.text)["id"] == "s"


def test_the_first_sms_is_measured_with_the_intro_it_carries() -> None:
    question = {"id": "a", "type": "yes_no", "required": True, "text": "Was the problem solved on this call?"}
    data = {"spec_version": 1, "id": "intro-sms", "title": "T", "channels": ["sms"], "sms": {"max_segments": 1},
            "questions": [question, {**question, "id": "b"}]}
    assert survey_from(data).warnings == []
    data["intro"] = "Hi {{ contact.first_name | default('there') }}! " + "Thanks for calling us today. " * 4
    (warning,) = survey_from(data).warnings
    assert warning.message.startswith("sms: the en prompt with the intro takes 2 GSM-7 segments")
    compiled_text = survey_from({**data, "sms": {"max_segments": 2}})
    assert compiled_text.warnings == []  # within two segments it is fine
