"""Helpers shared by the core unit tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from feedback.definition.loader import CompiledSurvey, load_text, survey_files

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
#: The example surveys (the folder also holds the contact policy file, which is no survey).
EXAMPLES = survey_files([ROOT / "survey_defs"])


def survey_from(data: dict[str, Any], filename: str = "generated.yaml") -> CompiledSurvey:
    """Compile a survey given as data (JSON is YAML, so it goes through the real loader)."""
    return load_text(json.dumps(data, ensure_ascii=False, indent=1), filename)
