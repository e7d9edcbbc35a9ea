"""Background jobs through a transactional outbox.

* :func:`schedule` writes a :class:`~feedback.store.models.Job` row in the
  caller's transaction (the operations layer commits it together with whatever
  caused it), so a job is never lost when Redis is down.
* :func:`dispatch_due` moves due rows onto the rq queue, or, with no ``REDIS_URL`` (the
  embedded default), runs them in-process. A job that is not due yet stays in the outbox
  (never in rq's scheduler, which a Redis outage would delay), so when Redis is down the
  rows simply stay pending and the next dispatch after it moves them: nothing is lost,
  and nothing is late by more than the outage.
* :func:`run_job` is the module-level function rq imports by path; it takes a
  job id, is idempotent (a job is claimed once, atomically), and retries with
  exponential backoff. A job that keeps failing is marked ``failed`` with its
  error, :func:`list_jobs` shows it and :func:`retry_job` puts it back.
* :func:`recover_stuck` returns to the outbox the jobs lost by Redis (flushed) or by a
  worker that died while running them.
* :func:`run_worker` is ``feedback worker``: an rq worker with its scheduler, plus the
  dispatcher loop in a thread. :class:`InProcessRunner` is the same loop without Redis.

Job functions are module-level functions taking ids, registered with :func:`job`.
Time comes from :func:`clock`, which tests (and simulations) can replace through the
``CLOCK`` setting (a callable returning naive UTC).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import CursorResult

from feedback.store.models import Job, db, utcnow

log = logging.getLogger(__name__)

QUEUE_NAME = "feedback"
JOBS: dict[str, Callable[..., Any]] = {}
BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 6 * 3600
#: An enqueued job that rq no longer knows after this long goes back to the outbox.
ENQUEUED_TIMEOUT = dt.timedelta(minutes=10)
#: A job still "running" after this long belonged to a worker that died.
RUNNING_TIMEOUT = dt.timedelta(minutes=30)
#: rq kills a job that runs longer than this (seconds).
JOB_TIMEOUT = 600

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


def clock() -> dt.datetime:
    """Now, as naive UTC: the ``CLOCK`` setting when the application has one (tests)."""
    from flask import current_app, has_app_context

    if has_app_context():
        fn = current_app.config.get("CLOCK")
        if fn is not None:
            return fn()
    return utcnow()


_ADD_JOB = insert(Job.__table__)
_JOB_BY_KEY = select(Job.__table__.c.id).where(Job.__table__.c.dedupe_key == bindparam("key"))


def schedule(
    name: str,
    *args: Any,
    run_at: dt.datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 5,
) -> Job:
    """Add a job to the outbox in the current transaction (the caller commits).
    With ``dedupe_key``, a job already scheduled under that key is returned instead."""
    if name not in JOBS:
        load_job_modules()
    if name not in JOBS:
        raise KeyError(f"unknown job {name!r}")
    if dedupe_key:
        found = db.session.execute(_JOB_BY_KEY, {"key": dedupe_key}).scalar()
        if found is not None:
            existing = db.session.get(Job, found)
            if existing is not None:
                return existing
    from feedback.store.operations import insert_row

    # One insert in the caller's transaction (no unit-of-work flush).
    row: Job = insert_row(Job, {
        "name": name, "args": list(args), "run_at": run_at or clock(), "dedupe_key": dedupe_key,
        "max_attempts": max_attempts, "status": "pending", "attempts": 0,
    })
    return row


def schedule_many(
    items: Sequence[tuple[str, Sequence[Any], dt.datetime | None, str | None]],
) -> list[dict[str, Any]]:
    """Several jobs at once, ``(name, args, run_at, dedupe_key)`` each, in one round of
    inserts (the caller commits). Keys already scheduled are skipped. Returns the rows
    written (as values; their ids are not read back)."""
    load_job_modules()
    for name, *_ in items:
        if name not in JOBS:
            raise KeyError(f"unknown job {name!r}")
    keys = [k for *_, k in items if k]
    taken = set(db.session.scalars(select(Job.dedupe_key).where(Job.dedupe_key.in_(keys)))) if keys else set()
    now = clock()
    stamp = utcnow()
    rows = [
        {"name": name, "args": list(args), "run_at": run_at or now, "dedupe_key": key, "max_attempts": 5,
         "status": "pending", "attempts": 0, "last_error": None, "created_at": stamp, "updated_at": stamp}
        for name, args, run_at, key in items
        if not key or key not in taken
    ]
    if rows:
        db.session.execute(_ADD_JOB, rows)  # one executemany, no unit-of-work flush
    return rows


# -- Redis --------------------------------------------------------------------------------------


def queue_name() -> str:
    from flask import current_app

    return str(current_app.config.get("JOBS_QUEUE") or QUEUE_NAME)


def redis_connection() -> Any | None:
    """The application's Redis connection (None without ``REDIS_URL``). Cached per URL."""
    from flask import current_app

    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    cached = current_app.extensions.get("feedback_redis")
    if cached is not None and cached[0] == url:
        return cached[1]
    from redis import Redis

    conn = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30)
    current_app.extensions["feedback_redis"] = (url, conn)
    return conn


def _redis_queue() -> Any | None:
    conn = redis_connection()
    if conn is None:
        return None
    from rq import Queue

    return Queue(queue_name(), connection=conn)


def rq_job_id(job_id: int, attempts: int, queue: str | None = None) -> str:
    """The rq id of an outbox job's attempt (unique per queue, so two databases that share
    a Redis under different queue names never mix their jobs)."""
    return f"{queue or queue_name()}-job-{job_id}-{attempts}"


def _note_redis(ok: bool, error: str | None = None) -> None:
    """Log a Redis outage once when it starts and once when it ends."""
    from flask import current_app

    state = current_app.extensions.setdefault("feedback_redis_state", {"down_since": None, "error": None})
    if ok and state["down_since"] is not None:
        log.warning("Redis is back after an outage since %s; delivering the outbox", state["down_since"])
        state["down_since"] = None
        state["error"] = None
    elif not ok:
        if state["down_since"] is None:
            log.warning("cannot reach Redis (%s); jobs stay in the outbox until it is back", error)
            state["down_since"] = utcnow()
        state["error"] = error


def redis_status() -> dict[str, Any]:
    from flask import current_app

    state = current_app.extensions.get("feedback_redis_state") or {}
    return {"down_since": state.get("down_since"), "error": state.get("error")}


# -- dispatching --------------------------------------------------------------------------------


def dispatch_due(now: dt.datetime | None = None, limit: int = 500) -> int:
    """Move due jobs to rq (or run them here without Redis). Returns how many moved. Jobs
    not due yet stay in the outbox until they are."""
    now = now or clock()
    rows = db.session.execute(
        select(Job.id, Job.run_at, Job.attempts)
        .where(Job.status == "pending", Job.run_at <= now)
        .order_by(Job.run_at, Job.id)
        .limit(limit)
    ).all()
    db.session.rollback()
    if not rows:
        return 0
    queue = _redis_queue()
    if queue is None:
        for job_id, _run_at, _attempts in rows:
            run_job(job_id, now=now)
        return len(rows)

    # Claim the batch: only rows still pending are ours (another dispatcher may race us).
    stamp = utcnow()
    ids = [r[0] for r in rows]
    db.session.execute(
        update(Job).where(Job.id.in_(ids), Job.status == "pending").values(status="enqueued", updated_at=stamp)
    )
    db.session.commit()
    claimed = {
        r[0]: r
        for r in db.session.execute(
            select(Job.id, Job.run_at, Job.attempts).where(
                Job.id.in_(ids), Job.status == "enqueued", Job.updated_at == stamp
            )
        ).all()
    }
    db.session.rollback()
    if not claimed:
        return 0
    try:
        with queue.connection.pipeline() as pipe:
            for job_id, _run_at, attempts in claimed.values():
                rq_job = queue.create_job(
                    "feedback.jobs.run_job", args=(job_id,), job_id=rq_job_id(job_id, attempts),
                    timeout=JOB_TIMEOUT, result_ttl=600, failure_ttl=7 * 86400,
                    description=f"outbox job {job_id}",
                )
                queue.enqueue_job(rq_job, pipeline=pipe)
            pipe.execute()
    except Exception as e:  # noqa: BLE001 - Redis down: the rows go back to pending, nothing lost
        _note_redis(False, f"{type(e).__name__}: {e}")
        db.session.execute(
            update(Job).where(Job.id.in_(list(claimed)), Job.status == "enqueued").values(status="pending")
        )
        db.session.commit()
        return 0
    _note_redis(True)
    return len(claimed)


def dispatch_all(now: dt.datetime | None = None) -> int:
    """Dispatch until nothing is due (each in-process job may schedule more)."""
    total = 0
    for _ in range(1000):
        moved = dispatch_due(now=now)
        total += moved
        if not moved:
            break
    return total


def recover_stuck(now: dt.datetime | None = None) -> int:
    """Put back in the outbox the jobs Redis lost and the jobs of a worker that died.
    (How long a row has been waiting is measured on the wall clock; whether it is due, on
    :func:`clock`.)"""
    wall = utcnow()
    now = now or clock()
    recovered = 0
    stale = list(
        db.session.execute(
            select(Job.id, Job.attempts, Job.run_at).where(
                Job.status == "enqueued", Job.updated_at < wall - ENQUEUED_TIMEOUT
            )
        ).all()
    )
    db.session.rollback()
    conn = redis_connection()
    if stale:
        from rq.job import Job as RqJob

        for job_id, attempts, _run_at in stale:
            if conn is not None:
                try:
                    rid = rq_job_id(job_id, attempts)
                    if RqJob.exists(rid, connection=conn):
                        status = RqJob.fetch(rid, connection=conn).get_status()
                        if status in ("queued", "started", "scheduled", "deferred"):
                            continue  # rq still has it
                except Exception:  # noqa: BLE001 - Redis down: try again later
                    return recovered
            recovered += cast(CursorResult[Any], db.session.execute(
                update(Job).where(Job.id == job_id, Job.status == "enqueued").values(status="pending", updated_at=wall)
            )).rowcount
        db.session.commit()
    dead = list(
        db.session.scalars(select(Job).where(Job.status == "running", Job.updated_at < wall - RUNNING_TIMEOUT))
    )
    for row in dead:
        row.last_error = "the worker stopped while running this job"
        row.status = "failed" if row.attempts >= row.max_attempts else "pending"
        row.run_at = now
        recovered += 1
    db.session.commit()
    if recovered:
        log.warning("returned %d stuck jobs to the outbox", recovered)
    return recovered


# -- running ------------------------------------------------------------------------------------


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2 ** max(0, attempts - 1)))


def run_job(job_id: int, now: dt.datetime | None = None) -> str:
    """Run one outbox job (rq calls this by path). Idempotent; retries with backoff."""
    from flask import has_app_context

    if not has_app_context():
        with _worker_app().app_context():
            return run_job(job_id, now)
    claimed = cast(CursorResult[Any], db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(("pending", "enqueued")))
        .values(status="running", attempts=Job.attempts + 1, updated_at=utcnow())
    )).rowcount
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
        row.last_error = f"{type(e).__name__}: {e}"[:4000]
        if row.attempts >= row.max_attempts:
            row.status = "failed"
            log.error("job %s %s failed for good: %s", row.id, row.name, row.last_error)
            db.session.commit()
            _on_failure(fn, row.args, row.last_error)
            return "failed"
        else:
            row.status = "pending"
            row.run_at = (now or clock()) + backoff(row.attempts)
            log.warning("job %s %s failed (attempt %d), retrying: %s", row.id, row.name, row.attempts, row.last_error)
        db.session.commit()
        return row.status
    db.session.rollback()  # whatever the job left uncommitted is not ours to keep
    db.session.execute(update(Job).where(Job.id == job_id).values(status="done", last_error=None, updated_at=utcnow()))
    db.session.commit()
    return "done"


def _on_failure(fn: Callable[..., Any] | None, args: list[Any], error: str | None) -> None:
    """A job may define ``on_failure(*args, error=...)``, called once it has failed for good
    (e.g. to move an invitation on to its next channel)."""
    hook = getattr(fn, "on_failure", None)
    if hook is None:
        return
    try:
        hook(*args, error=error)
    except Exception:  # noqa: BLE001 - the job is already recorded as failed
        db.session.rollback()
        log.exception("on_failure of job %s", getattr(fn, "__name__", fn))


# -- inspecting and retrying --------------------------------------------------------------------


def list_jobs(status: str | Sequence[str] | None = None, limit: int = 100, name: str | None = None) -> list[Job]:
    stmt = select(Job)
    if status:
        statuses = [status] if isinstance(status, str) else list(status)
        stmt = stmt.where(Job.status.in_(statuses))
    if name:
        stmt = stmt.where(Job.name == name)
    return list(db.session.scalars(stmt.order_by(Job.id.desc()).limit(limit)))


def job_counts() -> dict[str, int]:
    rows = db.session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    return {status: int(n) for status, n in rows}


def job_to_dict(row: Job) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "args": row.args,
        "status": row.status,
        "attempts": row.attempts,
        "max_attempts": row.max_attempts,
        "run_at": iso(row.run_at),
        "last_error": row.last_error,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def iso(value: dt.datetime | None) -> str | None:
    """A stored (naive UTC) time as ISO 8601 with a Z, to the second."""
    return value.replace(microsecond=0).isoformat() + "Z" if value else None


def retry_job(job_id: int) -> Job:
    """Put a failed (or any not running) job back in the outbox, due now, with one more attempt."""
    row = db.session.get(Job, job_id)
    if row is None:
        raise KeyError(job_id)
    if row.status == "running":
        raise ValueError(f"job {job_id} is running")
    row.status = "pending"
    row.run_at = clock()
    row.max_attempts = max(row.max_attempts, row.attempts + 1)
    db.session.commit()
    return row


def retry_failed() -> int:
    ids = [r.id for r in list_jobs("failed", limit=100000)]
    for job_id in ids:
        retry_job(job_id)
    return len(ids)


# -- worker ---------------------------------------------------------------------------------------

_app_singleton: Any = None


def bind_app(app: Any) -> None:
    """The application rq jobs run in (``feedback worker`` binds its own)."""
    global _app_singleton
    _app_singleton = app


def _worker_app() -> Any:
    global _app_singleton
    if _app_singleton is None:
        from feedback.app import create_app

        _app_singleton = create_app({"LOAD_SURVEYS_ON_START": False, "RUN_JOBS_IN_PROCESS": False})
    return _app_singleton


class Dispatcher:
    """The dispatcher loop: every ``interval`` seconds, move due jobs to rq (or run them
    here without Redis), and now and then recover stuck ones. Runs in a daemon thread.
    A job starts at most ``interval`` seconds after it is due (or after Redis is back)."""

    def __init__(self, app: Any, interval: float = 1.0) -> None:
        self.app = app
        self.interval = interval
        self._stop = threading.Event()
        self._last_recover = 0.0
        self._ready = False
        self.thread = threading.Thread(target=self._loop, name="feedback-dispatcher", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        if wait and self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout=10)

    def tick(self) -> int:
        with self.app.app_context():
            if not self._ready:
                from sqlalchemy import inspect

                if not inspect(db.engine).has_table("jobs"):
                    return 0  # not migrated yet (`feedback db upgrade`)
                self._ready = True
            moved = dispatch_due()
            if time.monotonic() - self._last_recover > 60:
                self._last_recover = time.monotonic()
                recover_stuck()
            return moved

    def _loop(self) -> None:
        while not self._stop.is_set():
            moved = 0
            try:
                moved = self.tick()
            except Exception:  # noqa: BLE001 - the loop keeps going; the outbox keeps the jobs
                log.exception("job dispatcher")
                try:
                    with self.app.app_context():
                        db.session.rollback()
                except Exception:  # noqa: BLE001
                    pass
            if not moved:
                self._stop.wait(self.interval)


class InProcessRunner(Dispatcher):
    """Without Redis: the dispatcher loop runs the jobs itself, delays included."""

    def __init__(self, app: Any, interval: float = 1.0) -> None:
        super().__init__(app, interval)
        self.thread.name = "feedback-jobs"


def start_in_process_runner(app: Any, interval: float = 1.0) -> InProcessRunner | None:
    """Start the in-process runner of ``app`` once per process (also after a fork)."""
    current = app.extensions.get("feedback_job_runner")
    if current is not None and current[0] == os.getpid():
        return current[1]
    runner = InProcessRunner(app, interval)
    app.extensions["feedback_job_runner"] = (os.getpid(), runner)
    runner.start()
    if hasattr(os, "register_at_fork") and not app.extensions.get("feedback_job_runner_fork_hook"):
        app.extensions["feedback_job_runner_fork_hook"] = True
        os.register_at_fork(after_in_child=lambda: _restart_after_fork(app, interval))
    return runner


def _restart_after_fork(app: Any, interval: float) -> None:
    # Threads do not survive fork(): a pre-forking server's workers start their own runner.
    if app.extensions.get("feedback_job_runner") is not None:
        try:
            start_in_process_runner(app, interval)
        except Exception:  # noqa: BLE001
            log.exception("cannot restart the job runner after fork")


def make_worker(app: Any, *, fork: bool = False, name: str | None = None) -> Any:
    """An rq worker on the application's queue that runs jobs in the application."""
    from rq import SimpleWorker, Worker

    with app.app_context():
        conn = redis_connection()
        qname = queue_name()
    if conn is None:
        raise RuntimeError("REDIS_URL is not set")
    bind_app(app)
    if fork:

        class ForkingWorker(Worker):
            def main_work_horse(self, job: Any, queue: Any) -> None:  # type: ignore[override]
                # The work horse must not share the parent's database connections.
                with app.app_context():
                    db.engine.dispose(close=False)
                super().main_work_horse(job, queue)

        cls: Any = ForkingWorker
    else:
        cls = SimpleWorker
    return cls([qname], connection=conn, name=name)


def run_worker(
    app: Any, *, burst: bool = False, fork: bool = False, interval: float = 1.0, with_scheduler: bool = True
) -> None:
    """``feedback worker``: the dispatcher loop in a thread and an rq worker with its scheduler.
    With ``burst``, dispatch what is due, run it, and return."""
    worker = make_worker(app, fork=fork)
    if burst:
        # Jobs schedule more jobs (a step, then its email): go on until nothing is due.
        for _ in range(100):
            with app.app_context():
                moved = dispatch_all()
            if not moved:
                break
            worker.work(burst=True, with_scheduler=with_scheduler)
        return
    dispatcher = Dispatcher(app, interval=interval)
    dispatcher.start()
    try:
        worker.work(burst=False, with_scheduler=with_scheduler)
    finally:
        dispatcher.stop()
