"""Twilio at the edges, without the network.

* :func:`sign` computes ``X-Twilio-Signature`` exactly as Twilio does, with the
  real ``RequestValidator``.
* :class:`FakeTwilioHttp` is an HTTP client for the real twilio ``Client``: it
  records every REST request and answers like the API would (a new CallSid or
  MessageSid), so ``calls.create`` and ``messages.create`` run for real code
  paths with no call placed and no message sent.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token"


def sign(url: str, params: dict[str, Any], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


@dataclass
class Recorded:
    method: str
    url: str
    data: dict[str, Any]
    params: dict[str, Any]


@dataclass
class FakeTwilioHttp(HttpClient):
    """Records REST requests; answers calls.create / messages.create with new sids."""

    requests: list[Recorded] = field(default_factory=list)
    #: Set to an (HTTP status, twilio error code, message) to make the next requests fail.
    fail_with: tuple[int, int, str] | None = None

    def __post_init__(self) -> None:
        HttpClient.__init__(self, logging.getLogger("tests.twilio"), is_async=False)
        self._ids = itertools.count(1)

    def request(self, method, uri, params=None, data=None, headers=None, auth=None,  # type: ignore[override]
                timeout=None, allow_redirects=False) -> Response:
        rec = Recorded(method, uri, dict(data or {}), dict(params or {}))
        self.requests.append(rec)
        if self.fail_with is not None:
            status, code, message = self.fail_with
            return Response(status, json.dumps({"code": code, "message": message, "status": status}))
        n = next(self._ids)
        if uri.endswith("/Calls.json"):
            body = {"sid": f"CA{n:032d}", "status": "queued", "to": rec.data.get("To"),
                    "from": rec.data.get("From"), "account_sid": ACCOUNT_SID}
            return Response(201, json.dumps(body))
        if uri.endswith("/Messages.json"):
            body = {"sid": f"SM{n:032d}", "status": "queued", "to": rec.data.get("To"),
                    "from": rec.data.get("From"), "body": rec.data.get("Body"),
                    "num_segments": "1", "account_sid": ACCOUNT_SID}
            return Response(201, json.dumps(body))
        return Response(200, json.dumps({"sid": f"XX{n:032d}"}))

    def calls(self) -> list[Recorded]:
        return [r for r in self.requests if r.url.endswith("/Calls.json")]

    def messages(self) -> list[Recorded]:
        return [r for r in self.requests if r.url.endswith("/Messages.json")]
