"""one web session per link: a unique handle for web sessions (merges the 0003 heads)

Revision ID: 0004_web_session_ref
Revises: 0003_distribution, 0003_intercept

A web session's ``external_ref`` (``anon:<ticket>``, ``inv:<survey>:<invitation>``,
``tok:<survey>:<nonce>``) names the one session a link or first page opens: two requests
racing to open it must end up in the same session. Other channels keep theirs as they are
(an SMS number holds many sessions over time). Web sessions that already share a handle
keep their rows; the later ones get a handle of their own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_web_session_ref"
down_revision = ("0003_distribution", "0003_intercept")
branch_labels = None
depends_on = None

WHERE = "channel = 'web' AND external_ref IS NOT NULL"


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        f"SELECT id, external_ref FROM sessions WHERE {WHERE} AND external_ref IN ("
        f"SELECT external_ref FROM sessions WHERE {WHERE} GROUP BY external_ref HAVING COUNT(*) > 1) "
        "ORDER BY external_ref, created_at, id"
    )).all()
    seen: set[str] = set()
    for sid, ref in rows:
        if ref in seen:
            conn.execute(sa.text("UPDATE sessions SET external_ref = :r WHERE id = :id"),
                         {"r": f"{ref[:160]}#dup:{sid}", "id": sid})
        seen.add(ref)
    op.create_index(
        "uq_sessions_web_ref", "sessions", ["external_ref"], unique=True,
        sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("uq_sessions_web_ref", table_name="sessions")
