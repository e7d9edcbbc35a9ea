"""Whatever Twilio (or anyone holding a valid signature) posts, the webhooks answer valid
TwiML and never a 500."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import OUR_NUMBER, configure, post_signed

bodies = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["STOP", "stop!", "START", "HELP", "YES", "FEEDBACK", "反馈", "退订", "td", "skip", "7", "是"]),
)
senders = st.one_of(
    st.sampled_from(["+15551230601", "whatsapp:+15551230601", "+8613800138600", "whatsapp:+8613800138600"]),
    st.text(max_size=40),
)
extra = st.dictionaries(
    st.text(min_size=1, max_size=12).filter(lambda k: k not in ("From", "Body", "MessageSid")),
    st.text(max_size=30),
    max_size=4,
)


def _valid_twiml(data: bytes) -> None:
    root = ET.fromstring(data)
    assert root.tag == "Response"
    assert all(child.tag == "Message" for child in root)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, sender=senders, sid=st.one_of(st.text(max_size=70), st.from_regex(r"SM[0-9a-f]{32}", fullmatch=True)),
       params=extra)
def test_inbound_never_fails(sqlite_app: Any, body: str, sender: str, sid: str, params: dict[str, str]) -> None:
    configure(sqlite_app)
    client = sqlite_app.test_client()
    data = {**params, "From": sender, "To": OUR_NUMBER, "Body": body, "MessageSid": sid}
    resp = post_signed(client, "/sms/inbound", data)
    assert resp.status_code == 200, resp.data
    assert resp.mimetype == "text/xml"
    _valid_twiml(resp.data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sid=st.text(max_size=70), status=st.text(max_size=30), code=st.text(max_size=10),
       m=st.one_of(st.integers(-5, 10**12).map(str), st.text(alphabet="abcxyz0123456789-_.", max_size=10)))
def test_status_callback_never_fails(sqlite_app: Any, sid: str, status: str, code: str, m: str) -> None:
    configure(sqlite_app)
    client = sqlite_app.test_client()
    path = f"/sms/status?m={m}"
    resp = post_signed(client, path, {"MessageSid": sid, "MessageStatus": status, "ErrorCode": code})
    assert resp.status_code == 200
    _valid_twiml(resp.data)


NASTY = [
    {"Body": "7\x00", "From": "+15551230602"},
    {"Body": "FEEDBACK", "From": "+15551230603\x00"},
    {"Body": "x" * 5000, "From": "+15551230604"},
    {"Body": "😀" * 50, "From": "whatsapp:+15551230605"},
    {"Body": "FEEDBACK", "From": "+15551230606", "MessageSid": "SM" + "9" * 80},
    {"Body": "STOP", "From": "whatsapp:"},
    {"Body": "<Response><Message>hi</Message></Response>", "From": "+15551230607"},
]


def test_nasty_inbound_messages_get_twiml_on_every_database(app: Any) -> None:
    configure(app)
    client = app.test_client()
    for i, params in enumerate(NASTY):
        data = {"MessageSid": f"SMb{i:031d}", "To": OUR_NUMBER, **params}
        resp = post_signed(client, "/sms/inbound", data)
        assert resp.status_code == 200, (params, resp.data)
        _valid_twiml(resp.data)
    # The keyword with a NUL in the sender still started a survey for the real number.
    replies = post_signed(client, "/sms/inbound", {"MessageSid": "SMc" + "0" * 31, "To": OUR_NUMBER,
                                                   "From": "+15551230603", "Body": "8"})
    assert b"main reason" in replies.data
