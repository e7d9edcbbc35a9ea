"""Shared fixtures.

Services are real: PostgreSQL and Redis on this machine. Outside CI a test whose
service (or browser) is missing is skipped with the reason; under ``CI=true`` it
fails instead, so a missing service can never pass as green.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SURVEY_DEFS = ROOT / "survey_defs"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get("DATABASE_TEST_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def need(condition: bool, reason: str) -> None:
    """Skip (outside CI) or fail (in CI) when a required service is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def postgres_available() -> bool:
    if not _port_open("127.0.0.1", 5432):
        return False
    try:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=2):
            return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture(scope="session")
def pg_url() -> str:
    need(postgres_available(), "PostgreSQL is not running on 127.0.0.1:5432")
    return PG_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    need(_port_open("127.0.0.1", 6379), "Redis is not running on 127.0.0.1:6379")
    return REDIS_URL


@pytest.fixture(scope="session")
def chromium_path() -> str:
    need(Path(CHROMIUM).exists(), f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        need(False, "the playwright package is not installed")
    return CHROMIUM


def _fresh_pg_schema(url: str) -> tuple[str, Any]:
    """A private schema per test app, so PostgreSQL tests never see each other's rows."""
    import sqlalchemy as sa

    schema = "t_" + uuid.uuid4().hex[:12]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    return schema, engine


def make_app(tmp_path: Path, backend: str, pg: str | None = None, **overrides: Any) -> Any:
    from feedback.app import create_app
    from feedback.store.migrate import upgrade

    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SURVEY_DEFS": str(SURVEY_DEFS),
        "LOAD_SURVEYS_ON_START": False,
        "WTF_CSRF_ENABLED": True,
        "PUBLIC_BASE_URL": "http://localhost",
    }
    cleanup = None
    if backend == "sqlite":
        config["DATABASE_URL"] = f"sqlite:///{tmp_path / 'test.db'}"
    else:
        assert pg is not None
        schema, engine = _fresh_pg_schema(pg)
        config["DATABASE_URL"] = pg
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "connect_args": {"options": f"-csearch_path={schema}"},
            "pool_pre_ping": True,
        }

        def cleanup() -> None:
            import sqlalchemy as sa

            with engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()

    config.update(overrides)
    app = create_app(config)
    upgrade(app)
    with app.app_context():
        from feedback.store import operations as ops

        ops.load_surveys([SURVEY_DEFS])
    app.extensions["test_cleanup"] = cleanup
    return app


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The application on SQLite and on PostgreSQL, migrated, with the example surveys."""
    pg = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    application = make_app(tmp_path, request.param, pg)
    yield application
    from feedback.store.models import db

    with application.app_context():
        db.session.remove()
        db.engine.dispose()
    cleanup = application.extensions.get("test_cleanup")
    if cleanup:
        cleanup()


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[Any]:
    application = make_app(tmp_path, "sqlite")
    yield application
    from feedback.store.models import db

    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def api_key(app: Any) -> str:
    from feedback.store import operations as ops

    with app.app_context():
        return ops.create_api_key("test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


__all__ = ["need", "free_port", "make_app", "IN_CI", "shutil"]
