"""On PostgreSQL, the reader reads on an asyncpg pool of its own, in batches."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import bindparam, event, func, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.models import User
from app.db import create_engine
from app.reader import Reader
from tests.helpers import insert_user

_USER = select(User.id, User.email).where(User.id == bindparam("uid"))
# More than one row per read, a number that depends on the read's values.
_FROM = (
    select(User.id, User.email)
    .where(User.id >= bindparam("first"), User.email != bindparam("but"))
    .order_by(User.id)
)
_ALL = select(User.id)
_NAMED_STATEMENTS = select(func.count().label("count")).select_from(
    table("pg_prepared_statements")
)
# The backends of this database other than the asking one.
_OTHERS = text(
    "SELECT pid FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@pytest.fixture
async def user_id(engine: AsyncEngine) -> int:
    return await insert_user(engine, "ada@example.com")


async def _other_backends(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as connection:
        return list((await connection.execute(_OTHERS)).scalars())


@pytest.mark.anyio
async def test_a_read_does_not_go_through_the_engine(
    engine: AsyncEngine, user_id: int
) -> None:
    through_engine: list[str] = []

    def record(*args: Any) -> None:
        through_engine.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    reader = Reader(engine)
    traced: list[str] = []
    reader.trace(traced.append)
    try:
        rows = await reader.rows(_USER, {"uid": user_id})
    finally:
        await reader.close()
    assert [(row.id, row.email) for row in rows] == [(user_id, "ada@example.com")]
    assert through_engine == []
    assert len(traced) == 1
    assert traced[0].startswith("SELECT users.id, users.email")


@pytest.mark.anyio
async def test_a_connection_ended_by_the_server_is_replaced(
    engine: AsyncEngine, user_id: int
) -> None:
    reader = Reader(engine)
    try:
        assert len(await reader.rows(_USER, {"uid": user_id})) == 1
        (backend,) = await _other_backends(engine)
        async with engine.connect() as connection:
            await connection.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}
            )
        assert len(await reader.rows(_USER, {"uid": user_id})) == 1
        assert backend not in await _other_backends(engine)
    finally:
        await reader.close()


@pytest.mark.anyio
async def test_the_urls_options_reach_the_readers_connections(
    database_url: str,
) -> None:
    # asyncpg keeps each statement prepared under a name unless the URL asks
    # it not to (as PgBouncer in transaction mode needs).
    for query, named in (({}, True), ({"prepared_statement_cache_size": "0"}, False)):
        url = make_url(database_url).update_query_dict(query)
        engine = create_engine(url.render_as_string(hide_password=False))
        reader = Reader(engine)
        try:
            (row,) = await reader.rows(_NAMED_STATEMENTS, {})
        finally:
            await reader.close()
            await engine.dispose()
        assert (row.count > 0) is named, query


@pytest.mark.anyio
async def test_close_ends_the_readers_connections(
    engine: AsyncEngine, user_id: int
) -> None:
    reader = Reader(engine)
    await reader.rows(_USER, {"uid": user_id})
    assert len(await _other_backends(engine)) == 1
    await reader.close()
    assert await _other_backends(engine) == []


def test_a_read_from_another_event_loop_opens_a_pool_there(database_url: str) -> None:
    # A pool belongs to the loop it was opened in; an app served by another
    # loop later (Starlette's TestClient starts one) must not reuse it.
    engine = create_engine(database_url)
    reader = Reader(engine)

    async def add_and_count(email: str) -> int:
        try:
            await insert_user(engine, email)
            return len(await reader.rows(_ALL, {}))
        finally:
            await engine.dispose()  # the engine's pool belongs to this loop too

    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        assert first.run_until_complete(add_and_count("ada@example.com")) == 1
        assert second.run_until_complete(add_and_count("bob@example.com")) == 2
        second.run_until_complete(reader.close())
        # The first pool was ended from the second loop; its own loop closes
        # the sockets.
        first.run_until_complete(asyncio.sleep(0))
    finally:
        first.close()
        second.close()


@pytest.mark.anyio
async def test_reads_that_wait_together_go_as_one_query(engine: AsyncEngine) -> None:
    ids = [await insert_user(engine, f"user{n}@example.com") for n in range(4)]
    reader = Reader(engine)
    traced: list[str] = []
    reader.trace(traced.append)
    asked = [(first, f"user{n % 4}@example.com") for n in range(40) for first in ids]
    asked.append((max(ids) + 1, "nobody@example.com"))  # no row at all
    try:
        answers = await asyncio.gather(
            *(reader.rows(_FROM, {"first": first, "but": but}) for first, but in asked)
        )
    finally:
        await reader.close()
    for (first, but), rows in zip(asked, answers, strict=True):
        expected = [
            (n, f"user{i}@example.com")
            for i, n in enumerate(ids)
            if n >= first and f"user{i}@example.com" != but
        ]
        assert [(row.id, row.email) for row in rows] == expected, (first, but)
    # The first read waits for a connection; the rest join it.
    assert len(traced) < len(asked) / 4, len(traced)
    assert any("unnest" in sql for sql in traced)


@pytest.mark.anyio
async def test_a_batch_that_fails_fails_each_of_its_reads(
    engine: AsyncEngine, user_id: int
) -> None:
    # A read of a user id too large for the column fails on the server; the
    # others in its batch get the same error, and the next reads work.
    reader = Reader(engine)
    try:
        answers = await asyncio.gather(
            *(reader.rows(_USER, {"uid": uid}) for uid in (user_id, 2**40, user_id)),
            return_exceptions=True,
        )
        assert all(isinstance(answer, Exception) for answer in answers), answers
        assert len(await reader.rows(_USER, {"uid": user_id})) == 1
    finally:
        await reader.close()
