"""Every example survey with an SMS channel can be completed by SMS in each of its locales,
started by the customer's keyword (when it has one) and by an outbound request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cn2an
import pytest

from feedback.definition.loader import load_file
from feedback.store.models import Session

from .conftest import Phone, api_responses, dispatch, rows

SURVEY_DEFS = Path(__file__).resolve().parents[2] / "survey_defs"


def _sms_surveys() -> list[tuple[str, str, str | None]]:
    out = []
    for path in sorted(SURVEY_DEFS.glob("*.yaml")):
        try:
            survey = load_file(path).survey
        except Exception:  # noqa: BLE001 - not a survey (policy files and the like)
            continue
        if "sms" not in survey.channels:
            continue
        for locale in survey.all_locales:
            keyword = next((k for k in survey.sms.keywords if (not k.isascii()) == locale.startswith("zh")), None)
            out.append((survey.id, locale, keyword))
    return out


SMS_SURVEYS = _sms_surveys()


def test_there_is_an_example_sms_survey() -> None:
    assert {s for s, _, _ in SMS_SURVEYS} >= {"support-call"}


def reply_for(question: Any, locale: str) -> tuple[str, Any]:
    """A natural reply to ``question`` in ``locale`` and the value it must give."""
    zh = locale.startswith("zh")
    rng = question.scale_range
    if rng is not None:
        value = rng[1] - 1
        return (f"{cn2an.an2cn(value)}分" if zh else f"a {value}"), value
    if question.type == "yes_no":
        return ("是的" if zh else "Yes"), True
    if question.type == "single_choice":
        return "2", None
    if question.type == "multiple_choice":
        return "1,2", None
    if question.type == "number":
        value = int(question.min if question.min is not None else 3)
        return str(value), value
    return ("服务很好" if zh else "Quick and friendly"), ("服务很好" if zh else "Quick and friendly")


def _complete(app: Any, phone: Phone, survey_id: str, locale: str, first: str) -> None:
    from feedback.store import operations as ops

    reply = first
    expected: dict[str, Any] = {}
    for _ in range(30):
        [session] = rows(app, Session, Session.survey_id == survey_id, Session.external_ref == phone.number)
        if session.status != "active":
            break
        with app.app_context():
            question = ops.interview_for(session.version_id).question(session.state["current"])
        assert question.text_for("sms", locale, "en").split("{{")[0][:12] in reply or "{{" in str(question.text)
        text, value = reply_for(question, locale)
        expected[question.id] = (text, value)
        reply = "\n".join(phone.text(text))
    [session] = rows(app, Session, Session.survey_id == survey_id, Session.external_ref == phone.number)
    assert session.status == "complete", reply
    [resp] = [r for r in api_responses(app, survey_id, channel="sms") if r["session_id"] == session.id]
    assert resp["status"] == "complete" and resp["locale"] == locale and resp["channel"] == "sms"
    for qid, (text, value) in expected.items():
        assert resp["answers"][qid]["raw"] == text
        assert resp["answers"][qid]["modality"] == "text"
        if value is not None:
            assert resp["answers"][qid]["value"] == value


@pytest.mark.parametrize("survey_id, locale, keyword", SMS_SURVEYS)
def test_complete_by_keyword(app: Any, twilio: Any, survey_id: str, locale: str, keyword: str | None) -> None:
    if keyword is None:
        pytest.skip(f"{survey_id} has no {locale} keyword")
    phone = Phone(app.test_client(), "+15551239001")
    first = "\n".join(phone.text(keyword))
    _complete(app, phone, survey_id, locale, first)


@pytest.mark.parametrize("survey_id, locale, keyword", SMS_SURVEYS)
def test_complete_after_an_outbound_start(app: Any, twilio: Any, survey_id: str, locale: str, keyword: str | None) -> None:
    from channels.sms.outbound import request_sms

    with app.app_context():
        request_sms(survey_id, "+15551239002", locale=locale, context={"contact": {"first_name": "Sam"}})
    dispatch(app)
    [req] = twilio.messages()
    _complete(app, Phone(app.test_client(), "+15551239002"), survey_id, locale, req.data["Body"])
