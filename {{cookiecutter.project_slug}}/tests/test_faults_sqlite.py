"""When SQLite is locked by another process: a 503 within the timeout, then back.

A real uvicorn process works on the database while the test holds an
exclusive lock from a connection of its own, past the busy timeout.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.main import create_app, release
from app.state import app_state
from tests.conftest import MakeSettings
from tests.helpers import PASSWORD, auth_headers
from tests.servers import register_on, uvicorn_server

pytestmark = pytest.mark.anyio

# The server's DATABASE_TIMEOUT, and what the contract allows on top of it.
TIMEOUT = 1.0
GRACE = 1.0
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


@dataclass
class Server:
    url: str
    database: Path
    log: Path


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """A uvicorn process on this test's database file."""
    log = tmp_path / "server.log"
    with uvicorn_server(
        database_url, env={"DATABASE_TIMEOUT": str(TIMEOUT)}, log=log
    ) as base_url:
        yield Server(
            base_url, Path(database_url.removeprefix("sqlite+aiosqlite:///")), log
        )


@contextmanager
def exclusive_lock(database: Path) -> Iterator[None]:
    """Hold the database's write lock from another connection for the block."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def _local_address(response: httpx.Response) -> object:
    """Return the client side of the TCP connection that carried ``response``."""
    return response.extensions["network_stream"].get_extra_info("client_addr")


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert isinstance(response.json()["detail"], str)
    assert int(response.headers["retry-after"]) > 0
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name


async def test_a_locked_database_gets_a_quick_503_and_works_after_release(
    server: Server,
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        form = await register_on(client, server.url)
        login = await client.post("/auth/login", data=form)
        assert login.status_code == 200
        headers = auth_headers(client, login)
        connection = _local_address(login)
        new_user = {"email": "grace@example.com", "password": PASSWORD}

        with exclusive_lock(server.database):
            latencies: list[float] = []
            timings: list[str] = []
            create: dict[str, Any] = {"json": new_user}
            for path, options in (
                ("/auth/register", create),
                ("/auth/login", {"data": form}),
            ):
                started = time.monotonic()
                response = await client.post(path, headers=headers, **options)
                latencies.append(time.monotonic() - started)
                timings.append(f"POST {path} {latencies[-1]:.2f} s")
                _assert_unavailable(response)
                assert latencies[-1] < TIMEOUT + GRACE, path
                # A handled error leaves the keep-alive connection open.
                assert _local_address(response) == connection
            # Readers don't wait for the writer (WAL): never a hang, never a 500.
            started = time.monotonic()
            me = await client.get("/auth/me", headers=headers)
            assert me.status_code in (200, 503), me.text
            assert time.monotonic() - started < TIMEOUT + GRACE
            assert (await client.get("/health")).status_code == 200

        register = await client.post("/auth/register", json=new_user, headers=headers)
        assert register.status_code == 201, register.text
        again = await client.post("/auth/login", data=form, headers=headers)
        assert again.status_code == 200
        assert _local_address(again) == connection
        me = await client.get("/auth/me", headers=auth_headers(client, again))
        assert me.status_code == 200
    # The measurements, shown by pytest -rP.
    print(f"locked: 503 in {', '.join(timings)}")
    log = server.log.read_text()
    assert "Traceback" not in log
    # One line per 503.
    failures = [line for line in log.splitlines() if "database unavailable" in line]
    assert len(failures) == len(latencies), log


async def test_readiness_is_503_when_the_file_cannot_be_opened(
    make_settings: MakeSettings,
) -> None:
    app = create_app(
        make_settings(database_url="sqlite+aiosqlite:////nonexistent/x.db")
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        _assert_unavailable(await client.get("/health/ready"))
        assert (await client.get("/health")).status_code == 200
    await release(app)
    # aiosqlite's thread of the failed connection still posts its end to this
    # loop: let it, before the loop closes.
    for thread in threading.enumerate():
        if "_connection_worker_thread" in thread.name:
            thread.join(timeout=5)


@pytest.fixture
async def buggy_app(make_settings: MakeSettings) -> AsyncIterator[FastAPI]:
    """The app with a route whose query names a table that does not exist."""
    app = create_app(make_settings())

    @app.get("/buggy")
    async def buggy() -> None:
        engine: AsyncEngine = app_state(app).engine
        async with engine.connect() as connection:
            await connection.execute(text("SELECT * FROM no_such_table"))

    yield app
    await release(app)


async def test_a_query_error_is_a_bug_not_an_outage(buggy_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=buggy_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/buggy")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name
