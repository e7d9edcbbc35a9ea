"""The outbox against the real Redis and a real rq worker, and a real SMTP server:
Redis down during intake loses nothing and doubles nothing; failed jobs are visible and
can be retried; ``feedback worker``."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from feedback.store.models import Job
from tests.conftest import ROOT, free_port
from tests.triggers.support import SURVEYS, Dist, SmtpSink, contact, event, make_dist

pytestmark = pytest.mark.redis
FEEDBACK = str(Path(sys.executable).parent / "feedback")


def drain(dist: Dist, rounds: int = 20) -> int:
    """Dispatch due jobs onto rq and let a real rq worker (burst mode) run them, until
    nothing is due any more. Returns how many jobs went through rq."""
    from feedback import jobs

    jobs.make_worker(dist.app).work(burst=True, with_scheduler=True)  # what is on the queue already
    total = 0
    for _ in range(rounds):
        with dist.ctx():
            moved = jobs.dispatch_all(now=dist.clock.now)
        if not moved:
            break
        total += moved
        jobs.make_worker(dist.app).work(burst=True, with_scheduler=True)
    return total


@pytest.fixture
def rq_dist(dist: Dist, redis_url: str, smtp: SmtpSink) -> Iterator[Dist]:
    dist.app.config["SMTP_URL"] = smtp.url
    dist.extra["redis_url"] = redis_url
    dist.extra["smtp"] = smtp
    yield dist
    from redis import Redis
    from rq import Queue

    conn = Redis.from_url(redis_url)
    Queue(dist.app.config["JOBS_QUEUE"], connection=conn).delete(delete_jobs=True)


def pending(dist: Dist) -> int:
    """Jobs due and not done (later ones, a reminder in three days, do not count)."""
    from sqlalchemy import func, select

    from feedback.jobs import clock
    from feedback.store.models import db

    with dist.ctx():
        return int(db.session.scalar(
            select(func.count(Job.id)).where(Job.status.in_(("pending", "enqueued", "running")), Job.run_at <= clock())
        ) or 0)


def test_redis_down_during_intake_loses_nothing_and_doubles_nothing(rq_dist: Dist) -> None:
    from feedback import jobs

    smtp: SmtpSink = rq_dist.extra["smtp"]
    rq_dist.app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
    n = 20
    body = rq_dist.post({"events": [event(f"r{i}", "t.email", contact(i)) for i in range(n)]}).get_json()
    assert body["accepted"] == n
    with rq_dist.ctx():
        assert jobs.dispatch_due(now=rq_dist.clock.now) == 0  # Redis is down: the jobs stay
        assert jobs.redis_status()["down_since"] is not None
    assert pending(rq_dist) == n
    status = rq_dist.get("/api/v1/jobs", status="pending").get_json()
    assert status["counts"]["pending"] == n and status["redis_down_since"] is not None
    more = rq_dist.post(event("r-late", "t.email", contact("late"))).get_json()
    assert more["status"] == "accepted"

    rq_dist.app.config["REDIS_URL"] = rq_dist.extra["redis_url"]  # Redis is back
    assert drain(rq_dist) == 2 * (n + 1)  # a step and its email per event
    assert pending(rq_dist) == 0
    received = sorted(r for m in smtp.messages for r in m.rcpt_tos)
    assert received == sorted([f"c{i}@example.com" for i in range(n)] + ["clate@example.com"])
    # Running again sends nothing twice.
    assert drain(rq_dist) == 0
    assert len(smtp.messages) == n + 1
    with rq_dist.ctx():
        assert jobs.redis_status()["down_since"] is None
    detail = rq_dist.event_detail("r3")["decisions"][0]["invitation"]
    assert detail["steps"][0]["status"] == "sent"


def test_a_job_enqueued_twice_runs_once(rq_dist: Dist) -> None:
    from rq import Queue

    from feedback import jobs

    smtp: SmtpSink = rq_dist.extra["smtp"]
    rq_dist.app.config["REDIS_URL"] = rq_dist.extra["redis_url"]
    rq_dist.send("once", "t.email", contact(1))
    with rq_dist.ctx():
        job_id = jobs.list_jobs("pending")[0].id
        assert jobs.dispatch_due(now=rq_dist.clock.now) == 1
        # A second copy of the same job on the queue (e.g. after a dispatcher crash).
        Queue(jobs.queue_name(), connection=jobs.redis_connection()).enqueue("feedback.jobs.run_job", job_id)
    drain(rq_dist)
    jobs.make_worker(rq_dist.app).work(burst=True)
    assert len(smtp.messages) == 1


def test_stuck_jobs_return_to_the_outbox(rq_dist: Dist) -> None:
    from sqlalchemy import update

    from feedback import jobs
    from feedback.store.models import db, utcnow

    rq_dist.app.config["REDIS_URL"] = rq_dist.extra["redis_url"]
    rq_dist.send("stuck", "t.email", contact(1))
    with rq_dist.ctx():
        [row] = jobs.list_jobs("pending")
        # Marked enqueued long ago, but Redis never got it (flushed, say).
        db.session.execute(update(Job).where(Job.id == row.id).values(
            status="enqueued", updated_at=utcnow() - dt.timedelta(hours=1)))
        db.session.commit()
        assert jobs.recover_stuck() == 1
        assert db.session.get(Job, row.id).status == "pending"
    drain(rq_dist)
    assert len(rq_dist.extra["smtp"].messages) == 1


def test_a_failing_job_is_retried_then_failed_then_retried_by_hand(dist: Dist, smtp: SmtpSink) -> None:
    dist.app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"  # the mail server is down
    dist.send("fail", "t.email", contact(1))
    for _ in range(8):
        dist.advance(minutes=30)
    failed = dist.get("/api/v1/jobs", status="failed").get_json()["jobs"]
    assert [j["name"] for j in failed] == ["send_email"]
    assert failed[0]["attempts"] == 5 and "Connection" in failed[0]["last_error"]
    from feedback.store.distribution import EmailMessage

    with dist.ctx():
        from feedback.store.models import db

        row = db.session.get(EmailMessage, failed[0]["args"][0])
        assert (row.status, row.reason) == ("failed", "error")

    dist.app.config["SMTP_URL"] = smtp.url  # the mail server is back
    resp = dist.client.post(f"/api/v1/jobs/{failed[0]['id']}/retry", headers=dist.headers)
    assert resp.status_code == 200 and resp.get_json()["status"] == "pending"
    dist.run()
    assert len(smtp.messages) == 1
    assert dist.get("/api/v1/jobs", status="failed").get_json()["jobs"] == []
    assert dist.client.post("/api/v1/jobs/99999/retry", headers=dist.headers).status_code == 404


def test_a_refused_recipient_is_not_retried(sqlite_dist: Dist, smtp: SmtpSink) -> None:
    dist = sqlite_dist
    dist.app.config["SMTP_URL"] = smtp.url
    dist.send("refused", "t.email", {"id": "r", "email": "nobody@refused.example"})
    dist.run()
    from feedback.store.distribution import EmailMessage

    with dist.ctx():
        from sqlalchemy import select

        from feedback.store.models import db

        row = db.session.scalar(select(EmailMessage))
        assert (row.status, row.reason) == ("failed", "rejected")
        assert "550" in row.error
    assert dist.get("/api/v1/jobs", status="failed").get_json()["jobs"] == []
    assert smtp.messages == []


def _cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "SMTP_URL")}
    env.update(SECRET_KEY="test-secret", **extra)
    return env


def test_the_worker_needs_redis(tmp_path: Path) -> None:
    proc = subprocess.run(
        [FEEDBACK, "worker"], cwd=ROOT, capture_output=True, text=True,
        env=_cli_env(DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}"), timeout=60,
    )
    assert proc.returncode == 1
    assert "feedback worker needs REDIS_URL" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_feedback_worker_delivers_the_outbox(tmp_path: Path, redis_url: str, smtp: SmtpSink) -> None:
    """`feedback worker --burst` in its own process: dispatcher, rq worker and scheduler."""
    import shutil
    import uuid

    defs = tmp_path / "defs"
    shutil.copytree(SURVEYS, defs)
    (defs / "policy.yaml").write_text("policy_version: 1\n", encoding="utf-8")  # no quiet hours
    queue = f"feedback-test-{uuid.uuid4().hex[:10]}"
    d = make_dist(tmp_path, "sqlite", SURVEY_DEFS=str(defs), CONTACT_POLICY=None, CLOCK=None, JOBS_QUEUE=queue)
    try:
        for i in range(3):
            d.send(f"w{i}", "t.email", contact(i))
        env = _cli_env(
            DATABASE_URL=d.app.config["DATABASE_URL"], REDIS_URL=redis_url, SMTP_URL=smtp.url,
            SURVEY_DEFS=str(defs), JOBS_QUEUE=queue, PUBLIC_BASE_URL="http://localhost",
        )
        proc = subprocess.run(
            [FEEDBACK, "worker", "--burst"], cwd=ROOT, capture_output=True,
            text=True, env=env, timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert sorted(r for m in smtp.messages for r in m.rcpt_tos) == [f"c{i}@example.com" for i in range(3)]
        assert pending(d) == 0
    finally:
        from redis import Redis
        from rq import Queue

        Queue(queue, connection=Redis.from_url(redis_url)).delete(delete_jobs=True)
        from tests.triggers.support import close_dist

        close_dist(d)


def test_jobs_commands(sqlite_dist: Dist) -> Any:
    from click.testing import CliRunner

    from feedback.cli import cli

    sqlite_dist.send("c1", "t.email", contact(1))
    env = _cli_env(DATABASE_URL=sqlite_dist.app.config["DATABASE_URL"])
    runner = CliRunner()
    result = runner.invoke(cli, ["jobs", "list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert '"run_step"' in result.output
    result = runner.invoke(cli, ["jobs", "retry"], env=env)
    assert result.exit_code == 2 and "give job ids" in result.output
    result = runner.invoke(cli, ["jobs", "retry", "424242"], env=env)
    assert result.exit_code == 1 and "no job 424242" in result.output


def test_the_dispatcher_holds_a_delayed_job_in_the_outbox_until_it_is_due(rq_dist: Dist) -> None:
    """Not handed to rq's scheduler ahead of time (a Redis outage would delay it there
    beyond its length): the job waits in the outbox and goes to the queue once due."""
    from redis import Redis
    from rq import Queue
    from rq.registry import ScheduledJobRegistry
    from sqlalchemy import select

    from feedback import jobs
    from feedback.store.models import db

    dist = rq_dist
    dist.app.config["REDIS_URL"] = dist.extra["redis_url"]
    dispatcher = jobs.Dispatcher(dist.app, interval=30.0)
    dist.send("held-1", "t.delay", contact(1))  # its email goes 10 minutes after the event
    dist.clock.advance(minutes=9, seconds=45)
    assert dispatcher.tick() == 0
    queue = Queue(dist.app.config["JOBS_QUEUE"], connection=Redis.from_url(dist.extra["redis_url"]))
    assert ScheduledJobRegistry(queue=queue).count == 0 and queue.count == 0
    with dist.ctx():
        assert set(db.session.scalars(select(Job.status))) == {"pending"}
    dist.clock.advance(seconds=15)
    assert dispatcher.tick() == 1
    assert queue.count == 1
