"""Test databases on PostgreSQL: one database per test, cloned from a template.

The server comes from ``TEST_DATABASE_URL`` (any database on it; the tests
create and drop their own). A missing server fails the run: a PostgreSQL
project's tests never pass without PostgreSQL.

A clone costs the server about a fifth of a second of CPU (``CREATE DATABASE
... TEMPLATE`` copies every block of every table and index), and the suite
takes one per test. So a clone that a test is done with is put back as it was
made and kept for the next test, when that is possible: every other connection
to it is ended (as ``DROP DATABASE ... WITH (FORCE)`` would), then in one
transaction its rows are deleted, the template's rows put back and its
sequences reset. That takes milliseconds. A clone whose schema no longer
matches the template's (a test migrated it), or that cannot be reset, is
dropped instead. The template's own ``drop`` drops the clones it left.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import make_url

# This project's driver on a port where no server listens: a route that answers
# with it never touched the database.
UNREACHABLE_URL = "postgresql+asyncpg://postgres@127.0.0.1:1/unreachable"
SERVER_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)

T = TypeVar("T")

# Everything a test could change in a schema, one line per object: tables,
# views and sequences, their columns, constraints, indexes and triggers, the
# functions and enum types. Its digest tells a clone that only holds other
# rows from one whose schema a test changed.
_SCHEMA_DIGEST = """
WITH spaces AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'
), relations AS (
    SELECT c.oid, c.relname, c.relkind, s.nspname
    FROM pg_class AS c JOIN spaces AS s ON s.oid = c.relnamespace
)
SELECT md5(coalesce(string_agg(line, E'\\n' ORDER BY line), '')) FROM (
    SELECT format('schema %s', nspname) FROM spaces
    UNION ALL
    SELECT format('relation %s.%s %s', nspname, relname, relkind) FROM relations
    UNION ALL
    SELECT format(
        'column %s.%s.%s %s %s %s %s', r.nspname, r.relname, a.attname,
        format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attgenerated,
        pg_get_expr(d.adbin, d.adrelid)
    )
    FROM pg_attribute AS a
    JOIN relations AS r ON r.oid = a.attrelid
    LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT format(
        'constraint %s.%s %s', r.relname, c.conname, pg_get_constraintdef(c.oid)
    )
    FROM pg_constraint AS c JOIN relations AS r ON r.oid = c.conrelid
    UNION ALL
    SELECT format('index %s', pg_get_indexdef(i.indexrelid))
    FROM pg_index AS i JOIN relations AS r ON r.oid = i.indrelid
    UNION ALL
    SELECT format('trigger %s %s', pg_get_triggerdef(t.oid), t.tgenabled)
    FROM pg_trigger AS t JOIN relations AS r ON r.oid = t.tgrelid
    WHERE NOT t.tgisinternal
    UNION ALL
    SELECT format('function %s %s', p.oid::regprocedure, md5(p.prosrc))
    FROM pg_proc AS p JOIN spaces AS s ON s.oid = p.pronamespace
    UNION ALL
    SELECT format('enum %s %s %s', e.enumtypid::regtype, e.enumsortorder, e.enumlabel)
    FROM pg_enum AS e
) AS lines(line)
"""
_TABLES = """
SELECT schemaname, tablename, quote_ident(schemaname) || '.' || quote_ident(tablename)
FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2
"""
_SEQUENCES = """
SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename),
       coalesce(last_value, start_value), last_value IS NOT NULL
FROM pg_sequences WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
"""


@dataclass(frozen=True)
class _Pristine:
    """What a fresh clone of one template holds: the state a reset restores."""

    schema: str
    # Each table's schema, name, and both quoted as SQL wants them.
    tables: tuple[tuple[str, str, str], ...]
    # The rows of the tables that have any (the migrations' seed data), by
    # table: its columns and rows.
    rows: dict[tuple[str, str], tuple[list[str], list[tuple[Any, ...]]]]
    sequences: tuple[tuple[str, int, bool], ...]


# Per template name: its fresh clones' state, and the reset clones ready for
# the next test. Per clone: its template.
_pristine: dict[str, _Pristine] = {}
_ready: dict[str, list[str]] = {}
_template_of: dict[str, str] = {}


def create_empty() -> str:
    """Return the URL of a new, empty database."""
    return _url(_create(""))


def clone(template_url: str) -> str:
    """Return the URL of a database holding a copy of ``template_url``."""
    template = _name(template_url)
    ready = _ready.setdefault(template, [])
    if ready:
        return _url(ready.pop())
    name = _create(f' TEMPLATE "{template}"')
    _template_of[name] = template
    if template not in _pristine:
        _pristine[template] = _in_thread(lambda: _with(name, _look))
    return _url(name)


def drop(url: str) -> None:
    """Be done with the database at ``url``, closing what still uses it.

    A clone is reset for the next test when it can be, else dropped; a
    template is dropped with the clones kept for it.
    """
    name = _name(url)
    template = _template_of.pop(name, None)
    pristine = _pristine.get(template) if template is not None else None
    if pristine is not None and _in_thread(lambda: _reset(name, pristine)):
        assert template is not None
        _template_of[name] = template
        _ready[template].append(name)
        return
    for kept in _ready.pop(name, []):
        _template_of.pop(kept, None)
        _drop(kept)
    _pristine.pop(name, None)
    _drop(name)


def _create(suffix: str) -> str:
    name = f"test_{secrets.token_hex(6)}"
    _in_thread(lambda: _admin(f'CREATE DATABASE "{name}"{suffix}'))
    return name


def _drop(name: str) -> None:
    _in_thread(lambda: _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _url(name: str) -> str:
    return make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)


def _name(url: str) -> str:
    name = make_url(url).database
    assert name, url
    return name


def _in_thread(work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` in a thread of its own, whatever runs in this one.

    ``asyncio.run`` cannot start inside a running event loop: an async
    test's, or the one playwright's sync API keeps in the browser tests.
    """

    async def main() -> T:
        return await work()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()


async def _connect(database: str | None = None) -> asyncpg.Connection:
    url = make_url(SERVER_URL)
    try:
        return await asyncpg.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            database=database or url.database,
        )
    except (OSError, asyncpg.PostgresError) as error:
        pytest.fail(
            f"PostgreSQL is not reachable at {url.render_as_string()} ({error}); "
            "start it or set TEST_DATABASE_URL",
            pytrace=False,
        )


async def _admin(statement: str, *args: object) -> None:
    connection = await _connect()
    try:
        await connection.execute(statement, *args)
    finally:
        await connection.close()


async def _with(name: str, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    connection = await _connect(name)
    try:
        return await work(connection)
    finally:
        await connection.close()


async def _look(connection: asyncpg.Connection) -> _Pristine:
    tables = tuple((row[0], row[1], row[2]) for row in await connection.fetch(_TABLES))
    rows: dict[tuple[str, str], tuple[list[str], list[tuple[Any, ...]]]] = {}
    for schema, table, quoted in tables:
        # The server quoted the name (quote_ident): no injection here.
        records = await connection.fetch(f"SELECT * FROM {quoted}")  # noqa: S608
        if records:
            rows[schema, table] = (list(records[0].keys()), [tuple(r) for r in records])
    sequences = await connection.fetch(_SEQUENCES)
    return _Pristine(
        schema=await connection.fetchval(_SCHEMA_DIGEST),
        tables=tables,
        rows=rows,
        sequences=tuple((row[0], row[1], row[2]) for row in sequences),
    )


async def _reset(name: str, pristine: _Pristine) -> bool:
    """Put the clone ``name`` back as it was made; False if it cannot be."""
    # As DROP DATABASE ... WITH (FORCE): no connection of the test outlives it.
    await _admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = $1 AND pid <> pg_backend_pid()",
        name,
    )
    try:
        return await _with(name, lambda connection: _restore(connection, pristine))
    except (OSError, asyncpg.PostgresError):
        return False


async def _restore(connection: asyncpg.Connection, pristine: _Pristine) -> bool:
    async with connection.transaction():
        if await connection.fetchval(_SCHEMA_DIGEST) != pristine.schema:
            return False
        # Neither foreign keys nor triggers stand in the way of a reset.
        await connection.execute("SET LOCAL session_replication_role = replica")
        deletes = [f"DELETE FROM {quoted}" for _, _, quoted in pristine.tables]  # noqa: S608
        await connection.execute("; ".join(deletes))
        for (schema, table), (columns, records) in pristine.rows.items():
            await connection.copy_records_to_table(
                table, schema_name=schema, columns=columns, records=records
            )
        await _set_sequences(connection, pristine.sequences)
    return True


async def _set_sequences(
    connection: asyncpg.Connection, sequences: Sequence[tuple[str, int, bool]]
) -> None:
    for sequence, value, called in sequences:
        await connection.execute(
            "SELECT setval($1::regclass, $2, $3)", sequence, value, called
        )
