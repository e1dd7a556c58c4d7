"""Engine and session factory: one place that knows how to talk to SQLite and PostgreSQL safely.

SQLite allows one writer at a time. Instead of letting threads race for the file lock and fail with
"database is locked", every transaction on SQLite starts with `BEGIN IMMEDIATE` while holding a
process-wide lock, so writes are funnelled through one writer in order; WAL keeps readers in other
processes unblocked and the busy timeout covers writers in other processes. PostgreSQL needs none of
this and gets a plain pooled engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
_SQLITE_WRITE_LOCK = threading.RLock()  # process-wide: every SQLite transaction is a write slot
_LOCK_HELD = "repmon_write_lock_held"
READ_ONLY = "repmon_read_only"

SessionFactory = Callable[[], Session]


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine configured for our use of the backend (see the module docstring)."""
    url = make_url(url)
    if not is_sqlite(url):
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    connect_args.setdefault("check_same_thread", False)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that BEGIN IMMEDIATE below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):  # a reader: WAL lets it run beside the writer
            conn.exec_driver_sql("BEGIN")
            return
        _SQLITE_WRITE_LOCK.acquire()
        conn.info[_LOCK_HELD] = conn.info.get(_LOCK_HELD, 0) + 1
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn)
            raise

    @event.listens_for(engine, "commit")
    def _on_commit(conn: Any) -> None:
        _release(conn)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Any) -> None:
        _release(conn)


def _release(conn: Any) -> None:
    held = conn.info.get(_LOCK_HELD, 0)
    if held:
        conn.info[_LOCK_HELD] = held - 1
        _SQLITE_WRITE_LOCK.release()


class Database:
    """An engine plus its session factory; the one handle that stages and workers receive."""

    def __init__(self, url: str | URL, **engine_kwargs: Any) -> None:
        self.url = make_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        # Readers see one consistent snapshot: deferred BEGIN on SQLite (WAL), REPEATABLE READ on PostgreSQL.
        reader_options: dict[str, Any] = {READ_ONLY: True}
        if not is_sqlite(self.url):
            reader_options["isolation_level"] = "REPEATABLE READ"
        self._readers: sessionmaker[Session] = sessionmaker(
            self.engine.execution_options(**reader_options), expire_on_commit=False
        )

    def __call__(self) -> Session:
        """A new session: `Database` itself is a session factory."""
        return self.sessions()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only. On SQLite it neither takes nor waits for the write slot, so a long
        export never blocks the daemon; its snapshot is consistent (one deferred transaction)."""
        with self._readers() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"
