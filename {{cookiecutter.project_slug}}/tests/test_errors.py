"""Errors: a failing database is a 503, a bug a 500; both carry the headers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.main import create_app, release
from tests.conftest import MakeSettings

pytestmark = pytest.mark.anyio

SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "referrer-policy")


@pytest.fixture
async def failing_app(make_settings: MakeSettings) -> AsyncIterator[FastAPI]:
    """The app with routes that fail as a database or a bug would."""
    app = create_app(make_settings())

    @app.get("/refused")
    async def refused() -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    @app.get("/pool")
    async def pool() -> None:
        raise PoolTimeoutError("QueuePool limit of size 5 overflow 10 reached")

    @app.get("/constraint")
    async def constraint() -> None:
        raise IntegrityError("INSERT ...", {"password_hash": "x"}, ValueError("dup"))

    @app.get("/bug")
    async def bug() -> None:
        raise RuntimeError("a genuine bug")

    yield app
    await release(app)


@pytest.fixture
async def failing_client(failing_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # As a server does: the app's last-resort 500 is sent, then the error is
    # raised again for the server to log.
    transport = httpx.ASGITransport(app=failing_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


@pytest.mark.parametrize("path", ["/refused", "/pool"])
async def test_an_unavailable_database_is_a_503_logged_on_one_line(
    failing_client: httpx.AsyncClient, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = await failing_client.get(path)
    assert response.status_code == 503
    assert isinstance(response.json()["detail"], str)
    assert int(response.headers["retry-after"]) > 0
    for name in SECURITY_HEADERS:
        assert name in response.headers
    (record,) = [r for r in caplog.records if r.name == "app.db"]
    assert f"GET {path}" in record.getMessage()
    assert "\n" not in record.getMessage()
    assert record.exc_info is None


@pytest.mark.parametrize("path", ["/constraint", "/bug"])
async def test_a_bug_stays_a_500_with_the_security_headers(
    failing_client: httpx.AsyncClient, path: str
) -> None:
    response = await failing_client.get(path)
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    for name in SECURITY_HEADERS:
        assert name in response.headers
    assert "password_hash" not in response.text


async def test_client_errors_carry_the_security_headers(
    client: httpx.AsyncClient,
) -> None:
    for response in (
        await client.get("/no-such-page"),
        await client.delete("/health"),
        await client.post("/auth/register", json={}),
    ):
        assert 400 <= response.status_code < 500
        for name in SECURITY_HEADERS:
            assert name in response.headers


async def test_readiness_is_200_when_the_database_answers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
