"""Fixtures of the web intercept tests: the test surveys (tests/intercept/surveys) and their sites."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

SURVEYS = Path(__file__).parent / "surveys"
SITES = ("ix-dwell", "ix-scroll", "ix-exit", "ix-never", "ix-half", "ix-pages", "shop")


def install(app: Any, origins: dict[str, list[str]] | None = None) -> dict[str, str]:
    """Load the test surveys and create their sites; returns site name -> public key."""
    from feedback.intercept import operations as iops
    from feedback.store import operations as ops

    with app.app_context():
        report = ops.load_surveys([SURVEYS])
        assert not report.problems, report.problems
        return {name: iops.create_site(name, (origins or {}).get(name)).key for name in SITES}


@pytest.fixture
def keys(app: Any) -> dict[str, str]:
    return install(app)
