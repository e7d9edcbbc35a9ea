"""`feedback events`, `feedback policy` and the events API against whatever JSON comes in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedback.cli import cli
from tests.triggers.support import POLICY, Dist, contact, event


def env_of(d: Dist) -> dict[str, str]:
    return {"DATABASE_URL": d.app.config["DATABASE_URL"], "SECRET_KEY": "test-secret", "REDIS_URL": "",
            "CONTACT_POLICY": str(POLICY)}


def test_events_send_show_and_list(sqlite_dist: Dist, tmp_path: Path) -> None:
    runner = CliRunner()
    good = tmp_path / "event.json"
    good.write_text(json.dumps(event("cli-1", "t.b", contact(1))), encoding="utf-8")
    result = runner.invoke(cli, ["events", "send", str(good)], env=env_of(sqlite_dist))
    assert result.exit_code == 0, result.output
    assert "cli-1: accepted" in result.output and "t-b (t-b#1):" in result.output
    assert "step 1 email:" in result.output
    result = runner.invoke(cli, ["events", "send", str(good), "--json"], env=env_of(sqlite_dist))
    assert json.loads(result.output)["status"] == "duplicate"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"events": [{"id": "x"}, event("cli-2", "t.c", contact(2))]}), encoding="utf-8")
    result = runner.invoke(cli, ["events", "send", str(bad)], env=env_of(sqlite_dist))
    assert result.exit_code == 0
    assert "x: rejected" in result.output and "cli-2: accepted" in result.output
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    result = runner.invoke(cli, ["events", "send", str(broken)], env=env_of(sqlite_dist))
    assert result.exit_code == 1 and "not valid JSON" in result.output
    result = runner.invoke(cli, ["events", "show", "cli-1"], env=env_of(sqlite_dist))
    assert json.loads(result.output)["decisions"][0]["survey"] == "t-b"
    assert runner.invoke(cli, ["events", "show", "nope"], env=env_of(sqlite_dist)).exit_code == 1
    result = runner.invoke(cli, ["events", "list"], env=env_of(sqlite_dist))
    assert result.exit_code == 0 and "cli-2" in result.output
    assert sqlite_dist.event_detail("cli-1")["source"] == "cli"


def test_policy_commands(sqlite_dist: Dist, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["policy", "validate", str(POLICY)])
    assert result.exit_code == 0 and "valid" in result.output
    bad = tmp_path / "policy.yaml"
    bad.write_text("frequency: {max_surveys: two, per: 30d}\n", encoding="utf-8")
    result = runner.invoke(cli, ["policy", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:1:26: max_surveys must be a whole number, 0 or more; not 'two'" in result.output
    result = runner.invoke(cli, ["policy", "show"], env=env_of(sqlite_dist))
    assert json.loads(result.output)["min_gap"] == "1w"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
events_like = st.fixed_dictionaries(
    {"id": st.text(max_size=10) | st.integers(), "type": st.sampled_from(["t.email", "t.b", "x", "bad type"])},
    optional={"contact": st.fixed_dictionaries({}, optional={
        "id": st.text(max_size=8), "email": st.sampled_from(["a@example.com", "nope", ""]),
        "phone": st.sampled_from(["+15551230000", "12", ""]), "timezone": st.sampled_from(["UTC", "Mars/X"]),
    }), "data": json_values, "occurred_at": st.sampled_from(["2026-11-23T10:00:00Z", "yesterday", 1.5e9])},
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(json_values, events_like, st.lists(events_like, max_size=4)))
def test_the_events_api_answers_any_json_without_a_server_error(sqlite_dist: Dist, payload: Any) -> None:
    resp = sqlite_dist.post(payload)
    assert resp.status_code in (202, 400, 413), resp.get_data(as_text=True)
    body = resp.get_json()
    if resp.status_code == 400 and "errors" in body:
        assert all(e["message"] for e in body["errors"])


def test_validate_checks_the_policy_file_of_a_folder(tmp_path: Path) -> None:
    from tests.triggers.support import SURVEYS

    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "t-b.yaml").write_text((SURVEYS / "t-b.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "policy.yaml").write_text('quiet_hours: {start: "25:00", end: "08:00"}\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(folder)])
    assert result.exit_code == 1
    assert f"{folder / 'policy.yaml'}:1:22: start: '25:00' is not a time of day" in result.output
