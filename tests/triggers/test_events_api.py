"""POST /api/v1/events and friends, through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

from feedback.store.distribution import Invitation, InvitationStep, TouchpointEvent, TriggerDecision
from feedback.store.models import Contact, Job
from tests.triggers.support import T0, Dist, contact, event


def test_an_api_key_is_required(sqlite_dist: Dist) -> None:
    resp = sqlite_dist.client.post("/api/v1/events", json=event("e1", "t.email", contact(1)))
    assert resp.status_code == 401
    resp = sqlite_dist.client.post("/api/v1/events", json=event("e1", "t.email", contact(1)),
                            headers={"Authorization": "Bearer fbk_nope"})
    assert resp.status_code == 401
    assert sqlite_dist.count(TouchpointEvent) == 0


def test_an_event_is_stored_with_its_contact_and_schedules_an_invitation(dist: Dist) -> None:
    resp = dist.post(event(
        "evt-1", "t.email",
        {"id": "cust-42", "email": "Ann@Example.com", "locale": "zh-CN", "timezone": "Asia/Shanghai",
         "first_name": "Ann", "tier": "gold"},
        {"order_id": "A-17", "agent_name": "Li"},
        occurred_at="2026-11-23T11:55:00Z",
    ))
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["id"] == "evt-1" and body["status"] == "accepted" and body["type"] == "t.email"
    assert body["contact"]["id"] == "cust-42"
    [decision] = body["decisions"]
    assert decision["survey"] == "t-email"
    assert decision["outcome"] == "scheduled" and decision["reason"] is None
    inv = decision["invitation"]
    assert inv["status"] == "scheduled" and inv["channels"] == ["email"]
    assert inv["expires_at"] == "2026-12-07T11:55:00Z"  # 14 days after the event
    [step] = inv["steps"]
    assert step["channel"] == "email" and step["status"] == "scheduled"
    assert step["scheduled_for"] == "2026-11-23T12:00:00Z"

    with dist.ctx():
        from sqlalchemy import select

        from feedback.store.models import db

        c = db.session.scalar(select(Contact).where(Contact.external_id == "cust-42"))
        assert (c.email, c.locale, c.timezone) == ("ann@example.com", "zh-CN", "Asia/Shanghai")
        assert c.attributes == {"first_name": "Ann", "tier": "gold"}
        inv_row = db.session.get(Invitation, inv["id"])
        assert inv_row.context["event"]["agent_name"] == "Li"
        assert inv_row.context["event"]["data"] == {"order_id": "A-17", "agent_name": "Li"}
        assert inv_row.context["contact"]["first_name"] == "Ann"
        # The first step's job is in the outbox, written with the event.
        job = db.session.scalar(select(Job).where(Job.name == "run_step"))
        assert job.args == [step["id"]] and job.status == "pending"

    detail = dist.event_detail("evt-1")
    assert detail["data"] == {"order_id": "A-17", "agent_name": "Li"}
    assert detail["occurred_at"] == "2026-11-23T11:55:00Z"
    assert detail["contact_data"]["email"] == "ann@example.com"
    assert detail["decisions"][0]["invitation"]["id"] == inv["id"]


def test_the_same_id_twice_is_accepted_once(dist: Dist) -> None:
    first = dist.send("evt-1", "t.email", contact(1), {"order_id": "A"})
    again = dist.post(event("evt-1", "t.email", contact(1), {"order_id": "A"}))
    assert again.status_code == 202
    body = again.get_json()
    assert body["status"] == "duplicate"
    assert "warning" not in body
    assert body["decisions"] == first["decisions"]
    changed = dist.post(event("evt-1", "t.email", contact(1), {"order_id": "B"})).get_json()
    assert changed["status"] == "duplicate" and "different content" in changed["warning"]
    assert dist.count(TouchpointEvent) == 1
    assert dist.count(Invitation) == 1
    assert dist.count(TriggerDecision) == 1


def test_concurrent_replays_store_the_event_once(dist: Dist) -> None:
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            client = dist.app.test_client()
            resp = client.post("/api/v1/events", json=event("same", "t.email", contact(7)), headers=dist.headers)
            assert resp.status_code == 202, resp.get_json()
            results.append(resp.get_json())
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(r["status"] for r in results) == ["accepted"] + ["duplicate"] * 5
    assert dist.count(TouchpointEvent) == 1
    assert dist.count(Invitation) == 1
    assert dist.count(Contact) == 1


def test_an_invalid_event_lists_every_problem_and_stores_nothing(dist: Dist) -> None:
    resp = dist.post({"id": "", "type": "bad type", "dat": {}, "contact": {"email": "x", "timezone": "Mars/Base"}})
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["error"] == "invalid_event"
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert set(fields) == {"dat", "id", "type", "contact.email", "contact.timezone"}
    assert "did you mean 'data'" in fields["dat"]
    assert dist.count(TouchpointEvent) == 0
    assert dist.count(Contact) == 0
    assert dist.count(Job) == 0


def test_bodies_that_are_not_events(sqlite_dist: Dist) -> None:
    resp = sqlite_dist.client.post("/api/v1/events", data="{not json", headers={**sqlite_dist.headers, "Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_json"
    resp = sqlite_dist.client.post("/api/v1/events", data="", headers=sqlite_dist.headers)
    assert resp.status_code == 400
    assert sqlite_dist.post({"events": "x"}).status_code == 400
    assert sqlite_dist.post({"events": []}).status_code == 400
    assert sqlite_dist.post({"events": [], "extra": 1}).status_code == 400
    assert sqlite_dist.post("just text").status_code == 400


def test_a_batch_reports_per_item(dist: Dist) -> None:
    dist.send("old", "t.email", contact(1))
    batch = [
        event("b1", "t.email", contact(2)),
        {"id": "b2", "type": "t.email"},  # no contact
        event("old", "t.email", contact(1)),  # seen before
        event("b3", "t.nothing", contact(3)),
        event("b1", "t.email", contact(2)),  # twice in the batch
        "not an event",
    ]
    resp = dist.post({"events": batch})
    assert resp.status_code == 202
    body = resp.get_json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 2, 2)
    statuses = [(r["index"], r["id"], r["status"]) for r in body["results"]]
    assert statuses == [
        (0, "b1", "accepted"), (1, "b2", "invalid"), (2, "old", "duplicate"), (3, "b3", "accepted"),
        (4, "b1", "duplicate"), (5, None, "invalid"),
    ]
    assert body["results"][1]["errors"] == [
        {"field": "contact", "message": 'contact is required: {"id": ..., "phone"?, "email"?, "locale"?, "timezone"?}'}
    ]
    assert body["results"][0]["decisions"][0]["outcome"] == "scheduled"
    assert body["results"][3]["decisions"] == [] and "no trigger" in body["results"][3]["note"]
    assert dist.count(TouchpointEvent) == 3


def test_a_json_array_is_a_batch_and_all_invalid_is_400(dist: Dist) -> None:
    resp = dist.post([event(f"a{i}", "t.email", contact(i)) for i in range(3)])
    assert resp.status_code == 202 and resp.get_json()["accepted"] == 3
    resp = dist.post([{"id": "x"}, {"id": "y"}])
    assert resp.status_code == 400 and resp.get_json()["rejected"] == 2


def test_a_batch_of_a_thousand_and_no_more(dist: Dist) -> None:
    big = [event(f"k{i}", "t.nothing", contact(i)) for i in range(1000)]
    resp = dist.post({"events": big})
    assert resp.status_code == 202
    assert resp.get_json()["accepted"] == 1000
    assert dist.count(TouchpointEvent) == 1000
    resp = dist.post({"events": [*big, event("k1000", "t.nothing", contact(1000))]})
    assert resp.status_code == 413
    assert dist.count(TouchpointEvent) == 1000


def test_conditions_see_event_data_and_contact(dist: Dist) -> None:
    yes = dist.send("c1", "t.cond", contact(1), {"queue": "billing"})
    assert yes["decisions"][0]["outcome"] == "scheduled"
    no = dist.send("c2", "t.cond", contact(2), {"queue": "sales"})
    assert no["decisions"][0]["outcome"] == "skipped"
    assert no["decisions"][0]["reason"] == "condition_false"
    assert no["decisions"][0]["invitation"] is None
    test = dist.send("c3", "t.cond", contact(3, tier="test"), {"queue": "billing"})
    assert test["decisions"][0]["reason"] == "condition_false"


def test_event_type_lists_and_prefixes(sqlite_dist: Dist) -> None:
    a = sqlite_dist.send("p1", "t.multi", contact(1, phone="+15551110001"))
    b = sqlite_dist.send("p2", "t.prefix.anything", contact(2, phone="+15551110002"))
    assert a["decisions"][0]["survey"] == b["decisions"][0]["survey"] == "t-email"
    assert [s["channel"] for s in a["decisions"][0]["invitation"]["steps"]] == ["sms", "email"]
    assert [s["status"] for s in a["decisions"][0]["invitation"]["steps"]] == ["scheduled", "planned"]
    assert b["decisions"][0]["outcome"] == "scheduled"


def test_delay_and_expiry_count_from_the_event(sqlite_dist: Dist) -> None:
    fresh = sqlite_dist.send("d1", "t.delay", contact(1), occurred_at="2026-11-23T11:55:00Z")
    step = fresh["decisions"][0]["invitation"]["steps"][0]
    assert step["scheduled_for"] == "2026-11-23T12:05:00Z"  # 10 minutes after the event
    assert fresh["decisions"][0]["trigger"] == "delayed"
    late = sqlite_dist.send("d2", "t.delay", contact(2), occurred_at="2026-11-23T09:00:00Z")
    assert late["decisions"][0]["outcome"] == "suppressed"
    assert late["decisions"][0]["reason"] == "expired"
    old = sqlite_dist.send("d3", "t.delay", contact(3), occurred_at="2026-11-23T11:10:00Z")
    # 10 minutes after the event is already past: the first step goes now.
    assert old["decisions"][0]["invitation"]["steps"][0]["scheduled_for"] == "2026-11-23T12:00:00Z"


def test_a_contact_without_the_address_of_any_channel(dist: Dist) -> None:
    body = dist.send("n1", "t.email", {"id": "no-email", "phone": "+15551112222"})
    d = body["decisions"][0]
    assert (d["outcome"], d["reason"]) == ("suppressed", "no_address")
    assert "no email address" in d["detail"]
    # On a ladder, the rung without an address is skipped and the next one goes first.
    body = dist.send("n2", "t.multi", {"id": "mail-only", "email": "m@example.com"})
    steps = body["decisions"][0]["invitation"]["steps"]
    assert [(s["channel"], s["status"], s["reason"]) for s in steps] == [
        ("sms", "skipped", "no_address"), ("email", "scheduled", None)
    ]


def test_list_and_filters(dist: Dist) -> None:
    dist.send("l1", "t.email", contact(1))
    dist.send("l2", "t.cond", contact(2), {"queue": "sales"})
    dist.clock.advance(hours=1)
    dist.send("l3", "t.b", contact(3))
    everything = dist.get("/api/v1/events").get_json()
    assert [e["id"] for e in everything["events"]] == ["l3", "l2", "l1"]
    assert everything["next_cursor"] is None
    assert [e["id"] for e in dist.get("/api/v1/events", type="t.cond").get_json()["events"]] == ["l2"]
    assert [e["id"] for e in dist.get("/api/v1/events", contact="cust-1").get_json()["events"]] == ["l1"]
    assert [e["id"] for e in dist.get("/api/v1/events", survey="t-b").get_json()["events"]] == ["l3"]
    assert [e["id"] for e in dist.get("/api/v1/events", outcome="skipped").get_json()["events"]] == ["l2"]
    assert [e["id"] for e in dist.get("/api/v1/events", since="2026-11-23T12:30:00Z").get_json()["events"]] == ["l3"]
    page = dist.get("/api/v1/events", limit=2).get_json()
    assert [e["id"] for e in page["events"]] == ["l3", "l2"]
    rest = dist.get("/api/v1/events", limit=2, cursor=page["next_cursor"]).get_json()
    assert [e["id"] for e in rest["events"]] == ["l1"] and rest["next_cursor"] is None
    assert dist.get("/api/v1/events", limit=0).status_code == 400
    assert dist.get("/api/v1/events", since="soon").status_code == 400
    assert dist.get("/api/v1/events", outcome="maybe").status_code == 400
    assert dist.get("/api/v1/events/nope").status_code == 404


def test_received_at_is_the_clock(sqlite_dist: Dist) -> None:
    body = sqlite_dist.send("r1", "t.email", contact(1))
    assert body["received_at"] == T0.isoformat() + "Z"


def test_the_event_detail_shows_every_step(dist: Dist) -> None:
    dist.send("s1", "t.multi", contact(1, phone="+15551110001"))
    with dist.ctx():
        from sqlalchemy import func, select

        from feedback.store.models import db

        assert db.session.scalar(select(func.count(InvitationStep.id))) == 2
    steps = dist.event_detail("s1")["decisions"][0]["invitation"]["steps"]
    assert steps[1]["scheduled_for"] == "2026-11-23T13:00:00Z"  # planned one wait later
    assert steps[0]["history"][0] == {"at": "2026-11-23T12:00:00Z", "status": "scheduled"}


def test_the_policy_in_force(sqlite_dist: Dist) -> None:
    body = sqlite_dist.get("/api/v1/policy").get_json()
    assert body["frequency"] == [{"max_surveys": 2, "per": "30d"}]
    assert body["quiet_hours"]["start"] == "21:00"


def test_values_json_columns_cannot_keep_are_located_errors_and_nothing_is_half_stored(dist: Dist) -> None:
    from feedback.store.distribution import EmailMessage, TouchpointEvent

    body = (
        '{"events": ['
        '{"id": "ok-1", "type": "t.b", "contact": {"id": "cust-1", "email": "c1@example.com"}, "data": {"n": 1}},'
        '{"id": "nan-1", "type": "t.b", "contact": {"id": "cust-2", "email": "c2@example.com"}, "data": {"score": NaN}},'
        '{"id": "nul-1", "type": "t.b", "contact": {"id": "cust-3", "email": "c3@example.com", "tier": "a\\u0000b"},'
        ' "data": {"items": [1, {"x": Infinity}]}}'
        ']}'
    )
    resp = dist.client.post("/api/v1/events", data=body, content_type="application/json", headers=dist.headers)
    assert resp.status_code == 202, resp.get_json()
    out = resp.get_json()
    assert (out["accepted"], out["rejected"]) == (1, 2)
    by_id = {r["id"]: r for r in out["results"]}
    assert by_id["nan-1"]["status"] == "invalid"
    assert by_id["nan-1"]["errors"] == [
        {"field": "data.score", "message": "data.score is NaN, which is not a JSON number; send a finite number or null"}
    ]
    assert sorted(e["field"] for e in by_id["nul-1"]["errors"]) == ["contact.tier", "data.items[1].x"]
    single = dist.client.post(
        "/api/v1/events", data='{"id": "inf-1", "type": "t.b", "contact": {"id": "cust-4"}, "data": {"v": -Infinity}}',
        content_type="application/json", headers=dist.headers,
    )
    assert single.status_code == 400 and single.get_json()["errors"][0]["field"] == "data.v"
    dist.run()
    assert dist.count(TouchpointEvent) == 1
    assert dist.count(EmailMessage) == 1


def test_the_answer_names_a_new_contact_by_its_stored_ref(dist: Dist) -> None:
    body = dist.send("ref-1", "t.nobody.listens", {"phone": "+15551230001"})
    assert body["decisions"] == []
    assert isinstance(body["contact"]["ref"], int) and body["contact"]["id"] == str(body["contact"]["ref"])
    batch = dist.post({"events": [event("ref-2", "t.nobody.listens", {"id": "cust-new"})]}).get_json()
    assert isinstance(batch["results"][0]["contact"]["ref"], int)
