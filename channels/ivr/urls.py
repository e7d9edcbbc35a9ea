"""Absolute URLs Twilio calls back, inside a request or in a job (no request at all)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_request_context

from channels.telephony import TwilioNotConfigured, public_url


def absolute_url(endpoint: str, **values: Any) -> str:
    """``endpoint`` on ``PUBLIC_BASE_URL`` (required outside a request: Twilio must reach it)."""
    if has_request_context():
        return public_url(endpoint, **values)
    base = current_app.config.get("PUBLIC_BASE_URL")
    if not base:
        raise TwilioNotConfigured(
            "PUBLIC_BASE_URL must be set (e.g. https://feedback.example.com) so that Twilio can "
            "reach the voice webhook"
        )
    parts = urlsplit(str(base))
    adapter = current_app.url_map.bind(
        parts.netloc, script_name=parts.path.rstrip("/") or "/", url_scheme=parts.scheme or "https"
    )
    return adapter.build(endpoint, values, force_external=True)
