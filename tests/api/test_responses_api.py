"""The responses API: authentication, survey list, paging, filters, CSV, malformed requests."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import respond

URL = "/api/v1/surveys/support-call/responses"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}],
)
@pytest.mark.parametrize("path", ["/api/v1/surveys", URL, "/api/v1/surveys/support-call/metrics"])
def test_a_missing_or_wrong_key_gets_401(app: Any, client: Any, headers: dict[str, str], path: str) -> None:
    resp = client.get(path, headers=headers)
    assert resp.status_code == 401
    assert resp.json["error"] == "unauthorized" and resp.json["message"]
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_key_gets_401(app: Any, client: Any, api_key: str, auth: dict[str, str]) -> None:
    from feedback.store.models import ApiKey, db

    assert client.get("/api/v1/surveys", headers=auth).status_code == 200
    with app.app_context():
        for key in ApiKey.query.all():
            key.revoked = True
        db.session.commit()
    assert client.get("/api/v1/surveys", headers=auth).status_code == 401


def test_list_surveys(app: Any, client: Any, auth: dict[str, str]) -> None:
    body = client.get("/api/v1/surveys", headers=auth).json
    surveys = {s["id"]: s for s in body["surveys"]}
    assert set(surveys) >= {"post-purchase", "relationship-nps", "support-call", "support-ticket"}
    call = surveys["support-call"]
    assert call["title"] == "After your call"
    assert len(call["version"]) == 16
    assert call["channels"] == ["ivr", "sms", "web"]
    assert call["locales"] == ["en", "zh-CN"]
    assert [q["id"] for q in call["questions"]] == ["nps", "reason", "resolved"]
    nps = call["questions"][0]
    assert nps == {"id": "nps", "type": "nps", "text": "How likely are you to recommend us to a friend or colleague?",
                   "required": True, "scale": {"min": 0, "max": 10}}
    topic = next(q for q in surveys["support-ticket"]["questions"] if q["id"] == "topic")
    assert topic["choices"][0] == {"code": "billing", "label": "Billing"}
    assert client.get("/api/v1/surveys/support-call", headers=auth).json["id"] == "support-call"


def test_unknown_survey_is_404_json(app: Any, client: Any, auth: dict[str, str]) -> None:
    for path in ("/api/v1/surveys/nope/responses", "/api/v1/surveys/nope/metrics", "/api/v1/surveys/nope"):
        resp = client.get(path, headers=auth)
        assert resp.status_code == 404
        assert resp.json == {"error": "not_found", "message": "no survey 'nope'"}


def test_wrong_method_and_unknown_endpoint_are_json(app: Any, client: Any, auth: dict[str, str]) -> None:
    resp = client.post(URL, headers=auth)
    assert resp.status_code == 405 and resp.json["error"] == "method_not_allowed"
    resp = client.get("/api/v1/nothing-here", headers=auth)
    assert resp.status_code == 404 and "message" in resp.json


def test_response_shape(app: Any, client: Any, auth: dict[str, str]) -> None:
    rid = respond(
        app, "support-call", ["I'd say an eight", "too slow", "yes"], channel="sms", locale="zh-CN",
        contact={"external_id": "cust-42", "phone": "+15551234567"},
        context={"event": {"id": "evt-1", "type": "call.ended", "data": {"agent": "Ann"}}},
        meta={"invitation_id": 5},
    )
    body = client.get(URL, headers=auth).json
    assert body["survey"] == "support-call" and body["next_cursor"] is None
    [r] = body["responses"]
    assert r["id"] == rid
    assert list(r) == ["id", "session_id", "survey", "version", "status", "channel", "locale", "contact_id",
                       "started_at", "ended_at", "event", "meta", "answers"]
    assert r["survey"] == "support-call" and len(r["version"]) == 16
    assert r["status"] == "complete" and r["channel"] == "sms" and r["locale"] == "zh-CN"
    assert r["contact_id"] == "cust-42"
    assert r["event"] == {"id": "evt-1", "type": "call.ended", "data": {"agent": "Ann"}}
    assert r["meta"] == {"invitation_id": 5}
    assert r["started_at"].endswith("Z") and r["ended_at"].endswith("Z")
    dt.datetime.fromisoformat(r["started_at"])
    nps = r["answers"]["nps"]
    assert nps["value"] == 8 and nps["raw"] == "I'd say an eight" and nps["modality"] == "text"
    assert list(nps) == ["value", "raw", "modality", "confidence", "answered_at", "extra"]
    assert r["answers"]["resolved"]["value"] is True
    assert r["answers"]["reason"]["value"] == "too slow"


def test_contact_without_external_id_and_no_contact(app: Any, client: Any, auth: dict[str, str]) -> None:
    respond(app, "support-call", ["10", "yes"], contact={"phone": "+15550001111"})
    respond(app, "support-call", ["10", "yes"])
    rows = client.get(URL, headers=auth).json["responses"]
    assert rows[0]["contact_id"].isdigit()
    assert rows[1]["contact_id"] is None and rows[1]["event"] is None


def test_partial_and_abandoned(app: Any, client: Any, auth: dict[str, str]) -> None:
    respond(app, "support-call", ["3"], finish=False)
    respond(app, "support-call", [], finish=False)
    rows = client.get(URL, headers=auth).json["responses"]
    assert [r["status"] for r in rows] == ["partial", "abandoned"]
    assert rows[0]["meta"]["end_reason"] == "hangup"
    assert rows[0]["answers"]["nps"]["value"] == 3


def test_paging_with_an_opaque_cursor(app: Any, client: Any, auth: dict[str, str]) -> None:
    ids = [respond(app, "support-call", [str(n), "yes"] if n > 8 else [str(n), "why", "no"]) for n in range(7)]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        q = f"{URL}?limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(q, headers=auth).json
        seen += [r["id"] for r in body["responses"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert str(ids[0]) not in cursor or len(cursor) > 8, "the cursor is opaque"
    assert seen == ids and pages == 3
    assert len(client.get(f"{URL}?limit=1000", headers=auth).json["responses"]) == 7
    default = client.get(URL, headers=auth).json
    assert len(default["responses"]) == 7 and default["next_cursor"] is None


def test_cursor_of_another_survey_is_refused(app: Any, client: Any, auth: dict[str, str]) -> None:
    for _ in range(2):
        respond(app, "support-ticket", ["7", "billing", "2"], channel="chat")
    cursor = client.get("/api/v1/surveys/support-ticket/responses?limit=1", headers=auth).json["next_cursor"]
    resp = client.get(f"{URL}?cursor={cursor}", headers=auth)
    assert resp.status_code == 400 and "another survey" in resp.json["message"]


def test_filters(app: Any, client: Any, auth: dict[str, str]) -> None:
    old = dt.datetime(2026, 1, 10, 12, 0)
    a = respond(app, "support-call", ["9", "yes"], channel="sms", started_at=old)
    b = respond(app, "support-call", ["9", "yes"], channel="web", locale="zh-CN")
    c = respond(app, "support-call", ["2"], channel="ivr", finish=False)

    def ids(query: str) -> list[int]:
        resp = client.get(f"{URL}?{query}", headers=auth)
        assert resp.status_code == 200, resp.json
        return [r["id"] for r in resp.json["responses"]]

    assert ids("status=complete") == [a, b]
    assert ids("status=partial") == [c]
    assert ids("status=partial,complete") == [a, b, c]
    assert ids("status=complete&status=partial") == [a, b, c]
    assert ids("channel=web") == [b]
    assert ids("channel=SMS,ivr") == [a, c]
    assert ids("locale=zh-CN") == [b]
    assert ids("locale=zh_CN") == [b]
    assert ids("locale=zh-cn") == [b] and ids("locale=ZH_cn") == [b]
    assert ids("since=2026-02-01") == [b, c]
    assert ids("until=2026-02-01T00:00:00Z") == [a]
    assert ids("since=2026-01-10T12:00:00Z&until=2026-01-10T12:00:01Z") == [a]
    assert ids("since=2026-01-10T20:00:00%2B08:00&until=2026-01-10T20:00:01%2B08:00") == [a]
    assert ids("since=2026-01-10T11:00:00&channel=sms&status=complete") == [a]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-5", "limit"),
        ("limit=ten", "limit"),
        ("cursor=abc", "cursor"),
        ("cursor=eyJhIjoxfQ.forged", "cursor"),
        ("status=done", "status"),
        ("channel=fax", "channel"),
        ("locale=english!", "locale"),
        ("since=yesterday", "since"),
        ("since=2026-13-01", "since"),
        ("until=2026-01-01T25:00", "until"),
        ("since=2026-02-01&until=2026-01-01", "until must be later"),
        ("format=xml", "format"),
        ("format=csv&status=nope", "status"),
    ],
)
def test_malformed_requests_get_a_clear_400(app: Any, client: Any, auth: dict[str, str], query: str, words: str) -> None:
    resp = client.get(f"{URL}?{query}", headers=auth)
    assert resp.status_code == 400
    assert resp.json["error"] == "bad_request"
    assert words in resp.json["message"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    params=st.dictionaries(
        st.sampled_from(["limit", "cursor", "status", "channel", "locale", "since", "until", "format", "bom"]),
        st.text(max_size=30),
        max_size=4,
    )
)
def test_any_query_gets_json_never_a_500(sqlite_app: Any, params: dict[str, str]) -> None:
    from feedback.store import operations as ops

    with sqlite_app.app_context():
        key = ops.create_api_key("fuzz")
    resp = sqlite_app.test_client().get(URL, query_string=params, headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code in (200, 400)
    if resp.status_code == 400 or resp.mimetype == "application/json":
        assert resp.json is not None


def test_csv_export(app: Any, client: Any, auth: dict[str, str]) -> None:
    respond(app, "post-purchase", ["2", "late, damaged", "no", "=HYPERLINK(\"x\")"], channel="sms",
            contact={"external_id": "c-1"}, context={"event": {"id": "evt-9", "type": "order.delivered"}})
    respond(app, "post-purchase", ["5", "yes", "很好"], channel="web", locale="zh-CN")
    respond(app, "post-purchase", ["4"], channel="sms", finish=False)
    resp = client.get("/api/v1/surveys/post-purchase/responses?format=csv", headers=auth)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="post-purchase-responses.csv"' in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert list(rows[0]) == ["id", "session_id", "survey", "version", "status", "channel", "locale", "contact_id",
                             "started_at", "ended_at", "event_id", "event_type", "csat", "issues", "repurchase", "comment"]
    assert len(rows) == 3
    first, second, third = rows
    assert first["csat"] == "2" and first["issues"] == "late;damaged" and first["repurchase"] == "no"
    assert first["comment"] == "'=HYPERLINK(\"x\")", "formulas are not run by spreadsheets"
    assert first["contact_id"] == "c-1" and first["event_id"] == "evt-9" and first["event_type"] == "order.delivered"
    assert second["issues"] == "" and second["repurchase"] == "yes" and second["comment"] == "很好"
    assert second["locale"] == "zh-CN" and second["status"] == "complete"
    assert third["status"] == "partial" and third["csat"] == "4" and third["ended_at"]
    filtered = client.get("/api/v1/surveys/post-purchase/responses?format=csv&channel=web", headers=auth)
    assert len(list(csv.DictReader(io.StringIO(filtered.get_data(as_text=True))))) == 1
    excel = client.get("/api/v1/surveys/post-purchase/responses?format=csv&bom=1", headers=auth)
    assert excel.get_data().startswith("\ufeff".encode())


def test_csv_export_streams_many_rows(app: Any, client: Any, auth: dict[str, str]) -> None:
    from feedback.api import responses as rs

    for n in range(5):
        respond(app, "support-call", [str(n), "reason", "yes"])
    from feedback.api.params import ResponseFilters

    with app.test_request_context():
        lines = list(rs.csv_rows("support-call", ResponseFilters(), batch=2))
    assert len(lines) == 6
    assert [line.split(",")[12] for line in lines[1:]] == ["0", "1", "2", "3", "4"]


def test_web_answer_shows_up_typed(app: Any, client: Any, auth: dict[str, str]) -> None:
    respond(app, "support-ticket", ["6", "account", "3"], channel="web")
    [r] = client.get("/api/v1/surveys/support-ticket/responses", headers=auth).json["responses"]
    assert r["answers"]["ces"]["value"] == 6 and r["answers"]["ces"]["modality"] == "web"
    assert r["answers"]["topic"]["value"] == "account"
    assert r["answers"]["contacts"]["value"] == 3 and isinstance(r["answers"]["contacts"]["value"], int)
