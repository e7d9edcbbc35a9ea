"""Configuration: defaults, then the environment, then what the caller passes.

Nothing reads the environment at import time; :func:`load_config` is called by
``create_app``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_KEYS = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "PUBLIC_BASE_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM_NUMBER",
    "SMTP_URL",
    "MAIL_FROM",
    "SURVEY_DEFS",
    "TRUSTED_PROXIES",
    "INVITATION_MAX_AGE_DAYS",
    "SMS_SESSION_HOURS",
    "CHAT_SESSION_HOURS",
    "TWILIO_WHATSAPP_FROM",
    "CHAT_ALLOWED_ORIGINS",
    "IVR_VOICES",
    "IVR_DEFAULT_TIMEZONE",
    "CONTACT_POLICY",
    "EMAIL_OUTBOX",
    "JOBS_QUEUE",
    "JOBS_INTERVAL",
    "EVENTS_MAX_BYTES",
    "WEB_RESUME_DAYS",
    "WEB_EMBED_FRAME_ANCESTORS",
)


def defaults(instance_path: str) -> dict[str, Any]:
    return {
        "DATABASE_URL": "sqlite:///" + str(Path(instance_path) / "feedback.db"),
        "REDIS_URL": None,
        "SECRET_KEY": None,
        "PUBLIC_BASE_URL": None,
        "TWILIO_ACCOUNT_SID": None,
        "TWILIO_AUTH_TOKEN": None,
        "TWILIO_FROM_NUMBER": None,
        "SMTP_URL": None,
        "MAIL_FROM": "feedback@localhost",
        "SURVEY_DEFS": "survey_defs",
        "TRUSTED_PROXIES": 0,
        "INVITATION_MAX_AGE_DAYS": 30,
        # Phone surveys: voices per locale (JSON, see channels/ivr/voices.py) and the time
        # zone for calling hours when neither the contact nor their number tells.
        "IVR_VOICES": None,
        "IVR_DEFAULT_TIMEZONE": "UTC",
        # SMS / WhatsApp and chat sessions end (kept as partial) after this many hours
        # without a reply; a survey's sms.expiry_hours wins for its SMS sessions.
        "SMS_SESSION_HOURS": 24,
        "CHAT_SESSION_HOURS": 24,
        # The WhatsApp sender ("+1555..." or "whatsapp:+1555..."); default TWILIO_FROM_NUMBER.
        "TWILIO_WHATSAPP_FROM": None,
        # Origins allowed to call the chat API from a browser ("*" or a space-separated list).
        "CHAT_ALLOWED_ORIGINS": "*",
        "LOAD_SURVEYS_ON_START": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "JSON_SORT_KEYS": False,
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        "API_PAGE_SIZE": 100,
        "API_MAX_PAGE_SIZE": 1000,
        #: How long an anonymous respondent can come back to an unfinished web survey.
        "WEB_RESUME_DAYS": 30,
        #: Who may frame ``?embed=1`` survey pages (CSP frame-ancestors), e.g. "https://shop.example".
        "WEB_EMBED_FRAME_ANCESTORS": "*",
        "SEND_FILE_MAX_AGE_DEFAULT": 3600,
    }


def load_config(instance_path: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    config = defaults(instance_path)
    for key in ENV_KEYS:
        value = os.environ.get(key)
        if value not in (None, ""):
            config[key] = value
    if overrides:
        config.update(overrides)
    config["TRUSTED_PROXIES"] = int(config.get("TRUSTED_PROXIES") or 0)
    config["INVITATION_MAX_AGE_DAYS"] = float(config.get("INVITATION_MAX_AGE_DAYS") or 30)
    config["WEB_RESUME_DAYS"] = float(config.get("WEB_RESUME_DAYS") or 30)
    if str(config.get("PUBLIC_BASE_URL") or "").startswith("https://") and not (
        overrides and "SESSION_COOKIE_SECURE" in overrides
    ):
        config["SESSION_COOKIE_SECURE"] = True
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _instance_secret(instance_path)
    url = str(config["DATABASE_URL"])
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    config["DATABASE_URL"] = url
    config["SQLALCHEMY_DATABASE_URI"] = url
    config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    return config


def _instance_secret(instance_path: str) -> str:
    """A secret kept in the instance folder, so signed links survive restarts."""
    path = Path(instance_path) / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    try:
        path.chmod(0o600)
    except OSError:
        pass
    return key
