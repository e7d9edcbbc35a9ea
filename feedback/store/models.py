"""The normalised store: every answer from every channel in one shape.

SQLAlchemy 2 typed models through Flask-SQLAlchemy. Only
:mod:`feedback.store.operations` writes (and commits); everything else reads.
Answers keep a typed value in columns SQL can aggregate (``value_number``,
``value_bool``, ``value_text``, ``value_json``), the raw input, the modality
and the speech confidence.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_id() -> str:
    return uuid.uuid4().hex


class Survey(db.Model):  # type: ignore[name-defined]
    __tablename__ = "surveys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    current_version_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    source_path: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    versions: Mapped[list[SurveyVersion]] = relationship(back_populates="survey", order_by="SurveyVersion.id")


class SurveyVersion(db.Model):  # type: ignore[name-defined]
    __tablename__ = "survey_versions"
    __table_args__ = (UniqueConstraint("survey_id", "content_hash", name="uq_survey_versions_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id"), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    yaml_text: Mapped[str] = mapped_column(Text)
    source_path: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    survey: Mapped[Survey] = relationship(back_populates="versions")


class Contact(db.Model):  # type: ignore[name-defined]
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    phone: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)  # E.164
    email: Mapped[str | None] = mapped_column(String(320), index=True, nullable=True)
    locale: Mapped[str | None] = mapped_column(String(20), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    opt_outs: Mapped[list[OptOut]] = relationship(back_populates="contact", cascade="all, delete-orphan")

    def opted_out(self, channel: str) -> bool:
        return any(o.channel in (channel, "all") for o in self.opt_outs)

    def as_context(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.attributes or {})
        out.update(
            {
                "id": self.external_id or str(self.id),
                "phone": self.phone,
                "email": self.email,
                "locale": self.locale,
                "timezone": self.timezone,
            }
        )
        return {k: v for k, v in out.items() if v is not None}


class OptOut(db.Model):  # type: ignore[name-defined]
    __tablename__ = "opt_outs"
    __table_args__ = (UniqueConstraint("contact_id", "channel", name="uq_opt_outs_contact_channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # web|email|ivr|sms|chat|all
    source: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="opt_outs")


WEB_REF_WHERE = "channel = 'web' AND external_ref IS NOT NULL"


class Session(db.Model):  # type: ignore[name-defined]
    """A running interview on one channel. Holds the engine state."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_channel_ref", "channel", "external_ref"),
        Index("ix_sessions_contact_status", "contact_id", "status"),
        # One web session per link or first page: two requests opening it at once share it.
        Index("uq_sessions_web_ref", "external_ref", unique=True,
              sqlite_where=text(WEB_REF_WHERE), postgresql_where=text(WEB_REF_WHERE)),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("survey_versions.id"))
    channel: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active|complete|partial|abandoned
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    step: Mapped[int] = mapped_column(Integer, default=0)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True)
    #: The channel's handle for this session: a CallSid, a chat token hash, an invitation nonce.
    external_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    version: Mapped[SurveyVersion] = relationship()
    contact: Mapped[Contact | None] = relationship()
    response: Mapped[Response] = relationship(back_populates="session", uselist=False)


class SessionTurn(db.Model):  # type: ignore[name-defined]
    """One input applied to a session, kept so a retried request gets the same reply
    and never stores a second answer."""

    __tablename__ = "session_turns"
    __table_args__ = (UniqueConstraint("session_id", "step", name="uq_session_turns_step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    input: Mapped[dict[str, Any]] = mapped_column(JSON)
    events: Mapped[list[Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Response(db.Model):  # type: ignore[name-defined]
    """One per session: complete, partial or abandoned."""

    __tablename__ = "responses"
    __table_args__ = (
        Index("ix_responses_survey_started", "survey_id", "started_at"),
        Index("ix_responses_survey_channel", "survey_id", "channel"),
        Index("ix_responses_survey_status", "survey_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), unique=True)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("survey_versions.id"))
    channel: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default="partial")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True, index=True)
    #: The touchpoint event that started it: {"id", "type", "data"}, or empty.
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    event_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    session: Mapped[Session] = relationship(back_populates="response")
    contact: Mapped[Contact | None] = relationship()
    answers: Mapped[list[Answer]] = relationship(
        back_populates="response", cascade="all, delete-orphan", order_by="Answer.id"
    )


class Answer(db.Model):  # type: ignore[name-defined]
    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint("response_id", "question_id", name="uq_answers_response_question"),
        Index("ix_answers_survey_question_time", "survey_id", "question_id", "answered_at"),
        Index("ix_answers_survey_channel", "survey_id", "channel"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id"), index=True)
    survey_id: Mapped[str] = mapped_column(String(64))
    question_id: Mapped[str] = mapped_column(String(64))
    question_type: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    value_number: Mapped[float | None] = mapped_column(Float, nullable=True)
    value_bool: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    value_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    value_json: Mapped[Any] = mapped_column(JSON, nullable=True)
    raw: Mapped[str | None] = mapped_column(Text, nullable=True)
    modality: Mapped[str] = mapped_column(String(16))  # keypad|speech|text|web|email
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    step: Mapped[int] = mapped_column(Integer, default=0)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    answered_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    response: Mapped[Response] = relationship(back_populates="answers")

    @property
    def value(self) -> Any:
        if self.question_type == "yes_no":
            return self.value_bool
        if self.question_type == "multiple_choice":
            return self.value_json
        if self.value_number is not None:
            n = self.value_number
            return int(n) if float(n).is_integer() and self.question_type != "number" else (
                int(n) if float(n).is_integer() else n
            )
        return self.value_text


class ApiKey(db.Model):  # type: ignore[name-defined]
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class CallAttempt(db.Model):  # type: ignore[name-defined]
    """One outbound (or inbound) phone call. Every attempt is kept."""

    __tablename__ = "call_attempts"
    __table_args__ = (Index("ix_call_attempts_contact_survey", "contact_id", "survey_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True)
    session_id: Mapped[str | None] = mapped_column(ForeignKey("sessions.id"), nullable=True, index=True)
    direction: Mapped[str] = mapped_column(String(16), default="outbound")  # outbound|inbound
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    to_number: Mapped[str] = mapped_column(String(32))
    from_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    attempt_no: Mapped[int] = mapped_column(Integer, default=1)
    #: Calls placed for the same request share a group (the first attempt's id).
    group_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    answered_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    duration: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    locale: Mapped[str | None] = mapped_column(String(20), nullable=True)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scheduled_for: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Message(db.Model):  # type: ignore[name-defined]
    """One SMS / WhatsApp message, in or out, with its delivery status and segments."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_contact_time", "contact_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[str] = mapped_column(String(8))  # in|out
    transport: Mapped[str] = mapped_column(String(16), default="sms")  # sms|whatsapp
    message_sid: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    session_id: Mapped[str | None] = mapped_column(ForeignKey("sessions.id"), nullable=True, index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True)
    from_number: Mapped[str] = mapped_column(String(64))
    to_number: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, default="")
    segments: Mapped[int] = mapped_column(Integer, default=1)
    encoding: Mapped[str] = mapped_column(String(8), default="GSM-7")
    status: Mapped[str] = mapped_column(String(20), default="received")
    error_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Job(db.Model):  # type: ignore[name-defined]
    """The transactional outbox: a job written in the same transaction as what caused it.

    A dispatcher moves due jobs onto rq queues (or runs them in-process when no
    Redis is configured). Nothing is lost when Redis is down: rows stay pending.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_run_at", "status", "run_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))  # a function name in feedback.jobs
    args: Mapped[list[Any]] = mapped_column(JSON, default=list)
    run_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending|enqueued|running|done|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class InterceptSite(db.Model):  # type: ignore[name-defined]
    """A website that embeds the intercept loader: ``<script ... data-site="KEY">``.

    The key is public (it is in the page's HTML); it only says which surveys' intercept
    rules apply on the site (those whose ``intercept: {site: NAME}`` names it). The identity
    secret is private: the site's server signs a visitor's contact id with it so that a
    browser cannot claim to be someone else.
    """

    __tablename__ = "intercept_sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    #: Origins (``https://shop.example.com``) allowed to use the key; empty = any.
    origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    identity_secret: Mapped[str] = mapped_column(String(128))
    #: Accept a contact id from the page without a signature (intranets, demos).
    trust_identity: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class InterceptDisplay(db.Model):  # type: ignore[name-defined]
    """One time the intercept opened a survey for a visitor, and how it ended."""

    __tablename__ = "intercept_displays"
    __table_args__ = (
        Index("ix_intercept_displays_contact_survey", "contact_id", "survey_id"),
        Index("ix_intercept_displays_visitor_survey", "visitor_id", "survey_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    site_id: Mapped[int] = mapped_column(ForeignKey("intercept_sites.id"), index=True)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id"))
    visitor_id: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), nullable=True)
    page_url: Mapped[str] = mapped_column(Text, default="")
    locale: Mapped[str] = mapped_column(String(20), default="")
    status: Mapped[str] = mapped_column(String(16), default="shown")  # shown|answered|dismissed
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


# -- SQLite settings -----------------------------------------------------------------------------


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite (the embedded default): a write-ahead log, so readers never wait for a writer
    and a commit is not an fsync of the whole journal; ``synchronous=NORMAL`` is durable
    with WAL except for the last commits on a power loss."""
    import sqlite3

    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()


def _install_sqlite_pragmas() -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _sqlite_pragmas):
        event.listen(Engine, "connect", _sqlite_pragmas)


_install_sqlite_pragmas()


def _install_sqlite_write_lock() -> None:
    """SQLite writers queue for the write lock (see :mod:`feedback.store.sqlite_lock`)."""
    from .sqlite_lock import install

    install()


_install_sqlite_write_lock()
