"""Permissions: what the seeded roles carry, and ``require_permission``."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import insert, select

from app.auth.guards import require_permission
from app.auth.rbac import Permission, Principal, role_permissions
from app.auth.roles import Role
from app.state import app_state
from tests.helpers import grant, login, register

pytestmark = pytest.mark.anyio

ADA = "ada@example.com"
BOB = "bob@example.com"


async def _add_role(app: FastAPI, name: str, *permissions: str) -> None:
    """Create a role holding ``permissions``, creating those that do not exist."""
    async with app_state(app).sessionmaker() as db:
        role = Role(name=name)
        db.add(role)
        for permission in permissions:
            found = await db.scalar(
                select(Permission).where(Permission.name == permission)
            )
            if found is None:
                found = Permission(name=permission)
                db.add(found)
            await db.flush()
            await db.execute(
                insert(role_permissions).values(role_id=role.id, permission_id=found.id)
            )
        await db.commit()


async def test_admin_holds_every_seeded_permission(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, ADA)
    await grant(app, ADA, "admin")
    headers = await login(client, ADA)
    me = (await client.get("/auth/me", headers=headers)).json()
    assert me["roles"] == ["admin", "user"]
    assert me["permissions"] == ["events:read", "users:read", "users:write"]


async def test_a_registered_user_holds_no_permission(
    client: httpx.AsyncClient,
) -> None:
    await register(client, BOB)
    headers = await login(client, BOB)
    me = (await client.get("/auth/me", headers=headers)).json()
    assert me["roles"] == ["user"]
    assert me["permissions"] == []


@pytest.mark.parametrize(
    ("role", "get_status", "put_status"),
    [
        ("user", 403, 403),
        ("reader", 200, 403),
        ("writer", 403, 200),
        ("admin", 200, 200),
    ],
)
async def test_each_admin_endpoint_needs_its_own_permission(
    app: FastAPI,
    client: httpx.AsyncClient,
    role: str,
    get_status: int,
    put_status: int,
) -> None:
    await _add_role(app, "reader", "users:read")
    await _add_role(app, "writer", "users:write")
    target = await register(client, BOB)
    await register(client, ADA)
    await grant(app, ADA, role)
    headers = await login(client, ADA)
    listed = await client.get("/admin/users", headers=headers)
    assert listed.status_code == get_status
    put = await client.put(
        f"/admin/users/{target['id']}/roles", json={"roles": []}, headers=headers
    )
    assert put.status_code == put_status


async def test_roles_sharing_a_permission_count_it_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _add_role(app, "reader", "users:read")
    await register(client, ADA)
    await grant(app, ADA, "admin", "reader")
    headers = await login(client, ADA)
    me = (await client.get("/auth/me", headers=headers)).json()
    assert me["permissions"] == ["events:read", "users:read", "users:write"]


def _mount(app: FastAPI) -> None:
    """Add routes guarded by new permissions, as a project would."""
    reports = APIRouter(
        prefix="/reports", dependencies=[Depends(require_permission("reports:read"))]
    )

    @reports.get("")
    async def list_reports() -> list[str]:
        return ["q1"]

    @reports.put("/q1")
    async def edit_report(
        principal: Annotated[Principal, Depends(require_permission("reports:write"))],
    ) -> dict[str, str]:
        return {"editor": principal.email}

    app.include_router(reports)


async def test_require_permission_guards_a_router_and_a_route(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _mount(app)
    await _add_role(app, "analyst", "reports:read")
    await _add_role(app, "editor", "reports:read", "reports:write")
    assert (await client.get("/reports")).status_code == 401
    assert (await client.put("/reports/q1")).status_code == 401
    await register(client, ADA)
    await grant(app, ADA, "analyst")
    headers = await login(client, ADA)
    assert (await client.get("/reports", headers=headers)).status_code == 200
    assert (await client.put("/reports/q1", headers=headers)).status_code == 403
    await grant(app, ADA, "editor")
    # Log in again: a bearer token carries the permissions it was issued with.
    headers = await login(client, ADA)
    edited = await client.put("/reports/q1", headers=headers)
    assert edited.status_code == 200
    assert edited.json() == {"editor": ADA}
