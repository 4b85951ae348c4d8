"""Database engine, sessions and the declarative base."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Dialect, ExceptionContext, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from app.state import app_state

# Stable constraint names, identical on SQLite and PostgreSQL, so that
# migrations can refer to them and autogenerate never sees drift.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database.

    SQLite has no time zones and hands back naive values; this type stores UTC
    and always returns aware datetimes, so comparisons never mix the two.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware one")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


def utcnow() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


def create_engine(url: str, *, timeout: float | None = None) -> AsyncEngine:
    """Create the application's engine for ``url``.

    ``timeout`` (seconds) bounds connecting, waiting for a pooled connection,
    each statement and SQLite's wait for a lock. ``None`` keeps the drivers'
    own limits (SQLite waits 30 s for a lock), as migrations want.
    """
    options: dict[str, Any] = {}
    if timeout is not None and not _in_memory(url):
        options["pool_timeout"] = timeout
    if url.startswith("sqlite"):
        busy = 30 if timeout is None else timeout
        engine = create_async_engine(url, connect_args={"timeout": busy}, **options)
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
    else:
        if timeout is not None:
            options["connect_args"] = asyncpg_timeouts(timeout)
        engine = create_async_engine(url, pool_pre_ping=True, **options)
        event.listen(engine.sync_engine, "invalidate", _drop_at_once)
    event.listen(engine.sync_engine, "handle_error", _discard_on_timeout)
    return engine


def asyncpg_timeouts(timeout: float) -> dict[str, Any]:
    """Return asyncpg's connect options that bound connecting and each statement."""
    return {
        "timeout": timeout,
        "command_timeout": timeout,
        # The server gives up too, and its connection stays usable.
        "server_settings": {"statement_timeout": str(max(1, round(timeout * 1000)))},
    }


def _in_memory(url: str) -> bool:
    # SQLite in memory has a single connection and no pool to wait for.
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and (
        parsed.database in (None, "", ":memory:")
        or parsed.query.get("mode") == "memory"
    )


def _drop_at_once(
    dbapi_connection: Any, _record: Any, exception: BaseException | None
) -> None:
    # SQLAlchemy closes an invalidated connection politely, waiting up to 2 s
    # for a goodbye that a silent server never sends; one that timed out or
    # failed is dropped at once instead.
    if isinstance(exception, OSError) and dbapi_connection is not None:
        dbapi_connection.driver_connection.terminate()


def _discard_on_timeout(context: ExceptionContext) -> None:
    # A statement that timed out, or a socket that failed, leaves the
    # connection in an unknown state (asyncpg may still be cancelling): never
    # hand it out again, nor the others opened before it.
    if isinstance(context.original_exception, OSError):
        context.is_disconnect = True


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys (and so ON DELETE CASCADE) unless asked, and
    # WAL lets readers in other processes work while one process writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the session factory bound to ``engine``."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """Yield a session for one request; it is closed when the request ends."""
    async with app_state(request.app).sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_db)]
