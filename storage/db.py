"""Engines: SQLite tuned for one writer at a time, or any SQLAlchemy URL (PostgreSQL)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)


def is_transient(exc: BaseException) -> bool:
    """A failure that goes away by itself: a lock held too long, a dropped connection, a
    serialization conflict. Anything else (a constraint, a bug) would fail again."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError)


PRIVATE = 0o600  # files coopbot makes hold people's names and tokens: its own user only


def keep_private(database: Path) -> None:
    """Make a SQLite database and its WAL and shared-memory files readable by their owner
    only: new ones are (see bot.cli's umask), but a file made by an older version, or by
    hand, may not be."""
    for path in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))):
        try:
            if path.exists() and path.stat().st_mode & 0o077:
                path.chmod(PRIVATE)
        except OSError as err:  # not ours to change: say so, and carry on
            log.warning("cannot make %s private (%s)", path, err)


def make_engine(
    url: str, read_only: bool = False, hide_parameters: bool = True, probe: bool = False
) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and write-locking transactions.

    `read_only` SQLite engines begin plain (deferred) transactions instead, so rendering a
    card or answering a query reads a snapshot without waiting for the write lock.
    `hide_parameters` keeps a failed statement's values (people's text) out of its error.
    A `probe` engine (health checks) opens a new connection each time, never keeps one, and
    never creates a missing SQLite file: each use is a real test of reaching the database.
    """
    parsed = make_url(url)
    pool: dict[str, Any] = {"poolclass": NullPool} if probe else {}
    if not parsed.drivername.startswith("sqlite"):
        if parsed.drivername in ("postgres", "postgresql"):
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        if probe and parsed.get_backend_name() == "postgresql":
            pool["connect_args"] = {"connect_timeout": 3}
        return create_engine(url, pool_pre_ping=True, hide_parameters=hide_parameters, **pool)
    path = parsed.database if parsed.database not in (None, "", ":memory:") else None
    if probe and path is not None:
        where = Path(path).absolute().as_posix()
        pool["creator"] = lambda: sqlite3.connect(
            f"file:{where}?mode=rw", uri=True, check_same_thread=False, timeout=3
        )
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 15},
        hide_parameters=hide_parameters,
        **pool,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so that BEGIN IMMEDIATE below is ours.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        if path is not None:
            keep_private(Path(path))

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # SQLite ignores SELECT ... FOR UPDATE; taking the write lock up front gives two
        # processes the same one-at-a-time guarantee PostgreSQL's row locks give.
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def unreachable(url: str, err: BaseException) -> str:
    """One line saying which database (its password left out) failed, and why."""
    shown = make_url(url).render_as_string(hide_password=True)
    return f"database {shown}: cannot be used ({reason(err, url)})"


def reason(err: BaseException, url: str) -> str:
    """The driver's first line of why, without the password should a driver repeat it."""
    cause = getattr(err, "orig", None) or err
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:200]
    password = make_url(url).password
    return first.replace(str(password), "***") if password else first
