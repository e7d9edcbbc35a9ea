"""Fixtures of the email channel tests (shared with the touchpoint tests)."""

from tests.triggers.support import dist, smtp, sqlite_dist  # noqa: F401
