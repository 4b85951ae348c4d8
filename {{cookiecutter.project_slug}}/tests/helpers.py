"""Helpers shared by the tests: registering, logging in, authenticated headers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.models import User
from app.auth.rbac import grant_roles
from app.state import app_state

TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "correct horse battery staple"
_PARAMETER = re.compile(r"\{[^}]*\}")
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def insert_user(engine: AsyncEngine, email: str) -> int:
    """Insert a user straight into the database; return its id."""
    async with engine.begin() as connection:
        result = await connection.execute(
            insert(User).values(email=email, password_hash="x").returning(User.id)
        )
        user_id: int = result.scalar_one()
    return user_id


async def register(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> dict[str, object]:
    """Register a user and return the response body."""
    response = await client.post(
        "/auth/register", json={"email": email, "password": password}
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def login(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> dict[str, str]:
    """Log in and return the headers that authenticate the next requests."""
    return auth_headers(client, await login_response(client, email, password))


async def login_response(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    """Log in and return the successful response, whatever the strategy answers."""
    # A browser that already has a session sends its CSRF token, as on any POST.
    token = client.cookies.get("csrftoken")
    response = await client.post(
        "/auth/login",
        data={"username": email, "password": password},
        headers={"X-CSRF-Token": token} if token else {},
    )
    assert response.status_code == 200, response.text
    return response


async def logout(client: httpx.AsyncClient, login: httpx.Response) -> httpx.Response:
    """Log out as the client of any strategy does after ``login``.

    A bearer-token client also hands back its refresh token, to be revoked.
    """
    body = login.json()
    refresh = (
        {"refresh_token": body["refresh_token"]} if "refresh_token" in body else None
    )
    return await client.post(
        "/auth/logout", headers=auth_headers(client, login), json=refresh
    )


async def session_ended(client: httpx.AsyncClient, login: httpx.Response) -> bool:
    """Return whether what ``login`` gave the client no longer keeps it logged in.

    A cookie session is refused at once. A bearer-token client's refresh token
    is refused; its access token lives on until its short expiry, by design
    (tests/auth/test_jwt.py shows that window). Refreshing spends the token,
    so ask only once, at the end.
    """
    body = login.json()
    if "refresh_token" in body:
        response = await client.post(
            "/auth/refresh", json={"refresh_token": body["refresh_token"]}
        )
        return response.status_code == 401
    return (await client.get("/auth/me")).status_code == 401


def auth_headers(client: httpx.AsyncClient, response: httpx.Response) -> dict[str, str]:
    """Return what a client sends after this login: a bearer token or a CSRF header.

    Cookie-borne sessions travel in the client's cookie jar; unsafe requests
    also need the CSRF token copied from its cookie.
    """
    body = response.json()
    if "access_token" in body:
        return {"Authorization": f"Bearer {body['access_token']}"}
    return {"X-CSRF-Token": client.cookies["csrftoken"]}


def replace_cookie(client: httpx.AsyncClient, name: str, value: str) -> None:
    """Put ``value`` in the client's jar in place of the server-set cookie."""
    domains = {cookie.domain for cookie in client.cookies.jar if cookie.name == name}
    client.cookies.delete(name)
    # Same domain as the server's cookie, so a later Set-Cookie replaces it.
    client.cookies.set(name, value, domain=domains.pop() if domains else "")


async def session_works(
    client: httpx.AsyncClient, login_response: httpx.Response
) -> bool:
    """Return whether the session a login started can still be used.

    Cookie sessions are checked with ``/auth/me``. For bearer tokens the
    access token lives on until its short expiry by design, so what must end
    is the refresh token: try to spend it.
    """
    body = login_response.json()
    if "refresh_token" in body:
        response = await client.post(
            "/auth/refresh", json={"refresh_token": body["refresh_token"]}
        )
        return response.status_code == 200
    return (await client.get("/auth/me")).status_code == 200


async def can_write(client: httpx.AsyncClient, login_response: httpx.Response) -> bool:
    """Return whether what a login gave the client still authenticates a write.

    It asks to change the password with a wrong current one: 400 means the
    request was authenticated, 401 that it was not. Nothing changes either way.
    """
    response = await client.post(
        "/auth/password",
        headers=auth_headers(client, login_response),
        json={"current_password": "not the password", "new_password": "x" * 12},
    )
    assert response.status_code in {400, 401}, response.text
    return response.status_code == 400


async def grant(app: FastAPI, email: str, *roles: str) -> None:
    """Give the user with ``email`` more roles, as ``python -m app grant-role`` does."""
    async with app_state(app).sessionmaker() as db:
        user = await db.scalar(select(User).where(User.email == email))
        assert user is not None, email
        await grant_roles(db, user, roles)
        await db.commit()


def routes(app: FastAPI) -> list[str]:
    """Return ``"METHOD /path"`` for every operation of the app's OpenAPI schema."""
    return [
        f"{method.upper()} {_PARAMETER.sub('{}', path)}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    ]


async def call(
    client: httpx.AsyncClient,
    route: str,
    headers: dict[str, str],
    *,
    parameter: str = "1",
    body: dict[str, object] | None = None,
) -> int:
    """Send ``route`` with ``parameter`` as every path parameter; return the status.

    Unsafe methods send ``body`` as JSON (``{}`` by default).
    """
    method, path = route.split(" ", 1)
    response = await client.request(
        method,
        path.replace("{}", parameter),
        headers=headers,
        json=(body or {}) if method in _UNSAFE else None,
    )
    return response.status_code


@asynccontextmanager
async def session_of(
    app: FastAPI, email: str | None
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """Yield a client of its own, logged in as ``email`` unless it is ``None``."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:
        headers = await login(client, email) if email else {}
        yield client, headers
