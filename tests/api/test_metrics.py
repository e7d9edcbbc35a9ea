"""``/api/v1/surveys/<id>/metrics``: NPS, CSAT, CES, ratings and counts, checked by hand."""

from __future__ import annotations

from typing import Any

from .conftest import respond


def metrics(client: Any, auth: dict[str, str], survey_id: str, query: str = "") -> Any:
    resp = client.get(f"/api/v1/surveys/{survey_id}/metrics{query}", headers=auth)
    assert resp.status_code == 200, resp.json
    return resp.json


def test_empty_survey(app: Any, client: Any, auth: dict[str, str]) -> None:
    body = metrics(client, auth, "support-call")
    assert body["responses"] == {"total": 0, "by_status": {"complete": 0, "partial": 0, "abandoned": 0}, "by_channel": {}}
    nps = body["questions"]["nps"]
    assert nps["count"] == 0 and nps["nps"] is None and nps["mean"] is None
    assert nps["distribution"] == {str(n): 0 for n in range(11)}


def test_nps(app: Any, client: Any, auth: dict[str, str]) -> None:
    # 10, 9, 9 promoters; 8, 7 passives; 6, 0 detractors -> (3 - 2) / 7 = 14.3
    for score in ("10", "9", "9"):
        respond(app, "support-call", [score, "yes"], channel="sms")
    for score in ("8", "7", "6", "0"):
        respond(app, "support-call", [score, "because", "no"], channel="ivr")
    respond(app, "support-call", [], channel="web", finish=False)
    body = metrics(client, auth, "support-call")
    assert body["survey"] == "support-call"
    assert body["responses"] == {
        "total": 8,
        "by_status": {"complete": 7, "partial": 0, "abandoned": 1},
        "by_channel": {"ivr": 4, "sms": 3, "web": 1},
    }
    nps = body["questions"]["nps"]
    assert nps["type"] == "nps" and nps["count"] == 7
    assert (nps["promoters"], nps["passives"], nps["detractors"]) == (3, 2, 2)
    assert nps["nps"] == 14.3
    assert nps["mean"] == round((10 + 9 + 9 + 8 + 7 + 6 + 0) / 7, 2)
    assert nps["distribution"]["9"] == 2 and nps["distribution"]["5"] == 0
    assert body["questions"]["resolved"] == {"type": "yes_no", "count": 7, "counts": {"yes": 3, "no": 4}}
    assert body["questions"]["reason"] == {"type": "text", "count": 4}
    # Filters narrow the metrics like the responses list.
    sms = metrics(client, auth, "support-call", "?channel=sms")
    assert sms["questions"]["nps"]["nps"] == 100.0 and sms["responses"]["total"] == 3
    assert sms["filters"]["channel"] == ["sms"]


def test_csat_and_multiple_choice(app: Any, client: Any, auth: dict[str, str]) -> None:
    respond(app, "post-purchase", ["5", "yes", "great"], channel="web")
    respond(app, "post-purchase", ["4", "yes", "fine"], channel="web")
    respond(app, "post-purchase", ["2", "late, damaged", "no", "bad"], channel="sms")
    respond(app, "post-purchase", ["1", "late", "no", "worse"], channel="sms")
    body = metrics(client, auth, "post-purchase")
    csat = body["questions"]["csat"]
    assert csat["count"] == 4 and csat["satisfied"] == 2 and csat["csat"] == 50.0
    assert csat["mean"] == 3.0
    assert csat["distribution"] == {"1": 1, "2": 1, "3": 0, "4": 1, "5": 1}
    issues = body["questions"]["issues"]
    assert issues["count"] == 2
    assert issues["counts"] == {"late": 2, "damaged": 1, "wrong_item": 0, "price": 0, "other": 0}
    assert body["questions"]["repurchase"]["counts"] == {"yes": 2, "no": 2}


def test_ces_rating_choice_and_number(app: Any, client: Any, auth: dict[str, str]) -> None:
    respond(app, "support-ticket", ["7", "billing", "1"], channel="chat")
    respond(app, "support-ticket", ["4", "billing", "3", "call back"], channel="chat")
    respond(app, "support-ticket", ["2", "delivery", "6", "faster"], channel="web")
    body = metrics(client, auth, "support-ticket")
    ces = body["questions"]["ces"]
    assert ces["count"] == 3 and ces["mean"] == round(13 / 3, 2)
    assert "nps" not in ces and "csat" not in ces
    assert body["questions"]["topic"]["counts"] == {"billing": 2, "delivery": 1, "account": 0, "product": 0}
    contacts = body["questions"]["contacts"]
    assert contacts == {"type": "number", "count": 3, "mean": round(10 / 3, 2), "min": 1.0, "max": 6.0}
    assert body["questions"]["improve"]["count"] == 2


def test_rating_means(app: Any, client: Any, auth: dict[str, str]) -> None:
    respond(app, "relationship-nps", ["9", "5", "4", "4", "3"], channel="web")
    respond(app, "relationship-nps", ["3", "1", "2", "2", "1", "slow"], channel="web")
    body = metrics(client, auth, "relationship-nps")
    q = body["questions"]
    assert q["wait_time"]["mean"] == 3.0 and q["wait_time"]["type"] == "rating"
    assert q["price"]["mean"] == 2.0
    assert q["nps"]["nps"] == 0.0 and q["nps"]["promoters"] == 1 and q["nps"]["detractors"] == 1
    assert q["improve"]["count"] == 1


def test_metrics_filters_are_validated(app: Any, client: Any, auth: dict[str, str]) -> None:
    resp = client.get("/api/v1/surveys/support-call/metrics?since=soon", headers=auth)
    assert resp.status_code == 400 and "since" in resp.json["message"]


def test_a_survey_opened_and_not_answered_is_not_a_partial_response(app: Any, client: Any, auth: dict[str, str]) -> None:
    # A personal link opened (by a person or a link scanner) and left: nothing is stored.
    with app.test_request_context():
        from channels.web.tokens import make_invitation_token

        token = make_invitation_token("support-call", invitation_id=1)
    assert client.get(f"/i/{token}").status_code == 200
    assert client.get("/s/support-call").status_code == 200
    # A session started with no answer yet (an SMS invitation not replied to) is not counted.
    respond(app, "support-call", [], channel="sms", finish=False, keep_open=True)
    respond(app, "support-call", ["4"], channel="web", finish=False, keep_open=True)
    body = metrics(client, auth, "support-call")
    assert body["responses"] == {
        "total": 1,
        "by_status": {"complete": 0, "partial": 1, "abandoned": 0},
        "by_channel": {"web": 1},
    }
