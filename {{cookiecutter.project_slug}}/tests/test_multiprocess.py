"""Two uvicorn processes on one database behave as one service."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from app.config import Settings
from tests.helpers import auth_headers
from tests.servers import register_on

pytestmark = pytest.mark.anyio

BURST = 50


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


async def test_a_burst_of_wrong_passwords_gets_no_more_checks_than_the_limit(
    server: str,
) -> None:
    # Sent at once to two worker processes (``server`` runs two), every
    # attempt is counted before its password is checked: a 401 is a check
    # that ran, a 429 one that did not. A count read first and acted on later
    # let about 19 of 50 through. The account is new: its count starts at 0.
    limit = Settings.model_fields["login_failures_per_account"].default
    limits = httpx.Limits(max_connections=BURST)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        form = await register_on(client, server)
        wrong = {**form, "password": "not the password"}
        answers = await asyncio.gather(
            *(client.post(f"{server}/auth/login", data=wrong) for _ in range(BURST))
        )
        statuses = Counter(answer.status_code for answer in answers)
        assert set(statuses) <= {401, 429}, statuses
        assert 1 <= statuses[401] <= limit, statuses
        # The owner waits for the window like everyone else.
        locked = await client.post(f"{server}/auth/login", data=form)
        assert locked.status_code == 429
