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
  leaves no state behind on them;
- reads of one statement that wait at the same time go as one query: the
  first waits for a connection, and those that come meanwhile join it, each
  with its own parameters (:class:`_Batched`). The round trip, the pool's
  acquire and release and the server's execution are then shared by the
  batch; under load they were most of what a read cost. A batch is sent
  only once every read in it has arrived, so each read still sees every
  commit made before it began.

Writes, and every other query, go through the engine as usual.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import asyncpg
from sqlalchemy import ARRAY, column, func, select, true
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import replacement_traverse

from app.db import asyncpg_timeouts
from app.prepared import Prepared, Statements

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
        self._batched: dict[AnySelect, _Batched | None] = {}
        # The reads of each statement that wait for a connection: one batch.
        self._waiting: dict[AnySelect, list[_Read]] = {}
        self._sending: set[asyncio.Task[None]] = set()
        self._trace: Callable[[str], None] | None = None
        self._pool: asyncio.Task[asyncpg.Pool] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def rows(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Sequence[Any]:
        """Run ``statement`` with ``params``; return its rows.

        ``params`` gives a value to each ``bindparam`` of the statement that has none.
        Each row has the statement's column names as attributes. Build the
        statement once, at import: it is compiled on first use and kept.
        """
        pool = await self._open()
        read = _Read(params, asyncio.get_running_loop().create_future())
        waiting = self._waiting  # this loop's batches, with its pool
        batch = waiting.get(statement)
        if batch is not None:
            batch.append(read)  # it has not been sent yet: join it
        else:
            waiting[statement] = [read]
            task = asyncio.create_task(self._send(pool, waiting, statement))
            self._sending.add(task)  # the loop itself keeps no reference
            task.add_done_callback(self._sending.discard)
        return await read.rows

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

    async def _send(
        self,
        pool: asyncpg.Pool,
        waiting: dict[AnySelect, list[_Read]],
        statement: AnySelect,
    ) -> None:
        # Waits for a connection, then sends every read of ``statement`` that
        # came meanwhile as one query; each read gets its rows, or the error.
        reads: list[_Read] = []
        try:
            try:
                connection = await self._acquire(pool)
            finally:
                reads = waiting.pop(statement)  # a later read starts anew
            query = self._query(statement, reads)
            if self._trace is not None:
                self._trace(query.sql)
            try:
                raw = await _fetch(pool, connection, query.sql, query.values)
            except _GONE:
                await pool.expire_connections()
                connection = await self._acquire(pool)
                raw = await _fetch(pool, connection, query.sql, query.values)
            except TimeoutError:
                # A silent server: don't wait on each idle connection in turn.
                await pool.expire_connections()
                raise
        except BaseException as error:
            for read in reads:
                read.fail(error)
            if not isinstance(error, Exception):
                raise
            return
        for read, rows in zip(reads, query.split(raw), strict=True):
            if not read.rows.done():  # its request may have gone
                read.rows.set_result(rows)

    async def _acquire(self, pool: asyncpg.Pool) -> asyncpg.Connection:
        # asyncpg's own acquire(timeout=...) runs the wait in a task of its
        # own; a deadline on the wait alone costs a timer. Each read is
        # bounded by the connection's command_timeout.
        async with asyncio.timeout(self._timeout):
            connection: asyncpg.Connection = await pool.acquire()
        return connection

    def _query(self, statement: AnySelect, reads: list[_Read]) -> _Query:
        single = self._statements.get(statement)
        if statement not in self._batched:
            self._batched[statement] = _Batched.of(statement, self._engine.dialect)
        batched = self._batched[statement]
        if len(reads) == 1 or batched is None:
            # Without parameters of its own, one run answers every read.
            rows = single.rows
            return _Query(
                single.sql,
                single.values(reads[0].params),
                lambda raw: [rows(raw) for _ in reads],
            )
        return _Query(
            batched.prepared.sql,
            batched.values(reads),
            lambda raw: batched.split(raw, len(reads), single),
        )

    async def _open(self) -> asyncpg.Pool:
        # Opened on first use, in the loop that serves the requests, so never
        # before a server forks its workers. An app served by another loop
        # later (one per Starlette TestClient) gets a pool of its own.
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            if self._pool is not None:
                await self.close()
            # A batch of an ended loop would never be sent: new reads must
            # not join it. Its task, if it runs, still has its own.
            self._waiting = {}
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


@dataclass(slots=True)
class _Read:
    """One call of :meth:`Reader.rows`: its parameters, and its rows to come."""

    params: Mapping[str, Any]
    rows: asyncio.Future[Sequence[Any]]

    def fail(self, error: BaseException) -> None:
        if self.rows.done():
            return
        if isinstance(error, asyncio.CancelledError):
            self.rows.cancel()
        else:
            self.rows.set_exception(error)


@dataclass(frozen=True, slots=True)
class _Query:
    """What one round trip sends, and how its rows go back to each read."""

    sql: str
    values: tuple[Any, ...]
    split: Callable[[list[Any]], list[Sequence[Any]]]


@dataclass(frozen=True, slots=True)
class _Batched:
    """A statement made to answer many reads at once.

    Each parameter becomes an array, one element per read; ``unnest`` turns
    the arrays back into one row per read, numbered, and the statement runs
    once per row as a LATERAL subquery, with the row's values where its
    parameters were. On PostgreSQL that is a nested loop of the statement's
    own index lookups, and each result row says which read it answers.
    """

    prepared: Prepared
    keys: tuple[str, ...]

    @classmethod
    def of(cls, statement: AnySelect, dialect: Dialect) -> _Batched | None:
        """Return ``statement`` batched, or None if it takes no parameters."""
        compiled = statement.compile(dialect=dialect)
        binds = {
            name: compiled.binds[name].type
            for name in compiled.positiontup or ()
            if compiled.binds[name].required
        }
        if not binds:
            return None
        reads = (
            func.unnest(
                *(
                    BindParameter(_array(name), type_=ARRAY(type_))
                    for name, type_ in binds.items()
                )
            )
            .table_valued(
                *(column(name, type_) for name, type_ in binds.items()),
                with_ordinality="read",
            )
            .render_derived("reads")
        )

        def parameter_to_column(element: Any, **_: Any) -> Any:
            if isinstance(element, BindParameter) and element.key in binds:
                return reads.c[element.key]
            return None

        swapped = replacement_traverse(statement, {}, parameter_to_column)
        each = cast("AnySelect", swapped).lateral("each")
        batched = select(reads.c.read, *each.c).select_from(reads.join(each, true()))
        return cls(Prepared.of(batched, dialect), tuple(binds))

    def values(self, reads: list[_Read]) -> tuple[Any, ...]:
        """Return the arrays of the reads' parameters, as positional values."""
        return self.prepared.values(
            {_array(key): [read.params[key] for read in reads] for key in self.keys}
        )

    def split(self, raw: list[Any], count: int, single: Prepared) -> list[Any]:
        """Return the rows of each of ``count`` reads, as ``single`` gives them."""
        each: list[list[Any]] = [[] for _ in range(count)]
        for record in raw:
            each[record[0] - 1].append(record[1:])
        return [single.rows(records) for records in each]


def _array(name: str) -> str:
    return f"{name}_of_each_read"


async def _fetch(
    pool: asyncpg.Pool,
    connection: asyncpg.Connection,
    sql: str,
    values: tuple[Any, ...],
) -> list[Any]:
    # Runs one query on ``connection``, then gives it back to the pool.
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
