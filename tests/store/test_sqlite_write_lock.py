"""SQLite writers queue for the write lock (feedback.store.sqlite_lock).

With SQLite's busy timeout set to zero, a writer that found the database locked would
fail at once; so when many threads and processes all write at once and every write
succeeds, they queued for the lock instead of colliding. The lock is let go on commit,
rollback, errors and closed connections; reads never take it; a thread never waits for a
lock it holds itself."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

import feedback.store.models  # noqa: F401 - installs the lock for SQLAlchemy engines
from feedback.store import sqlite_lock

ROOT = Path(__file__).resolve().parents[2]


def make_engine(path: Path, timeout: float = 0.0) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": timeout})
    return engine


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "lock.db"
    engine = make_engine(path, timeout=5)
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.exec_driver_sql("CREATE TABLE rows (id INTEGER PRIMARY KEY, writer TEXT, n INTEGER)")
    engine.dispose()
    yield path


def count(path: Path) -> int:
    engine = make_engine(path, timeout=5)
    with engine.connect() as conn:
        n = conn.exec_driver_sql("SELECT count(*) FROM rows").scalar_one()
    engine.dispose()
    return int(n)


def lock_of(path: Path) -> sqlite_lock.WriteLock:
    lock = sqlite_lock.lock_for(str(path))
    assert lock is not None
    return lock


def test_connections_to_a_file_use_the_lock_and_memory_ones_do_not(db: Path) -> None:
    engine = make_engine(db)
    with engine.connect() as conn:
        assert isinstance(conn.connection.dbapi_connection, sqlite_lock.LockingConnection)
    engine.dispose()
    memory = sa.create_engine("sqlite://")
    with memory.connect() as conn:
        assert not isinstance(conn.connection.dbapi_connection, sqlite_lock.LockingConnection)
    memory.dispose()


def test_held_from_the_first_write_until_commit_and_never_for_reads(db: Path) -> None:
    engine = make_engine(db)
    lock = lock_of(db)
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT count(*) FROM rows").all()
        assert lock.owner is None
        conn.exec_driver_sql("INSERT INTO rows (writer, n) VALUES ('a', 1)")
        assert lock.owner == threading.get_ident()
        conn.commit()
        assert lock.owner is None
    engine.dispose()


def test_threads_writing_at_once_all_succeed(db: Path) -> None:
    engine = make_engine(db, timeout=0.0)  # no busy waiting at all: colliding would fail
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(name: str) -> None:
        try:
            start.wait()
            for _i in range(25):
                with engine.begin() as conn:
                    before = conn.exec_driver_sql("SELECT count(*) FROM rows").scalar_one()
                    conn.exec_driver_sql("INSERT INTO rows (writer, n) VALUES (?, ?)", (name, before))
                    conn.exec_driver_sql("UPDATE rows SET n = n + 1 WHERE writer = ? AND id = last_insert_rowid()",
                                         (name,))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    assert errors == []
    assert count(db) == 200


WRITER = textwrap.dedent(
    """
    import sys, time
    import sqlalchemy as sa
    import feedback.store.models  # installs the lock
    path, name, ready = sys.argv[1], sys.argv[2], sys.argv[3]
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.0})
    open(ready + name, "w").close()
    while not __import__("os").path.exists(ready + "go"):
        time.sleep(0.005)
    for i in range(40):
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO rows (writer, n) VALUES (?, ?)", (name, i))
            time.sleep(0.001)
    print("ok")
    """
)


def test_processes_writing_at_once_all_succeed(db: Path, tmp_path: Path) -> None:
    ready = str(tmp_path / "ready-")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db), f"p{i}", ready], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(3)
    ]
    try:
        while not all(os.path.exists(f"{ready}p{i}") for i in range(3)):
            if any(p.poll() is not None for p in procs):
                break
            threading.Event().wait(0.01)
        Path(ready + "go").touch()
        results = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0 and out.strip() == "ok", err
    assert count(db) == 120


def test_let_go_after_a_failed_write_and_rollback(db: Path) -> None:
    engine = make_engine(db)
    lock = lock_of(db)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO rows (id, writer, n) VALUES (1, 'a', 1)")
    with pytest.raises(IntegrityError):
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO rows (id, writer, n) VALUES (1, 'b', 1)")
    assert lock.owner is None
    done: list[int] = []

    def other() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO rows (writer, n) VALUES ('c', 1)")
        done.append(1)

    t = threading.Thread(target=other)
    t.start()
    t.join(timeout=30)
    assert done == [1]
    engine.dispose()
    assert count(db) == 2


def test_let_go_when_the_connection_is_closed_or_invalidated(db: Path) -> None:
    engine = make_engine(db)
    lock = lock_of(db)
    conn = engine.connect()
    conn.exec_driver_sql("INSERT INTO rows (writer, n) VALUES ('a', 1)")
    assert lock.owner == threading.get_ident()
    conn.invalidate()  # what SQLAlchemy does with a connection it cannot trust any more
    conn.close()
    assert lock.owner is None
    raw = sqlite_lock.LockingConnection(str(db), timeout=0.0)
    raw.execute("INSERT INTO rows (writer, n) VALUES ('b', 1)")
    assert lock.owner == threading.get_ident()
    raw.close()
    assert lock.owner is None
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO rows (writer, n) VALUES ('c', 1)")
    engine.dispose()
    assert count(db) == 1  # the two unfinished transactions were rolled back


def test_a_statement_error_inside_a_session_lets_go_on_rollback(db: Path) -> None:
    from sqlalchemy.orm import Session

    engine = make_engine(db)
    lock = lock_of(db)
    with Session(engine) as session:
        session.execute(sa.text("INSERT INTO rows (writer, n) VALUES ('a', 1)"))
        with pytest.raises(OperationalError):
            session.execute(sa.text("UPDATE no_such_table SET x = 1"))
        assert lock.owner == threading.get_ident()  # the transaction is still open
        session.rollback()
        assert lock.owner is None
    engine.dispose()


def test_a_thread_does_not_wait_for_the_lock_it_holds(db: Path) -> None:
    """A second connection of the same thread does not wait for the lock the first holds
    (that would never end): SQLite's busy timeout answers, as it would without the lock."""
    engine = make_engine(db, timeout=0.05)
    first = engine.connect()
    first.exec_driver_sql("INSERT INTO rows (writer, n) VALUES ('a', 1)")
    second = engine.connect()
    with pytest.raises(OperationalError, match="locked"):
        second.exec_driver_sql("INSERT INTO rows (writer, n) VALUES ('b', 1)")
    second.rollback()
    first.commit()
    second.exec_driver_sql("INSERT INTO rows (writer, n) VALUES ('b', 2)")
    second.commit()
    first.close()
    second.close()
    engine.dispose()
    assert count(db) == 2


def test_a_reader_does_not_wait_for_a_writer(db: Path) -> None:
    engine = make_engine(db)
    writer = engine.connect()
    writer.exec_driver_sql("INSERT INTO rows (writer, n) VALUES ('a', 1)")  # holds the lock
    seen: list[int] = []

    def read() -> None:
        with engine.connect() as conn:
            seen.append(conn.exec_driver_sql("SELECT count(*) FROM rows").scalar_one())

    t = threading.Thread(target=read)
    t.start()
    t.join(timeout=30)
    writer.commit()
    writer.close()
    engine.dispose()
    assert seen == [0]  # read while the write was still open, without waiting for it


def _child_write(path: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.0})
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO rows (writer, n) VALUES ('child', 1)")
        queue.put("ok")
    except BaseException as e:  # noqa: BLE001
        queue.put(repr(e))


def test_a_forked_child_waits_for_its_parents_lock(db: Path) -> None:
    """After fork() the child queues behind its parent (SQLite itself forbids using a
    connection across fork, so the parent holds the lock here without a connection)."""
    lock = lock_of(db)
    assert lock.acquire()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_write, args=(str(db), queue))
    child.start()
    assert queue.empty()
    lock.release()  # lets the child in
    child.join(timeout=60)
    assert queue.get(timeout=5) == "ok"
    assert count(db) == 1


@pytest.mark.parametrize(
    ("sql", "writes"),
    [
        ("SELECT 1", False),
        ("  select * from rows", False),
        ("PRAGMA journal_mode=WAL", False),
        ("WITH x AS (SELECT 1) SELECT * FROM x", False),
        ("SAVEPOINT sa_savepoint_1", False),
        ("RELEASE SAVEPOINT sa_savepoint_1", False),
        ("BEGIN", False),
        ("BEGIN IMMEDIATE", True),
        ("INSERT INTO rows VALUES (1)", True),
        ("\n  UPDATE rows SET n = 1", True),
        ("delete from rows", True),
        ("REPLACE INTO rows VALUES (1)", True),
        ("CREATE TABLE x (y int)", True),
        ("", False),
    ],
)
def test_which_statements_write(sql: str, writes: bool) -> None:
    assert sqlite_lock.is_write(sql) is writes


def test_turned_off_by_the_environment(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACK_SQLITE_WRITE_LOCK", "0")
    engine = make_engine(db)
    with engine.connect() as conn:
        assert not isinstance(conn.connection.dbapi_connection, sqlite_lock.LockingConnection)
    engine.dispose()
