"""Bearer API keys for the integrator API (``Authorization: Bearer <key>``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import g, jsonify, request

from feedback.store import operations as ops


def bearer_key() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return key.strip()


def require_api_key(view: Callable[..., Any]) -> Callable[..., Any]:
    """401 with a JSON error unless the request carries a valid, unrevoked API key.
    The key's row is available to the view as ``g.api_key``."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        key = bearer_key()
        if not key:
            resp = jsonify(error="unauthorized", message="send an API key: Authorization: Bearer <key>")
            resp.status_code = 401
            resp.headers["WWW-Authenticate"] = 'Bearer realm="feedback"'
            return resp
        found = ops.verify_api_key(key)
        if found is None:
            resp = jsonify(error="unauthorized", message="this API key is not valid or has been revoked")
            resp.status_code = 401
            resp.headers["WWW-Authenticate"] = 'Bearer realm="feedback", error="invalid_token"'
            return resp
        g.api_key = found
        return view(*args, **kwargs)

    return wrapped
