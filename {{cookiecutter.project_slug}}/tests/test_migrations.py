from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.servers import PROJECT_ROOT


def _config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    return config


async def _table_names(url: str) -> list[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            names: list[str] = await connection.run_sync(
                lambda sync: inspect(sync).get_table_names()
            )
            return names
    finally:
        await engine.dispose()


def test_migrations_match_the_models_and_reverse_cleanly(
    empty_database_url: str,
) -> None:
    config = _config(empty_database_url)
    command.upgrade(config, "head")
    command.check(config)  # raises when the models and migrations drift apart
    command.downgrade(config, "base")
    assert asyncio.run(_table_names(empty_database_url)) == ["alembic_version"]
    command.upgrade(config, "head")
    assert "users" in asyncio.run(_table_names(empty_database_url))


async def _run(url: str, *statements: str) -> list[tuple[object, ...]]:
    """Run SQL statements in one transaction; return the last one's rows."""
    engine = create_async_engine(url)
    rows: list[tuple[object, ...]] = []
    try:
        async with engine.begin() as connection:
            for statement in statements:
                result = await connection.execute(text(statement))
                rows = [tuple(row) for row in result] if result.returns_rows else []
    finally:
        await engine.dispose()
    return rows


def test_the_security_stamp_revision_keeps_every_row(empty_database_url: str) -> None:
    # 0004 rebuilds users on SQLite: nothing that refers to a user may go.
    config = _config(empty_database_url)
    before = ScriptDirectory.from_config(config).get_revision("0004").down_revision
    assert isinstance(before, str)
    command.upgrade(config, before)
    tables = asyncio.run(_table_names(empty_database_url))
    asyncio.run(
        _run(
            empty_database_url,
            "INSERT INTO users (id, email, password_hash, is_active, session_version,"
            " created_at) VALUES (7, 'ada@example.com', 'x', true, 3,"
            " '2026-01-01 00:00:00+00')",
        )
    )
    referring = {
        "user_roles": "INSERT INTO user_roles (user_id, role_id)"
        " SELECT 7, id FROM roles WHERE name = 'admin'",
        "user_session": "INSERT INTO user_session (token_hash, public_id, user_id,"
        " created_at, last_seen_at, expires_at, user_agent) VALUES ('h', 'p', 7,"
        " '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00',"
        " '2026-01-02 00:00:00+00', 'ua')",
        "refresh_tokens": "INSERT INTO refresh_tokens (token_hash, user_id, family,"
        " created_at, expires_at) VALUES ('h', 7, 'f', '2026-01-01 00:00:00+00',"
        " '2026-01-02 00:00:00+00')",
    }
    present = [table for table in referring if table in tables]
    asyncio.run(_run(empty_database_url, *(referring[table] for table in present)))
    command.upgrade(config, "head")
    command.check(config)
    ((stamp,),) = asyncio.run(
        _run(empty_database_url, "SELECT security_stamp FROM users WHERE id = 7")
    )
    assert isinstance(stamp, str)
    assert len(stamp) == 32
    assert int(stamp, 16) >= 0
    for table in present:
        rows = asyncio.run(
            _run(empty_database_url, f"SELECT * FROM {table} WHERE user_id = 7")  # noqa: S608
        )
        assert len(rows) == 1, table
    for table in {"user_session", "refresh_tokens"}.intersection(present):
        carried = asyncio.run(
            _run(empty_database_url, f"SELECT security_stamp FROM {table}")  # noqa: S608
        )
        assert carried == [(stamp,)], table
