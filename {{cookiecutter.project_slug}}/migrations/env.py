"""Alembic environment: runs migrations with the app's async engine."""

from __future__ import annotations

import asyncio
import logging
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

# The models, whose tables the migrations must match (their import
# registers them on Base.metadata).
import app.auth.account_tokens
import app.auth.events
import app.auth.mfa.models
{%- if cookiecutter.session_strategy != "signed_cookie" %}
import app.auth.rbac
import app.auth.session.models  # noqa: F401
{%- else %}
import app.auth.rbac  # noqa: F401
{%- endif %}
from app.config import get_database_settings
from app.db import Base, create_engine

target_metadata = Base.metadata

# alembic.ini's logging: the command line reports each revision it runs. A
# caller that set up logging already (the tests) keeps its own.
if context.config.config_file_name is not None and not logging.getLogger().handlers:
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)


def _configure(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite alters a table by copying it and dropping the original; with
        # foreign keys on, that drop would cascade to every row that refers
        # to it. The pragma only takes effect outside a transaction, so it
        # comes first; each migration runs on a connection of its own.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()  # so that Alembic's transaction is its own, and commits
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters tables by copying them; PostgreSQL ignores this.
        render_as_batch=sqlite,
    )
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise SystemExit(f"migration left rows without their parent: {broken}")


async def _run_online() -> None:
    url = context.config.attributes.get("database_url") or (
        get_database_settings().database_url
    )
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported by this project.")

asyncio.run(_run_online())
