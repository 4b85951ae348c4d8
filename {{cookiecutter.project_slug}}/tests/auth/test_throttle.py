"""Login throttling: per account and per client, shared through the database."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.auth.models import LoginFailure
from app.db import utcnow
from app.main import create_app, release
from tests.conftest import MakeSettings
from tests.helpers import PASSWORD, logout, register

pytestmark = pytest.mark.anyio


async def _attempt(
    client: httpx.AsyncClient, email: str, password: str = "wrong password!"
) -> httpx.Response:
    token = client.cookies.get("csrftoken")
    return await client.post(
        "/auth/login",
        data={"username": email, "password": password},
        headers={"X-CSRF-Token": token} if token else {},
    )


async def _age_failures(app: FastAPI, seconds: int) -> None:
    async with app.state.sessionmaker() as db:
        await db.execute(
            update(LoginFailure).values(
                created_at=utcnow() - timedelta(seconds=seconds)
            )
        )
        await db.commit()


async def test_repeated_failures_lock_the_account_for_a_while(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, "ada@example.com")
    limit = app.state.settings.login_failures_per_account
    for _ in range(limit):
        assert (await _attempt(client, "ada@example.com")).status_code == 401
    locked = await _attempt(client, "ada@example.com", PASSWORD)
    assert locked.status_code == 429
    retry_after = int(locked.headers["retry-after"])
    assert 0 < retry_after <= app.state.settings.login_failure_window + 1

    # Once the window has passed, the real owner gets in.
    await _age_failures(app, app.state.settings.login_failure_window + 1)
    assert (await _attempt(client, "ada@example.com", PASSWORD)).status_code == 200


async def test_unknown_accounts_are_throttled_the_same_way(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    limit = app.state.settings.login_failures_per_account
    for _ in range(limit):
        assert (await _attempt(client, "nobody@example.com")).status_code == 401
    assert (await _attempt(client, "nobody@example.com")).status_code == 429


async def test_one_client_guessing_many_accounts_is_throttled(
    make_settings: MakeSettings,
) -> None:
    app = create_app(make_settings(login_failures_per_client=3))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for number in range(3):
            response = await _attempt(client, f"user{number}@example.com")
            assert response.status_code == 401
        assert (await _attempt(client, "fresh@example.com")).status_code == 429
    await release(app)


async def test_a_success_clears_the_account_failures(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, "ada@example.com")
    limit = app.state.settings.login_failures_per_account
    for _ in range(limit - 1):
        await _attempt(client, "ada@example.com")
    assert (await _attempt(client, "ada@example.com", PASSWORD)).status_code == 200
    for _ in range(limit - 1):
        assert (await _attempt(client, "ada@example.com")).status_code == 401


async def test_auth_events_are_logged_without_secrets(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.auth")
    await register(client, "ada@example.com")
    await _attempt(client, "ada@example.com", "wrong password!")
    response = await _attempt(client, "ada@example.com", PASSWORD)
    assert response.status_code == 200
    assert (await logout(client, response)).status_code == 204
    messages = [record.getMessage() for record in caplog.records]
    assert any("logout user_id=" in message for message in messages)
    assert any("login failed" in message for message in messages)
    assert any("login succeeded" in message for message in messages)
    text = "\n".join(messages)
    assert PASSWORD not in text
    assert "wrong password!" not in text
    for value in [*response.cookies.values(), *map(str, response.json().values())]:
        if len(value) >= 16:
            assert value not in text
