from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect
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
