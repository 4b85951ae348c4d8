"""Two uvicorn processes on one database behave as one service."""

from __future__ import annotations

import secrets

import httpx
import pytest

from tests.helpers import PASSWORD, auth_headers

pytestmark = pytest.mark.anyio


async def test_a_login_on_one_process_is_recognised_on_the_other(
    servers: list[str],
) -> None:
    first, second = servers
    email = f"ada-{secrets.token_hex(4)}@example.com"
    async with httpx.AsyncClient() as client:
        registered = await client.post(
            f"{first}/auth/register", json={"email": email, "password": PASSWORD}
        )
        assert registered.status_code == 201
        response = await client.post(
            f"{first}/auth/login", data={"username": email, "password": PASSWORD}
        )
        assert response.status_code == 200
        headers = auth_headers(client, response)
        me = await client.get(f"{second}/auth/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["email"] == email
