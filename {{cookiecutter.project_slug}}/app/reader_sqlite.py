"""The hot-path read: the one query each authenticated request makes.

The cookie strategies read the session (or the user's session version) from
the database on every request, so that a revocation is seen at once by every
process. That read has to be cheap, and through aiosqlite it is not: every
call goes to a worker thread and back, and those hand-offs cost many times
the read itself (an indexed read takes about 10 µs in SQLite; the trip through
SQLAlchemy and aiosqlite takes about 1 ms of wall time on an idle loop).

So the read runs on a plain :mod:`sqlite3` connection of its own, in the event
loop's thread. That is safe because:

- the database is in WAL mode, where a reader never waits for a writer and
  sees every transaction committed before it started, in any process;
- the connection's busy timeout is zero: if SQLite would make it wait (a WAL
  recovery, a database not in WAL mode), it fails at once and the read is
  retried through the engine, so the loop never blocks on a lock;
- it is read-only and in autocommit mode: it holds no snapshot between reads.

Writes, and every other query, go through the engine as usual.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from app.prepared import Statements

if TYPE_CHECKING:
    from app.prepared import AnySelect

log = logging.getLogger("app.db")

# The primary result codes that mean "SQLite would have to wait".
_WAIT_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class Reader:
    """Runs the hot-path reads of one application's database."""

    def __init__(self, engine: AsyncEngine, *, timeout: float | None = None) -> None:
        # ``timeout`` is the engine's to apply: the reader's own connection
        # never waits, and a read that would wait goes through the engine.
        del timeout
        self._engine = engine
        self._path = sqlite_file(engine.url)
        self._connection: sqlite3.Connection | None = None
        self._statements = Statements(engine.dialect)
        self._trace: Callable[[str], None] | None = None

    async def rows(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Sequence[Any]:
        """Run ``statement`` with ``params``; return its rows.

        Each row has the statement's column names as attributes. Build the
        statement once, at import: it is compiled on first use and kept.
        """
        if self._path is not None:
            try:
                return self._read_sqlite(self._path, statement, params)
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode & 0xFF not in _WAIT_CODES:
                    raise
                log.debug("sqlite busy, reading through the engine: %s", error)
        async with self._engine.connect() as connection:
            result = await connection.execute(statement, params)
            rows: Sequence[Any] = result.all()
        return rows

    def trace(self, callback: Callable[[str], None] | None) -> None:
        """Call ``callback`` with each statement sent on the reader's own connection.

        Statements that go through the engine fire the engine's events instead.
        """
        self._trace = callback
        if self._connection is not None:
            self._connection.set_trace_callback(callback)

    async def close(self) -> None:
        """Close the reader's own connection, if it opened one."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _read_sqlite(
        self, path: str, statement: AnySelect, params: Mapping[str, Any]
    ) -> list[Any]:
        prepared = self._statements.get(statement)
        cursor = self._sqlite(path).execute(prepared.sql, prepared.values(params))
        # fetchall() runs the statement to its end, which ends the read.
        return prepared.rows(cursor.fetchall())

    def _sqlite(self, path: str) -> sqlite3.Connection:
        # Opened on first use, so never before a server forks its workers.
        if self._connection is None:
            connection = sqlite3.connect(
                path,
                timeout=0,
                isolation_level=None,
                # Each use runs to its end; an app served from another thread
                # (Starlette's TestClient) may use it there.
                check_same_thread=False,
            )
            connection.execute("PRAGMA query_only = ON")
            connection.set_trace_callback(self._trace)
            self._connection = connection
        return self._connection


def sqlite_file(url: URL) -> str | None:
    """Return the file of a SQLite database, or None for any other database.

    An in-memory database, or one opened with options, is None too: the
    reader can't open a second connection like the engine's, so the engine
    serves it.
    """
    if url.get_backend_name() != "sqlite" or url.query:
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database
