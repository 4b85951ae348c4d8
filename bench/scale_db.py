"""The database side of ``bench/scale.py``, run with a generated project's Python.

It runs from the project's folder, in the project's environment
(``DATABASE_URL``, ``SECRET_KEY``), so that it can use the project's own
drivers (sqlite3, asyncpg) and its own code::

    python bench/scale_db.py fill --users N --email E    # grow the store to N
    python bench/scale_db.py expire --rows N             # rows for cleanup to delete
    python bench/scale_db.py explain --email E           # the plans (password on stdin)
    python bench/scale_db.py flood --port P --pid PID --requests N --email E

Each prints one line ``SCALE_JSON {...}``, which ``bench/scale.py`` reads.

Rows are inserted straight with SQL, in bulk (``generate_series`` on
PostgreSQL, a recursive CTE on SQLite), never through the application: a
million users with one argon2 hash each would take a day. Every filler user
shares the bench user's password hash. The columns are read from the
migrated schema: a NOT NULL column without a default that this file does not
know gets a plain value of its type, so that a new column does not break the
filler.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# The project's folder first: ``app`` is the generated project's package.
sys.path.insert(0, os.getcwd())

# The table of the security events (app/auth/events.py).
EVENTS = "security_events"
FILLER_DOMAIN = "@filler.example.com"
FILLER_AGENT = "bench filler"
FILLER_IP = "192.0.2.1"  # TEST-NET-1: no real client
# SQLAlchemy's storage format of a DateTime on SQLite (naive UTC text).
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class Column:
    """A column of the migrated schema, as the database describes it."""

    name: str
    type: str
    not_null: bool
    has_default: bool
    primary_key: bool


class Database:
    """One connection to the project's database, SQLite or PostgreSQL."""

    def __init__(self, url: str) -> None:
        """Remember the URL; :meth:`open` connects."""
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None

    async def open(self) -> None:
        """Connect, with the project's own driver."""
        if self.dialect == "sqlite":
            path = self.url.split("///", 1)[1]
            self._sqlite = sqlite3.connect(path, isolation_level=None, timeout=60)
            return
        import asyncpg

        dsn = self.url.replace("postgresql+asyncpg://", "postgresql://")
        self._pg = await asyncpg.connect(dsn, timeout=30)

    async def close(self) -> None:
        """Close the connection."""
        if self._sqlite is not None:
            self._sqlite.close()
        if self._pg is not None:
            await self._pg.close()

    def _pg_sql(self, sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group(1) not in names:
                names.append(match.group(1))
            return f"${names.index(match.group(1)) + 1}"

        text = re.sub(r"(?<![:\w]):([a-z_]+)", number, sql)
        return text, [params[name] for name in names]

    async def fetch(self, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
        """Run one statement with ``:name`` parameters; return its rows."""
        params = params or {}
        if self._sqlite is not None:
            return self._sqlite.execute(sql, params).fetchall()
        text, values = self._pg_sql(sql, params)
        return list(await self._pg.fetch(text, *values))

    async def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        """Run one statement; discard what it returns."""
        await self.fetch(sql, params)

    async def tables(self) -> set[str]:
        """Return the names of the tables in the schema."""
        if self.dialect == "sqlite":
            rows = await self.fetch("SELECT name FROM sqlite_master WHERE type='table'")
        else:
            rows = await self.fetch(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public'"
            )
        return {row[0] for row in rows}

    async def columns(self, table: str) -> dict[str, Column]:
        """Return the columns of ``table``, by name."""
        if self.dialect == "sqlite":
            rows = await self.fetch(f'PRAGMA table_info("{table}")')
            return {
                r[1]: Column(r[1], r[2].lower(), bool(r[3]), r[4] is not None, r[5] > 0)
                for r in rows
            }
        rows = await self.fetch(
            "SELECT c.column_name, c.data_type, c.is_nullable, c.column_default, "
            "EXISTS (SELECT 1 FROM information_schema.key_column_usage k "
            "JOIN information_schema.table_constraints t "
            "ON t.constraint_name = k.constraint_name "
            "WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_name = c.table_name "
            "AND k.column_name = c.column_name) "
            "FROM information_schema.columns c "
            "WHERE c.table_schema = 'public' AND c.table_name = :table",
            {"table": table},
        )
        return {
            r[0]: Column(r[0], r[1].lower(), r[2] == "NO", r[3] is not None, r[4])
            for r in rows
        }

    async def unique_columns(self, table: str) -> list[list[str]]:
        """Return the column lists of the unique indexes of ``table``."""
        if self.dialect == "sqlite":
            found = []
            for index in await self.fetch(f'PRAGMA index_list("{table}")'):
                if index[2]:
                    info = await self.fetch(f'PRAGMA index_info("{index[1]}")')
                    found.append([row[2] for row in info])
            return found
        rows = await self.fetch(
            "SELECT array_agg(a.attname ORDER BY a.attnum) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) "
            "WHERE c.relname = :table AND i.indisunique GROUP BY i.indexrelid",
            {"table": table},
        )
        return [list(row[0]) for row in rows]

    # SQL that differs between the two.

    def time(self, value: datetime) -> Any:
        """Return a time as the column stores it (SQLite: SQLAlchemy's text)."""
        if self.dialect == "sqlite":
            return value.astimezone(UTC).strftime(SQLITE_TIME)
        return value

    def time_param(self, name: str) -> str:
        """Return the SQL that reads the time parameter ``name``."""
        if self.dialect == "sqlite":
            return f":{name}"
        return f"CAST(:{name} AS timestamptz)"

    def random_hex(self, nbytes: int) -> str:
        """Return an expression of ``2 * nbytes`` random hex digits."""
        if self.dialect == "sqlite":
            return f"lower(hex(randomblob({nbytes})))"
        parts = ["md5(random()::text || clock_timestamp()::text)"] * (nbytes // 16)
        return " || ".join(parts)

    def series(self, body: str) -> str:
        """Wrap ``INSERT ... SELECT ... FROM g`` so that ``g(i)`` runs lo..hi."""
        if self.dialect == "sqlite":
            return (
                "WITH RECURSIVE g(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM g "
                f"WHERE i < :hi) {body}"
            )
        return body.replace(
            " FROM g",
            " FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g(i)",
        )

    def json_empty(self) -> str:
        """Return an empty JSON object literal of the dialect."""
        return "'{}'" if self.dialect == "sqlite" else "CAST('{}' AS json)"

    async def begin(self) -> None:
        """Start a transaction."""
        await self.execute("BEGIN")

    async def commit(self) -> None:
        """Commit it."""
        await self.execute("COMMIT")


def fallback(db: Database, column: Column) -> str:
    """Return a plain value for a NOT NULL column that the filler does not know."""
    kind = column.type
    if "bool" in kind:
        return "FALSE"
    if "int" in kind or "numeric" in kind or "real" in kind or "double" in kind:
        return "0"
    if "time" in kind or "date" in kind:
        return db.time_param("now")
    if "json" in kind:
        return db.json_empty()
    return "''"


async def insert_rows(
    db: Database,
    table: str,
    values: dict[str, str],
    source: str,
    params: dict[str, Any],
    notes: list[str],
) -> None:
    """INSERT INTO ``table`` the ``values`` (column: SQL) for each row of ``source``.

    Columns of the table that ``values`` leaves out are left to their
    defaults, or to NULL; a NOT NULL one without a default gets a plain
    value of its type, and a note says so.
    """
    columns = await db.columns(table)
    unknown = [c for c in values if c not in columns]
    if unknown:
        raise SystemExit(f"{table} has no column {unknown[0]!r}: the schema changed")
    chosen = dict(values)
    for column in columns.values():
        if (
            column.name not in chosen
            and column.not_null
            and not column.has_default
            and not column.primary_key
        ):
            chosen[column.name] = fallback(db, column)
            value = chosen[column.name]
            note = f"{table}.{column.name} ({column.type}): filled with {value}"
            if note not in notes:
                notes.append(note)
    for index in await db.unique_columns(table):
        if all(name not in chosen for name in index):
            continue  # left to the database: an id it numbers itself
        if not any(distinct(chosen.get(name, "")) for name in index):
            raise SystemExit(
                f"{table}: the unique index on {', '.join(index)} would get the "
                "same value in every row: teach bench/scale_db.py that column"
            )
    names = ", ".join(f'"{name}"' for name in chosen)
    body = (
        f'INSERT INTO "{table}" ({names}) SELECT {", ".join(chosen.values())} {source}'
    )
    await db.execute(db.series(body) if source.startswith("FROM g") else body, params)


def distinct(value: str) -> bool:
    """Return whether a value expression differs from row to row."""
    return any(mark in value for mark in ("random", "i AS TEXT", "u.id"))


async def count(db: Database, sql: str, params: dict[str, Any] | None = None) -> int:
    """Return the single number a query answers."""
    return int((await db.fetch(sql, params))[0][0] or 0)


async def fill(db: Database, users: int, email: str) -> dict[str, Any]:
    """Grow the store to ``users`` filler users, each with a session and an event."""
    tables = await db.tables()
    notes: list[str] = []
    have = await count(
        db,
        "SELECT count(*) FROM users WHERE email LIKE :pattern",
        {"pattern": "%" + FILLER_DOMAIN},
    )
    started = time.monotonic()
    if users > have:
        now = datetime.now(UTC)
        params = {
            "lo": have + 1,
            "hi": users,
            "now": db.time(now),
            "email": email,
            "later": db.time(now + timedelta(hours=12)),
            "month": db.time(now + timedelta(days=30)),
        }
        before = await count(db, "SELECT max(id) FROM users")
        await db.begin()
        await insert_rows(
            db,
            "users",
            {
                "email": f"'filler' || CAST(i AS TEXT) || '{FILLER_DOMAIN}'",
                "password_hash": (
                    "(SELECT password_hash FROM users WHERE email = :email)"
                ),
                "is_active": "TRUE",
                "email_verified": "TRUE",
                "security_stamp": db.random_hex(16),
                "created_at": db.time_param("now"),
            },
            "FROM g",
            params,
            notes,
        )
        new_users = "FROM users u WHERE u.id > :before"
        per_user = {**params, "before": before}
        if "user_roles" in tables and "roles" in tables:
            await insert_rows(
                db,
                "user_roles",
                {
                    "user_id": "u.id",
                    "role_id": "(SELECT id FROM roles WHERE name = 'user')",
                },
                new_users + " AND EXISTS (SELECT 1 FROM roles WHERE name = 'user')",
                per_user,
                notes,
            )
        if "user_session" in tables:
            await insert_rows(
                db,
                "user_session",
                session_values(db, "now", "now", "later"),
                new_users,
                per_user,
                notes,
            )
        if "refresh_tokens" in tables:
            await insert_rows(
                db,
                "refresh_tokens",
                family_values(db, "now", "month"),
                new_users,
                per_user,
                notes,
            )
        if EVENTS in tables:
            await insert_rows(
                db, EVENTS, await event_values(db, "now"), new_users, per_user, notes
            )
        await db.commit()
    if EVENTS not in tables:
        notes.append("no security_events table in the migrated schema: no events filled")
    filled = round(time.monotonic() - started, 1)
    analysed = await analyse(db)
    return {
        "rows": await row_counts(db),
        "fill_seconds": filled,
        "analyse_seconds": analysed,
        "notes": notes,
    }


def session_values(
    db: Database, created: str, seen: str, expires: str
) -> dict[str, str]:
    """Return the columns of a session row of the user ``u``."""
    return {
        "token_hash": db.random_hex(32),
        "public_id": db.random_hex(16),
        "user_id": "u.id",
        "created_at": db.time_param(created),
        "last_seen_at": db.time_param(seen),
        "expires_at": db.time_param(expires),
        "user_agent": f"'{FILLER_AGENT}'",
        "ip_address": f"'{FILLER_IP}'",
        "security_stamp": "u.security_stamp",
    }


def family_values(db: Database, created: str, expires: str) -> dict[str, str]:
    """Return the columns of a refresh family's first token, of the user ``u``."""
    return {
        "token_hash": db.random_hex(32),
        "user_id": "u.id",
        "family": db.random_hex(16),
        "created_at": db.time_param(created),
        "expires_at": db.time_param(expires),
        "security_stamp": "u.security_stamp",
    }


async def event_values(db: Database, at: str) -> dict[str, str]:
    """Return the columns of an event of the user ``u`` that the table has."""
    wanted = {
        "at": db.time_param(at),
        "type": "'login.succeeded'",
        "user_id": "u.id",
        "actor_id": "u.id",
        "ip": f"'{FILLER_IP}'",
        "user_agent": f"'{FILLER_AGENT}'",
        "detail": db.json_empty(),
    }
    columns = await db.columns(EVENTS)
    return {name: value for name, value in wanted.items() if name in columns}


async def expire(db: Database, rows: int) -> dict[str, Any]:
    """Add ``rows`` rows that cleanup deletes to each table it cleans."""
    tables = await db.tables()
    notes: list[str] = []
    now = datetime.now(UTC)
    first, last = (
        await db.fetch(
            "SELECT min(id), max(id) FROM users WHERE email LIKE :pattern",
            {"pattern": "%" + FILLER_DOMAIN},
        )
    )[0]
    if first is None:
        raise SystemExit("fill the store first")
    params = {
        "lo": 1,
        "hi": rows,
        "first": first,
        "span": last - first + 1,
        "now": db.time(now),
        "born": db.time(now - timedelta(days=3)),
        "ended": db.time(now - timedelta(days=2)),
        "long_ago": db.time(now - timedelta(days=400)),
    }
    # Spread over the filler users (ids that a gap skipped belong to nobody).
    owner = "FROM g JOIN users u ON u.id = :first + (i % :span)"
    started = time.monotonic()
    await db.begin()
    if "user_session" in tables:
        values = session_values(db, "born", "born", "ended")
        await insert_rows(db, "user_session", values, owner, params, notes)
    if "refresh_tokens" in tables:
        values = family_values(db, "born", "ended")
        await insert_rows(db, "refresh_tokens", values, owner, params, notes)
    failures = {
        "key": "'client:198.18.' || CAST(i % 65536 AS TEXT)",
        "created_at": db.time_param("ended"),
    }
    await insert_rows(db, "login_failures", failures, "FROM g", params, notes)
    if EVENTS in tables:
        values = await event_values(db, "long_ago")
        await insert_rows(db, EVENTS, values, owner, params, notes)
    await db.commit()
    filled = round(time.monotonic() - started, 1)
    return {
        "rows": await row_counts(db),
        "fill_seconds": filled,
        "analyse_seconds": await analyse(db),
        "notes": notes,
    }


async def analyse(db: Database) -> float | None:
    """PostgreSQL: ANALYZE, as autovacuum soon would after a bulk insert.

    SQLite is left as a deployed project leaves it: nothing there runs
    ANALYZE, so its planner works without statistics.
    """
    if db.dialect != "postgresql":
        return None
    started = time.monotonic()
    await db.execute("VACUUM ANALYZE")
    return round(time.monotonic() - started, 1)


async def row_counts(db: Database) -> dict[str, int]:
    """Return the rows of each table that the bench fills."""
    tables = await db.tables()
    names = (
        "users",
        "user_roles",
        "user_session",
        "refresh_tokens",
        EVENTS,
        "login_failures",
    )
    return {
        name: await count(db, f'SELECT count(*) FROM "{name}"')
        for name in names
        if name in tables
    }


# The plans: the SQL the application sends, captured in process.


@dataclass
class Captured:
    """One statement the application sent, with its parameters."""

    request: str
    sql: str
    params: tuple[Any, ...]
    via: str


async def asgi(
    app: Any, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Call the ASGI app once; return status, headers and body."""
    done = asyncio.Event()
    sent = False
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (name.lower().encode(), value.encode())
            for name, value in {"host": "127.0.0.1", **headers}.items()
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 443),
    }
    answer: dict[str, Any] = {"status": 0, "headers": [], "body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = [
                (k.decode().lower(), v.decode()) for k, v in message["headers"]
            ]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")
            if not message.get("more_body"):
                done.set()

    await app(scope, receive, send)
    return answer["status"], answer["headers"], answer["body"]


@contextlib.contextmanager
def capturing(app: Any, captured: list[Captured], request: list[str]) -> Iterator[None]:
    """Record every statement the app sends: through the engine and its Reader."""
    from sqlalchemy import event

    engine = app.state.app.engine.sync_engine

    def record(
        _c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, many: bool
    ) -> None:
        if not many:
            values = tuple(parameters) if isinstance(parameters, list | tuple) else ()
            captured.append(Captured(request[0], statement, values, "engine"))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with reader_statements(captured, request):
            yield
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextlib.contextmanager
def reader_statements(captured: list[Captured], request: list[str]) -> Iterator[None]:
    """Record the statements of the hot-path reader, past the engine, if any."""
    try:
        from app import prepared
    except ImportError:  # jwt: no reader, every query goes through the engine
        yield
        return
    original: Callable[..., tuple[Any, ...]] = prepared.Prepared.values

    def values(self: Any, params: Any) -> tuple[Any, ...]:
        result = original(self, params)
        captured.append(Captured(request[0], self.sql, result, "reader"))
        return result

    prepared.Prepared.values = values  # type: ignore[method-assign]
    try:
        yield
    finally:
        prepared.Prepared.values = original  # type: ignore[method-assign]


async def capture(email: str, password: str) -> tuple[list[Captured], Any]:
    """Log in and read /auth/me in process; return what the app sent to the database."""
    import urllib.parse

    from app.main import create_app, release

    app = create_app()
    captured: list[Captured] = []
    request = [""]
    form = urllib.parse.urlencode({"username": email, "password": password}).encode()
    with capturing(app, captured, request):
        request[0] = "POST /auth/login"
        status, headers, body = await asgi(
            app,
            "POST",
            "/auth/login",
            {"content-type": "application/x-www-form-urlencoded"},
            form,
        )
        if status != 200:
            raise SystemExit(f"login answered {status}: {body[:200]!r}")
        auth = credentials(headers, body)
        request[0] = "GET /auth/me"
        status, _, body = await asgi(app, "GET", "/auth/me", auth)
        if status != 200:
            raise SystemExit(f"/auth/me answered {status}: {body[:200]!r}")
    extra = unsafe_read(app)
    if extra is not None:
        captured.append(extra)
    await release(app)
    return captured, app.state.app.engine.dialect


def credentials(headers: list[tuple[str, str]], body: bytes) -> dict[str, str]:
    """Return the header that authenticates: the cookies set, or the bearer token."""
    cookies = [v.split(";", 1)[0] for k, v in headers if k == "set-cookie"]
    if cookies:
        return {"cookie": "; ".join(cookies)}
    return {"authorization": "Bearer " + json.loads(body)["access_token"]}


def unsafe_read(app: Any) -> Captured | None:
    """jwt: the read of an unsafe request (a GET reads none), as the app builds it."""
    try:
        from app.auth.session.store import PRINCIPAL_NOW
    except ImportError:
        return None
    dialect = app.state.app.engine.dialect
    compiled = PRINCIPAL_NOW.compile(dialect=dialect)
    params = compiled.construct_params({"uid": 1})
    values = tuple(params[name] for name in compiled.positiontup or ())
    return Captured(
        "unsafe request (POST, PUT, PATCH, DELETE)", str(compiled), values, "engine"
    )


async def explain(db: Database, email: str, password: str) -> dict[str, Any]:
    """Return the plan of each distinct statement of a login and an /auth/me."""
    captured, _ = await capture(email, password)
    seen: set[tuple[str, str]] = set()
    plans = []
    for item in captured:
        if (item.request, item.sql) in seen:
            continue
        seen.add((item.request, item.sql))
        plans.append(
            {
                "request": item.request,
                "via": item.via,
                "sql": item.sql,
                "plan": await plan_of(db, item.sql, item.params),
            }
        )
    return {"plans": plans, "rows": await row_counts(db)}


async def plan_of(db: Database, sql: str, params: tuple[Any, ...]) -> str:
    """Return the database's plan of ``sql`` with ``params``."""
    if db.dialect == "sqlite":
        assert db._sqlite is not None
        rows = db._sqlite.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        if not rows:
            return "(no plan: nothing is read)"
        depth: dict[int, int] = {0: 0}
        lines = []
        for node, parent, _, detail in rows:
            depth[node] = depth.get(parent, 0) + 1
            lines.append("  " * (depth[node] - 1) + detail)
        return "\n".join(lines)
    rows = await db._pg.fetch("EXPLAIN " + sql, *params)
    return "\n".join(row[0] for row in rows)


# The flood of distinct credentials: is the verified cache bounded?


async def mint(email: str) -> tuple[Callable[[], dict[str, str]], str]:
    """Return a maker of distinct credentials of the bench user, and their kind."""
    import secrets

    from app.auth.models import User
    from app.config import get_settings
    from app.db import create_engine, create_sessionmaker
    from sqlalchemy import select

    settings = get_settings()
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            uid, stamp = (
                await session.execute(
                    select(User.id, User.security_stamp).where(User.email == email)
                )
            ).one()
            try:
                from app.auth.session import store, tokens
            except ImportError:
                tokens = None
            if tokens is not None and hasattr(store, "load_principal"):
                principal = await store.load_principal(session, uid, stamp)
                issuer = tokens.Tokens(tokens.Keys.from_settings(settings))

                def bearer() -> dict[str, str]:
                    return {"Authorization": "Bearer " + issuer.issue(principal, stamp)}

                return bearer, "distinct valid access tokens (JWT, a new jti each)"
    finally:
        await engine.dispose()
    from app.auth.cookies import session_cookie_name

    name = session_cookie_name(settings)
    try:
        from app.auth.session.cookie import SessionCodec, SessionData, make_serializer
    except ImportError:

        def unknown() -> dict[str, str]:
            return {"Cookie": f"{name}={secrets.token_urlsafe(32)}"}

        return unknown, "distinct session ids that match no session (no cache to fill)"
    codec = SessionCodec(make_serializer(settings.signing_keys))

    def cookie() -> dict[str, str]:
        now = int(time.time())
        data = SessionData(
            uid=uid, stamp=stamp, sid=secrets.token_urlsafe(16), iat=now, seen=now
        )
        return {"Cookie": f"{name}={codec.encode(data)}"}

    return cookie, "distinct valid signed session cookies (a new sid each)"


def rss_kib(pid: int) -> int:
    """Return the resident memory of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def flood(
    port: int, pid: int, requests: int, email: str, connections: int, every: int
) -> dict[str, Any]:
    """Send ``requests`` GET /auth/me, each with a credential never seen before."""
    make, kind = await mint(email)
    statuses: Counter[int] = Counter()
    samples = [(0, rss_kib(pid))]
    left = [requests]
    sent = [0]
    started = time.monotonic()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while left[0] > 0:
                left[0] -= 1
                head = "".join(f"{k}: {v}\r\n" for k, v in make().items())
                writer.write(
                    f"GET /auth/me HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode()
                )
                status = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                statuses[int(status.split()[1])] += 1
                sent[0] += 1
                if sent[0] % every == 0:
                    samples.append((sent[0], rss_kib(pid)))
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    seconds = time.monotonic() - started
    if samples[-1][0] != sent[0]:
        samples.append((sent[0], rss_kib(pid)))
    return {
        "credentials": kind,
        "requests": sent[0],
        "seconds": round(seconds, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "rss_kib": samples,
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Read the subcommand and its options."""
    parser = argparse.ArgumentParser(prog="scale_db.py")
    commands = parser.add_subparsers(dest="command", required=True)
    filling = commands.add_parser("fill")
    filling.add_argument("--users", type=int, required=True)
    filling.add_argument("--email", required=True)
    expiring = commands.add_parser("expire")
    expiring.add_argument("--rows", type=int, required=True)
    commands.add_parser("counts")
    plans = commands.add_parser("explain")
    plans.add_argument("--email", required=True)
    flooding = commands.add_parser("flood")
    flooding.add_argument("--port", type=int, required=True)
    flooding.add_argument("--pid", type=int, required=True)
    flooding.add_argument("--requests", type=int, required=True)
    flooding.add_argument("--email", required=True)
    flooding.add_argument("--connections", type=int, default=16)
    flooding.add_argument("--every", type=int, default=10_000)
    return parser.parse_args(argv)


async def main(argv: Sequence[str]) -> dict[str, Any]:
    """Run one subcommand; return what it found."""
    args = parse_args(argv)
    if args.command == "flood":
        return await flood(
            args.port, args.pid, args.requests, args.email, args.connections, args.every
        )
    db = Database(os.environ["DATABASE_URL"])
    await db.open()
    try:
        if args.command == "fill":
            return await fill(db, args.users, args.email)
        if args.command == "expire":
            return await expire(db, args.rows)
        if args.command == "counts":
            return {"rows": await row_counts(db)}
        return await explain(db, args.email, sys.stdin.readline().rstrip("\n"))
    finally:
        await db.close()


if __name__ == "__main__":
    print("SCALE_JSON " + json.dumps(asyncio.run(main(sys.argv[1:])), default=str))
