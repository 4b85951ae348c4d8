"""Two uvicorn processes on one database behave as one service."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import auth_headers
from tests.servers import register_on

pytestmark = pytest.mark.anyio


async def test_a_login_on_one_process_is_recognised_on_the_other(
    servers: list[str],
) -> None:
    first, second = servers
    async with httpx.AsyncClient() as client:
        form = await register_on(client, first)
        response = await client.post(f"{first}/auth/login", data=form)
        assert response.status_code == 200
        headers = auth_headers(client, response)
        me = await client.get(f"{second}/auth/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["email"] == form["username"]
