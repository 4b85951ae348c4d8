"""``/admin/*``: who may use it, listing users and setting their roles."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from app.auth.models import User
from app.auth.roles import roles_by_user, set_roles
from app.state import app_state
from tests.helpers import PASSWORD, auth_headers, grant, login, register, session_works

pytestmark = pytest.mark.anyio

ADA = "ada@example.com"  # an admin
BOB = "bob@example.com"  # a user

ENDPOINTS = {
    "list-users": ("GET", "/admin/users"),
    "set-roles": ("PUT", "/admin/users/{id}/roles"),
}
EXPECTED = {"anonymous": 401, "user": 403, "admin": 200}


async def _users(app: FastAPI, client: httpx.AsyncClient) -> dict[str, int]:
    """Register Ada (admin) and Bob (user); return their ids by email."""
    ids = {}
    for email in (ADA, BOB):
        ids[email] = int(str((await register(client, email))["id"]))
    await grant(app, ADA, "admin")
    return ids


async def _roles(client: httpx.AsyncClient, email: str) -> list[str]:
    """Log in as ``email`` afresh and return the roles ``/auth/me`` shows."""
    headers = await login(client, email)
    response = await client.get("/auth/me", headers=headers)
    assert response.status_code == 200
    roles: list[str] = response.json()["roles"]
    return roles


@pytest.mark.parametrize("who", EXPECTED)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_role_endpoint_matrix(
    app: FastAPI, client: httpx.AsyncClient, who: str, endpoint: str
) -> None:
    ids = await _users(app, client)
    as_whom = {"anonymous": None, "user": BOB, "admin": ADA}[who]
    headers = await login(client, as_whom) if as_whom else {}
    method, path = ENDPOINTS[endpoint]
    # Bob asks for admin for himself: only an admin may give it.
    response = await client.request(
        method,
        path.format(id=ids[BOB]),
        headers=headers,
        json={"roles": ["admin", "user"]} if method == "PUT" else None,
    )
    assert response.status_code == EXPECTED[who]
    bob_is_admin = "admin" in await _roles(client, BOB)
    assert bob_is_admin == (who == "admin" and method == "PUT")


async def test_list_users_shows_each_user_with_roles(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ids = await _users(app, client)
    headers = await login(client, ADA)
    response = await client.get("/admin/users", headers=headers)
    assert response.status_code == 200
    assert response.json() == [
        {"id": ids[ADA], "email": ADA, "is_active": True, "roles": ["admin", "user"]},
        {"id": ids[BOB], "email": BOB, "is_active": True, "roles": ["user"]},
    ]
    assert "argon2" not in response.text


async def test_list_users_pages(app: FastAPI, client: httpx.AsyncClient) -> None:
    ids = await _users(app, client)
    headers = await login(client, ADA)
    page = await client.get(
        "/admin/users", params={"offset": 1, "limit": 1}, headers=headers
    )
    assert [user["id"] for user in page.json()] == [ids[BOB]]
    for params in ({"limit": 0}, {"limit": 100_000}, {"offset": -1}):
        bad = await client.get("/admin/users", params=params, headers=headers)
        assert bad.status_code == 422, params


async def test_put_roles_replaces_them_and_takes_effect(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ids = await _users(app, client)
    headers = await login(client, ADA)
    url = f"/admin/users/{ids[BOB]}/roles"
    response = await client.put(url, json={"roles": ["admin"]}, headers=headers)
    assert response.status_code == 200
    assert response.json() == {
        "id": ids[BOB],
        "email": BOB,
        "is_active": True,
        "roles": ["admin"],
    }
    assert await _roles(client, BOB) == ["admin"]
    bob = await login(client, BOB)
    assert (await client.get("/admin/users", headers=bob)).status_code == 200

    headers = await login(client, ADA)
    emptied = await client.put(url, json={"roles": []}, headers=headers)
    assert emptied.json()["roles"] == []
    bob = await login(client, BOB)
    assert (await client.get("/admin/users", headers=bob)).status_code == 403
    assert (await client.get("/auth/me", headers=bob)).json()["roles"] == []


async def test_duplicate_roles_count_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ids = await _users(app, client)
    headers = await login(client, ADA)
    response = await client.put(
        f"/admin/users/{ids[BOB]}/roles",
        json={"roles": ["admin", "admin", "user"]},
        headers=headers,
    )
    assert response.json()["roles"] == ["admin", "user"]


async def test_unknown_role_is_422_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ids = await _users(app, client)
    headers = await login(client, ADA)
    response = await client.put(
        f"/admin/users/{ids[BOB]}/roles",
        json={"roles": ["admin", "wizard"]},
        headers=headers,
    )
    assert response.status_code == 422
    assert "wizard" in response.json()["detail"][0]["msg"]
    assert await _roles(client, BOB) == ["user"]


async def test_unknown_user_is_404(app: FastAPI, client: httpx.AsyncClient) -> None:
    await _users(app, client)
    headers = await login(client, ADA)
    response = await client.put(
        "/admin/users/999999/roles", json={"roles": ["user"]}, headers=headers
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"roles": "admin"},
        {"roles": [None]},
        {"roles": [""]},
        {"roles": ["x" * 65]},
        {"roles": ["user"] * 101},
    ],
    ids=["missing", "not-a-list", "not-a-string", "empty", "too-long", "too-many"],
)
async def test_bad_bodies_are_422(
    app: FastAPI, client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    ids = await _users(app, client)
    headers = await login(client, ADA)
    response = await client.put(
        f"/admin/users/{ids[BOB]}/roles", json=body, headers=headers
    )
    assert response.status_code == 422


async def test_bad_user_id_is_422(app: FastAPI, client: httpx.AsyncClient) -> None:
    await _users(app, client)
    headers = await login(client, ADA)
    response = await client.put(
        "/admin/users/not-a-number/roles", json={"roles": []}, headers=headers
    )
    assert response.status_code == 422


async def test_other_fields_in_the_body_have_no_effect(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ids = await _users(app, client)
    headers = await login(client, ADA)
    response = await client.put(
        f"/admin/users/{ids[BOB]}/roles",
        json={"roles": ["user"], "is_active": False, "email": "eve@example.com"},
        headers=headers,
    )
    assert response.json()["is_active"] is True
    assert response.json()["email"] == BOB


async def test_a_deactivated_admin_has_no_rights(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _users(app, client)
    logged_in = await client.post(
        "/auth/login", data={"username": ADA, "password": PASSWORD}
    )
    headers = auth_headers(client, logged_in)
    assert (await client.get("/admin/users", headers=headers)).status_code == 200
    async with app_state(app).sessionmaker() as db:
        await db.execute(update(User).where(User.email == ADA).values(is_active=False))
        await db.commit()
    assert not await session_works(client, logged_in)
    again = await client.post(
        "/auth/login", data={"username": ADA, "password": PASSWORD}, headers=headers
    )
    assert again.status_code == 401


async def test_refusals_and_role_changes_are_logged(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await _users(app, client)
    caplog.set_level(logging.INFO, logger="app.auth")
    bob = await login(client, BOB)
    assert (await client.get("/admin/users", headers=bob)).status_code == 403
    ada = await login(client, ADA)
    await client.put(
        f"/admin/users/{ids[BOB]}/roles", json={"roles": ["admin"]}, headers=ada
    )
    messages = [record.getMessage() for record in caplog.records]
    # Both in the events' format (app/auth/events.py); only the second is
    # stored, a refusal is not an event.
    text = "\n".join(messages)
    assert f"authorisation.refused user_id={ids[BOB]} actor_id={ids[BOB]}" in text
    assert f"user.roles_changed user_id={ids[BOB]} actor_id={ids[ADA]}" in text
    assert PASSWORD not in caplog.text


async def test_deactivation_by_an_admin_ends_every_session(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ids = await _users(app, client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as bob:
        bob_login = await bob.post(
            "/auth/login", data={"username": BOB, "password": PASSWORD}
        )
        assert bob_login.status_code == 200
        headers = await login(client, ADA)
        response = await client.put(
            f"/admin/users/{ids[BOB]}/active",
            json={"is_active": False},
            headers=headers,
        )
        assert response.status_code == 200
        assert response.json()["is_active"] is False
        assert not await session_works(bob, bob_login)
        bob.cookies.clear()
        again = await bob.post(
            "/auth/login", data={"username": BOB, "password": PASSWORD}
        )
        assert again.status_code == 401

    reactivated = await client.put(
        f"/admin/users/{ids[BOB]}/active", json={"is_active": True}, headers=headers
    )
    assert reactivated.status_code == 200
    missing = await client.put(
        "/admin/users/999999/active", json={"is_active": False}, headers=headers
    )
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/admin/users?offset=9223372036854775808", None),
        ("PUT", "/admin/users/30471731858/roles", {"roles": []}),
        ("PUT", "/admin/users/9223372036854775808/active", {"is_active": True}),
        ("PUT", "/admin/users/1/roles", {"roles": ["ad\x00min"]}),
    ],
    ids=["huge-offset", "huge-id", "huger-id", "nul-in-role"],
)
async def test_out_of_range_input_is_422_not_500(
    app: FastAPI,
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    await _users(app, client)
    headers = await login(client, ADA)
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code == 422


async def test_unknown_role_error_has_the_documented_shape(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ids = await _users(app, client)
    headers = await login(client, ADA)
    response = await client.put(
        f"/admin/users/{ids[BOB]}/roles", json={"roles": ["nope"]}, headers=headers
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "roles"]
    assert "nope" in error["msg"]


async def _as_database_says(app: FastAPI, user_id: int) -> tuple[bool, list[str]]:
    async with app_state(app).sessionmaker() as db:
        user = await db.get_one(User, user_id)
        roles = await roles_by_user(db, [user_id])
        return user.is_active, roles[user_id]


async def test_a_demoted_admin_cannot_restore_itself(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # With JWT sessions the token still says "admin" after the demotion; every
    # write is authorised against the database all the same.
    ids = await _users(app, client)
    ada = await login(client, ADA)
    async with app_state(app).sessionmaker() as db:
        await set_roles(db, await db.get_one(User, ids[ADA]), ["user"])
        await db.commit()
    writes = [
        (f"/admin/users/{ids[ADA]}/roles", {"roles": ["admin", "user"]}),
        (f"/admin/users/{ids[BOB]}/roles", {"roles": ["admin"]}),
        (f"/admin/users/{ids[BOB]}/active", {"is_active": False}),
    ]
    for path, body in writes:
        response = await client.put(path, json=body, headers=ada)
        assert response.status_code == 403, (path, response.text)
    assert await _as_database_says(app, ids[ADA]) == (True, ["user"])
    assert await _as_database_says(app, ids[BOB]) == (True, ["user"])


async def test_a_deactivated_admin_cannot_reactivate_itself(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ids = await _users(app, client)
    ada = await login(client, ADA)
    async with app_state(app).sessionmaker() as db:
        await db.execute(
            update(User).where(User.id == ids[ADA]).values(is_active=False)
        )
        await db.commit()
    writes = [
        (f"/admin/users/{ids[ADA]}/active", {"is_active": True}),
        (f"/admin/users/{ids[ADA]}/roles", {"roles": ["admin", "user"]}),
        (f"/admin/users/{ids[BOB]}/roles", {"roles": ["admin"]}),
    ]
    for path, body in writes:
        response = await client.put(path, json=body, headers=ada)
        assert response.status_code == 401, (path, response.text)
    assert await _as_database_says(app, ids[ADA]) == (False, ["admin", "user"])
    assert await _as_database_says(app, ids[BOB]) == (True, ["user"])
