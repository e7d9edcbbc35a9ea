"""Fixtures of the web channel tests."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.conftest import SURVEY_DEFS
from tests.web import fastapp

from .support import Respondent

# The faster per-test database (see fastapp); same parameters as the shared fixture.
app = fastapp.app
sqlite_template = fastapp.sqlite_template
postgres_template = fastapp.postgres_template


def load_variant(app: Any, tmp_path: Path, survey_id: str, channels: list[str] | None = None, **web: Any) -> None:
    """Load a new version of an example survey with other ``web:`` settings (or channels)."""
    from feedback.store import operations as ops

    yaml = YAML()
    data = yaml.load((SURVEY_DEFS / f"{survey_id}.yaml").read_text(encoding="utf-8"))
    settings = dict(data.get("web") or {})
    settings.update(web)
    data["web"] = settings
    if channels is not None:
        data["channels"] = channels
    buf = io.StringIO()
    yaml.dump(data, buf)
    path = tmp_path / f"{survey_id}-variant.yaml"
    path.write_text(buf.getvalue(), encoding="utf-8")
    with app.app_context():
        report = ops.load_surveys([path])
    assert not report.problems, report.problems


@pytest.fixture
def respondent(client: Any) -> Any:
    def make(url: str, **headers: str) -> Respondent:
        return Respondent(client, url, headers)

    return make
