"""Fixtures of the touchpoint tests (see support.py)."""

from tests.triggers.support import dist, smtp, sqlite_dist  # noqa: F401
