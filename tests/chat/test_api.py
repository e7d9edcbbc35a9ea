"""The chat JSON API: conversations for the example chat survey in both languages, by
quick-reply values and by typed text; tokens; errors."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest

from feedback.store.models import Answer, Contact, Session, utcnow
from tests.sms.conftest import api_responses, dispatch, rows


def start(client: Any, key: str | None = None, **body: Any) -> dict[str, Any]:
    """Start a conversation; with ``key`` (an API key) as an integrator's server would."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    resp = client.post("/chat/api/sessions", json={"survey": "support-ticket", **body}, headers=headers)
    assert resp.status_code == 201, resp.json
    return resp.json


def api_key(app: Any) -> str:
    from feedback.store import operations as ops

    with app.app_context():
        return ops.create_api_key("chat bot")


def say(client: Any, chat: dict[str, Any], body: dict[str, Any], status: int = 200, **headers: str) -> dict[str, Any]:
    hdrs = headers or {"Authorization": f"Bearer {chat['token']}"}
    resp = client.post(f"/chat/api/sessions/{chat['session_id']}/messages", json=body, headers=hdrs)
    assert resp.status_code == status, resp.json
    return resp.json


def question(reply: dict[str, Any]) -> dict[str, Any]:
    [q] = [m for m in reply["messages"] if m["kind"] == "question"]
    return q


def test_quick_reply_conversation_in_english(app: Any) -> None:
    client = app.test_client()
    chat = start(client, api_key(app), locale="en", contact={"id": "cust-7", "first_name": "Ana", "email": "ana@example.com"},
                 context={"event": {"id": "evt-77", "type": "ticket.closed", "ticket_id": "T-1042"}})
    assert chat["status"] == "active" and chat["locale"] == "en" and chat["step"] == 0
    assert chat["bot_name"] == "Feedback assistant" and chat["title"] == "Your support ticket"
    intro, ces = chat["messages"]
    assert intro == {"text": "Hi Ana! Your ticket T-1042 was closed. Can I ask three quick questions?",
                     "kind": "intro", "question_id": None, "quick_replies": []}
    assert ces["kind"] == "question" and ces["question_id"] == "ces"
    assert ces["text"].startswith("The company made it easy for me to handle my issue.")
    assert "1 = strongly disagree, 7 = strongly agree" in ces["text"]
    assert [r["value"] for r in ces["quick_replies"]] == [str(n) for n in range(1, 8)]
    assert ces["question"] == {"type": "ces", "required": True, "multiple": False}
    assert chat["progress"] == {"answered": 0, "total": 4}

    topic = question(say(client, chat, {"value": "3", "step": 0}))
    assert topic["question_id"] == "topic"
    labels = {r["value"]: r["label"] for r in topic["quick_replies"]}
    assert labels == {"billing": "Billing", "delivery": "Delivery", "account": "My account",
                      "product": "A product", "skip": "Skip"}
    contacts = question(say(client, chat, {"value": "delivery", "step": 1}))
    assert contacts["question_id"] == "contacts" and contacts["quick_replies"] == [{"label": "Skip", "value": "skip"}]
    improve = question(say(client, chat, {"value": 2, "step": 2}))
    assert improve["question_id"] == "improve"  # ces 3 <= 4
    done = say(client, chat, {"value": "skip", "step": 3})
    assert done["status"] == "complete"
    assert done["messages"] == [{"text": "Thanks, that really helps our support team.", "kind": "outro",
                                 "question_id": None, "quick_replies": []}]

    [resp] = api_responses(app, "support-ticket", channel="chat")
    assert resp["session_id"] == chat["session_id"] and resp["status"] == "complete"
    assert resp["channel"] == "chat" and resp["locale"] == "en" and resp["contact_id"] == "cust-7"
    assert resp["event"]["id"] == "evt-77"
    answers = resp["answers"]
    assert answers["ces"]["value"] == 3 and answers["ces"]["raw"] == "3" and answers["ces"]["modality"] == "text"
    assert answers["topic"]["value"] == "delivery" and answers["topic"]["raw"] == "delivery"
    assert answers["contacts"]["value"] == 2
    assert "improve" not in answers


def test_typed_conversation_in_chinese(app: Any) -> None:
    client = app.test_client()
    chat = start(client, locale="zh-CN", context={"contact": {"first_name": "李"}, "event": {"ticket_id": "T-8"}})
    intro, ces = chat["messages"]
    assert intro["text"] == "李！您的工单 T-8 已关闭。可以问您三个简短的问题吗？"
    assert "1 = 非常不同意，7 = 非常同意" in ces["text"]
    topic = question(say(client, chat, {"text": "我觉得二分吧"}))
    assert topic["text"] == "您的工单是关于什么的？"
    assert {r["label"] for r in topic["quick_replies"]} == {"账单", "配送", "我的账户", "产品", "跳过"}
    assert question(say(client, chat, {"text": "是发票的问题"}))["question_id"] == "contacts"
    reprompt = say(client, chat, {"text": "好多次"})
    assert reprompt["messages"][0]["kind"] == "reprompt"
    assert reprompt["messages"][0]["text"].startswith("抱歉")
    assert question(say(client, chat, {"text": "三次"}))["question_id"] == "improve"
    done = say(client, chat, {"text": "希望第一次就能解决"})
    assert done["status"] == "complete" and done["messages"][0]["text"] == "谢谢，这对我们的支持团队很有帮助。"
    [resp] = api_responses(app, "support-ticket", locale="zh-CN")
    answers = resp["answers"]
    assert answers["ces"]["value"] == 2 and answers["ces"]["raw"] == "我觉得二分吧"
    assert answers["topic"]["value"] == "billing"
    assert answers["contacts"]["value"] == 3 and answers["contacts"]["raw"] == "三次"
    assert answers["improve"]["value"] == "希望第一次就能解决"


def test_typed_english_is_understood_like_sms(app: Any) -> None:
    client = app.test_client()
    chat = start(client)
    assert question(say(client, chat, {"text": "Honestly a six"}))["question_id"] == "topic"
    assert question(say(client, chat, {"text": "it was about my password"}))["question_id"] == "contacts"
    assert say(client, chat, {"text": "three times"})["status"] == "complete"  # ces 6: no improve question
    [session] = rows(app, Session)
    assert session.state["answers"] == {"ces": 6, "topic": "account", "contacts": 3}


def test_the_session_token_is_needed_and_only_its_hash_is_stored(app: Any) -> None:
    client = app.test_client()
    chat = start(client)
    other = start(client)
    url = f"/chat/api/sessions/{chat['session_id']}/messages"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {other['token']}"},
                    {"Authorization": f"Basic {chat['token']}"}, {"X-Session-Token": other["token"]}):
        resp = client.post(url, json={"text": "7"}, headers=headers)
        assert resp.status_code == 403, headers
        assert resp.json["error"] == "forbidden" and "token" in resp.json["message"]
    assert rows(app, Answer) == []
    ok = client.post(url, json={"text": "7"}, headers={"X-Session-Token": chat["token"]})
    assert ok.status_code == 200
    [session] = rows(app, Session, Session.id == chat["session_id"])
    assert session.external_ref == "sha256:" + hashlib.sha256(chat["token"].encode()).hexdigest()
    assert chat["token"] not in str(session.meta) and chat["token"] not in str(session.state)
    # Reading a session needs the token too.
    assert client.get(f"/chat/api/sessions/{chat['session_id']}").status_code == 403
    assert client.get(f"/chat/api/sessions/{chat['session_id']}",
                      headers={"Authorization": f"Bearer {chat['token']}"}).status_code == 200
    assert client.post("/chat/api/sessions/nope/messages", json={"text": "1"},
                       headers={"Authorization": "Bearer x"}).status_code == 404


def test_bad_requests_get_clear_json_errors(app: Any) -> None:
    client = app.test_client()
    cases = [
        (b"{not json", "JSON"),
        (b"[1, 2]", "object"),
        (b'{"locale": "en"}', "'survey' is required"),
        (b'{"survey": 7}', "'survey' is required"),
        (b'{"survey": "support-ticket", "contact": "bob"}', "'contact' must be a JSON object"),
        (b'{"survey": "support-ticket", "context": {"event": 3}}', "'context.event'"),
        (b'{"survey": "support-ticket", "locale": 5}', "'locale'"),
        (b'{"survey": "support-call"}', "not offered in chat"),
        (b'{"survey": "support-ticket", "contact": {"phone": "banana"}}', "phone number"),
    ]
    for body, message in cases:
        resp = client.post("/chat/api/sessions", data=body, content_type="application/json")
        assert resp.status_code == 400, body
        assert message in resp.json["message"], (body, resp.json)
    resp = client.post("/chat/api/sessions", json={"survey": "nope"})
    assert resp.status_code == 404 and resp.json["error"] == "not_found"
    chat = start(client)
    auth = {"Authorization": f"Bearer {chat['token']}"}
    url = f"/chat/api/sessions/{chat['session_id']}/messages"
    for body, message in [
        (b"{}", "{\"text\""),
        (b'{"text": 5}', "'text' must be a text"),
        (b'{"value": {"a": 1}}', "'value' must be"),
        (b'{"value": [true]}', "'value' must be"),
        (b'{"text": "7", "step": "zero"}', "'step'"),
        (b'{"text": "7", "step": 4}', "ahead"),
        (b"nope", "JSON"),
        (('{"text": "' + "x" * 5001 + '"}').encode(), "at most 5000"),
    ]:
        resp = client.post(url, data=body, content_type="application/json", headers=auth)
        assert resp.status_code == 400, body
        assert message in resp.json["message"], (body, resp.json)
    assert rows(app, Answer) == []
    [session] = rows(app, Session, Session.id == chat["session_id"])
    assert session.step == 0 and session.status == "active"


def test_a_finished_conversation_answers_409(app: Any) -> None:
    client = app.test_client()
    chat = start(client, locale="en")
    say(client, chat, {"value": "7"})
    say(client, chat, {"value": "billing"})
    assert say(client, chat, {"value": "1"})["status"] == "complete"  # ces 7: no improve question
    resp = say(client, chat, {"text": "one more thing"}, status=409)
    assert resp["error"] == "session_finished" and resp["status"] == "complete"
    assert resp["message"] == "This conversation has ended."


def test_a_retried_post_gets_the_same_reply_and_stores_nothing_twice(app: Any) -> None:
    client = app.test_client()
    chat = start(client)
    first = say(client, chat, {"value": "5", "step": 0})
    again = say(client, chat, {"value": "5", "step": 0})
    assert again["duplicate"] is True and again["messages"] == first["messages"]
    [session] = rows(app, Session)
    assert session.step == 1
    assert len(rows(app, Answer)) == 1


def test_end_and_resume(app: Any) -> None:
    client = app.test_client()
    chat = start(client)
    say(client, chat, {"value": "2"})
    auth = {"Authorization": f"Bearer {chat['token']}"}
    current = client.get(f"/chat/api/sessions/{chat['session_id']}", headers=auth).json
    assert current["status"] == "active" and question(current)["question_id"] == "topic"
    ended = client.post(f"/chat/api/sessions/{chat['session_id']}/end", headers=auth)
    assert ended.status_code == 200 and ended.json["status"] == "partial"
    [resp] = api_responses(app, "support-ticket", status="partial")
    assert resp["answers"]["ces"]["value"] == 2 and resp["meta"]["end_reason"] == "closed"
    say(client, chat, {"text": "hello"}, status=409)


def test_a_quiet_chat_expires_as_partial(app: Any) -> None:
    client = app.test_client()
    chat = start(client)
    say(client, chat, {"value": "6"})
    t0 = utcnow()
    app.config["CLOCK"] = lambda: t0 + dt.timedelta(hours=25)
    resp = say(client, chat, {"value": "billing"}, status=409)
    assert resp["error"] == "session_expired"
    [row] = rows(app, Session)
    assert row.status == "partial"
    # The expiry job does the same for conversations nobody comes back to.
    app.config["CLOCK"] = None
    other = start(client)
    say(client, other, {"value": "4"})
    dispatch(app, now=utcnow() + dt.timedelta(hours=25))
    assert rows(app, Session, Session.id == other["session_id"])[0].status == "partial"


def test_contacts_are_found_or_created_with_an_api_key(app: Any) -> None:
    client = app.test_client()
    key = api_key(app)
    start(client, key, contact={"id": "cust-9", "email": "Lee@Example.com", "locale": "zh-CN", "tier": "gold"})
    chat = start(client, key, contact={"email": "lee@example.com"})
    [contact] = rows(app, Contact)
    assert contact.external_id == "cust-9" and contact.attributes == {"tier": "gold"}
    assert chat["locale"] == "zh-CN"  # the contact's language when none is asked for
    assert {s.contact_id for s in rows(app, Session)} == {contact.id}


def test_multiple_choice_takes_a_list_of_values(app: Any, tmp_path: Path) -> None:
    (tmp_path / "multi.yaml").write_text(
        "spec_version: 1\nid: multi-chat\ntitle: Multi\nchannels: [chat]\nquestions:\n"
        "  - id: liked\n    type: multiple_choice\n    text: What did you like?\n    choices:\n"
        "      - {code: speed, label: Speed}\n      - {code: price, label: Price}\n"
        "      - {code: staff, label: Staff}\n"
    )
    from feedback.store import operations as ops

    with app.app_context():
        assert not ops.load_surveys([tmp_path / "multi.yaml"]).problems
    client = app.test_client()
    resp = client.post("/chat/api/sessions", json={"survey": "multi-chat"})
    chat = resp.json
    q = question(chat)
    assert q["question"]["multiple"] is True
    done = say(client, chat, {"value": ["price", "speed"]})
    assert done["status"] == "complete"
    [resp] = api_responses(app, "multi-chat")
    assert resp["answers"]["liked"]["value"] == ["speed", "price"]
    assert resp["answers"]["liked"]["raw"] == "price,speed"


@pytest.mark.parametrize("origin", ["https://shop.example.com"])
def test_browsers_on_other_sites_may_call_the_api(app: Any, origin: str) -> None:
    client = app.test_client()
    pre = client.options("/chat/api/sessions", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                          "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 200
    assert pre.headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Type" in pre.headers["Access-Control-Allow-Headers"]
    resp = client.post("/chat/api/sessions", json={"survey": "support-ticket"}, headers={"Origin": origin})
    assert resp.status_code == 201 and resp.headers["Access-Control-Allow-Origin"] == "*"
    app.config["CHAT_ALLOWED_ORIGINS"] = "https://only.example.com"
    resp = client.post("/chat/api/sessions", json={"survey": "support-ticket"}, headers={"Origin": origin})
    assert "Access-Control-Allow-Origin" not in resp.headers
    resp = client.post("/chat/api/sessions", json={"survey": "support-ticket"},
                       headers={"Origin": "https://only.example.com"})
    assert resp.headers["Access-Control-Allow-Origin"] == "https://only.example.com"


def test_widget_config_is_localised(app: Any) -> None:
    client = app.test_client()
    zh = client.get("/chat/api/config?survey=support-ticket&locale=zh-CN").json
    assert zh["locale"] == "zh-CN" and zh["bot_name"] == "反馈助手"
    assert zh["strings"]["open"] == "提供反馈" and zh["strings"]["send"] == "发送"
    en = client.get("/chat/api/config?survey=support-ticket&locale=fr").json
    assert en["locale"] == "en" and en["strings"]["open"] == "Give feedback"
    assert client.get("/chat/api/config").status_code == 400
    assert client.get("/chat/api/config?survey=support-call").status_code == 400
    assert client.get("/chat/api/config?survey=nope").status_code == 404


def test_without_an_api_key_the_contact_is_context_only(app: Any) -> None:
    """The public endpoint never reads, changes or answers as a stored contact."""
    client = app.test_client()
    start(client, api_key(app), contact={"id": "cust-1", "email": "ana@example.com", "locale": "en", "tier": "gold"})
    [before] = rows(app, Contact)
    chat = start(client, locale="en", contact={"id": "cust-1", "email": "mallory@example.com", "locale": "zh-CN",
                                                "tier": "bronze", "first_name": "Mallory"},
                 context={"event": {"ticket_id": "T-9"}})
    assert chat["messages"][0]["text"].startswith("Hi Mallory!")  # still piped
    say(client, chat, {"value": "7"})
    [after] = rows(app, Contact)
    assert (after.id, after.email, after.locale, after.attributes) == (before.id, "ana@example.com", "en",
                                                                       {"tier": "gold"})
    [session] = rows(app, Session, Session.id == chat["session_id"])
    assert session.contact_id is None
    [mine] = [r for r in api_responses(app, "support-ticket") if r["contact_id"] is None]
    assert mine["answers"]["ces"]["value"] == 7
    # By email or phone alone: no contact is found, none is created.
    start(client, contact={"email": "ana@example.com"})
    start(client, contact={"phone": "+15550102030"})
    assert len(rows(app, Contact)) == 1
    assert {s.contact_id for s in rows(app, Session)} == {before.id, None}


def test_a_wrong_api_key_is_refused(app: Any) -> None:
    client = app.test_client()
    resp = client.post("/chat/api/sessions", json={"survey": "support-ticket", "contact": {"id": "cust-1"}},
                       headers={"Authorization": "Bearer fbk_not-a-key"})
    assert resp.status_code == 401 and resp.json["error"] == "unauthorized"
    assert "API key" in resp.json["message"]
    assert rows(app, Session) == [] and rows(app, Contact) == []


@pytest.mark.parametrize(("contact", "message"), [
    ({"email": 5}, "'contact.email' must be a text, not a number"),
    ({"email": ["a@example.com"]}, "'contact.email' must be a text, not a list"),
    ({"email": "not-an-address"}, "'contact.email' must be an email address"),
    ({"id": {"x": 1}}, "'contact.id' must be a text or a whole number, not an object"),
    ({"id": True}, "'contact.id' must be a text or a whole number, not true/false"),
    ({"locale": 7}, "'contact.locale' must be a text"),
    ({"phone": 15550102030}, "'contact.phone' must be a text"),
    ({"phone": "banana"}, "not a phone number"),
    ({"tier": {"level": 1}}, "'contact.tier' must be a text, a number, true/false or null, not an object"),
    ({"id": "x" * 201}, "'contact.id' can be at most 200 characters"),
])
def test_contact_fields_are_checked(app: Any, contact: dict[str, Any], message: str) -> None:
    client = app.test_client()
    for headers in ({}, {"Authorization": f"Bearer {api_key(app)}"}):
        resp = client.post("/chat/api/sessions", json={"survey": "support-ticket", "contact": contact},
                           headers=headers)
        assert resp.status_code == 400, resp.json
        assert resp.json["error"] == "bad_request" and message in resp.json["message"], resp.json
    assert rows(app, Session) == [] and rows(app, Contact) == []


def test_a_numeric_contact_id_names_the_same_contact_as_its_text(app: Any) -> None:
    client = app.test_client()
    key = api_key(app)
    start(client, key, contact={"id": 42})
    start(client, key, contact={"id": "42"})
    [contact] = rows(app, Contact)
    assert contact.external_id == "42"
