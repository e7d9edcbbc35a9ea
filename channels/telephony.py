"""What the phone (IVR) and messaging (SMS / WhatsApp) channels share about Twilio.

* :func:`twilio_client` builds the REST client from configuration. Tests and
  benchmarks inject their own HTTP client through
  ``app.extensions["twilio_http_client"]``, so no real call or message is sent.
* :func:`twilio_webhook` guards a view: when ``TWILIO_AUTH_TOKEN`` is set the
  ``X-Twilio-Signature`` header is checked with the twilio ``RequestValidator``
  and a forged or tampered request gets 403 before anything is stored.
* :func:`public_url` builds the absolute URLs Twilio is told to call back.
* :func:`check_context` checks the ``{"contact": {...}, "event": {...}}`` context a call,
  a message or a chat is started with (and :func:`check_contact` its contact fields), so
  every channel refuses the same mistakes with the same words; :func:`context_part` reads
  a part of a stored context; :func:`parse_context_option` reads ``--context`` JSON.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Response, current_app, request, url_for
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from feedback.errors import BadRequest, FeedbackError

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
    base = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        return str(base).rstrip("/") + url_for(endpoint, _external=False, **values)
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


# -- the context a survey starts with ------------------------------------------------------------

#: Contact fields that must be texts (``id`` may be a whole number too), with their longest length.
CONTACT_TEXTS = {"id": 200, "email": 320, "phone": 64, "locale": 20, "timezone": 64}
_CONTEXT_EXAMPLE = '{"contact": {...}, "event": {...}}'


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return "a text"


def check_contact(value: Any, name: str = "contact") -> dict[str, Any]:
    """Contact fields (``id``, ``email``, ``phone``, ``locale``, ``timezone`` and any
    attributes) with their types checked; a whole-number ``id`` becomes its text. Raises
    BadRequest naming the field, e.g. ``'contact.email' must be a text, not a number``."""
    from feedback.store.operations import normalize_phone

    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequest(f"'{name}' must be a JSON object")
    contact = dict(value)
    for key, item in contact.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 100:
            raise BadRequest(f"the keys of '{name}' must be names of at most 100 characters")
        field = f"'{name}.{key}'"
        if key in CONTACT_TEXTS:
            if item is None:
                continue
            if key == "id" and isinstance(item, int) and not isinstance(item, bool):
                item = contact[key] = str(item)
            if not isinstance(item, str):
                what = "a text or a whole number" if key == "id" else "a text"
                raise BadRequest(f"{field} must be {what}, not {_json_type(item)}")
            if len(item) > CONTACT_TEXTS[key]:
                raise BadRequest(f"{field} can be at most {CONTACT_TEXTS[key]} characters")
            if key == "email" and item.strip() and "@" not in item:
                raise BadRequest(f"{field} must be an email address such as \"ana@example.com\"")
            if key == "phone" and item.strip():
                normalize_phone(item)  # BadRequest: "... is not a phone number"
        elif not (item is None or isinstance(item, str | int | float | bool)):
            raise BadRequest(f"{field} must be a text, a number, true/false or null, not {_json_type(item)}")
        elif isinstance(item, str) and len(item) > 1000:
            raise BadRequest(f"{field} can be at most 1000 characters")
    return contact


def check_context(context: Any, name: str = "context") -> dict[str, Any] | None:
    """A context ``{"contact": {...}, "event": {...}}`` (or None) with its parts checked:
    both objects, the contact's fields of the right types (:func:`check_contact`). Returns
    a copy; raises BadRequest naming what is wrong."""
    if context is None:
        return None
    if not isinstance(context, Mapping):
        raise BadRequest(f"'{name}' must be a JSON object like {_CONTEXT_EXAMPLE}")
    out = dict(context)
    if out.get("contact") is not None:
        out["contact"] = check_contact(out["contact"], f"{name}.contact")
    if out.get("event") is not None and not isinstance(out["event"], Mapping):
        raise BadRequest(f"'{name}.event' must be a JSON object")
    return out


def context_part(context: Any, key: str) -> dict[str, Any]:
    """``context[key]`` (``"contact"`` or ``"event"``) of a stored context as a dict; {} when
    it is missing or not an object."""
    part = context.get(key) if isinstance(context, Mapping) else None
    return dict(part) if isinstance(part, Mapping) else {}


def parse_context_option(text: str | None) -> dict[str, Any] | None:
    """The ``--context`` option of the ``feedback call`` and ``feedback sms`` commands.
    Raises BadRequest with a one-line message."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadRequest(f"--context is not valid JSON: {e.msg} (column {e.colno})") from None
    if not isinstance(value, dict):
        raise BadRequest(f"--context must be a JSON object like {_CONTEXT_EXAMPLE}")
    return check_context(value)
