"""web intercept: sites and displays

Revision ID: 0003_intercept
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_intercept"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intercept_sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("origins", sa.JSON(), nullable=False),
        sa.Column("identity_secret", sa.String(length=128), nullable=False),
        sa.Column("trust_identity", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intercept_sites")),
        sa.UniqueConstraint("name", name=op.f("uq_intercept_sites_name")),
        sa.UniqueConstraint("key", name=op.f("uq_intercept_sites_key")),
    )
    op.create_table(
        "intercept_displays",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.String(length=64), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("page_url", sa.Text(), nullable=False),
        sa.Column("locale", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["intercept_sites.id"], name=op.f("fk_intercept_displays_site_id_intercept_sites")
        ),
        sa.ForeignKeyConstraint(["survey_id"], ["surveys.id"], name=op.f("fk_intercept_displays_survey_id_surveys")),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_intercept_displays_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intercept_displays")),
    )
    with op.batch_alter_table("intercept_displays", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intercept_displays_site_id"), ["site_id"], unique=False)
        batch_op.create_index("ix_intercept_displays_contact_survey", ["contact_id", "survey_id"], unique=False)
        batch_op.create_index("ix_intercept_displays_visitor_survey", ["visitor_id", "survey_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("intercept_displays", schema=None) as batch_op:
        batch_op.drop_index("ix_intercept_displays_visitor_survey")
        batch_op.drop_index("ix_intercept_displays_contact_survey")
        batch_op.drop_index(batch_op.f("ix_intercept_displays_site_id"))
    op.drop_table("intercept_displays")
    op.drop_table("intercept_sites")
