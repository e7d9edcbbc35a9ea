"""Background jobs through a transactional outbox.

* :func:`schedule` writes a :class:`~feedback.store.models.Job` row in the
  caller's transaction (the operations layer commits it together with whatever
  caused it), so a job is never lost when Redis is down.
* :func:`dispatch_due` moves due rows onto the rq queue, or, with no
  ``REDIS_URL`` (the embedded default), runs them in-process.
* :func:`run_job` is the module-level function rq imports by path; it takes a
  job id, is idempotent, and retries with exponential backoff. A job that keeps
  failing is marked ``failed`` with its error, and :func:`retry_job` puts it back.

Job functions are module-level functions taking ids, registered with :func:`job`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from feedback.store.models import Job, db, utcnow

log = logging.getLogger(__name__)

QUEUE_NAME = "feedback"
JOBS: dict[str, Callable[..., Any]] = {}
BACKOFF_SECONDS = 30

#: Modules that define jobs with :func:`job`; imported before a job is looked up, so a
#: worker process knows every job whichever module scheduled it. Missing ones are skipped.
JOB_MODULES = (
    "channels.ivr.jobs",
    "channels.sms.jobs",
    "channels.email.jobs",
    "feedback.triggers.jobs",
)


def load_job_modules() -> None:
    import importlib

    for name in JOB_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name is None or not name.startswith(e.name):
                raise


def job(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Register a module-level job function under its name."""
    JOBS[fn.__name__] = fn
    return fn


def schedule(
    name: str,
    *args: Any,
    run_at: dt.datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 5,
) -> Job:
    """Add a job to the outbox in the current transaction (the caller commits)."""
    if name not in JOBS:
        load_job_modules()
    if name not in JOBS:
        raise KeyError(f"unknown job {name!r}")
    if dedupe_key:
        existing = db.session.scalar(select(Job).where(Job.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    row = Job(name=name, args=list(args), run_at=run_at or utcnow(), dedupe_key=dedupe_key, max_attempts=max_attempts)
    db.session.add(row)
    db.session.flush()
    return row


def _redis_queue() -> Any | None:
    from flask import current_app

    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    from redis import Redis
    from rq import Queue

    conn = current_app.extensions.get("feedback_redis")
    if conn is None:
        conn = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        current_app.extensions["feedback_redis"] = conn
    return Queue(QUEUE_NAME, connection=conn)


def dispatch_due(now: dt.datetime | None = None, limit: int = 200) -> int:
    """Move due jobs to rq (or run them here without Redis). Returns how many moved."""
    now = now or utcnow()
    ids = list(
        db.session.scalars(
            select(Job.id).where(Job.status == "pending", Job.run_at <= now).order_by(Job.run_at, Job.id).limit(limit)
        )
    )
    db.session.rollback()
    if not ids:
        return 0
    queue = _redis_queue()
    moved = 0
    for job_id in ids:
        if queue is None:
            run_job(job_id, now=now)
            moved += 1
            continue
        claimed = db.session.execute(
            update(Job).where(Job.id == job_id, Job.status == "pending").values(status="enqueued", updated_at=utcnow())
        ).rowcount
        db.session.commit()
        if not claimed:
            continue
        try:
            queue.enqueue("feedback.jobs.run_job", job_id, job_id=f"feedback-job-{job_id}-{_attempts(job_id)}")
            moved += 1
        except Exception as e:  # noqa: BLE001 - Redis down: keep the row pending, nothing lost
            log.warning("cannot enqueue job %s (%s); it stays in the outbox", job_id, e)
            db.session.execute(update(Job).where(Job.id == job_id).values(status="pending"))
            db.session.commit()
            break
    return moved


def _attempts(job_id: int) -> int:
    value = db.session.scalar(select(Job.attempts).where(Job.id == job_id))
    db.session.rollback()
    return int(value or 0)


def run_job(job_id: int, now: dt.datetime | None = None) -> str:
    """Run one outbox job (rq calls this by path). Idempotent; retries with backoff."""
    from flask import has_app_context

    if not has_app_context():
        with _worker_app().app_context():
            return run_job(job_id, now)
    claimed = db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(("pending", "enqueued")))
        .values(status="running", attempts=Job.attempts + 1, updated_at=utcnow())
    ).rowcount
    db.session.commit()
    if not claimed:
        return "skipped"
    row = db.session.get(Job, job_id)
    assert row is not None
    if row.name not in JOBS:
        load_job_modules()
    fn = JOBS.get(row.name)
    try:
        if fn is None:
            raise KeyError(f"unknown job {row.name!r}")
        fn(*row.args)
    except Exception as e:  # noqa: BLE001 - every failure is recorded on the job
        db.session.rollback()
        row = db.session.get(Job, job_id)
        assert row is not None
        row.last_error = f"{type(e).__name__}: {e}"
        if row.attempts >= row.max_attempts:
            row.status = "failed"
            log.error("job %s %s failed for good: %s", row.id, row.name, row.last_error)
        else:
            row.status = "pending"
            row.run_at = (now or utcnow()) + dt.timedelta(seconds=BACKOFF_SECONDS * 2 ** (row.attempts - 1))
            log.warning("job %s %s failed (attempt %d), retrying: %s", row.id, row.name, row.attempts, row.last_error)
        db.session.commit()
        return row.status
    row = db.session.get(Job, job_id)
    if row is not None:
        row.status = "done"
        row.last_error = None
        db.session.commit()
    return "done"


def retry_job(job_id: int) -> None:
    row = db.session.get(Job, job_id)
    if row is None:
        raise KeyError(job_id)
    row.status = "pending"
    row.run_at = utcnow()
    row.max_attempts = max(row.max_attempts, row.attempts + 1)
    db.session.commit()


_app_singleton: Any = None


def _worker_app() -> Any:
    global _app_singleton
    if _app_singleton is None:
        from feedback.app import create_app

        _app_singleton = create_app({"LOAD_SURVEYS_ON_START": False, "RUN_JOBS_IN_PROCESS": False})
    return _app_singleton


class InProcessRunner:
    """Without Redis: a daemon thread that dispatches due jobs every ``interval`` seconds."""

    def __init__(self, app: Any, interval: float = 1.0) -> None:
        self.app = app
        self.interval = interval
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="feedback-jobs", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with self.app.app_context():
                    dispatch_due()
            except Exception:  # noqa: BLE001
                log.exception("job dispatcher")
            time.sleep(self.interval)
