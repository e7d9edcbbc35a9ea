"""SQLite writers wait in line for the write lock instead of polling for it.

SQLite lets one connection write at a time. A writer that finds the database locked
sleeps and retries in SQLite's busy handler with growing sleeps (1, 2, 5, 10, ... up to
100 ms), so under concurrent writes a transaction often sleeps long after the lock was
freed: the tail latency of every write is shaped by those sleeps, not by the work.

Here every SQLite connection to a database file takes, just before its first writing
statement (``INSERT``, ``UPDATE``, ``DELETE``, DDL ...), a write lock of its own and
keeps it until its transaction ends (commit, rollback, close, or the statement that
ended it). The lock has two parts, taken in this order:

* a thread lock per database file and process: the threads of one process queue on it;
* an ``fcntl.flock`` on ``<database>-writelock`` next to the database: processes (e.g.
  gunicorn workers) queue on it, and the kernel wakes the next one when it is released.

A waiting writer wakes as soon as the lock is free. Reads never take it (in WAL mode a
reader does not wait for a writer), and PostgreSQL is not affected. SQLite's own busy
timeout stays as the safety net: against writers that do not use this lock (the
``sqlite3`` shell, another program), and when a thread that already holds the lock
through one connection writes through a second one (that second connection does not
wait for the lock its own thread holds: SQLite decides, as before). A thread waits for
the thread lock at most :data:`LOCK_WAIT` seconds, then writes without it.

Installed for every SQLAlchemy engine on a SQLite file (see :func:`install`); a
connection made with its own ``factory`` in ``connect_args`` is left alone, and
``FEEDBACK_SQLITE_WRITE_LOCK=0`` in the environment turns it off (e.g. on a network file
system without ``flock``).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from typing import Any

#: Longest wait (seconds) for the thread lock before writing without it.
LOCK_WAIT = 30.0
#: Statements that write (their first keyword); everything else (SELECT, PRAGMA, WITH,
#: SAVEPOINT, RELEASE, COMMIT, ...) does not take the lock.
_WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "VACUUM", "REINDEX", "ANALYZE"})
_kinds: dict[str, bool] = {}


def is_write(sql: str) -> bool:
    """Whether ``sql`` writes (cached: the same statements come back all the time)."""
    found = _kinds.get(sql)
    if found is None:
        words = sql.lstrip(" \t\r\n(").split(None, 2)
        first = words[0].upper() if words else ""
        found = first in _WRITES or (
            first == "BEGIN" and len(words) > 1 and words[1].upper() in ("IMMEDIATE", "EXCLUSIVE")
        )
        if len(_kinds) > 5000:
            _kinds.clear()
        _kinds[sql] = found
    return found


class WriteLock:
    """The write lock of one database file in this process."""

    def __init__(self, path: str) -> None:
        self.path = path + "-writelock"
        self.pid = os.getpid()
        self.threads = threading.Lock()
        self.owner: int | None = None  # the thread holding it
        self._fd: int | None = None
        self._opening = threading.Lock()

    def _file(self) -> int:
        if self._fd is None:
            with self._opening:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        return self._fd

    def acquire(self) -> bool:
        """Wait for the lock; False (not held) when this thread already holds it or the
        wait was too long: then SQLite's busy timeout decides."""
        me = threading.get_ident()
        if self.owner == me:
            return False
        if not self.threads.acquire(timeout=LOCK_WAIT):
            return False
        try:
            fcntl.flock(self._file(), fcntl.LOCK_EX)
        except BaseException:
            self.threads.release()
            raise
        self.owner = me
        return True

    def release(self) -> None:
        if os.getpid() != self.pid:
            return  # inherited through fork(): the parent's lock is not ours to release
        self.owner = None
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self.threads.release()


_locks: dict[str, WriteLock] = {}
_registry = threading.Lock()


def lock_for(database: str) -> WriteLock | None:
    """The write lock of a database file (None for an in-memory database)."""
    path = _file_path(database)
    if path is None:
        return None
    found = _locks.get(path)
    if found is None:
        with _registry:
            found = _locks.setdefault(path, WriteLock(path))
    return found


def _file_path(database: str) -> str | None:
    name = str(database)
    if name.startswith("file:"):
        name, _, query = name[len("file:") :].partition("?")
        if "mode=memory" in query:
            return None
    if not name or name == ":memory:":
        return None
    return os.path.realpath(name)


def _after_fork_in_child() -> None:
    # Locks (and their open files) held by the parent's threads are not the child's.
    global _registry
    _locks.clear()
    _registry = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class LockingCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> LockingCursor:
        conn: LockingConnection = self.connection  # type: ignore[assignment]
        if conn._held is None and is_write(sql):
            conn._take()
        try:
            return super().execute(sql, parameters)  # type: ignore[return-value]
        finally:
            if conn._held is not None and not conn.in_transaction:
                conn._let_go()

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> LockingCursor:
        conn: LockingConnection = self.connection  # type: ignore[assignment]
        if conn._held is None and is_write(sql):
            conn._take()
        try:
            return super().executemany(sql, seq_of_parameters)  # type: ignore[return-value]
        finally:
            if conn._held is not None and not conn.in_transaction:
                conn._let_go()

    def executescript(self, sql_script: str, /) -> LockingCursor:
        conn: LockingConnection = self.connection  # type: ignore[assignment]
        if conn._held is None:
            conn._take()
        try:
            return super().executescript(sql_script)  # type: ignore[return-value]
        finally:
            if conn._held is not None and not conn.in_transaction:
                conn._let_go()


class LockingConnection(sqlite3.Connection):
    """A sqlite3 connection that holds the database's :class:`WriteLock` from its first
    writing statement until its transaction ends."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._lock = lock_for(os.fsdecode(database) if isinstance(database, bytes | os.PathLike) else database)
        self._held: WriteLock | None = None

    def _take(self) -> None:
        lock = self._lock
        if lock is not None and lock.pid != os.getpid():
            lock = self._lock = lock_for(lock.path[: -len("-writelock")])
        if lock is not None and lock.acquire():
            self._held = lock

    def _let_go(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.release()

    def cursor(self, factory: Any = None) -> Any:  # type: ignore[override]
        return super().cursor(factory or LockingCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> Any:  # type: ignore[override]
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Any:  # type: ignore[override]
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script: str, /) -> Any:  # type: ignore[override]
        return self.cursor().executescript(sql_script)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if self._held is not None and not self.in_transaction:
                self._let_go()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            if self._held is not None and not self.in_transaction:
                self._let_go()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._let_go()

    def __del__(self) -> None:
        if getattr(self, "_held", None) is not None:
            self._let_go()


def _use_locking_connection(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
    if dialect.name != "sqlite" or dialect.driver != "pysqlite" or "factory" in cparams:
        return
    if os.environ.get("FEEDBACK_SQLITE_WRITE_LOCK", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    database = cargs[0] if cargs else cparams.get("database")
    if database is not None and lock_for(str(database)) is not None:
        cparams["factory"] = LockingConnection


def install() -> None:
    """Use :class:`LockingConnection` for every SQLAlchemy engine on a SQLite file."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "do_connect", _use_locking_connection):
        event.listen(Engine, "do_connect", _use_locking_connection)
