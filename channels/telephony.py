"""What the phone (IVR) and messaging (SMS / WhatsApp) channels share about Twilio.

* :func:`twilio_client` builds the REST client from configuration. Tests and
  benchmarks inject their own HTTP client through
  ``app.extensions["twilio_http_client"]``, so no real call or message is sent.
* :func:`twilio_webhook` guards a view: when ``TWILIO_AUTH_TOKEN`` is set the
  ``X-Twilio-Signature`` header is checked with the twilio ``RequestValidator``
  and a forged or tampered request gets 403 before anything is stored.
* :func:`public_url` builds the absolute URLs Twilio is told to call back.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Response, current_app, request, url_for
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from feedback.errors import FeedbackError

log = logging.getLogger(__name__)


class TwilioNotConfigured(FeedbackError):
    code = "twilio_not_configured"


def twilio_client() -> Client:
    """The twilio REST client for the configured account (with the injected HTTP client, if any)."""
    cfg = current_app.config
    sid, token = cfg.get("TWILIO_ACCOUNT_SID"), cfg.get("TWILIO_AUTH_TOKEN")
    if not sid or not token:
        raise TwilioNotConfigured("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set to send calls or messages")
    http_client = current_app.extensions.get("twilio_http_client")
    return Client(sid, token, http_client=http_client)


def from_number() -> str:
    number = current_app.config.get("TWILIO_FROM_NUMBER")
    if not number:
        raise TwilioNotConfigured("TWILIO_FROM_NUMBER must be set to place calls or send messages")
    return str(number)


def public_url(endpoint: str, **values: Any) -> str:
    """An absolute URL for ``endpoint``: on ``PUBLIC_BASE_URL`` when it is set, else the request's host."""
    path = url_for(endpoint, _external=False, **values)
    base = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        return str(base).rstrip("/") + path
    return url_for(endpoint, _external=True, **values)


def _candidate_urls() -> list[str]:
    """The URLs Twilio may have signed: the one the request arrived on and, when the app
    knows its public address, the same path on ``PUBLIC_BASE_URL``."""
    urls = [request.url]
    base = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        parts = urlsplit(str(base))
        here = urlsplit(request.url)
        prefix = parts.path.rstrip("/")
        urls.append(urlunsplit((parts.scheme, parts.netloc, prefix + here.path, here.query, "")))
    return urls


def signature_valid() -> bool:
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    if not token:
        return True
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    validator = RequestValidator(token)
    params = request.form if request.mimetype == "application/x-www-form-urlencoded" else {}
    return any(validator.validate(url, params, signature) for url in _candidate_urls())


def twilio_webhook(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse (403, nothing stored) a webhook whose Twilio signature does not check out."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not signature_valid():
            log.warning("refused a %s with a bad or missing X-Twilio-Signature", request.path)
            return Response("invalid signature", status=403, mimetype="text/plain")
        return view(*args, **kwargs)

    return wrapped
