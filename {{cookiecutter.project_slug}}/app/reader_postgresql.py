"""The hot-path read: the one query each authenticated request makes.

The cookie strategies read the session (or the user's session version) from
the database on every request, so that a revocation is seen at once by every
process. Through the engine that read costs several times the query itself:
a pool checkout with a ping (``pool_pre_ping``), SQLAlchemy's greenlet bridge
to asyncpg, and a result object per call.

So the read runs on a small asyncpg pool of the reader's own, with the SQL
and the type conversions the engine would use (:mod:`app.prepared`):

- each read is one statement outside any transaction, so it sees every
  commit made before it, by any process;
- asyncpg prepares each statement once per connection and keeps it;
- a connection that went away (a server restart, an idle timeout) is
  closed and replaced, and the read tried once more, as the engine's ping
  would have found it; the pool's other connections are replaced too, as
  they likely went the same way;
- ``timeout`` (DATABASE_TIMEOUT) bounds connecting, waiting for a pooled
  connection and each read, as on the engine; a connection whose read timed
  out is closed, never reused, and the others are replaced;
- connections are released without asyncpg's reset query, which would cost
  a round trip per read: the reader runs nothing but single SELECTs, so it
  leaves no state behind on them.

Writes, and every other query, go through the engine as usual.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import asyncpg_timeouts
from app.prepared import Statements

if TYPE_CHECKING:
    from app.prepared import AnySelect

# The reads are short: a few connections per process keep up with the loop.
POOL_SIZE = 4
# What a connection lost between two reads raises: the server's goodbye
# (57P01 and the like), a closed socket, or asyncpg's protocol left in the
# middle of that goodbye when the next query starts.
_GONE = (
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    ConnectionError,
)


class Reader:
    """Runs the hot-path reads of one application's database."""

    def __init__(self, engine: AsyncEngine, *, timeout: float | None = None) -> None:
        self._engine = engine
        self._timeout = timeout
        self._statements = Statements(engine.dialect)
        self._trace: Callable[[str], None] | None = None
        self._pool: asyncio.Task[asyncpg.Pool] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def rows(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Sequence[Any]:
        """Run ``statement`` with ``params``; return its rows.

        Each row has the statement's column names as attributes. Build the
        statement once, at import: it is compiled on first use and kept.
        """
        prepared = self._statements.get(statement)
        values = prepared.values(params)
        pool = await self._open()
        if self._trace is not None:
            self._trace(prepared.sql)
        try:
            raw = await _fetch(pool, prepared.sql, values, self._timeout)
        except _GONE:
            await pool.expire_connections()
            raw = await _fetch(pool, prepared.sql, values, self._timeout)
        except TimeoutError:
            # A silent server: don't wait on each idle connection in turn.
            await pool.expire_connections()
            raise
        return prepared.rows(raw)

    def trace(self, callback: Callable[[str], None] | None) -> None:
        """Call ``callback`` with each statement the reader sends."""
        self._trace = callback

    async def close(self) -> None:
        """Close the reader's connections; the next read opens new ones."""
        task, loop = self._pool, self._loop
        self._pool = self._loop = None
        if task is None:
            return
        if not task.done():
            task.cancel()
            return
        if task.cancelled() or task.exception() is not None:
            return
        pool = task.result()
        if loop is asyncio.get_running_loop():
            # A silent server never answers a polite goodbye: past the
            # timeout, wait_for cancels close(), and the pool terminates.
            await asyncio.wait_for(pool.close(), self._timeout)
        else:  # its loop has ended: nothing can wait for its connections
            pool.terminate()

    async def _open(self) -> asyncpg.Pool:
        # Opened on first use, in the loop that serves the requests, so never
        # before a server forks its workers. An app served by another loop
        # later (one per Starlette TestClient) gets a pool of its own.
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            if self._pool is not None:
                await self.close()
            self._pool = loop.create_task(self._create_pool())
            self._loop = loop
        task = self._pool
        try:
            return await task
        except BaseException:
            if self._pool is task and task.done():
                self._pool = None  # the next read tries again
            raise

    async def _create_pool(self) -> asyncpg.Pool:
        _, options = self._engine.dialect.create_connect_args(self._engine.url)
        # The names SQLAlchemy's URL takes for asyncpg's own options.
        options.pop("prepared_statement_name_func", None)
        cache_size = options.pop("prepared_statement_cache_size", None)
        if cache_size is not None:
            options["statement_cache_size"] = cache_size
        if self._timeout is not None:
            timeouts = asyncpg_timeouts(self._timeout)
            timeouts["server_settings"].update(options.get("server_settings", {}))
            options.update(timeouts)
        # No minimum size: asyncpg would keep one connected from a task of
        # its own, which logs a traceback for each failed try while the
        # database is away. Reads open what they need.
        pool: asyncpg.Pool = await asyncpg.create_pool(
            min_size=0, max_size=POOL_SIZE, reset=_keep, **options
        )
        return pool


async def _fetch(
    pool: asyncpg.Pool, sql: str, values: tuple[Any, ...], wait: float | None
) -> list[Any]:
    # asyncpg's own acquire(timeout=...) runs the wait in a task of its own,
    # which cost each request more than the read itself; a deadline on the
    # wait alone costs a timer. The read is bounded by its command_timeout.
    async with asyncio.timeout(wait):
        connection = await pool.acquire()
    try:
        rows: list[Any] = await connection.fetch(sql, *values)
    except (*_GONE, TimeoutError):
        # Never handed out again: the pool opens a new one in its place.
        connection.terminate()
        raise
    finally:
        await pool.release(connection)
    return rows


async def _keep(_connection: asyncpg.Connection) -> None:
    """Release a connection as it is: a single SELECT leaves nothing to reset."""
