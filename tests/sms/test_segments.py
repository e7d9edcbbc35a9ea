"""Segment counts as carriers bill them, and that every outgoing message stores its own."""

from __future__ import annotations

from typing import Any

import pytest

from feedback.definition.segments import count_segments
from feedback.store.models import Message

from .conftest import Phone, rows


@pytest.mark.parametrize(
    "text, encoding, segments",
    [
        ("", "GSM-7", 1),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),  # 2 x 153
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # extension characters take two septets
        ("€" * 81, "GSM-7", 2),
        ("a" * 159 + "^", "GSM-7", 2),
        ("[x]" * 32, "GSM-7", 1),  # 96 characters, 160 septets
        ("[x]" * 32 + "a", "GSM-7", 2),
        ("Reply YES or NO (SKIP to skip) @£$¥èé", "GSM-7", 1),
        ("中" * 70, "UCS-2", 1),
        ("中" * 71, "UCS-2", 2),
        ("中" * 134, "UCS-2", 2),  # 2 x 67
        ("中" * 135, "UCS-2", 3),
        ("a" * 69 + "中", "UCS-2", 1),  # one Chinese character makes the whole message UCS-2
        ("a" * 100 + "中", "UCS-2", 2),
        ("👍" * 35, "UCS-2", 1),  # an emoji is two UTF-16 units
        ("👍" * 36, "UCS-2", 2),
        ("café ü", "GSM-7", 1),
        ("Ç", "GSM-7", 1),
        ("ç", "UCS-2", 1),  # only the capital is in the GSM-7 alphabet
    ],
)
def test_segment_boundaries(text: str, encoding: str, segments: int) -> None:
    info = count_segments(text)
    assert (info.encoding, info.segments) == (encoding, segments)


def test_every_outgoing_message_stores_its_segments_and_encoding(app: Any, twilio: Any) -> None:
    en = Phone(app.test_client(), "+15551230501")
    zh = Phone(app.test_client(), "+8613800138500")
    en.reply("FEEDBACK")
    en.reply("3")
    zh.reply("反馈")
    zh.reply("3")
    out = rows(app, Message, Message.direction == "out")
    assert len(out) == 4
    for m in out:
        info = count_segments(m.body)
        assert (m.segments, m.encoding) == (info.segments, info.encoding)
    by_to = {}
    for m in out:
        by_to.setdefault(m.to_number, []).append(m)
    assert {m.encoding for m in by_to["+15551230501"]} == {"GSM-7"}
    assert {m.encoding for m in by_to["+8613800138500"]} == {"UCS-2"}
    assert [m.segments for m in by_to["+15551230501"]] == [2, 1]
    assert [m.segments for m in by_to["+8613800138500"]] == [2, 1]
