"""Create the database that ``DATABASE_URL`` names, when it is missing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

# Where a PostgreSQL server lets a user connect before its database exists.
_MAINTENANCE_DATABASE = "postgres"


class DatabaseCreationError(Exception):
    """The database could not be made; the message is one line."""


async def create_database(url: str) -> str:
    """Create the database of ``url`` unless it exists; return what was done."""
    parsed = make_url(url)
    name = parsed.database or ""
    if parsed.get_backend_name() == "sqlite":
        folder = Path(name).parent
        if name and name != ":memory:" and not folder.is_dir():
            raise DatabaseCreationError(f"the folder {folder} does not exist")
        return f"SQLite creates {name} on first use: nothing to do"
    server = create_async_engine(
        parsed.set(database=_MAINTENANCE_DATABASE), isolation_level="AUTOCOMMIT"
    )
    try:
        async with server.connect() as connection:
            exists = await connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": name},
            )
            if exists:
                return f"database {name} exists already"
            quoted = connection.dialect.identifier_preparer.quote_identifier(name)
            await connection.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        await server.dispose()
    return f"created database {name}"
