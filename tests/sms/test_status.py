"""Delivery status callbacks arrive late, twice or out of order: a message's status only
moves forward (queued < sending < sent < delivered / undelivered / failed, and read after
delivered), and an error code stays with the status it came with."""

from __future__ import annotations

import itertools
from typing import Any

from feedback.store.models import Message

from .conftest import Phone, rows, status_callback

_n = itertools.count(1)


def reply_with_sid(app: Any, number: str) -> tuple[Any, str, int]:
    """A reply sent in TwiML, known to Twilio by a sid from its first callback."""
    client = app.test_client()
    Phone(client, number).reply("FEEDBACK")
    [reply] = rows(app, Message, Message.direction == "out", Message.to_number == number)
    sid = f"SM{next(_n):032d}"
    assert status_callback(client, sid, "queued", path=f"/sms/status?m={reply.id}").status_code == 200
    return client, sid, reply.id


def after(app: Any, client: Any, sid: str, mid: int, *callbacks: tuple[str, str | None]) -> Message:
    for status, code in callbacks:
        assert status_callback(client, sid, status, code).status_code == 200
    [row] = rows(app, Message, Message.id == mid)
    return row


def test_a_late_error_does_not_mark_a_delivered_message(app: Any, twilio: Any) -> None:
    client, sid, mid = reply_with_sid(app, "+15551230401")
    row = after(app, client, sid, mid, ("sent", None), ("delivered", None), ("undelivered", "30003"))
    assert (row.status, row.error_code) == ("delivered", None)
    # The late report is kept in the message's history all the same.
    assert row.meta["statuses"][-1] == "undelivered"
    assert {"status": "undelivered", "error_code": "30003"} in row.meta["errors"]


def test_a_failed_message_stays_failed_with_its_error(app: Any, twilio: Any) -> None:
    client, sid, mid = reply_with_sid(app, "+15551230402")
    row = after(app, client, sid, mid, ("failed", "30008"), ("sent", None), ("delivered", None), ("read", None),
                ("failed", None))
    assert (row.status, row.error_code) == ("failed", "30008")


def test_read_follows_delivered_only(app: Any, twilio: Any) -> None:
    client, sid, mid = reply_with_sid(app, "+15551230403")
    row = after(app, client, sid, mid, ("undelivered", "30005"), ("read", None))
    assert (row.status, row.error_code) == ("undelivered", "30005")
    client, sid, mid = reply_with_sid(app, "+15551230404")
    row = after(app, client, sid, mid, ("read", None), ("delivered", None), ("sent", None))
    assert (row.status, row.error_code) == ("read", None)


def test_an_error_code_sent_with_a_repeated_final_status_is_kept(app: Any, twilio: Any) -> None:
    client, sid, mid = reply_with_sid(app, "+15551230405")
    row = after(app, client, sid, mid, ("sent", None), ("undelivered", None), ("undelivered", "30006"),
                ("sent", "0"), ("undelivered", None))
    assert (row.status, row.error_code) == ("undelivered", "30006")
