"""The type checker passes on the application and its channels (configuration in pyproject.toml)."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT


def test_mypy_reports_no_errors_in_feedback_and_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    api = pytest.importorskip(
        "mypy.api", reason="mypy is not installed (it is in the test extras: pip install -e '.[test]')"
    )
    # mypy reads pyproject.toml and keeps its cache (.mypy_cache) in the project folder.
    monkeypatch.chdir(ROOT)
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), "feedback", "channels"])
    assert status == 0, f"mypy found errors:\n{stdout}{stderr}"
    assert "Success: no issues found" in stdout
