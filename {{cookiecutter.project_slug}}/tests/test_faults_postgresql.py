"""When PostgreSQL fails: a 503 within the timeout, never a hang or a 500.

A real uvicorn process talks to the real PostgreSQL through a TCP proxy
(:mod:`tests.proxy`) that each test cuts, then restores.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.main import create_app, release
from app.state import app_state
from tests.conftest import MakeSettings
from tests.helpers import PASSWORD, auth_headers
from tests.proxy import Proxy, tcp_proxy
from tests.servers import register_on, uvicorn_server

pytestmark = pytest.mark.anyio

# The server's DATABASE_TIMEOUT, and what the contract allows on top of it.
TIMEOUT = 1.0
GRACE = 1.0
# "Within a few seconds" of the database coming back.
RECOVERY = 10.0
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


@dataclass
class Server:
    url: str
    proxy: Proxy
    log: Path


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """A uvicorn process whose database is behind a proxy the test controls."""
    url = make_url(database_url)
    log = tmp_path / "server.log"
    with tcp_proxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port)
        with uvicorn_server(
            proxied.render_as_string(hide_password=False),
            env={"DATABASE_TIMEOUT": str(TIMEOUT)},
            log=log,
        ) as base_url:
            yield Server(base_url, proxy, log)


@dataclass
class Call:
    method: str
    path: str
    options: dict[str, Any]
    expected: int


def _calls_during_outage(
    paths: set[str],
    login: dict[str, Any],
    headers: dict[str, str],
    form: dict[str, str],
) -> list[Call]:
    bearer = "refresh_token" in login
    email = f"grace-{secrets.token_hex(4)}@example.com"
    calls = [
        Call("GET", "/health", {}, 200),
        Call("GET", "/health/ready", {}, 503),
        Call(
            "POST",
            "/auth/register",
            {"headers": headers, "json": {"email": email, "password": PASSWORD}},
            503,
        ),
        Call("POST", "/auth/login", {"headers": headers, "data": form}, 503),
        # A bearer token is checked without the database.
        Call("GET", "/auth/me", {"headers": headers}, 200 if bearer else 503),
        Call(
            "POST",
            "/auth/password",
            {
                "headers": headers,
                "json": {"current_password": PASSWORD, "new_password": PASSWORD * 2},
            },
            503,
        ),
    ]
    if bearer:
        refresh = {"refresh_token": login["refresh_token"]}
        calls.append(Call("POST", "/auth/refresh", {"json": refresh}, 503))
    if "/auth/sessions" in paths:
        calls.append(Call("GET", "/auth/sessions", {"headers": headers}, 503))
    if "/admin/users" in paths:
        # A bearer token's roles say "not an admin" without the database.
        calls.append(
            Call("GET", "/admin/users", {"headers": headers}, 403 if bearer else 503)
        )
    return calls


def _local_address(response: httpx.Response) -> object:
    """Return the client side of the TCP connection that carried ``response``."""
    return response.extensions["network_stream"].get_extra_info("client_addr")


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert isinstance(response.json()["detail"], str)
    assert int(response.headers["retry-after"]) > 0
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name


async def _eventually(
    client: httpx.AsyncClient, call: Call, unavailable: list[float]
) -> float:
    """Repeat ``call`` until it answers as expected; return how long that took.

    Each 503 on the way is added to ``unavailable``.
    """
    started = time.monotonic()
    while True:
        response = await client.request(call.method, call.path, **call.options)
        elapsed = time.monotonic() - started
        if response.status_code == call.expected:
            return elapsed
        assert response.status_code == 503, response.text
        unavailable.append(elapsed)
        assert elapsed < RECOVERY, f"{call.path} still {response.status_code}"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("cut", ["refuse", "black_hole"])
async def test_a_cut_database_gets_a_quick_503_and_the_service_recovers(
    server: Server, cut: str
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        paths = set((await client.get("/openapi.json")).json()["paths"])
        form = await register_on(client, server.url)
        login = await client.post("/auth/login", data=form)
        assert login.status_code == 200
        headers = auth_headers(client, login)
        me = await client.get("/auth/me", headers=headers)
        assert me.status_code == 200
        connection = _local_address(me)

        getattr(server.proxy, cut)()
        latencies: list[float] = []
        timings: list[str] = []
        for call in _calls_during_outage(paths, login.json(), headers, form):
            started = time.monotonic()
            response = await client.request(call.method, call.path, **call.options)
            elapsed = time.monotonic() - started
            assert response.status_code == call.expected, (call.path, response.text)
            if call.expected == 503:
                _assert_unavailable(response)
                latencies.append(elapsed)
                timings.append(f"{call.method} {call.path} {elapsed:.2f} s")
            assert elapsed < TIMEOUT + GRACE, (call.path, elapsed)
            # A handled error leaves the keep-alive connection open.
            assert _local_address(response) == connection, call.path

        server.proxy.restore()
        recovering: list[float] = []
        ready = await _eventually(
            client, Call("GET", "/health/ready", {}, 200), recovering
        )
        session = await _eventually(
            client, Call("GET", "/auth/me", {"headers": headers}, 200), recovering
        )
        # What was written before the outage is all there.
        if "refresh_token" in login.json():
            body = {"refresh_token": login.json()["refresh_token"]}
            assert (await client.post("/auth/refresh", json=body)).status_code == 200
        again = await client.post("/auth/login", data=form, headers=headers)
        assert again.status_code == 200
        assert _local_address(again) == connection
    # The measurements, shown by pytest -rP.
    print(
        f"{cut}: 503 in {', '.join(timings)}; "
        f"ready again {ready:.2f} s, session {session:.2f} s after restore"
    )
    log = server.log.read_text()
    assert "Traceback" not in log
    # One line per 503.
    failures = [line for line in log.splitlines() if "database unavailable" in line]
    assert len(failures) == len(latencies) + len(recovering), log


@pytest.fixture
async def slow_app(make_settings: MakeSettings) -> AsyncIterator[FastAPI]:
    """The app with a short timeout and a route whose query outlasts it."""
    app = create_app(make_settings(database_timeout=0.5))

    @app.get("/slow")
    async def slow() -> None:
        engine: AsyncEngine = app_state(app).engine
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_sleep(3)"))

    yield app
    await release(app)


async def test_a_statement_past_the_timeout_is_stopped_with_a_503(
    slow_app: FastAPI,
) -> None:
    transport = httpx.ASGITransport(app=slow_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        started = time.monotonic()
        response = await client.get("/slow")
        elapsed = time.monotonic() - started
        _assert_unavailable(response)
        assert elapsed < 0.5 + GRACE
        # The pool hands out a working connection next.
        assert (await client.get("/health/ready")).status_code == 200
