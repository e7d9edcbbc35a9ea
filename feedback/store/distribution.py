"""Models of distribution: touchpoint events, the decisions taken on them, invitations and
the steps of their channel ladder, and the emails sent for them.

Written by :mod:`feedback.triggers.operations` and :mod:`channels.email.invitations` (the
operations of this part); read by the events API. Migration ``0003_distribution``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .models import Contact, db, utcnow


class TouchpointEvent(db.Model):  # type: ignore[name-defined]
    """An event sent by an integrator (``ticket.closed``...). Stored once per ``external_id``."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("external_id", name="uq_events_external_id"),
        Index("ix_events_type_received", "type", "received_at"),
        Index("ix_events_contact_received", "contact_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The integrator's event id: the idempotency key.
    external_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[dt.datetime] = mapped_column(DateTime)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True)
    #: The contact as the event described it (id, phone, email, locale, timezone, attributes).
    contact_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: sha256 of the canonical event, to tell a true replay from a reused id.
    payload_hash: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(String(32), default="api")  # api | cli
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), nullable=True)

    contact: Mapped[Contact | None] = relationship()
    decisions: Mapped[list[TriggerDecision]] = relationship(
        back_populates="event", order_by="TriggerDecision.id", cascade="all, delete-orphan"
    )
    invitations: Mapped[list[Invitation]] = relationship(back_populates="event", order_by="Invitation.id")


class Invitation(db.Model):  # type: ignore[name-defined]
    """One survey offered to one contact, on a ladder of channels. A response belongs to it
    through ``meta.invitation_id``."""

    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitations_contact_created", "contact_id", "created_at"),
        Index("ix_invitations_contact_survey", "contact_id", "survey_id", "created_at"),
        Index("ix_invitations_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id"), nullable=True, index=True)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True)
    #: trigger (an event's trigger), email (sent by hand), intercept (web intercept), api
    source: Mapped[str] = mapped_column(String(32), default="trigger")
    trigger_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    trigger_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    wait_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: scheduled | in_progress | answered | expired | unanswered | stopped | failed
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    status_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    locale: Mapped[str | None] = mapped_column(String(20), nullable=True)
    #: {"contact": {...}, "event": {...}} given to the engine and stored on the response.
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    response_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    event: Mapped[TouchpointEvent | None] = relationship(back_populates="invitations")
    contact: Mapped[Contact | None] = relationship()
    steps: Mapped[list[InvitationStep]] = relationship(
        back_populates="invitation", order_by="InvitationStep.position", cascade="all, delete-orphan"
    )

    FINAL = ("answered", "expired", "unanswered", "stopped", "failed")

    @property
    def finished(self) -> bool:
        return self.status in self.FINAL


class InvitationStep(db.Model):  # type: ignore[name-defined]
    """One rung of an invitation's ladder: a call, an SMS or an email, and what became of it."""

    __tablename__ = "invitation_steps"
    __table_args__ = (UniqueConstraint("invitation_id", "position", name="uq_invitation_steps_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    #: planned | scheduled | deferred | sending | sent | answered | unanswered | skipped |
    #: failed | cancelled
    status: Mapped[str] = mapped_column(String(16), default="planned")
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    scheduled_for: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    #: What the channel returned: a call attempt id, an SMS session id, an email message id.
    ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Every change, oldest first: [{"at", "status", "reason", "detail", "until"}].
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    invitation: Mapped[Invitation] = relationship(back_populates="steps")


class TriggerDecision(db.Model):  # type: ignore[name-defined]
    """What a trigger decided for an event: scheduled, deferred, suppressed (why),
    sampled out, or skipped (its condition did not hold)."""

    __tablename__ = "trigger_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    survey_id: Mapped[str] = mapped_column(String(64))
    trigger_index: Mapped[int] = mapped_column(Integer)
    trigger_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    deferred_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("invitations.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    event: Mapped[TouchpointEvent] = relationship(back_populates="decisions")
    invitation: Mapped[Invitation | None] = relationship()


class EmailMessage(db.Model):  # type: ignore[name-defined]
    """One invitation or reminder email."""

    __tablename__ = "email_messages"
    __table_args__ = (Index("ix_email_messages_contact_created", "contact_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="invitation")  # invitation | reminder
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("invitations.id"), nullable=True, index=True)
    reminder_of: Mapped[int | None] = mapped_column(ForeignKey("email_messages.id"), nullable=True)
    reminder_no: Mapped[int] = mapped_column(Integer, default=0)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True)
    to_address: Mapped[str] = mapped_column(String(320))
    locale: Mapped[str | None] = mapped_column(String(20), nullable=True)
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: scheduled | sent | skipped | failed
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: The Message-ID header (stable per row, so a resent copy is recognisable).
    message_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    transport: Mapped[str | None] = mapped_column(String(16), nullable=True)  # smtp | outbox
    outbox_path: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scheduled_for: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    invitation: Mapped[Invitation | None] = relationship()
