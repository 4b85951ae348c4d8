"""``require_role``: guarding a route or a whole router with a role."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from app.auth.guards import require_role
from app.auth.rbac import Principal
from app.auth.roles import Role
from app.state import app_state
from tests.helpers import grant, login, register

pytestmark = pytest.mark.anyio

ADA = "ada@example.com"


def _mount(app: FastAPI) -> None:
    """Add routes guarded by a new role ``auditor``, as a project would."""
    reports = APIRouter(
        prefix="/reports", dependencies=[Depends(require_role("auditor"))]
    )

    @reports.get("")
    async def list_reports() -> list[str]:
        return ["q1"]

    @reports.get("/mine")
    async def my_reports(
        principal: Annotated[Principal, Depends(require_role("auditor"))],
    ) -> dict[str, str]:
        return {"owner": principal.email}

    app.include_router(reports)


async def _add_role(app: FastAPI, name: str) -> None:
    async with app_state(app).sessionmaker() as db:
        db.add(Role(name=name))
        await db.commit()


@pytest.mark.parametrize("path", ["/reports", "/reports/mine"])
async def test_require_role_guards_a_router_and_a_route(
    app: FastAPI, client: httpx.AsyncClient, path: str
) -> None:
    _mount(app)
    await _add_role(app, "auditor")
    assert (await client.get(path)).status_code == 401
    await register(client, ADA)
    headers = await login(client, ADA)
    assert (await client.get(path, headers=headers)).status_code == 403
    await grant(app, ADA, "auditor")
    # Log in again: a bearer token carries the roles it was issued with.
    headers = await login(client, ADA)
    response = await client.get(path, headers=headers)
    assert response.status_code == 200


async def test_a_route_sees_the_principal(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    _mount(app)
    await _add_role(app, "auditor")
    await register(client, ADA)
    await grant(app, ADA, "auditor")
    headers = await login(client, ADA)
    response = await client.get("/reports/mine", headers=headers)
    assert response.json() == {"owner": ADA}


async def test_the_seeded_roles_are_admin_and_user(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, ADA)
    await grant(app, ADA, "admin")
    headers = await login(client, ADA)
    me = (await client.get("/auth/me", headers=headers)).json()
    assert me["roles"] == ["admin", "user"]
    assert "permissions" not in me
