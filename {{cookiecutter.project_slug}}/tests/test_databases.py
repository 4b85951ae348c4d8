"""Each test's database is fresh, whatever the test before it did.

``tests/database.py`` may hand a test a database that an earlier test used:
on PostgreSQL a clone a test is done with is reset and kept rather than
dropped, since a new clone costs the server a fifth of a second. What a test
gets must hold exactly what a new copy of the migrated template holds.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import MetaData, inspect, select, text

from app.db import create_engine
from tests import database
from tests.helpers import insert_user

Contents = dict[str, list[tuple[object, ...]]]


async def _contents(url: str) -> Contents:
    """Return every table's rows, in a stable order, by table name."""
    engine = create_engine(url)
    contents: Contents = {}
    try:
        async with engine.connect() as connection:
            # Reflected, not the app's models: alembic_version counts too.
            metadata = MetaData()
            await connection.run_sync(metadata.reflect)
            for name, table in metadata.tables.items():
                rows = await connection.execute(select(table))
                contents[name] = sorted((tuple(row) for row in rows), key=repr)
    finally:
        await engine.dispose()
    return contents


async def _new_user(url: str, email: str) -> int:
    engine = create_engine(url)
    try:
        return await insert_user(engine, email)
    finally:
        await engine.dispose()


async def _execute(url: str, statement: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def _columns(url: str, table: str) -> list[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: [c["name"] for c in inspect(sync).get_columns(table)]
            )
    finally:
        await engine.dispose()


def test_a_database_holds_nothing_an_earlier_test_left(migrated_template: str) -> None:
    url = database.clone(migrated_template)
    fresh = asyncio.run(_contents(url))
    first_id = asyncio.run(_new_user(url, "left-behind@example.com"))
    database.drop(url)
    again = database.clone(migrated_template)
    try:
        # The migrations' own rows (alembic_version, any seeded roles) are
        # back, and the user is gone.
        assert asyncio.run(_contents(again)) == fresh
        # Ids start where a new copy's would: the sequences were reset too.
        assert asyncio.run(_new_user(again, "next@example.com")) == first_id
    finally:
        database.drop(again)


def test_a_database_whose_schema_a_test_changed_is_not_handed_on(
    migrated_template: str,
) -> None:
    url = database.clone(migrated_template)
    asyncio.run(_execute(url, "ALTER TABLE users ADD COLUMN nickname TEXT"))
    database.drop(url)
    again = database.clone(migrated_template)
    try:
        columns = asyncio.run(_columns(again, "users"))
        assert "nickname" not in columns
        assert "email" in columns
    finally:
        database.drop(again)
