"""Without REDIS_URL a serving process runs the jobs in-process, delays included; it does
not start in tests, in the worker, or in commands like `feedback db upgrade`."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import Any

import click

from feedback.triggers import should_run_jobs_in_process


class FakeApp:
    def __init__(self, **config: Any) -> None:
        self.config = config


def test_when_jobs_run_in_process() -> None:
    assert should_run_jobs_in_process(FakeApp())
    assert not should_run_jobs_in_process(FakeApp(TESTING=True))
    assert not should_run_jobs_in_process(FakeApp(REDIS_URL="redis://x"))
    assert not should_run_jobs_in_process(FakeApp(RUN_JOBS_IN_PROCESS=False))
    for name, expected in (("serve", True), ("run-demo", True), ("upgrade", False), ("load", False)):
        with click.Context(click.Command(name)):
            assert should_run_jobs_in_process(FakeApp()) is expected, name


def _runner_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "feedback-jobs" and t.is_alive()]


def test_db_upgrade_starts_no_runner(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from feedback.cli import cli

    before = len(_runner_threads())
    result = CliRunner().invoke(
        cli, ["db", "upgrade"], env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "SECRET_KEY": "x", "REDIS_URL": ""}
    )
    assert result.exit_code == 0, result.output
    assert len(_runner_threads()) == before


def test_the_in_process_runner_runs_due_jobs_delays_included(tmp_path: Path) -> None:
    from feedback.app import create_app
    from feedback.jobs import schedule, start_in_process_runner
    from feedback.store import operations as ops
    from feedback.store.migrate import upgrade
    from feedback.store.models import Job, db
    from tests.conftest import SURVEY_DEFS
    from tests.triggers.support import POLICY, SURVEYS, T0, Clock

    clock = Clock(T0)
    app = create_app({
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}", "SECRET_KEY": "x", "LOAD_SURVEYS_ON_START": False,
        "EMAIL_OUTBOX": str(tmp_path / "outbox"), "CLOCK": clock, "CONTACT_POLICY": str(POLICY),
        "JOBS_INTERVAL": 0.05, "PUBLIC_BASE_URL": "http://localhost",
    })
    runner = app.extensions["feedback_job_runner"][1]
    try:
        assert runner.thread.is_alive()
        assert start_in_process_runner(app) is runner  # never twice in a process
        time.sleep(0.2)  # the runner waits quietly while the database is not migrated
        upgrade(app)
        with app.app_context():
            ops.load_surveys([SURVEY_DEFS, SURVEYS])
            from channels.email.invitations import request_email

            request_email("t-email", "later@example.com", run_at=T0 + dt.timedelta(hours=1))
            job_id = db.session.scalar(db.select(Job.id).where(Job.name == "send_email"))
            other = schedule("check_step", 424242).id  # due now; its step does not exist: done at once
            db.session.commit()

        def status(jid: int) -> str:
            with app.app_context():
                return db.session.get(Job, jid).status

        def wait_done(jid: int) -> None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and status(jid) != "done":
                time.sleep(0.05)

        wait_done(other)
        assert status(other) == "done"  # the runner is running due jobs...
        assert status(job_id) == "pending"  # ...but not this one: an hour to go
        assert not (tmp_path / "outbox").exists()
        clock.advance(hours=1)
        wait_done(job_id)
        assert status(job_id) == "done"
        assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    finally:
        runner.stop()
        with app.app_context():
            db.engine.dispose()
