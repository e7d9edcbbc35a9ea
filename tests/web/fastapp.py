"""A faster ``app`` fixture for the web and API tests.

The shared fixture migrates a new database and loads the example surveys for every test
(about a second each). Here that is done once per test session and backend; each test then
gets a fresh copy of that database: on SQLite a copy of the file, on PostgreSQL the tables
of a private schema emptied and refilled with the rows they had after setup. Each test still
gets its own application object, exactly as the shared fixture makes it.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import SURVEY_DEFS, make_app


def _config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SURVEY_DEFS": str(SURVEY_DEFS),
        "LOAD_SURVEYS_ON_START": False,
        "WTF_CSRF_ENABLED": True,
        "PUBLIC_BASE_URL": "http://localhost",
    }
    config.update(overrides)
    return config


def _dispose(app: Any) -> None:
    from feedback.store.models import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


class SqliteTemplate:
    def __init__(self, folder: Path) -> None:
        app = make_app(folder, "sqlite")
        _dispose(app)
        self.path = folder / "test.db"

    def app(self, tmp_path: Path) -> Any:
        from feedback.app import create_app

        target = tmp_path / "test.db"
        shutil.copyfile(self.path, target)
        return create_app(_config(DATABASE_URL=f"sqlite:///{target}"))


class PostgresTemplate:
    """One private schema, migrated once; reset to its first rows before each test."""

    def __init__(self, url: str) -> None:
        from feedback.app import create_app
        from feedback.store import operations as ops
        from feedback.store.migrate import upgrade

        self.url = url
        self.schema = "w_" + uuid.uuid4().hex[:12]
        self.engine = sa.create_engine(url, connect_args={"options": f"-csearch_path={self.schema}"})
        with self.engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
        app = create_app(self._config())
        upgrade(app)
        with app.app_context():
            ops.load_surveys([SURVEY_DEFS])
        _dispose(app)
        meta = sa.MetaData()
        meta.reflect(bind=self.engine)
        self.tables = [t for t in meta.sorted_tables if t.name != "alembic_version"]
        with self.engine.connect() as conn:
            self.rows = {t.name: [dict(r._mapping) for r in conn.execute(t.select())] for t in self.tables}

    def _config(self) -> dict[str, Any]:
        return _config(
            DATABASE_URL=self.url,
            SQLALCHEMY_ENGINE_OPTIONS={
                "connect_args": {"options": f"-csearch_path={self.schema}"},
                "pool_pre_ping": True,
            },
        )

    def app(self) -> Any:
        from feedback.app import create_app

        with self.engine.begin() as conn:
            # DELETE is much faster than TRUNCATE on these small tables.
            for table in reversed(self.tables):
                conn.execute(table.delete())
            for table in self.tables:
                if self.rows[table.name]:
                    conn.execute(table.insert(), self.rows[table.name])
            for table in self.tables:
                if "id" in table.c and isinstance(table.c.id.type, sa.Integer):
                    conn.execute(sa.text(
                        f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                        f"coalesce(max(id), 1), max(id) IS NOT NULL) FROM \"{table.name}\""
                    ))
        return create_app(self._config())

    def close(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        self.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("web-template"))


@pytest.fixture(scope="session")
def postgres_template(pg_url: str) -> Iterator[PostgresTemplate]:
    template = PostgresTemplate(pg_url)
    yield template
    template.close()


@pytest.fixture(params=["sqlite", "postgres"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The application on SQLite and on PostgreSQL, migrated, with the example surveys."""
    if request.param == "sqlite":
        application = request.getfixturevalue("sqlite_template").app(tmp_path)
    else:
        application = request.getfixturevalue("postgres_template").app()
    yield application
    _dispose(application)
