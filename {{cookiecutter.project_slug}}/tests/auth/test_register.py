from __future__ import annotations

import httpx
import pytest

from tests.helpers import PASSWORD, register

pytestmark = pytest.mark.anyio


async def test_register_returns_the_user_without_secrets(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/auth/register", json={"email": "Ada@Example.com", "password": PASSWORD}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email"}
    assert body["email"] == "ada@example.com"
    assert PASSWORD not in response.text
    assert "argon2" not in response.text


async def test_duplicate_email_is_409_whatever_the_case(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "ada@example.com")
    response = await client.post(
        "/auth/register", json={"email": "ADA@example.com", "password": PASSWORD}
    )
    assert response.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "ada@example.com", "password": "abc12"},
        {"email": "ada@example.com", "password": "x" * 5000},
        {"email": "ada@example.com"},
        {"password": PASSWORD},
    ],
    ids=["invalid-email", "short-password", "huge-password", "no-password", "no-email"],
)
async def test_bad_registrations_are_422_and_echo_no_password(
    client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    response = await client.post("/auth/register", json=body)
    assert response.status_code == 422
    if "password" in body:
        assert body["password"] not in response.text


async def test_long_passphrases_are_allowed_and_not_truncated(
    client: httpx.AsyncClient,
) -> None:
    passphrase = "a" * 72 + "-the-end-matters"
    await register(client, "long@example.com", passphrase)
    truncated = await client.post(
        "/auth/login", data={"username": "long@example.com", "password": "a" * 72}
    )
    assert truncated.status_code == 401
    full = await client.post(
        "/auth/login", data={"username": "long@example.com", "password": passphrase}
    )
    assert full.status_code == 200


async def test_extra_fields_in_the_body_have_no_effect(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/auth/register",
        json={
            "email": "eve@example.com",
            "password": PASSWORD,
            "is_active": False,
            "roles": ["admin"],
            "id": 999,
        },
    )
    assert response.status_code == 201
    assert response.json()["id"] != 999
    login = await client.post(
        "/auth/login", data={"username": "eve@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200
