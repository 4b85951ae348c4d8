from __future__ import annotations

import json
import threading

import httpx
import pytest
from fastapi import FastAPI
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select, update

from app.auth import passwords
from app.auth.models import User
from app.auth.rbac import Principal
from app.auth.router import ME_BODIES, _me_body
from app.state import app_state
from tests.helpers import (
    PASSWORD,
    auth_headers,
    login,
    login_response,
    logout,
    register,
    session_ended,
)

pytestmark = pytest.mark.anyio


async def test_login_then_me(client: httpx.AsyncClient) -> None:
    user = await register(client, "ada@example.com")
    headers = await login(client, "ada@example.com")
    response = await client.get("/auth/me", headers=headers)
    assert response.status_code == 200
    assert response.json()["id"] == user["id"]
    assert response.json()["email"] == "ada@example.com"


async def test_me_is_401_anonymously(client: httpx.AsyncClient) -> None:
    assert (await client.get("/auth/me")).status_code == 401


async def test_me_keeps_a_bounded_number_of_answers() -> None:
    # Each answer is built for one principal and kept; a flood of distinct
    # users makes the oldest ones go, never memory grow.
    _me_body.cache_clear()
    for user_id in range(1, ME_BODIES + 101):
        principal = Principal(id=user_id, email=f"user{user_id}@example.com")
        assert json.loads(_me_body(principal))["id"] == user_id
    assert _me_body.cache_info().currsize == ME_BODIES
    # A kept answer is never given for a changed principal.
    last = Principal(id=user_id, email=f"user{user_id}@example.com")
    assert json.loads(_me_body(last))["email_verified"] is False
    verified = Principal(id=user_id, email=last.email, email_verified=True)
    assert json.loads(_me_body(verified))["email_verified"] is True


async def test_logout_requires_a_session(client: httpx.AsyncClient) -> None:
    assert (await client.post("/auth/logout")).status_code == 401


async def test_logout_ends_the_session(client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    logged_in = await login_response(client, "ada@example.com")
    me = await client.get("/auth/me", headers=auth_headers(client, logged_in))
    assert me.status_code == 200
    response = await logout(client, logged_in)
    assert response.status_code == 204
    assert await session_ended(client, logged_in)


async def _deactivate(app: FastAPI, email: str) -> None:
    async with app_state(app).sessionmaker() as db:
        await db.execute(
            update(User).where(User.email == email).values(is_active=False)
        )
        await db.commit()


async def test_unknown_email_wrong_password_and_inactive_user_look_the_same(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, "ada@example.com")
    await register(client, "old@example.com")
    await _deactivate(app, "old@example.com")
    attempts = [
        {"username": "nobody@example.com", "password": PASSWORD},
        {"username": "ada@example.com", "password": "wrong password!"},
        {"username": "old@example.com", "password": PASSWORD},
    ]
    responses = [await client.post("/auth/login", data=data) for data in attempts]
    assert {r.status_code for r in responses} == {401}
    assert len({r.text for r in responses}) == 1
    assert all("set-cookie" not in r.headers for r in responses)


async def test_unknown_email_costs_a_hash_verification(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_verify = passwords._hasher.verify

    def counting_verify(password: str, hash: str) -> bool:
        calls.append(password)
        return real_verify(password, hash)

    monkeypatch.setattr(passwords._hasher, "verify", counting_verify)
    response = await client.post(
        "/auth/login", data={"username": "nobody@example.com", "password": PASSWORD}
    )
    assert response.status_code == 401
    assert calls == [PASSWORD]


async def test_hashing_runs_off_the_event_loop(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    real_hash = passwords._hasher.hash

    def recording_hash(password: str, *, salt: bytes | None = None) -> str:
        threads.append(threading.current_thread())
        return real_hash(password, salt=salt)

    monkeypatch.setattr(passwords._hasher, "hash", recording_hash)
    await register(client, "ada@example.com")
    assert threads
    assert threading.main_thread() not in threads


@pytest.mark.production_hasher
async def test_outdated_hash_is_upgraded_at_login(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, "ada@example.com")
    weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192),))
    async with app_state(app).sessionmaker() as db:
        await db.execute(
            update(User)
            .where(User.email == "ada@example.com")
            .values(password_hash=weak.hash(PASSWORD))
        )
        await db.commit()
    await login(client, "ada@example.com")
    async with app_state(app).sessionmaker() as db:
        stored = await db.scalar(
            select(User.password_hash).where(User.email == "ada@example.com")
        )
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert "m=65536,t=3" in stored


async def test_huge_password_at_login_is_a_clean_401(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "ada@example.com")
    response = await client.post(
        "/auth/login", data={"username": "ada@example.com", "password": "x" * 100_000}
    )
    assert response.status_code == 401


async def test_tokens_in_the_url_are_ignored(client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    response = await client.post(
        "/auth/login", data={"username": "ada@example.com", "password": PASSWORD}
    )
    stolen = {**response.cookies, **response.json()}
    client.cookies.clear()
    for name, value in stolen.items():
        assert (await client.get("/auth/me", params={name: value})).status_code == 401


async def test_a_nul_byte_in_the_email_is_a_clean_401(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/auth/login", data={"username": "a\x00b@example.com", "password": PASSWORD}
    )
    assert response.status_code == 401
