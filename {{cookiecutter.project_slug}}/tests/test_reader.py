"""The hot-path reader returns what the engine would, and sees every commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC

import pytest
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.models import User
from app.db import create_engine, utcnow
from app.reader import Reader
from tests.helpers import insert_user

pytestmark = pytest.mark.anyio

_USER = select(
    User.id, User.email, User.is_active, User.security_stamp, User.created_at
).where(User.id == bindparam("uid"))


@pytest.fixture
async def reader(engine: AsyncEngine) -> AsyncIterator[Reader]:
    reader = Reader(engine)
    yield reader
    await reader.close()


async def test_rows_match_the_engine_in_names_values_and_types(
    engine: AsyncEngine, reader: Reader
) -> None:
    user_id = await insert_user(engine, "ada@example.com")
    rows = await reader.rows(_USER, {"uid": user_id})
    async with engine.connect() as connection:
        expected = (await connection.execute(_USER, {"uid": user_id})).all()
    assert [tuple(row) for row in rows] == [tuple(row) for row in expected]
    (row,) = rows
    assert row.id == user_id
    assert row.email == "ada@example.com"
    assert row.is_active is True
    assert len(row.security_stamp) == 32
    assert row.created_at.tzinfo is UTC
    assert abs((utcnow() - row.created_at).total_seconds()) < 60


async def test_no_match_is_no_row(engine: AsyncEngine, reader: Reader) -> None:
    await insert_user(engine, "ada@example.com")
    assert list(await reader.rows(_USER, {"uid": 10**6})) == []


async def test_each_read_sees_what_another_connection_committed(
    database_url: str, engine: AsyncEngine, reader: Reader
) -> None:
    # Another engine stands for another process: a revocation there must be
    # seen by the very next read here.
    user_id = await insert_user(engine, "ada@example.com")
    assert (await reader.rows(_USER, {"uid": user_id}))[0].security_stamp != "new"
    other = create_engine(database_url)
    try:
        async with other.begin() as connection:
            await connection.execute(
                update(User).where(User.id == user_id).values(security_stamp="new")
            )
        assert (await reader.rows(_USER, {"uid": user_id}))[0].security_stamp == "new"
        async with other.begin() as connection:
            await connection.execute(delete(User).where(User.id == user_id))
        assert list(await reader.rows(_USER, {"uid": user_id})) == []
    finally:
        await other.dispose()


async def test_a_closed_reader_opens_again_on_the_next_read(
    engine: AsyncEngine, reader: Reader
) -> None:
    user_id = await insert_user(engine, "ada@example.com")
    assert len(await reader.rows(_USER, {"uid": user_id})) == 1
    await reader.close()
    await reader.close()
    assert len(await reader.rows(_USER, {"uid": user_id})) == 1
