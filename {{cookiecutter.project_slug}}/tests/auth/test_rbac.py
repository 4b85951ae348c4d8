"""Roles: who gets which, what nobody can give themselves, and the command line."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select, update

from app.auth.models import User
from app.auth.rbac import Principal, principal_select, to_principal
from app.auth.roles import Role, set_roles, user_roles
from app.state import app_state
from tests.cli import cli_async
from tests.helpers import PASSWORD, call, grant, login, register, routes, session_of

pytestmark = pytest.mark.anyio

ADA = "ada@example.com"


async def _roles_in_db(app: FastAPI, email: str) -> set[str]:
    async with app_state(app).sessionmaker() as db:
        names = await db.scalars(
            select(Role.name)
            .join(user_roles, user_roles.c.role_id == Role.id)
            .join(User, User.id == user_roles.c.user_id)
            .where(User.email == email)
        )
        return set(names)


async def _principal(app: FastAPI, email: str) -> Principal:
    """Load the principal as a strategy does: one query, then ``to_principal``."""
    async with app_state(app).sessionmaker() as db:
        rows = (await db.execute(principal_select().where(User.email == email))).all()
    return to_principal(rows)


async def test_a_registered_user_gets_the_role_user(client: httpx.AsyncClient) -> None:
    await register(client, ADA)
    headers = await login(client, ADA)
    me = (await client.get("/auth/me", headers=headers)).json()
    assert me["roles"] == ["user"]
    assert {"id", "email", "roles"} <= set(me)


async def test_without_the_default_role_registering_still_works(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async with app_state(app).sessionmaker() as db:
        await db.execute(delete(Role).where(Role.name == "user"))
        await db.commit()
    await register(client, ADA)
    headers = await login(client, ADA)
    me = (await client.get("/auth/me", headers=headers)).json()
    assert me["roles"] == []
    assert "default role missing, not granted: user" in caplog.text


async def test_roles_in_the_registration_body_have_no_effect(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/auth/register",
        json={
            "email": ADA,
            "password": PASSWORD,
            "roles": ["admin"],
            "permissions": ["users:write"],
        },
    )
    assert response.status_code == 201
    assert await _roles_in_db(app, ADA) == {"user"}


async def test_no_route_lets_a_user_give_themselves_a_role(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    me = await register(client, ADA)
    claim = {
        "roles": ["admin"],
        "role": "admin",
        "permissions": ["users:read", "users:write"],
        "is_admin": True,
    }
    for route in routes(app):
        async with session_of(app, ADA) as (session, headers):
            await call(session, route, headers, parameter=str(me["id"]), body=claim)
    assert await _roles_in_db(app, ADA) == {"user"}


async def test_the_principal_has_every_role_and_none_of_an_inactive_user(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, ADA)
    await grant(app, ADA, "admin")
    assert (await _principal(app, ADA)).roles == {"admin", "user"}
    async with app_state(app).sessionmaker() as db:
        await db.execute(update(User).where(User.email == ADA).values(is_active=False))
        await db.commit()
    principal = await _principal(app, ADA)
    assert principal.roles == frozenset()
    assert not getattr(principal, "permissions", frozenset())


async def test_a_user_without_roles_still_has_a_principal(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, ADA)
    async with app_state(app).sessionmaker() as db:
        user = await db.scalar(select(User).where(User.email == ADA))
        assert user is not None
        await set_roles(db, user, [])
        await db.commit()
    principal = await _principal(app, ADA)
    assert principal.email == ADA
    assert principal.roles == frozenset()
    headers = await login(client, ADA)
    assert (await client.get("/auth/me", headers=headers)).json()["roles"] == []


async def test_deleting_a_user_deletes_their_grants(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, ADA)
    async with app_state(app).sessionmaker() as db:
        user = await db.scalar(select(User).where(User.email == ADA))
        await db.delete(user)
        await db.commit()
        left = await db.scalar(select(func.count()).select_from(user_roles))
    assert left == 0


async def _count_users(app: FastAPI) -> int:
    async with app_state(app).sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(User)) or 0)


async def test_create_user_with_roles(app: FastAPI, database_url: str) -> None:
    result = await cli_async(
        database_url, "create-user", "--email", ADA, "--role", "admin", stdin=PASSWORD
    )
    assert result.returncode == 0, result.stderr
    assert await _roles_in_db(app, ADA) == {"admin", "user"}


async def test_create_user_with_an_unknown_role_creates_nobody(
    app: FastAPI, database_url: str
) -> None:
    result = await cli_async(
        database_url,
        "create-user",
        "--email",
        ADA,
        "--role",
        "admin",
        "--role",
        "wizard",
        stdin=PASSWORD,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["error: unknown role wizard"]
    assert await _count_users(app) == 0


async def test_grant_and_revoke_a_role(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    await register(client, ADA)
    granted = await cli_async(
        database_url, "grant-role", "--email", "ADA@example.com", "--role", "admin"
    )
    assert granted.returncode == 0, granted.stderr
    assert granted.stdout.startswith("granted admin to user ")
    assert await _roles_in_db(app, ADA) == {"admin", "user"}
    revoked = await cli_async(
        database_url, "revoke-role", "--email", ADA, "--role", "admin"
    )
    assert revoked.returncode == 0, revoked.stderr
    assert await _roles_in_db(app, ADA) == {"user"}


@pytest.mark.parametrize("command", ["grant-role", "revoke-role"])
@pytest.mark.parametrize(
    ("email", "role", "message"),
    [
        (ADA, "wizard", "error: unknown role wizard"),
        ("nobody@example.com", "admin", "error: no user with email nobody@example.com"),
    ],
    ids=["unknown-role", "unknown-email"],
)
async def test_role_commands_refuse_bad_input_in_one_line(
    app: FastAPI,
    client: httpx.AsyncClient,
    database_url: str,
    command: str,
    email: str,
    role: str,
    message: str,
) -> None:
    await register(client, ADA)
    result = await cli_async(database_url, command, "--email", email, "--role", role)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [message]
    assert await _roles_in_db(app, ADA) == {"user"}
