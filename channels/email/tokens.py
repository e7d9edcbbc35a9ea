"""Signed tokens of the email channel (itsdangerous): the unsubscribe link.

An unsubscribe link must keep working for as long as the email sits in an inbox, so it
does not expire; it names the contact and the address, and is signed with ``SECRET_KEY``.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from feedback.errors import Forbidden

UNSUBSCRIBE_SALT = "feedback.email.unsubscribe"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def make_unsubscribe_token(contact_id: int | None, address: str, locale: str | None = None) -> str:
    payload: dict[str, Any] = {"e": address}
    if contact_id is not None:
        payload["c"] = int(contact_id)
    if locale:
        payload["l"] = locale
    return _serializer().dumps(payload)


def read_unsubscribe_token(token: str) -> dict[str, Any]:
    """``{"contact_id", "email", "locale"}``; Forbidden for a forged or damaged token."""
    if not isinstance(token, str) or not token or len(token) > 2000:
        raise Forbidden("this unsubscribe link is not valid")
    try:
        payload = _serializer().loads(token)
    except BadSignature:
        raise Forbidden("this unsubscribe link is not valid (it may have been cut short)") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("e"), str):
        raise Forbidden("this unsubscribe link is not valid")
    return {"contact_id": payload.get("c"), "email": payload["e"], "locale": payload.get("l")}
