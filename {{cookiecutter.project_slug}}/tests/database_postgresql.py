"""Test databases on PostgreSQL: one database per test, cloned from a template.

The server comes from ``TEST_DATABASE_URL`` (any database on it; the tests
create and drop their own). A missing server fails the run: a PostgreSQL
project's tests never pass without PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest
from sqlalchemy.engine import make_url

# This project's driver on a port where no server listens: a route that answers
# with it never touched the database.
UNREACHABLE_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/unreachable"
SERVER_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


def create_empty() -> str:
    """Return the URL of a new, empty database."""
    return _create("")


def clone(template_url: str) -> str:
    """Return the URL of a new database holding a copy of ``template_url``."""
    template = make_url(template_url).database
    return _create(f' TEMPLATE "{template}"')


def drop(url: str) -> None:
    """Drop the database at ``url``, closing what still uses it."""
    name = make_url(url).database
    _run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _create(suffix: str) -> str:
    name = f"test_{secrets.token_hex(6)}"
    _run(f'CREATE DATABASE "{name}"{suffix}')
    return make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)


def _run(statement: str) -> None:
    """Run ``statement`` in a thread of its own, whatever runs in this one.

    ``asyncio.run`` cannot start inside a running event loop: an async
    test's, or the one playwright's sync API keeps in the browser tests.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _admin(statement)).result()


async def _admin(statement: str) -> None:
    url = make_url(SERVER_URL)
    try:
        connection = await asyncpg.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            database=url.database,
        )
    except (OSError, asyncpg.PostgresError) as error:
        pytest.fail(
            f"PostgreSQL is not reachable at {url.render_as_string()} ({error}); "
            "start it or set TEST_DATABASE_URL",
            pytrace=False,
        )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
