"""Fixtures shared by the core unit tests (no application, no database)."""

from __future__ import annotations

import pytest

from feedback.definition.loader import CompiledSurvey, load_file

from .helpers import FIXTURES


@pytest.fixture(scope="session")
def all_types() -> CompiledSurvey:
    return load_file(FIXTURES / "good" / "all-types.yaml")
