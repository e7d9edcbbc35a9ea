"""Fixtures of the web intercept tests: the test surveys (tests/intercept/surveys) and their sites."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass
class Shared:
    app: Any
    client: Any
    keys: dict[str, str]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def ix(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """One application per module and database, for tests that only add rows of their own
    (their own visitor ids); tests that change sites or contacts use the ``app`` fixture."""
    from tests.conftest import make_app

    pg = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    application = make_app(tmp_path_factory.mktemp("intercept"), request.param, pg)
    shared = Shared(application, application.test_client(), install(application))
    yield shared
    from feedback.store.models import db

    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    cleanup = application.extensions.get("test_cleanup")
    if cleanup:
        cleanup()


def visitor() -> str:
    return "v-" + uuid.uuid4().hex[:12]
