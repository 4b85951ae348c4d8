"""On SQLite, the reader reads in the loop's thread and never waits for a lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import create_engine
from app.reader import Reader, sqlite_file

pytestmark = pytest.mark.anyio

_ITEMS = Table(
    "items",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("name", String(20)),
)
_ITEM = select(_ITEMS.c.id, _ITEMS.c.name).where(_ITEMS.c.id == bindparam("id"))


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """A database in rollback-journal mode, where a writer does block readers."""
    path = tmp_path / "items.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("INSERT INTO items VALUES (1, 'one')")
    connection.close()
    return path


def _engine_statements(engine: AsyncEngine) -> list[str]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_a_read_does_not_go_through_the_engine(database: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    reader = Reader(engine)
    through_engine = _engine_statements(engine)
    traced: list[str] = []
    reader.trace(traced.append)
    try:
        rows = await reader.rows(_ITEM, {"id": 1})
    finally:
        await reader.close()
        await engine.dispose()
    assert [(row.id, row.name) for row in rows] == [(1, "one")]
    assert through_engine == []
    assert len(traced) == 1
    assert traced[0].startswith("SELECT items.id, items.name")


async def test_a_locked_database_is_read_through_the_engine_and_the_loop_runs_on(
    database: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    reader = Reader(engine)
    through_engine = _engine_statements(engine)
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    rows: list[Any] = []
    ticks = 0

    async def read() -> None:
        rows.extend(await reader.rows(_ITEM, {"id": 1}))

    try:
        # A read that waited for the lock in the loop's thread would hold up
        # the ticks below, and this deadline with them.
        with anyio.fail_after(2):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(read)
                for _ in range(5):
                    await anyio.sleep(0.01)
                    ticks += 1
                assert rows == []
                writer.execute("ROLLBACK")
    finally:
        writer.close()
        await reader.close()
        await engine.dispose()
    assert ticks == 5
    assert [(row.id, row.name) for row in rows] == [(1, "one")]
    assert any(s.startswith("SELECT items.id") for s in through_engine)


async def test_other_errors_are_not_hidden(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite'}")
    reader = Reader(engine)
    try:
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await reader.rows(_ITEM, {"id": 1})
    finally:
        await reader.close()
        await engine.dispose()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite+aiosqlite:///./app.db", "./app.db"),
        ("sqlite+aiosqlite:////var/lib/app/app.db", "/var/lib/app/app.db"),
        ("sqlite+aiosqlite://", None),
        ("sqlite+aiosqlite:///:memory:", None),
        ("sqlite+aiosqlite:///file:app.db?mode=ro&uri=true", None),
        ("sqlite+aiosqlite:///app.db?timeout=5", None),
        ("postgresql+asyncpg://postgres@localhost/app", None),
    ],
)
def test_only_a_plain_database_file_gets_its_own_connection(
    url: str, expected: str | None
) -> None:
    assert sqlite_file(make_url(url)) == expected
