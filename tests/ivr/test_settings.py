"""The survey's phone settings (validated with located errors), the voice table, and
calling-hour arithmetic."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from channels.ivr.outbound import call_window, contact_zone, next_allowed
from channels.ivr.voices import DEFAULT_VOICES, VoicesError, check_voice, parse_voices, voice_for
from feedback.definition.loader import load_text
from feedback.errors import DefinitionError
from tests.conftest import make_app
from tests.ivr.conftest import SUPPORT_EN, make_ivr

SURVEY = """spec_version: 1
id: phone
title: Phone
channels: [ivr]
ivr:
  call_hours: {hours}
  retry: {{attempts: {attempts}, delay_minutes: 10}}
questions:
  - id: q
    type: yes_no
    text: Happy?
"""


def problems(hours: str, attempts: int = 3) -> list[str]:
    try:
        load_text(SURVEY.format(hours=hours, attempts=attempts), "phone.yaml")
    except DefinitionError as e:
        return [str(p) for p in e.problems]
    return []


def test_valid_calling_hours_load() -> None:
    for hours in ('"09:00-20:00"', '"20:00-08:00"', '"00:00-24:00"', "null"):
        assert problems(hours) == []


@pytest.mark.parametrize("hours,message", [
    ('"9-17"', "phone.yaml:6:15: call_hours: '9-17' is not a range of local times like \"09:00-20:00\""),
    ('"09:00-25:00"', "phone.yaml:6:15: call_hours: '09:00-25:00' is not a range"),
    ('"10:00-10:00"', "phone.yaml:6:15: call_hours: '10:00-10:00' starts and ends at the same time"),
])
def test_bad_calling_hours_point_at_the_value(hours: str, message: str) -> None:
    found = problems(hours)
    assert len(found) == 1 and found[0].startswith(message), found


def test_retry_attempts_are_bounded() -> None:
    found = problems('"09:00-20:00"', attempts=0)
    assert len(found) == 1 and found[0].startswith("phone.yaml:7:")
    assert "attempts" in found[0]


def test_the_voice_table_has_valid_pairs_and_falls_back_by_language() -> None:
    assert voice_for("zh-CN").voice == "Polly.Zhiyu-Neural" and voice_for("zh-CN").language == "cmn-CN"
    assert voice_for("zh_CN").speech == "cmn-Hans-CN"
    assert voice_for("zh-TW").language == "cmn-CN"  # same language
    assert voice_for("en").language == "en-US" and voice_for("en-GB").voice == "Polly.Amy-Neural"
    assert voice_for("fr").voice == "Polly.Joanna-Neural"  # unknown: English


def test_voices_can_be_configured() -> None:
    table = parse_voices('{"en": {"voice": "Polly.Matthew-Neural", "language": "en-US"}}')
    assert voice_for("en", table).voice == "Polly.Matthew-Neural"
    assert voice_for("en", table).speech == "en-US"
    with pytest.raises(VoicesError, match="IVR_VOICES is not valid JSON"):
        parse_voices("{nope")
    with pytest.raises(VoicesError, match=r"IVR_VOICES\['en'\] needs voice"):
        parse_voices({"en": {"language": "en-US"}})


def test_the_built_in_voices_are_pairs_twilio_accepts() -> None:
    for locale, voice in DEFAULT_VOICES.items():
        check_voice(locale, voice)


@pytest.mark.parametrize(("setting", "message"), [
    ('{"zh-CN": {"voice": "Polly.Joanna-Neural", "language": "cmn-CN"}}',
     "IVR_VOICES['zh-CN']: Twilio's Polly.Joanna-Neural does not speak language 'cmn-CN'; it speaks en-US"),
    ('{"en": {"voice": "Polly.Zhiyu-Neural", "language": "en-US"}}',
     "Polly.Zhiyu-Neural does not speak language 'en-US'; it speaks cmn-CN"),
    ('{"en": {"voice": "Polly.Arthur", "language": "en-GB"}}', "'Polly.Arthur' is not a Twilio voice"),
    ('{"en": {"voice": "Joanna", "language": "en-US"}}', "'Joanna' is not a Twilio voice"),
    ('{"en": {"voice": "Google.en-GB-Standard-A", "language": "en-US"}}', "it speaks en-GB"),
    ('{"en": {"voice": "Polly.Joanna", "language": "en-US", "speech": "English"}}', "speech 'English'"),
    ('{"en": {"voice": "Polly.Joanna", "language": "en-US", "speech": 5}}', "speech must be a text"),
    ("{nope", "IVR_VOICES is not valid JSON"),
    ('["en"]', "IVR_VOICES must map a locale"),
])
def test_a_wrong_voice_table_stops_the_app_at_start(tmp_path: Any, setting: str, message: str) -> None:
    with pytest.raises(VoicesError) as e:
        make_app(tmp_path, "sqlite", IVR_VOICES=setting)
    assert message in e.value.message


def test_a_configured_voice_speaks_the_call(tmp_path: Any) -> None:
    app = make_app(tmp_path, "sqlite", IVR_VOICES=json.dumps({
        "en": {"voice": "Polly.Matthew-Neural", "language": "en-US"},
        "zh-CN": {"voice": "Google.cmn-CN-Standard-A", "language": "cmn-CN", "speech": "zh-CN"},
    }))
    ivr = make_ivr(app)
    call = ivr.sim.dial(SUPPORT_EN, "+15557654300")
    assert {(h.voice, h.language) for h in call.heard} == {("Polly.Matthew-Neural", "en-US"),
                                                           ("Google.cmn-CN-Standard-A", "cmn-CN")}
    call.press("2")
    assert call.waiting is not None and call.waiting.get("language") == "zh-CN"


def _survey(hours: str | None):  # type: ignore[no-untyped-def]
    text = SURVEY.format(hours=f'"{hours}"' if hours else "null", attempts=3)
    return load_text(text, "phone.yaml").survey


SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("hours,at_local,expected_local", [
    ("09:00-20:00", (2030, 1, 7, 12, 0), (2030, 1, 7, 12, 0)),   # inside
    ("09:00-20:00", (2030, 1, 7, 7, 30), (2030, 1, 7, 9, 0)),    # before: later today
    ("09:00-20:00", (2030, 1, 7, 20, 0), (2030, 1, 8, 9, 0)),    # at the end: tomorrow
    ("20:00-08:00", (2030, 1, 7, 23, 0), (2030, 1, 7, 23, 0)),   # a night window, inside
    ("20:00-08:00", (2030, 1, 7, 3, 0), (2030, 1, 7, 3, 0)),     # after midnight, inside
    ("20:00-08:00", (2030, 1, 7, 12, 0), (2030, 1, 7, 20, 0)),   # daytime: this evening
    ("18:00-24:00", (2030, 1, 7, 23, 59), (2030, 1, 7, 23, 59)),
    ("18:00-24:00", (2030, 1, 7, 1, 0), (2030, 1, 7, 18, 0)),
    (None, (2030, 1, 7, 3, 0), (2030, 1, 7, 3, 0)),
])
def test_next_allowed_moment(hours: str | None, at_local: tuple, expected_local: tuple) -> None:
    window = call_window(_survey(hours))
    at = dt.datetime(*at_local, tzinfo=SHANGHAI).astimezone(dt.UTC).replace(tzinfo=None)
    expected = dt.datetime(*expected_local, tzinfo=SHANGHAI).astimezone(dt.UTC).replace(tzinfo=None)
    assert next_allowed(at, window, SHANGHAI) == expected


def test_next_allowed_across_a_daylight_saving_change() -> None:
    ny = ZoneInfo("America/New_York")
    window = call_window(_survey("09:00-20:00"))
    # 2030-03-10 is the spring change in New York: 09:00 is 13:00 UTC that day (EDT).
    at = dt.datetime(2030, 3, 10, 2, 0)  # 21:00 EST on the 9th
    assert next_allowed(at, window, ny) == dt.datetime(2030, 3, 10, 13, 0)


def test_contact_zone_order() -> None:
    assert contact_zone(timezone="Europe/Paris", phone="+8613800138000").key == "Europe/Paris"
    assert contact_zone(timezone="Mars/Olympus", phone="+8613800138000").key == "Asia/Shanghai"
    assert contact_zone(phone="+15551230000", default="America/Chicago").key == "America/Chicago"
    assert contact_zone(phone="not a number").key == "UTC"
