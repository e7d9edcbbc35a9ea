"""The contact policy decides as configured: frequency caps, the minimum gap, quiet hours
(deferred, then sent), sampling and opt-outs; every decision recorded and shown."""

from __future__ import annotations

import datetime as dt

from feedback.store.distribution import EmailMessage
from tests.triggers.support import Dist, contact


def decision(body: dict) -> dict:  # type: ignore[type-arg]
    [d] = body["decisions"]
    return d


def test_frequency_cap_across_surveys(dist: Dist) -> None:
    c = contact(1)
    assert decision(dist.send("f1", "t.email", c))["outcome"] == "scheduled"
    dist.clock.advance(days=1)
    assert decision(dist.send("f2", "t.b", c))["outcome"] == "scheduled"
    dist.clock.advance(days=1)
    capped = decision(dist.send("f3", "t.c", c))
    assert (capped["outcome"], capped["reason"]) == ("suppressed", "frequency_cap")
    assert capped["detail"] == "2 surveys in the last 30d; the policy allows 2"
    # Someone else is not affected, and 30 days later the contact may be asked again.
    assert decision(dist.send("f4", "t.c", contact(2)))["outcome"] == "scheduled"
    dist.clock.advance(days=29)
    assert decision(dist.send("f5", "t.c", c))["outcome"] == "scheduled"
    shown = dist.event_detail("f3")["decisions"][0]
    assert shown["reason"] == "frequency_cap" and shown["invitation"] is None


def test_min_gap_before_the_same_survey(dist: Dist) -> None:
    c = contact(1)
    assert decision(dist.send("g1", "t.b", c))["outcome"] == "scheduled"
    dist.run()  # the email goes out
    dist.clock.advance(days=2)
    again = decision(dist.send("g2", "t.b", c))
    assert (again["outcome"], again["reason"]) == ("suppressed", "min_gap")
    assert "min_gap 1w" in again["detail"] and "possible again after 2026-11-30T12:00:00Z" in again["detail"]
    dist.advance(days=5, minutes=1)  # the first invitation closes unanswered after 7 days
    assert dist.event_detail("g1")["decisions"][0]["invitation"]["status"] == "unanswered"
    assert decision(dist.send("g3", "t.b", c))["outcome"] == "scheduled"


def test_an_open_invitation_of_the_same_survey(dist: Dist) -> None:
    c = contact(1)
    dist.send("o1", "t.c", c)  # t-c has no minimum gap
    d = decision(dist.send("o2", "t.c", c))
    assert (d["outcome"], d["reason"]) == ("suppressed", "already_invited")


def test_quiet_hours_defer_then_send(dist: Dist) -> None:
    dist.clock.now = dt.datetime(2026, 11, 23, 22, 30)  # 22:30 in London
    d = decision(dist.send("q1", "t.email", contact(1)))
    assert d["outcome"] == "deferred" and d["reason"] == "quiet_hours"
    assert d["deferred_until"] == "2026-11-24T08:00:00Z"
    assert d["invitation"]["steps"][0]["status"] == "deferred"
    assert dist.run() == 0  # nothing is due during the night
    assert dist.eml() == []
    dist.clock.now = dt.datetime(2026, 11, 24, 8, 0)
    dist.run()
    [msg] = dist.eml()
    assert msg["To"] == "c1@example.com"
    steps = dist.event_detail("q1")["decisions"][0]["invitation"]["steps"]
    assert steps[0]["status"] == "sent" and steps[0]["sent_at"] == "2026-11-24T08:00:00Z"
    assert [h["status"] for h in steps[0]["history"]] == ["deferred", "sending", "sent"]


def test_quiet_hours_are_in_the_contact_time_zone(dist: Dist) -> None:
    # 14:00 UTC is 22:00 in Shanghai: deferred to 08:00 there (00:00 UTC).
    dist.clock.now = dt.datetime(2026, 11, 23, 14, 0)
    d = decision(dist.send("z1", "t.email", contact(1, timezone="Asia/Shanghai")))
    assert d["deferred_until"] == "2026-11-24T00:00:00Z"
    assert "Asia/Shanghai" in d["detail"]
    # The same moment is 14:00 in London: sent at once.
    assert decision(dist.send("z2", "t.email", contact(2)))["outcome"] == "scheduled"


def test_a_later_step_falling_in_quiet_hours_waits(dist: Dist) -> None:
    dist.clock.now = dt.datetime(2026, 11, 23, 20, 30)
    dist.send("w1", "t.multi", contact(1, phone="+15551110001"))
    dist.app.config["TWILIO_ACCOUNT_SID"] = None  # the SMS channel is not configured here
    dist.run()
    dist.clock.now = dt.datetime(2026, 11, 23, 21, 31)  # the wait is over, in quiet hours
    dist.run()
    steps = dist.event_detail("w1")["decisions"][0]["invitation"]["steps"]
    assert steps[1]["channel"] == "email"
    assert steps[1]["status"] == "deferred" and steps[1]["scheduled_for"] == "2026-11-24T08:00:00Z"
    dist.clock.now = dt.datetime(2026, 11, 24, 8, 0)
    dist.run()
    steps = dist.event_detail("w1")["decisions"][0]["invitation"]["steps"]
    assert steps[1]["status"] == "sent"


def test_sampling_is_deterministic_and_roughly_honoured(dist: Dist) -> None:
    n = 300
    batch = [
        {"id": f"s{i}", "type": "t.sample", "contact": {"id": f"sample-{i}", "email": f"s{i}@example.com"}}
        for i in range(n)
    ]
    body = dist.post({"events": batch}).get_json()
    outcomes = [r["decisions"][0]["outcome"] for r in body["results"]]
    asked = outcomes.count("scheduled")
    assert set(outcomes) == {"scheduled", "sampled_out"}
    assert 0.2 * n < asked < 0.4 * n  # sample: 30%
    # The same contacts in new events decide the same way.
    dist.clock.advance(days=60)
    again = dist.post({"events": [{**e, "id": e["id"] + "-again"} for e in batch]}).get_json()
    again_outcomes = [r["decisions"][0]["outcome"] for r in again["results"]]
    assert [o == "sampled_out" for o in again_outcomes] == [o == "sampled_out" for o in outcomes]
    out = next(r for r in body["results"] if r["decisions"][0]["outcome"] == "sampled_out")
    assert out["decisions"][0]["reason"] == "sampled_out" and "30%" in out["decisions"][0]["detail"]


def test_opt_outs_per_channel_and_global(dist: Dist) -> None:
    from feedback.store import operations as ops

    with dist.ctx():
        email_out = ops.find_or_create_contact(external_id="out-email", email="oe@example.com", phone="+15550001001")
        ops.record_opt_out(email_out, "email", "test")
        all_out = ops.find_or_create_contact(external_id="out-all", email="oa@example.com", phone="+15550001002")
        ops.record_opt_out(all_out, "all", "test")
    d = decision(dist.send("x1", "t.email", {"id": "out-email"}))
    assert (d["outcome"], d["reason"]) == ("suppressed", "opted_out")
    assert "opted out of email" in d["detail"]
    # On a ladder the opted-out channel is skipped and the next one goes first.
    d = decision(dist.send("x2", "t.multi", {"id": "out-email"}))
    assert [(s["channel"], s["status"]) for s in d["invitation"]["steps"]] == [("sms", "scheduled"), ("email", "skipped")]
    d = decision(dist.send("x3", "t.multi", {"id": "out-all"}))
    assert (d["outcome"], d["reason"]) == ("suppressed", "opted_out")
    assert "all surveys" in d["detail"]


def test_an_opt_out_after_scheduling_stops_the_send(dist: Dist) -> None:
    from feedback.store import operations as ops

    dist.send("y1", "t.email", contact(1))
    with dist.ctx():
        c = ops.find_or_create_contact(external_id="cust-1")
        ops.record_opt_out(c, "all", "phone call")
    dist.run()
    assert dist.eml() == []
    inv = dist.event_detail("y1")["decisions"][0]["invitation"]
    assert inv["status"] == "stopped" and inv["reason"] == "opted_out"
    assert inv["steps"][0]["status"] == "skipped" and inv["steps"][0]["reason"] == "opted_out"
    assert dist.count(EmailMessage) == 0
    # An invitation that sent nothing does not count against the frequency cap later.
    with dist.ctx():
        ops.remove_opt_out(ops.find_or_create_contact(external_id="cust-1"), "all")
    assert decision(dist.send("y2", "t.b", contact(1)))["outcome"] == "scheduled"
    assert decision(dist.send("y3", "t.c", contact(1)))["outcome"] == "scheduled"


def test_the_policy_check_is_callable(dist: Dist) -> None:
    """The function other senders (the web intercept) call."""
    from feedback.store import operations as ops
    from feedback.triggers import operations as ladder
    from feedback.triggers import policy

    with dist.ctx():
        c = ops.find_or_create_contact(external_id="web-visitor", email="w@example.com")
        assert policy.check(c, "t-b", "web", dist.clock.now).allowed
        ladder.start_invitation("t-b", c, "web", source="intercept", now=dist.clock.now)
        d = policy.check(c, "t-b", "web", dist.clock.now)
        assert (d.outcome, d.reason) == ("suppress", "min_gap")
        ladder.start_invitation("t-c", c, "web", source="intercept", now=dist.clock.now)
        d = policy.check(c, "t-c", "web", dist.clock.now)  # t-c has no minimum gap
        assert (d.outcome, d.reason) == ("suppress", "already_invited")
        d = policy.check(c, "t-email", "email", dist.clock.now)
        assert (d.outcome, d.reason) == ("suppress", "frequency_cap")
        assert d.to_dict()["outcome"] == "suppress"
        night = dt.datetime(2026, 11, 23, 23, 0)
        other = ops.find_or_create_contact(external_id="night-owl", email="n@example.com")
        d = policy.check(other, "t-b", "email", night)
        assert d.outcome == "defer" and d.until == dt.datetime(2026, 11, 24, 8, 0)
        assert policy.check(other, "t-b", "web", night).allowed  # quiet hours do not cover web here


def test_a_broken_policy_file_sends_nothing_until_it_is_fixed(dist: Dist, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.triggers.support import POLICY

    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.read_text(encoding="utf-8"), encoding="utf-8")
    dist.app.config["CONTACT_POLICY"] = str(path)
    dist.send("p0", "t.email", contact(2))  # scheduled under the good policy, not sent yet
    path.write_text("frequency: {max_surveys: two, per: 30d}\n", encoding="utf-8")
    d = decision(dist.send("p1", "t.email", contact(1)))
    assert (d["outcome"], d["reason"]) == ("deferred", "policy_unavailable")
    assert "max_surveys must be a whole number" in d["detail"] and d["invitation"] is None
    resp = dist.get("/api/v1/policy")
    assert resp.status_code == 503
    assert resp.get_json()["problems"] == [f"{path}:1:26: max_surveys must be a whole number, 0 or more; not 'two'"]
    dist.advance(minutes=30)
    assert dist.eml() == []  # neither the new event's email nor the one scheduled before
    step = dist.event_detail("p0")["decisions"][0]["invitation"]["steps"][0]
    assert (step["status"], step["reason"]) == ("deferred", "policy_unavailable")
    path.write_text(POLICY.read_text(encoding="utf-8"), encoding="utf-8")
    dist.advance(minutes=5)
    assert sorted(m["To"] for m in dist.eml()) == ["c1@example.com", "c2@example.com"]
    d = dist.event_detail("p1")["decisions"]
    assert [x["outcome"] for x in d] == ["scheduled"] and "policy could be read again" in d[0]["detail"]
    assert dist.get("/api/v1/policy").status_code == 200


def test_opt_outs_are_recorded_by_the_api_global_included(dist: Dist) -> None:
    resp = dist.client.post("/api/v1/contacts/cust-1/opt-outs", json={"channel": "global", "source": "call centre"},
                            headers=dist.headers)
    assert resp.status_code == 201
    assert [(o["channel"], o["source"]) for o in resp.get_json()["opt_outs"]] == [("all", "call centre")]
    d = decision(dist.send("oo-1", "t.email", contact(1)))
    assert (d["outcome"], d["reason"]) == ("suppressed", "opted_out")
    bad = dist.client.post("/api/v1/contacts/cust-1/opt-outs", json={"channel": "pigeon"}, headers=dist.headers)
    assert bad.status_code == 400 and "channel must be one of" in bad.get_json()["message"]


def test_opt_outs_by_the_cli(sqlite_dist: Dist) -> None:
    """An IVR opt-out for a contact known by phone only."""
    from click.testing import CliRunner

    from feedback.cli import cli

    dist = sqlite_dist
    env = {"DATABASE_URL": dist.app.config["DATABASE_URL"], "SECRET_KEY": "test-secret", "REDIS_URL": ""}
    result = CliRunner().invoke(cli, ["contacts", "opt-out", "phone:+1 555 123 4567", "--channel", "ivr"], env=env)
    assert result.exit_code == 0, result.output
    assert "opted out of ivr" in result.output
    from sqlalchemy import select

    from feedback.store.models import Contact, db

    with dist.ctx():
        c = db.session.scalar(select(Contact).where(Contact.phone == "+15551234567"))
        assert c is not None and [o.channel for o in c.opt_outs] == ["ivr"]
