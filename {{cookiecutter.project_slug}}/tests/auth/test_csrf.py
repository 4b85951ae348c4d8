"""CSRF protection of cookie-borne sessions: signed double submit and Origin."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Response

from app.auth.cookies import MAX_COOKIE_BYTES, CookieTooLargeError, set_session_cookie
from app.config import Settings
from tests.helpers import login, register, replace_cookie

pytestmark = pytest.mark.anyio


async def _session(client: httpx.AsyncClient, email: str = "ada@example.com") -> str:
    await register(client, email)
    headers = await login(client, email)
    return headers["X-CSRF-Token"]


async def test_unsafe_request_with_session_needs_the_header(
    client: httpx.AsyncClient,
) -> None:
    token = await _session(client)
    assert (await client.post("/auth/logout")).status_code == 403
    wrong = await client.post(
        "/auth/logout", headers={"X-CSRF-Token": token[:-1] + "x"}
    )
    assert wrong.status_code == 403
    assert (await client.get("/auth/me")).status_code == 200  # safe methods pass
    ok = await client.post("/auth/logout", headers={"X-CSRF-Token": token})
    assert ok.status_code == 204


async def test_matching_cookie_and_header_forged_by_an_attacker_are_refused(
    client: httpx.AsyncClient,
) -> None:
    await _session(client)
    forged = "attacker-nonce.attacker-signature"
    replace_cookie(client, "csrftoken", forged)
    response = await client.post("/auth/logout", headers={"X-CSRF-Token": forged})
    assert response.status_code == 403


async def test_token_of_another_session_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as other:
        other_token = await _session(other, "eve@example.com")
    await _session(client)
    replace_cookie(client, "csrftoken", other_token)
    response = await client.post("/auth/logout", headers={"X-CSRF-Token": other_token})
    assert response.status_code == 403


async def test_token_rotates_at_login(client: httpx.AsyncClient) -> None:
    first = await _session(client)
    second = (await login(client, "ada@example.com"))["X-CSRF-Token"]
    assert first != second


async def test_requests_without_a_session_need_no_token(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "ada@example.com")  # POST without a session cookie


async def test_foreign_origin_is_refused(client: httpx.AsyncClient) -> None:
    token = await _session(client)
    response = await client.post(
        "/auth/logout",
        headers={"X-CSRF-Token": token, "Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    same = await client.post(
        "/auth/logout", headers={"X-CSRF-Token": token, "Origin": "http://testserver"}
    )
    assert same.status_code == 204


async def test_foreign_origin_cannot_log_in_a_victim(client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    response = await client.post(
        "/auth/login",
        data={"username": "ada@example.com", "password": "whatever-password"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


async def test_refusals_are_logged_without_the_token(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    token = await _session(client)
    with caplog.at_level("WARNING", logger="app.auth"):
        assert (await client.post("/auth/logout")).status_code == 403
    messages = [record.getMessage() for record in caplog.records]
    assert any("request refused path=/auth/logout" in m for m in messages)
    assert all(token not in message for message in messages)


def test_a_cookie_over_4096_bytes_is_never_set(settings: Settings) -> None:
    response = Response()
    with pytest.raises(CookieTooLargeError):
        set_session_cookie(response, settings, "x" * MAX_COOKIE_BYTES, 60)
    assert "set-cookie" not in response.headers
