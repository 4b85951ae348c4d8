"""Deny by default: every route of the API is classified, and each one keeps out
whoever it should (ASVS 8.2.1).

The walk covers every method and path of the OpenAPI schema. A new route
fails ``test_every_route_is_classified`` until it is added to ``ACCESS``.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import update

from app.auth.models import User
from app.state import app_state
from tests.helpers import call, grant, login, register, routes, session_of

pytestmark = pytest.mark.anyio

PUBLIC = "anyone"
LOGGED_IN = "any logged-in user"
ADMIN = "admin"

# Who may use each route; path parameters are written ``{}``. Routes of every
# session strategy and RBAC flavour are listed; those an app lacks are skipped.
ACCESS: dict[str, str] = {
    "GET /health": PUBLIC,
    "GET /health/ready": PUBLIC,
    "POST /auth/register": PUBLIC,
    "POST /auth/login": PUBLIC,
    # Authenticated by the refresh token in its body, not by a session (jwt).
    "POST /auth/refresh": PUBLIC,
    "GET /auth/me": LOGGED_IN,
    "POST /auth/logout": LOGGED_IN,
    "POST /auth/logout-everywhere": LOGGED_IN,
    "POST /auth/password": LOGGED_IN,
    # Account email (app/auth/recovery.py): links' tokens authenticate the
    # public ones.
    "POST /auth/verify/request": LOGGED_IN,
    "POST /auth/verify": PUBLIC,
    "POST /auth/password/forgot": PUBLIC,
    "POST /auth/password/reset": PUBLIC,
    "POST /auth/email": LOGGED_IN,
    "POST /auth/email/confirm": PUBLIC,
    # Two-factor authentication (app/auth/mfa/): the mfa_token of a login
    # authenticates the second step.
    "POST /auth/mfa/totp": LOGGED_IN,
    "POST /auth/mfa/totp/confirm": LOGGED_IN,
    "DELETE /auth/mfa/totp": LOGGED_IN,
    "POST /auth/mfa/verify": PUBLIC,
    "GET /auth/sessions": LOGGED_IN,
    "DELETE /auth/sessions": LOGGED_IN,
    "DELETE /auth/sessions/{}": LOGGED_IN,
    # Security events: one's own, and (app/admin/router.py) everybody's.
    "GET /auth/events": LOGGED_IN,
    "GET /admin/events": ADMIN,
    "GET /admin/users": ADMIN,
    "PUT /admin/users/{}/roles": ADMIN,
    "PUT /admin/users/{}/active": ADMIN,
    "DELETE /admin/users/{}/mfa": ADMIN,
}

USER = "user@example.com"
ADMIN_EMAIL = "admin@example.com"


async def status_for(app: FastAPI, route: str, email: str | None) -> int:
    """Call ``route`` from a fresh session, so a logout before cannot interfere."""
    async with session_of(app, email) as (client, headers):
        return await call(client, route, headers)


async def test_every_route_is_classified(app: FastAPI) -> None:
    unclassified = [route for route in routes(app) if route not in ACCESS]
    assert not unclassified, f"add these routes to ACCESS: {unclassified}"


async def test_no_route_hides_from_the_schema(app: FastAPI) -> None:
    hidden = [
        route.path
        for route in app.routes
        if isinstance(route, APIRoute) and not route.include_in_schema
    ]
    assert not hidden


async def test_public_routes_need_no_session(app: FastAPI) -> None:
    public = [route for route in routes(app) if ACCESS.get(route) == PUBLIC]
    assert "GET /health" in public
    for route in public:
        assert await status_for(app, route, None) not in {401, 403}, route


async def test_protected_routes_answer_401_anonymously(app: FastAPI) -> None:
    protected = [route for route in routes(app) if ACCESS.get(route) != PUBLIC]
    assert "GET /auth/me" in protected
    for route in protected:
        assert await status_for(app, route, None) == 401, route


async def test_routes_answer_403_to_a_user_without_the_right(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, USER)
    for route in routes(app):
        expected = ACCESS.get(route)
        if expected == LOGGED_IN:
            assert await status_for(app, route, USER) not in {401, 403}, route
        elif expected == ADMIN:
            assert await status_for(app, route, USER) == 403, route


async def test_admin_routes_let_an_admin_in(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin_routes = [route for route in routes(app) if ACCESS.get(route) == ADMIN]
    if not admin_routes:
        pytest.skip("without RBAC no route is reserved to admins")
    await register(client, ADMIN_EMAIL)
    await grant(app, ADMIN_EMAIL, "admin")
    for route in admin_routes:
        assert await status_for(app, route, ADMIN_EMAIL) not in {401, 403}, route


async def test_a_deactivated_users_credentials_write_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # Every unsafe route that needs a session, with what the user was given
    # before the deactivation: a JWT access token still reads for its short
    # life, but no write goes through (SECURITY.md, jwt 8).
    user_id = int(str((await register(client, ADMIN_EMAIL))["id"]))
    if any(ACCESS.get(route) == ADMIN for route in routes(app)):
        await grant(app, ADMIN_EMAIL, "admin")
    headers = await login(client, ADMIN_EMAIL)
    async with app_state(app).sessionmaker() as db:
        await db.execute(update(User).where(User.id == user_id).values(is_active=False))
        await db.commit()
    writes = [
        route
        for route in routes(app)
        if ACCESS.get(route) != PUBLIC and not route.startswith(("GET ", "HEAD "))
    ]
    assert "POST /auth/password" in writes
    for route in writes:
        body = {"is_active": True, "roles": ["admin"], "refresh_token": "x"}
        status = await call(client, route, headers, parameter=str(user_id), body=body)
        assert status == 401, route
    async with app_state(app).sessionmaker() as db:
        assert not (await db.get_one(User, user_id)).is_active
