"""distribution: touchpoint events, trigger decisions, invitations, ladder steps, emails

Revision ID: 0003_distribution
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_distribution"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("contact_data", sa.JSON(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_events_contact_id_contacts")),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"], name=op.f("fk_events_api_key_id_api_keys")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("external_id", name="uq_events_external_id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_type_received", ["type", "received_at"], unique=False)
        batch_op.create_index("ix_events_contact_received", ["contact_id", "received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_received_at"), ["received_at"], unique=False)

    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("survey_id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("trigger_index", sa.Integer(), nullable=True),
        sa.Column("trigger_name", sa.String(length=200), nullable=True),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("wait_seconds", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=64), nullable=True),
        sa.Column("locale", sa.String(length=20), nullable=True),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("response_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_invitations_event_id_events")),
        sa.ForeignKeyConstraint(["survey_id"], ["surveys.id"], name=op.f("fk_invitations_survey_id_surveys")),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_invitations_contact_id_contacts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
    )
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invitations_event_id"), ["event_id"], unique=False)
        batch_op.create_index("ix_invitations_contact_created", ["contact_id", "created_at"], unique=False)
        batch_op.create_index("ix_invitations_contact_survey", ["contact_id", "survey_id", "created_at"], unique=False)
        batch_op.create_index("ix_invitations_status", ["status"], unique=False)

    op.create_table(
        "invitation_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("scheduled_for", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("ref", sa.String(length=64), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invitation_id"], ["invitations.id"], name=op.f("fk_invitation_steps_invitation_id_invitations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation_steps")),
        sa.UniqueConstraint("invitation_id", "position", name="uq_invitation_steps_position"),
    )
    with op.batch_alter_table("invitation_steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invitation_steps_invitation_id"), ["invitation_id"], unique=False)

    op.create_table(
        "trigger_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.String(length=64), nullable=False),
        sa.Column("trigger_index", sa.Integer(), nullable=False),
        sa.Column("trigger_name", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("deferred_until", sa.DateTime(), nullable=True),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_trigger_decisions_event_id_events")),
        sa.ForeignKeyConstraint(
            ["invitation_id"], ["invitations.id"], name=op.f("fk_trigger_decisions_invitation_id_invitations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_decisions")),
    )
    with op.batch_alter_table("trigger_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trigger_decisions_event_id"), ["event_id"], unique=False)

    op.create_table(
        "email_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.Column("reminder_of", sa.Integer(), nullable=True),
        sa.Column("reminder_no", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("locale", sa.String(length=20), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("transport", sa.String(length=16), nullable=True),
        sa.Column("outbox_path", sa.String(length=1000), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invitation_id"], ["invitations.id"], name=op.f("fk_email_messages_invitation_id_invitations")
        ),
        sa.ForeignKeyConstraint(
            ["reminder_of"], ["email_messages.id"], name=op.f("fk_email_messages_reminder_of_email_messages")
        ),
        sa.ForeignKeyConstraint(["survey_id"], ["surveys.id"], name=op.f("fk_email_messages_survey_id_surveys")),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_email_messages_contact_id_contacts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_messages")),
    )
    with op.batch_alter_table("email_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_messages_invitation_id"), ["invitation_id"], unique=False)
        batch_op.create_index("ix_email_messages_contact_created", ["contact_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_table("email_messages")
    op.drop_table("trigger_decisions")
    op.drop_table("invitation_steps")
    op.drop_table("invitations")
    op.drop_table("events")
