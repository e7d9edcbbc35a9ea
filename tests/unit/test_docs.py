"""The survey format reference stays true: its example surveys validate, and the README links it."""

from __future__ import annotations

import re

import pytest

from feedback.definition.loader import load_text

from .helpers import ROOT

DOC = (ROOT / "docs" / "survey-format.md").read_text(encoding="utf-8")
SURVEYS = [block for block in re.findall(r"```yaml\n(.*?)```", DOC, re.S) if block.startswith("spec_version")]


def test_the_reference_has_complete_examples() -> None:
    assert len(SURVEYS) >= 2


@pytest.mark.parametrize("source", SURVEYS, ids=[re.search(r"^id: (\S+)", s, re.M).group(1) for s in SURVEYS])  # type: ignore[union-attr]
def test_example_surveys_in_the_reference_are_valid(source: str) -> None:
    compiled = load_text(source, "docs/survey-format.md")
    assert compiled.warnings == []
    assert set(compiled.survey.all_locales) == {"en", "zh-CN"}


def test_every_question_type_and_survey_key_is_documented() -> None:
    from feedback.definition.model import QUESTION_TYPES, Question, Survey

    for kind in QUESTION_TYPES:
        assert f"| `{kind}` |" in DOC, kind
    for key in Survey.model_fields:
        if key not in ("version", "source", "extensions"):
            assert f"`{key}`" in DOC, key
    for key in Question.model_fields:
        assert f"`{key}`" in DOC or f"{key}:" in DOC, key


def test_the_readme_links_the_reference() -> None:
    assert "(docs/survey-format.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
