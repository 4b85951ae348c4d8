"""``GET /admin/events``, and the events of what admins do to users."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.helpers import grant, login, register

pytestmark = pytest.mark.anyio

ADA = "ada@example.com"  # an admin
BOB = "bob@example.com"  # a user
ADDRESS = "203.0.113.20"
AGENT = "admin-console/2.0"


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ADDRESS, 4321))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"User-Agent": AGENT}
    ) as http:
        yield http


async def _users(app: FastAPI, client: httpx.AsyncClient) -> tuple[int, int]:
    ada = int(str((await register(client, ADA))["id"]))
    bob = int(str((await register(client, BOB))["id"]))
    await grant(app, ADA, "admin")
    return ada, bob


async def test_admin_actions_are_recorded_with_the_admin_as_actor(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ada, bob = await _users(app, client)
    headers = await login(client, ADA)
    for path, body in (
        (f"/admin/users/{bob}/roles", {"roles": ["admin", "user"]}),
        (f"/admin/users/{bob}/active", {"is_active": False}),
        (f"/admin/users/{bob}/active", {"is_active": True}),
    ):
        response = await client.put(path, headers=headers, json=body)
        assert response.status_code == 200, response.text
    listed = await client.get(f"/admin/events?user_id={bob}", headers=headers)
    assert listed.status_code == 200
    # Newest first.
    activated, deactivated, changed, registered = listed.json()
    assert [e["type"] for e in (activated, deactivated, changed, registered)] == [
        "user.activated",
        "user.deactivated",
        "user.roles_changed",
        "user.registered",
    ]
    assert changed["detail"] == {"roles": ["admin", "user"], "previous": ["user"]}
    for event in (activated, deactivated, changed):
        assert (event["user_id"], event["actor_id"]) == (bob, ada)
        assert (event["ip"], event["user_agent"]) == (ADDRESS, AGENT)
    assert (registered["user_id"], registered["actor_id"]) == (bob, bob)


async def test_admin_filters_by_type_and_pages_by_id(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _users(app, client)
    for _ in range(3):
        await client.post("/auth/login", data={"username": BOB, "password": "nope!!!!"})
    headers = await login(client, ADA)
    every = (await client.get("/admin/events?limit=100", headers=headers)).json()
    ids = [event["id"] for event in every]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 6  # two registrations, three failures, one login
    failed = await client.get("/admin/events?type=login.failed", headers=headers)
    assert [e["type"] for e in failed.json()] == ["login.failed"] * 3
    page = await client.get("/admin/events?limit=2", headers=headers)
    after = await client.get(
        f"/admin/events?limit=100&before={page.json()[-1]['id']}", headers=headers
    )
    assert [e["id"] for e in page.json() + after.json()] == ids
    for query in (
        "type=login.nonsense",
        "limit=0",
        "limit=101",
        "user_id=0",
        "before=-1",
        "user_id=x",
    ):
        bad = await client.get(f"/admin/events?{query}", headers=headers)
        assert bad.status_code == 422, query


async def test_only_an_admin_reads_everyones_events(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ada, bob = await _users(app, client)
    assert (await client.get("/admin/events")).status_code == 401
    bobs = await login(client, BOB)
    assert (await client.get("/admin/events", headers=bobs)).status_code == 403
    admin = await login(client, ADA)
    response = await client.put(
        f"/admin/users/{bob}/roles", headers=admin, json={"roles": ["user"]}
    )
    assert response.status_code == 200
    bobs = await login(client, BOB)
    own = (await client.get("/auth/events", headers=bobs)).json()
    # Bob sees that an admin changed his roles, and who, but not from where.
    (changed,) = [e for e in own if e["type"] == "user.roles_changed"]
    assert (changed["actor_id"], changed["ip"], changed["user_agent"]) == (
        ada,
        None,
        None,
    )
    assert {e["user_id"] for e in own} == {bob}
