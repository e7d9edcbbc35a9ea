"""Fixtures for the SMS / WhatsApp channel: the app with Twilio configured (a fake HTTP
client behind the real twilio REST client), and a phone that sends signed webhooks."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioHttp, sign

OUR_NUMBER = "+15557770000"
BASE = "http://localhost"
_sids = itertools.count(1)


def configure(app: Any) -> FakeTwilioHttp:
    app.config.update(
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_FROM_NUMBER=OUR_NUMBER,
    )
    http = FakeTwilioHttp()
    app.extensions["twilio_http_client"] = http
    return http


@pytest.fixture
def twilio(app: Any) -> FakeTwilioHttp:
    return configure(app)


@pytest.fixture
def sqlite_twilio(sqlite_app: Any) -> FakeTwilioHttp:
    return configure(sqlite_app)


def post_signed(client: Any, path: str, params: dict[str, Any], *, signature: str | None = None) -> Any:
    url = BASE + path
    sig = sign(url, params) if signature is None else signature
    return client.post(path, data=params, headers={"X-Twilio-Signature": sig})


def twiml_messages(xml: bytes | str) -> list[dict[str, str]]:
    root = ET.fromstring(xml)
    assert root.tag == "Response"
    return [{"text": m.text or "", **m.attrib} for m in root.findall("Message")]


@dataclass
class Phone:
    """A customer's phone texting our number through Twilio's (signed) webhook."""

    client: Any
    number: str
    whatsapp: bool = False
    sent: list[str] = field(default_factory=list)
    last_sid: str = ""

    @property
    def address(self) -> str:
        return f"whatsapp:{self.number}" if self.whatsapp else self.number

    def params(self, body: str, sid: str | None = None) -> dict[str, str]:
        self.last_sid = sid or f"SMa{next(_sids):031d}"  # never a sid the fake REST API gives
        return {
            "MessageSid": self.last_sid,
            "SmsMessageSid": self.last_sid,
            "AccountSid": ACCOUNT_SID,
            "From": self.address,
            "To": f"whatsapp:{OUR_NUMBER}" if self.whatsapp else OUR_NUMBER,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
        }

    def text(self, body: str, sid: str | None = None) -> list[str]:
        """Send ``body``; returns the texts of the replies (TwiML <Message>s)."""
        resp = post_signed(self.client, "/sms/inbound", self.params(body, sid))
        assert resp.status_code == 200, resp.data
        assert resp.mimetype == "text/xml"
        self.sent.append(body)
        return [m["text"] for m in twiml_messages(resp.data)]

    def reply(self, body: str) -> str:
        """Send ``body`` and expect exactly one reply."""
        replies = self.text(body)
        assert len(replies) == 1, replies
        return replies[0]


def status_callback(client: Any, sid: str, status: str, error_code: str | None = None,
                    path: str = "/sms/status", to: str = "+15550000000") -> Any:
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT_SID, "To": to, "From": OUR_NUMBER}
    if error_code:
        params["ErrorCode"] = error_code
    return post_signed(client, path, params)


def api_responses(app: Any, survey: str, **params: Any) -> list[dict[str, Any]]:
    """The survey's responses through the integrator API (contracts §1)."""
    from feedback.store import operations as ops

    with app.app_context():
        key = ops.create_api_key("sms tests")
    resp = app.test_client().get(
        f"/api/v1/surveys/{survey}/responses", query_string=params,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 200, resp.data
    return resp.json["responses"]


def rows(app: Any, model: Any, *where: Any) -> list[Any]:
    from sqlalchemy import select

    from feedback.store.models import db

    with app.app_context():
        found = list(db.session.scalars(select(model).where(*where)))
        db.session.expunge_all()
        return found


def dispatch(app: Any, now: Any = None) -> int:
    """Run the due jobs like the dispatcher loop does (jobs a job schedules that are already
    due run too). Returns how many ran."""
    from feedback.jobs import dispatch_due

    total = 0
    with app.app_context():
        for _ in range(5):
            moved = dispatch_due(now=now)
            total += moved
            if not moved:
                break
    return total
