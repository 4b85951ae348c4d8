"""Helpers shared by the tests: registering, logging in, authenticated headers."""

from __future__ import annotations

import httpx

TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "correct horse battery staple"


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
