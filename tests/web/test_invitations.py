"""Personal links ``/i/<token>``: signed tokens, one session per token, email pre-answers."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from channels.web.tokens import make_invitation_token, read_invitation_token
from feedback.errors import Forbidden

from .support import Respondent


def token_for(app: Any, survey_id: str, **kw: Any) -> str:
    with app.test_request_context():
        return make_invitation_token(survey_id, **kw)


def contact(app: Any, **kw: Any) -> int:
    from feedback.store import operations as ops

    with app.app_context():
        return ops.find_or_create_contact(**kw).id


def responses(app: Any, survey_id: str) -> list[Any]:
    from feedback.store.models import Response, Session

    with app.app_context():
        rows = Response.query.filter_by(survey_id=survey_id).order_by(Response.id).all()
        sessions = Session.query.filter_by(survey_id=survey_id).count()
        out = [
            {
                "status": r.status, "locale": r.locale, "meta": r.meta, "contact_id": r.contact_id,
                "event_id": r.event_id, "channel": r.channel,
                "answers": {a.question_id: (a.value, a.modality, a.raw) for a in r.answers},
            }
            for r in rows
        ]
        assert sessions == len(out)
        return out


def invitation(app: Any, survey_id: str, contact_id: int | None = None, **kw: Any) -> int:
    """An invitation row, as the distribution ladder writes it."""
    from feedback.store.distribution import Invitation
    from feedback.store.models import db

    with app.app_context():
        inv = Invitation(survey_id=survey_id, contact_id=contact_id, source="email", channels=["email"],
                         status="in_progress", context=kw.pop("context", {}), **kw)
        db.session.add(inv)
        db.session.commit()
        return inv.id


def test_token_round_trip(app: Any) -> None:
    token = token_for(app, "support-ticket", contact_id=7, locale="zh-CN",
                      context={"contact": {"first_name": "Li"}, "event": {"id": "evt-1", "ticket_id": "T-9"}})
    with app.test_request_context():
        data = read_invitation_token(token)
    assert data["survey_id"] == "support-ticket"
    assert data["contact_id"] == 7 and data["invitation_id"] is None and data["locale"] == "zh-CN"
    assert data["context"] == {"contact": {"first_name": "Li"}, "event": {"id": "evt-1", "ticket_id": "T-9"}}
    assert data["expires_at"] > data["issued_at"]


def test_invitation_token_holds_ids_and_reads_the_context_from_the_invitation(app: Any, client: Any) -> None:
    from itsdangerous import URLSafeTimedSerializer

    cid = contact(app, external_id="cust-9", email="ann@example.com")
    big = {"contact": {"first_name": "Ann", "notes": "x" * 9000}, "event": {"id": "evt-9", "ticket_id": "T-9"}}
    inv = invitation(app, "support-ticket", cid, context=big, locale="en")
    token = token_for(app, "support-ticket", contact_id=cid, invitation_id=inv, context=big)
    assert len(token) < 200, "no personal data or context in the link"
    _, payload = URLSafeTimedSerializer("any key").loads_unsafe(token)  # what anyone can read
    assert payload, "the token is readable without the key"
    assert "ann" not in json.dumps(payload).lower() and "T-9" not in json.dumps(payload), payload
    with app.test_request_context():
        data = read_invitation_token(token)
    assert data["context"] == big and data["contact_id"] == cid and data["locale"] == "en"
    page = Respondent(client, f"/i/{token}").open()
    assert page.status == 200 and "Ann" in page.texts["intro"] and "T-9" in page.texts["intro"]
    # A link made before (context in the token) still opens with its own context.
    with app.test_request_context():
        old = URLSafeTimedSerializer("test-secret", salt="feedback.web.invitation").dumps(
            {"s": "support-ticket", "n": "abc", "i": inv, "c": cid, "x": {"contact": {"first_name": "Bo"}, "event": {}}})
        assert read_invitation_token(old)["context"]["contact"] == {"first_name": "Bo"}
    assert "Bo" in Respondent(app.test_client(), f"/i/{old}").open().texts["intro"]


@pytest.mark.parametrize("mangle", [lambda t: t[:-2], lambda t: "x" + t[1:], lambda t: t.replace(".", "!", 1), lambda t: ""])
def test_forged_tokens_are_refused(app: Any, mangle: Any) -> None:
    token = token_for(app, "support-call")
    with app.test_request_context(), pytest.raises(Forbidden, match="not valid"):
        read_invitation_token(mangle(token))


def test_token_signed_with_another_key_is_refused(app: Any, tmp_path: Any) -> None:
    from tests.conftest import make_app

    other = make_app(tmp_path / "other", "sqlite", SECRET_KEY="another-secret")
    token = token_for(other, "support-call")
    with app.test_request_context(), pytest.raises(Forbidden):
        read_invitation_token(token)


def old_token(app: Any, monkeypatch: pytest.MonkeyPatch, days: float, survey_id: str = "support-call") -> str:
    now = time.time()
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: now - days * 86400)
        return token_for(app, survey_id)


def test_expired_token_is_refused(app: Any, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = old_token(app, monkeypatch, 31)
    fresh = old_token(app, monkeypatch, 29)
    with app.test_request_context():
        with pytest.raises(Forbidden, match="expired"):
            read_invitation_token(stale)
        assert read_invitation_token(fresh)["survey_id"] == "support-call"
        with pytest.raises(Forbidden, match="expired"):
            read_invitation_token(fresh, max_age_days=7)
    resp = client.get(f"/i/{stale}")
    assert resp.status_code == 403
    assert "This survey link has expired" in resp.get_data(as_text=True)
    assert responses(app, "support-call") == []


def test_invitation_max_age_comes_from_the_configuration(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import make_app

    app = make_app(tmp_path, "sqlite", INVITATION_MAX_AGE_DAYS=3)
    token = old_token(app, monkeypatch, 4)
    assert app.test_client().get(f"/i/{token}").status_code == 403


def test_forged_link_page_is_translated(app: Any, client: Any) -> None:
    resp = client.get("/i/not-a-token", headers={"Accept-Language": "zh-CN"})
    assert resp.status_code == 403
    html = resp.get_data(as_text=True)
    assert "该问卷链接无效" in html and '<html lang="zh-CN">' in html


def test_invitation_opens_for_the_contact_with_context(app: Any, client: Any, api_key: str) -> None:
    cid = contact(app, external_id="cust-42", email="li@example.com", locale="zh-CN")
    inv = invitation(app, "support-ticket", cid, context={
        "contact": {"first_name": "小李"},
        "event": {"id": "evt-1", "type": "ticket.closed", "ticket_id": "T-100", "data": {"agent": "Ann"}}})
    token = token_for(app, "support-ticket", contact_id=cid, invitation_id=inv)
    r = Respondent(client, f"/i/{token}", {"Accept-Language": "en"})
    page = r.open()
    assert '<html lang="zh-CN">' in page.html, "the contact's locale beats Accept-Language"
    assert "小李！您的工单 T-100 已关闭" in page.texts["intro"]
    r.submit({"ces": "6"})
    body = client.get("/api/v1/surveys/support-ticket/responses", headers={"Authorization": f"Bearer {api_key}"}).json
    [resp] = body["responses"]
    assert resp["contact_id"] == "cust-42"
    assert resp["meta"] == {"invitation_id": inv}
    assert resp["event"]["id"] == "evt-1" and resp["event"]["type"] == "ticket.closed"
    assert resp["event"]["data"] == {"agent": "Ann"}
    assert resp["channel"] == "web" and resp["locale"] == "zh-CN"
    assert resp["answers"]["ces"]["value"] == 6 and resp["answers"]["ces"]["modality"] == "web"


def test_token_locale_then_lang_parameter(app: Any, client: Any) -> None:
    token = token_for(app, "support-call", locale="zh-CN")
    html = client.get(f"/i/{token}").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    html = client.get(f"/i/{token}?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert responses(app, "support-call") == [], "viewing a link stores nothing"
    Respondent(client, f"/i/{token}").open().status  # noqa: B018
    r = Respondent(client, f"/i/{token}")
    r.open()
    r.submit({"nps": "9"})
    [resp] = responses(app, "support-call")
    assert resp["locale"] == "en"


def test_one_session_per_token_and_resume(app: Any, client: Any) -> None:
    token = token_for(app, "support-call", invitation_id=3)
    r = Respondent(client, f"/i/{token}")
    r.open()
    r.open()
    assert responses(app, "support-call") == [], "a link opened (or scanned) makes no partial response"
    r.submit({"nps": "6"})
    # Another browser (no cookies) with the same link continues the same response.
    client2 = app.test_client()
    page = Respondent(client2, f"/i/{token}").open()
    assert page.visible() == ["reason"]
    [resp] = responses(app, "support-call")
    assert resp["status"] == "partial" and resp["answers"]["nps"][0] == 6
    # A second token for the same invitation opens the same session too.
    again = token_for(app, "support-call", invitation_id=3)
    assert Respondent(app.test_client(), f"/i/{again}").open().visible() == ["reason"]
    # A token without an invitation id is its own session.
    other = token_for(app, "support-call")
    r3 = Respondent(app.test_client(), f"/i/{other}")
    assert r3.open().visible() == ["nps"]
    r3.submit({"nps": "8"})
    assert len(responses(app, "support-call")) == 2


def test_email_pre_answer(app: Any, client: Any) -> None:
    token = token_for(app, "post-purchase", invitation_id=11)
    resp = client.get(f"/i/{token}?a=2")
    assert resp.status_code == 303
    assert resp.headers["Location"] == f"/i/{token}"
    page = Respondent(client, f"/i/{token}").open()
    assert page.visible() == ["issues"], "csat 2 shows the conditional question"
    [row] = responses(app, "post-purchase")
    assert row["answers"] == {"csat": (2, "email", "2")}
    assert row["meta"] == {"invitation_id": 11}
    # Clicking in the email again stores nothing more; another score replaces the first
    # (an email scanner may have fetched the link before the person clicked).
    assert client.get(f"/i/{token}?a=2").status_code == 303
    [row] = responses(app, "post-purchase")
    assert row["answers"] == {"csat": (2, "email", "2")}
    assert client.get(f"/i/{token}?a=5").status_code == 303
    [row] = responses(app, "post-purchase")
    assert row["answers"] == {"csat": (5, "email", "5")}
    page = Respondent(client, f"/i/{token}").open()
    assert page.visible() != ["issues"]


def test_a_later_click_replaces_the_pre_answer_until_the_respondent_goes_on(app: Any, client: Any) -> None:
    token = token_for(app, "support-call", invitation_id=21)
    assert app.test_client().get(f"/i/{token}?a=0").status_code == 303  # a link scanner
    assert client.get(f"/i/{token}?a=9&q=nps").status_code == 303  # the person
    [row] = responses(app, "support-call")
    assert row["answers"] == {"nps": (9, "email", "9")}
    r = Respondent(client, f"/i/{token}")
    r.open()
    r.submit({"resolved": "yes"})
    assert r.page is not None and r.page.is_thanks
    assert client.get(f"/i/{token}?a=3").status_code == 303
    [row] = responses(app, "support-call")
    assert row["answers"]["nps"] == (9, "email", "9"), "answered beyond the first question: kept"


def test_a_link_answered_on_another_channel_is_refused(app: Any, client: Any) -> None:
    from feedback.engine import interview as eng
    from feedback.store import operations as ops

    cid = contact(app, external_id="cust-77", phone="+15551234567")
    inv = invitation(app, "support-call", cid)
    token = token_for(app, "support-call", contact_id=cid, invitation_id=inv)
    r = Respondent(client, f"/i/{token}")
    r.open()
    with app.app_context():
        from feedback.store.models import Contact, db

        person = db.session.get(Contact, cid)
        sid = ops.start_session("support-call", "sms", contact=person, meta={"invitation_id": inv}).session_id
        ops.apply_input(sid, eng.Text("8"), step=0)
    page = r.submit({"nps": "3"})
    assert page.status == 409 and "already answered" in page.html
    page = Respondent(app.test_client(), f"/i/{token}").open()
    assert page.status == 409 and "already answered" in page.html
    assert app.test_client().get(f"/i/{token}?a=5").status_code == 409
    rows = responses(app, "support-call")
    assert [r["channel"] for r in rows] == ["sms"]


def test_email_pre_answer_then_finish_on_the_web(app: Any, client: Any) -> None:
    token = token_for(app, "support-call")
    client.get(f"/i/{token}?a=7&q=nps")
    r = Respondent(client, f"/i/{token}")
    page = r.open()
    assert page.visible() == ["reason"]
    page = r.submit({"reason": "Friendly agent"})
    page = r.submit({"resolved": "yes"})
    assert page.is_thanks
    [row] = responses(app, "support-call")
    assert row["status"] == "complete"
    assert {q: m for q, (_v, m, _r) in row["answers"].items()} == {"nps": "email", "reason": "web", "resolved": "web"}


def test_email_pre_answer_out_of_range_shows_the_question_with_a_hint(app: Any, client: Any) -> None:
    token = token_for(app, "support-call")
    resp = client.get(f"/i/{token}?a=12")
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'role="alert"' in html and "0 to 10" in html
    assert responses(app, "support-call") == []
    assert client.get(f"/i/{token}?a=10").status_code == 303
    [row] = responses(app, "support-call")
    assert row["answers"] == {"nps": (10, "email", "10")}


def test_email_pre_answer_for_another_question_is_ignored(app: Any, client: Any) -> None:
    token = token_for(app, "support-call")
    assert client.get(f"/i/{token}?a=yes&q=resolved").status_code == 303
    assert responses(app, "support-call") == []


def test_completed_invitation_shows_thanks(app: Any, client: Any) -> None:
    token = token_for(app, "support-call")
    client.get(f"/i/{token}?a=10")
    r = Respondent(client, f"/i/{token}")
    r.open()
    assert r.submit({"resolved": "no"}).is_thanks
    assert Respondent(app.test_client(), f"/i/{token}?a=3").open().is_thanks
    [row] = responses(app, "support-call")
    assert row["answers"]["nps"][0] == 10


def test_expired_session_shows_closed_page(app: Any, client: Any) -> None:
    from feedback.store import operations as ops

    token = token_for(app, "support-call")
    r = Respondent(client, f"/i/{token}")
    r.open()
    r.submit({"nps": "5"})
    with app.app_context():
        [row] = responses(app, "support-call")
        from feedback.store.models import Session

        sid = Session.query.one().id
        ops.end_session(sid, reason="expired")
    page = r.open()
    assert page.is_closed and "This survey is closed" in page.html
    [row] = responses(app, "support-call")
    assert row["status"] == "partial" and row["answers"]["nps"][0] == 5


def test_already_answered_page_is_translated(app: Any, client: Any) -> None:
    from feedback.engine import interview as eng
    from feedback.store import operations as ops

    cid = contact(app, external_id="cust-78", locale="zh-CN")
    inv = invitation(app, "support-call", cid, locale="zh-CN")
    with app.app_context():
        from feedback.store.models import Contact, db

        sid = ops.start_session("support-call", "sms", contact=db.session.get(Contact, cid),
                                meta={"invitation_id": inv}).session_id
        ops.apply_input(sid, eng.Text("8"), step=0)
    token = token_for(app, "support-call", contact_id=cid, invitation_id=inv)
    html = client.get(f"/i/{token}", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "您已作答" in html
