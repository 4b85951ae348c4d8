"""Changing the password ends the user's other sessions; this one goes on."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.cli import cli_async
from tests.helpers import PASSWORD, auth_headers, register, session_works

pytestmark = pytest.mark.anyio

NEW_PASSWORD = "a brand new passphrase"


async def _login(client: httpx.AsyncClient, password: str = PASSWORD) -> httpx.Response:
    return await client.post(
        "/auth/login", data={"username": "ada@example.com", "password": password}
    )


def _second_client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_password_change_ends_other_sessions_and_keeps_this_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, "ada@example.com")
    async with _second_client(app) as laptop:
        laptop_login = await _login(laptop)
        assert laptop_login.status_code == 200
        headers = auth_headers(client, await _login(client))

        response = await client.post(
            "/auth/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        assert not await session_works(laptop, laptop_login)

    assert await session_works(client, response)
    me = await client.get("/auth/me", headers=auth_headers(client, response))
    assert me.status_code == 200
    client.cookies.clear()
    assert (await _login(client, PASSWORD)).status_code == 401
    assert (await _login(client, NEW_PASSWORD)).status_code == 200


async def test_password_change_needs_the_current_password(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "ada@example.com")
    headers = auth_headers(client, await _login(client))
    wrong = await client.post(
        "/auth/password",
        json={"current_password": "not my password", "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert wrong.status_code == 400
    weak = await client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": "short1"},
        headers=headers,
    )
    assert weak.status_code == 422
    assert "short1" not in weak.text
    assert (await client.post("/auth/password", json={})).status_code in {401, 403, 422}


async def test_password_change_is_401_anonymously(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 401


async def test_deactivation_ends_every_session_and_blocks_login(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await register(client, "ada@example.com")
    login = await _login(client)
    assert await session_works(client, login)
    login = await _login(client) if "refresh_token" in login.json() else login

    result = await cli_async(
        database_url, "deactivate-user", "--email", "ada@example.com"
    )
    assert result.returncode == 0, result.stderr
    assert not await session_works(client, login)
    client.cookies.clear()
    refused = await _login(client)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "Incorrect email or password"
