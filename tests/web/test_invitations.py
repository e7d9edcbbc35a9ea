"""Personal links ``/i/<token>``: signed tokens, one session per token, email pre-answers."""

from __future__ import annotations

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


def test_token_round_trip(app: Any) -> None:
    token = token_for(app, "support-ticket", contact_id=7, invitation_id=42, locale="zh-CN",
                      context={"contact": {"first_name": "Li"}, "event": {"id": "evt-1", "ticket_id": "T-9"}})
    with app.test_request_context():
        data = read_invitation_token(token)
    assert data["survey_id"] == "support-ticket"
    assert data["contact_id"] == 7 and data["invitation_id"] == 42 and data["locale"] == "zh-CN"
    assert data["context"] == {"contact": {"first_name": "Li"}, "event": {"id": "evt-1", "ticket_id": "T-9"}}
    assert data["expires_at"] > data["issued_at"]


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
    token = token_for(app, "support-ticket", contact_id=cid, invitation_id=7,
                      context={"contact": {"first_name": "小李"}, "event": {"id": "evt-1", "type": "ticket.closed",
                                                                         "ticket_id": "T-100", "data": {"agent": "Ann"}}})
    r = Respondent(client, f"/i/{token}", {"Accept-Language": "en"})
    page = r.open()
    assert '<html lang="zh-CN">' in page.html, "the contact's locale beats Accept-Language"
    assert "小李！您的工单 T-100 已关闭" in page.texts["intro"]
    r.submit({"ces": "6"})
    body = client.get("/api/v1/surveys/support-ticket/responses", headers={"Authorization": f"Bearer {api_key}"}).json
    [resp] = body["responses"]
    assert resp["contact_id"] == "cust-42"
    assert resp["meta"] == {"invitation_id": 7}
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
    [resp] = responses(app, "support-call")
    assert resp["locale"] == "en"


def test_one_session_per_token_and_resume(app: Any, client: Any) -> None:
    token = token_for(app, "support-call", invitation_id=3)
    r = Respondent(client, f"/i/{token}")
    r.open()
    r.open()
    assert len(responses(app, "support-call")) == 1
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
    assert Respondent(app.test_client(), f"/i/{other}").open().visible() == ["nps"]
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
    # Clicking in the email again (or another score) stores nothing more.
    assert client.get(f"/i/{token}?a=2").status_code == 303
    assert client.get(f"/i/{token}?a=5").status_code == 303
    [row] = responses(app, "post-purchase")
    assert row["answers"] == {"csat": (2, "email", "2")}


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
    [row] = responses(app, "support-call")
    assert row["answers"] == {}
    assert client.get(f"/i/{token}?a=10").status_code == 303
    [row] = responses(app, "support-call")
    assert row["answers"] == {"nps": (10, "email", "10")}


def test_email_pre_answer_for_another_question_is_ignored(app: Any, client: Any) -> None:
    token = token_for(app, "support-call")
    assert client.get(f"/i/{token}?a=yes&q=resolved").status_code == 303
    [row] = responses(app, "support-call")
    assert row["answers"] == {}


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
