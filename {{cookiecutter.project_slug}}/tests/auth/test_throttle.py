"""Login throttling: per account and per client, shared through the database."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from app.auth import passwords, throttle
from app.auth.models import LoginFailure
from app.db import utcnow
from app.main import create_app, release
from app.state import app_state
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
    async with app_state(app).sessionmaker() as db:
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
    limit = app_state(app).settings.login_failures_per_account
    for _ in range(limit):
        assert (await _attempt(client, "ada@example.com")).status_code == 401
    locked = await _attempt(client, "ada@example.com", PASSWORD)
    assert locked.status_code == 429
    retry_after = int(locked.headers["retry-after"])
    assert 0 < retry_after <= app_state(app).settings.login_failure_window + 1

    # Once the window has passed, the real owner gets in.
    await _age_failures(app, app_state(app).settings.login_failure_window + 1)
    assert (await _attempt(client, "ada@example.com", PASSWORD)).status_code == 200


async def test_unknown_accounts_are_throttled_the_same_way(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    limit = app_state(app).settings.login_failures_per_account
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
    limit = app_state(app).settings.login_failures_per_account
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
    # One line per event, in the events' format (app/auth/events.py).
    assert any(message.startswith("logout user_id=") for message in messages)
    assert any(message.startswith("login.failed ") for message in messages)
    assert any(message.startswith("login.succeeded ") for message in messages)
    text = "\n".join(messages)
    assert PASSWORD not in text
    assert "wrong password!" not in text
    for value in [*response.cookies.values(), *map(str, response.json().values())]:
        if len(value) >= 16:
            assert value not in text


async def test_registrations_from_one_client_are_throttled(
    make_settings: MakeSettings,
) -> None:
    # Each registration costs a password hash, taken address or not.
    app = create_app(make_settings(registrations_per_client=3))
    here = httpx.ASGITransport(app=app, client=("192.0.2.1", 1234))
    elsewhere = httpx.ASGITransport(app=app, client=("192.0.2.2", 1234))
    async with httpx.AsyncClient(transport=here, base_url="http://t") as client:
        await register(client, "ada@example.com")
        await register(client, "bob@example.com")
        taken = await client.post(
            "/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert taken.status_code == 409
        refused = await client.post(
            "/auth/register", json={"email": "eve@example.com", "password": PASSWORD}
        )
        assert refused.status_code == 429
        assert 0 < int(refused.headers["retry-after"]) <= 3601
    async with httpx.AsyncClient(transport=elsewhere, base_url="http://t") as client:
        await register(client, "eve@example.com")
    await release(app)


class _HeldHasher:
    """A hasher whose every call waits until the test lets it go."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.go = threading.Event()

    def hash(self, password: str) -> str:
        self._hold()
        return "not a hash"

    def verify(self, password: str, password_hash: str) -> bool:
        self._hold()
        return False

    def verify_and_update(
        self, password: str, password_hash: str
    ) -> tuple[bool, str | None]:
        self._hold()
        return False, None

    def _hold(self) -> None:
        self.started.set()
        self.go.wait(timeout=10)


async def test_a_full_hashing_capacity_answers_503_without_counting_a_failure(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(client, "ada@example.com")
    held = _HeldHasher()
    monkeypatch.setattr(passwords, "_hasher", held)
    monkeypatch.setattr(passwords, "_gate", passwords._Gate(1))
    first = asyncio.create_task(_attempt(client, "ada@example.com"))
    assert await asyncio.to_thread(held.started.wait, 10)
    # The only slot is taken: the next hash is refused at once, not queued.
    busy = await _attempt(client, "ada@example.com")
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "1"
    assert busy.json() == {"detail": "Service busy; try again shortly"}
    busy_registration = await client.post(
        "/auth/register", json={"email": "bob@example.com", "password": PASSWORD}
    )
    assert busy_registration.status_code == 503
    held.go.set()
    assert (await first).status_code == 401
    # Only the attempt whose password was checked counts against the account.
    async with app_state(app).sessionmaker() as db:
        counted = await db.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.key == throttle.account_key("ada@example.com"))
        )
    assert counted == 1


async def test_the_client_address_is_the_servers_not_a_header(
    make_settings: MakeSettings,
) -> None:
    # Whom to believe behind a proxy is uvicorn's setting (README.md, "Running
    # in production"); the app itself never reads X-Forwarded-For.
    app = create_app(make_settings(login_failures_per_client=3))
    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for number in range(3):
            response = await client.post(
                "/auth/login",
                data={"username": f"u{number}@example.com", "password": "wrong pw!"},
                headers={"X-Forwarded-For": f"198.51.100.{number}"},
            )
            assert response.status_code == 401
        refused = await client.post(
            "/auth/login",
            data={"username": "fresh@example.com", "password": "wrong pw!"},
            headers={"X-Forwarded-For": "198.51.100.99"},
        )
        assert refused.status_code == 429
    await release(app)


async def test_a_flood_of_registrations_leaves_room_for_logins(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await register(client, "ada@example.com")
    held = _HeldHasher()
    monkeypatch.setattr(passwords, "_hasher", held)
    monkeypatch.setattr(passwords, "_gate", passwords._Gate(2))
    monkeypatch.setattr(passwords, "MAX_PENDING_NEW", 1)
    body = {"email": "bob@example.com", "password": PASSWORD}
    first = asyncio.create_task(client.post("/auth/register", json=body))
    assert await asyncio.to_thread(held.started.wait, 10)
    # New hashes have used their share; a login still gets the other slot.
    refused = await client.post("/auth/register", json=body)
    assert refused.status_code == 503
    held.started.clear()
    login = asyncio.create_task(_attempt(client, "ada@example.com"))
    # Its check reaching the hasher, however slow the machine, shows it got in.
    assert await asyncio.to_thread(held.started.wait, 10), (await login).text
    assert passwords._gate.pending == 2
    held.go.set()
    assert (await login).status_code == 401
    assert (await first).status_code == 201
