from __future__ import annotations

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from app.main import create_app, release
from app.security import SecurityHeadersMiddleware
from tests.conftest import MakeSettings

pytestmark = pytest.mark.anyio


async def test_api_responses_carry_hardening_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers  # not over plain dev


async def test_auth_answers_are_not_cached(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/me")
    assert response.status_code == 401
    assert response.headers["cache-control"] == "no-store"


async def test_a_header_the_response_sets_itself_is_kept_once() -> None:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        own = [(b"x-frame-options", b"SAMEORIGIN"), (b"Cache-Control", b"private")]
        await send({"type": "http.response.start", "status": 200, "headers": own})
        await send({"type": "http.response.body", "body": b""})

    app = SecurityHeadersMiddleware(inner, production=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://testserver"
    ) as client:
        response = await client.get("/auth/me")
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers.get_list("cache-control") == ["private"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "max-age=" in response.headers["strict-transport-security"]


async def test_production_adds_hsts_and_hides_the_docs(
    make_settings: MakeSettings,
) -> None:
    app = create_app(make_settings(environment="production"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://testserver"
    ) as client:
        health = await client.get("/health")
        assert "max-age=" in health.headers["strict-transport-security"]
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 404
    await release(app)


async def test_docs_can_be_enabled_in_production(make_settings: MakeSettings) -> None:
    app = create_app(make_settings(environment="production", docs_enabled=True))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://testserver"
    ) as client:
        docs = await client.get("/docs")
        assert docs.status_code == 200
        # Its own policy (tests/test_docs.py), with HSTS as every answer.
        assert "script-src 'self' 'sha256-" in docs.headers["content-security-policy"]
        assert "max-age=" in docs.headers["strict-transport-security"]
    await release(app)


async def test_the_served_app_does_not_announce_its_software(server: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{server}/health")
    assert response.status_code == 200
    assert "server" not in response.headers
