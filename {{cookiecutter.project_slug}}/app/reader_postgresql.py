"""The hot-path read: the one query each authenticated request makes.

The cookie strategies read the session (or the user's session version) from
the database on every request, so that a revocation is seen at once by every
process. On PostgreSQL that read goes through the engine's asyncpg pool: a
prepared statement on a pooled connection, with no ORM session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    # Any SELECT, whatever its columns (SQLAlchemy types them one by one).
    AnySelect: TypeAlias = Select[*tuple[Any, ...]]


class Reader:
    """Runs the hot-path reads of one application's database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def rows(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> Sequence[Any]:
        """Run ``statement`` with ``params``; return its rows.

        Each row has the statement's column names as attributes.
        """
        async with self._engine.connect() as connection:
            result = await connection.execute(statement, params)
            rows: Sequence[Any] = result.all()
        return rows

    def trace(self, callback: Callable[[str], None] | None) -> None:
        """Do nothing: every read goes through the engine, whose events see it.

        The SQLite reader has a connection of its own, which this traces.
        """

    def close(self) -> None:
        """Do nothing: the engine owns the connections."""
