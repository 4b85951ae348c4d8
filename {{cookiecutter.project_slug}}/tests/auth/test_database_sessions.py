"""The database strategy: opaque ids, server-side sessions, revocation at once."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from http.cookies import Morsel, SimpleCookie
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, event, select, update

from app.auth.cookies import MAX_COOKIE_BYTES
from app.auth.csrf import issue_token, make_signer, token_is_valid
from app.auth.events import SecurityEvent
from app.auth.models import User
from app.auth.session.interface import cleanup_expired, end_sessions
from app.auth.session.models import USER_AGENT_LENGTH, UserSession
from app.auth.session.store import TOUCH_AFTER, token_hash
from app.config import Settings
from app.db import utcnow
from app.main import create_app, release
from app.reader import Reader
from app.state import app_state
from tests.cli import cli_async
from tests.helpers import PASSWORD, login, register
from tests.servers import register_on

pytestmark = pytest.mark.anyio

SESSION_FIELDS = {"id", "created_at", "last_seen_at", "expires_at", "user_agent"}


@asynccontextmanager
async def _browser(
    app: FastAPI, *, user_agent: str = "test-browser", **cookies: str
) -> AsyncIterator[httpx.AsyncClient]:
    """Another HTTP client of ``app``, optionally holding ``cookies`` already."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        cookies=cookies,
        headers={"User-Agent": user_agent},
    ) as http:
        yield http


async def _status_with(app: FastAPI, cookie: str, path: str = "/auth/me") -> int:
    """Answer status of ``path`` for a browser that holds only this session cookie."""
    async with _browser(app, session=cookie) as http:
        return (await http.get(path)).status_code


def _set_cookie(response: httpx.Response, name: str) -> Morsel[str]:
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie[name]
    raise AssertionError(f"no Set-Cookie for {name}")


async def _logged_in(client: httpx.AsyncClient, email: str = "ada@example.com") -> str:
    """Register and log in ``email``; return the session cookie's value."""
    await register(client, email)
    await login(client, email)
    return client.cookies["session"]


async def _rows(app: FastAPI) -> list[UserSession]:
    async with app_state(app).sessionmaker() as db:
        return list(await db.scalars(select(UserSession).order_by(UserSession.id)))


async def _row(app: FastAPI, cookie: str) -> UserSession:
    async with app_state(app).sessionmaker() as db:
        row: UserSession | None = await db.scalar(
            select(UserSession).where(UserSession.token_hash == token_hash(cookie))
        )
    assert row is not None
    return row


async def _forge(app: FastAPI, cookie: str, **values: datetime) -> None:
    """Change the stored session of ``cookie`` behind the application's back."""
    async with app_state(app).sessionmaker() as db:
        await db.execute(
            update(UserSession)
            .where(UserSession.token_hash == token_hash(cookie))
            .values(**values)
        )
        await db.commit()


@asynccontextmanager
async def _statements(app: FastAPI) -> AsyncIterator[list[str]]:
    """Record every SQL statement the application sends to the database.

    Mail jobs already submitted (a registration's verification) are waited
    for first: they run in tasks of their own and would add their statements.
    """
    await app_state(app).outbox.drain()
    seen: list[str] = []

    def record(*args: Any) -> None:
        # (connection, cursor, statement, parameters, context, executemany)
        seen.append(args[2])

    engine = app_state(app).engine.sync_engine
    reader: Reader = app_state(app).session.reader
    event.listen(engine, "before_cursor_execute", record)
    reader.trace(seen.append)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
        reader.trace(None)


async def test_the_cookie_is_an_opaque_id_whose_hash_alone_is_stored(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    cookie = await _logged_in(client)
    assert len(base64.urlsafe_b64decode(cookie + "=")) >= 16  # >= 128 bits
    assert "ada" not in cookie
    row = await _row(app, cookie)
    assert row.token_hash == hashlib.sha256(cookie.encode()).hexdigest()
    stored = " ".join(str(value) for value in vars(row).values())
    assert cookie not in stored
    assert row.public_id not in {cookie, row.token_hash}
    assert len(cookie) + len("session") < MAX_COOKIE_BYTES


async def test_login_sets_a_hardened_session_cookie(client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    response = await client.post(
        "/auth/login", data={"username": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    morsel = _set_cookie(response, "session")
    assert morsel["httponly"]
    assert morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/"
    assert not morsel["domain"]
    assert not morsel["secure"]  # only in production
    assert not _set_cookie(response, "csrftoken")["httponly"]


async def test_production_cookies_are_secure_with_the_host_prefix(
    production_settings: Settings,
) -> None:
    app = create_app(production_settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://testserver"
    ) as client:
        await register(client, "ada@example.com")
        response = await client.post(
            "/auth/login", data={"username": "ada@example.com", "password": PASSWORD}
        )
        morsel = _set_cookie(response, "__Host-session")
        assert morsel["secure"]
        assert morsel["httponly"]
        assert morsel["path"] == "/"
        assert not morsel["domain"]
        assert _set_cookie(response, "csrftoken")["secure"]
        assert (await client.get("/auth/me")).status_code == 200
    await release(app)


async def test_csrf_token_is_bound_to_the_ids_hash_not_the_id(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    cookie = await _logged_in(client)
    csrf = client.cookies["csrftoken"]
    assert cookie not in csrf
    signer = make_signer(settings.signing_keys)
    assert token_is_valid(signer, token_hash(cookie), csrf)
    assert not token_is_valid(signer, cookie, csrf)


async def test_an_id_chosen_by_the_client_is_never_adopted(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    await register(client, "ada@example.com")
    chosen = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    # Even with a valid CSRF token for it, the planted id does not get through.
    csrf = issue_token(make_signer(settings.signing_keys), token_hash(chosen))
    async with _browser(app, session=chosen, csrftoken=csrf) as victim:
        response = await victim.post(
            "/auth/login",
            data={"username": "ada@example.com", "password": PASSWORD},
            headers={"X-CSRF-Token": csrf},
        )
    assert response.status_code == 200
    issued = _set_cookie(response, "session").value
    assert issued != chosen
    assert [row.token_hash for row in await _rows(app)] == [token_hash(issued)]
    assert await _status_with(app, chosen) == 401
    assert await _status_with(app, issued) == 200


async def test_logging_in_again_issues_a_new_id_and_ends_the_old_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    first = await _logged_in(client)
    await login(client, "ada@example.com")
    second = client.cookies["session"]
    assert second != first
    assert await _status_with(app, first) == 401
    assert await _status_with(app, second) == 200
    assert len(await _rows(app)) == 1


async def test_anonymous_requests_write_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    responses = [
        await client.get("/health"),
        await client.get("/auth/me"),
        await client.get("/auth/sessions"),
        await client.post(
            "/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
        ),
        await client.post(
            "/auth/login",
            data={"username": "ada@example.com", "password": "wrong password!"},
        ),
    ]
    assert [r.status_code for r in responses] == [200, 401, 401, 201, 401]
    assert all("set-cookie" not in r.headers for r in responses)
    assert await _rows(app) == []


async def test_an_authenticated_request_is_one_indexed_read_and_no_write(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _logged_in(client)
    async with _statements(app) as statements:
        for _ in range(3):
            response = await client.get("/auth/me")
            assert response.status_code == 200
            assert "set-cookie" not in response.headers
    # One statement per request, every time: the session is read from the
    # database on each request, never from a cache in this process.
    assert len(statements) == 3
    for statement in statements:
        assert statement.lstrip().upper().startswith("SELECT")
        assert "user_session.token_hash = " in statement
        assert "JOIN user_session" in statement
    async with _statements(app) as anonymous, _browser(app) as stranger:
        assert (await stranger.get("/auth/me")).status_code == 401
    assert anonymous == []


async def test_last_seen_is_written_at_most_once_a_minute(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    cookie = await _logged_in(client)
    recent = utcnow() - TOUCH_AFTER / 2
    await _forge(app, cookie, last_seen_at=recent)
    async with _statements(app) as statements:
        assert (await client.get("/auth/me")).status_code == 200
    assert (await _row(app, cookie)).last_seen_at == recent
    assert not any(s.lstrip().upper().startswith("UPDATE") for s in statements)

    stale = utcnow() - 2 * TOUCH_AFTER
    await _forge(app, cookie, last_seen_at=stale)
    before = utcnow()
    async with _statements(app) as statements:
        assert (await client.get("/auth/me")).status_code == 200
    assert (await _row(app, cookie)).last_seen_at >= before
    assert len(statements) == 2
    assert statements[1].lstrip().upper().startswith("UPDATE")
    assert "last_seen_at <= " in statements[1]  # guarded against double writes


async def test_concurrent_requests_write_last_seen_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # A client's burst of requests on a stale session: one UPDATE, not one
    # per request, each with a pooled connection of its own.
    cookie = await _logged_in(client)
    await _forge(app, cookie, last_seen_at=utcnow() - 2 * TOUCH_AFTER)
    async with _statements(app) as statements:
        answers = await asyncio.gather(*(client.get("/auth/me") for _ in range(10)))
    assert [answer.status_code for answer in answers] == [200] * 10
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert len(updates) == 1, updates


async def test_idle_timeout_ends_the_session(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    cookie = await _logged_in(client)
    idle = timedelta(seconds=settings.session_idle_timeout)
    await _forge(app, cookie, last_seen_at=utcnow() - idle + timedelta(minutes=5))
    assert (await client.get("/auth/me")).status_code == 200
    await _forge(app, cookie, last_seen_at=utcnow() - idle - timedelta(seconds=1))
    assert (await client.get("/auth/me")).status_code == 401


async def test_absolute_lifetime_ends_an_active_session(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    cookie = await _logged_in(client)
    row = await _row(app, cookie)
    max_age = timedelta(seconds=settings.session_max_age)
    assert row.expires_at - row.created_at == max_age
    await _forge(app, cookie, expires_at=utcnow() - timedelta(seconds=1))
    assert (await client.get("/auth/me")).status_code == 401


async def test_a_lowered_max_age_shortens_existing_sessions(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    cookie = await _logged_in(client)
    # Still before expires_at, but older than SESSION_MAX_AGE allows now.
    created = utcnow() - timedelta(seconds=settings.session_max_age + 1)
    await _forge(app, cookie, created_at=created)
    assert (await client.get("/auth/me")).status_code == 401


async def test_logout_deletes_the_session_and_expires_the_cookies(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    cookie = await _logged_in(client)
    headers = {"X-CSRF-Token": client.cookies["csrftoken"]}
    response = await client.post("/auth/logout", headers=headers)
    assert response.status_code == 204
    assert _set_cookie(response, "session")["max-age"] == "0"
    assert _set_cookie(response, "csrftoken")["max-age"] == "0"
    assert await _rows(app) == []
    assert await _status_with(app, cookie) == 401  # a copy taken before logout


async def test_listing_shows_the_callers_live_sessions(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    phone = await _logged_in(client)
    async with _browser(app, user_agent="Laptop/1.0") as laptop:
        await login(laptop, "ada@example.com")
        old = laptop.cookies["session"]
    async with _browser(app, user_agent="Tablet/1.0") as tablet:
        await login(tablet, "ada@example.com")
    async with _browser(app) as eve:
        await _logged_in(eve, "eve@example.com")
    await _forge(app, old, last_seen_at=utcnow() - timedelta(days=1))

    response = await client.get("/auth/sessions")
    assert response.status_code == 200
    listed = response.json()
    assert all(set(item) == {*SESSION_FIELDS, "current"} for item in listed)
    current = {item["user_agent"]: item["current"] for item in listed}
    assert current == {client.headers["user-agent"]: True, "Tablet/1.0": False}
    public_ids = {row.public_id for row in await _rows(app)}
    assert {item["id"] for item in listed} <= public_ids
    assert phone not in response.text
    assert token_hash(phone) not in response.text


async def test_user_agent_is_truncated(app: FastAPI, client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    async with _browser(app, user_agent="x" * 5000) as browser:
        await login(browser, "ada@example.com")
        listed = (await browser.get("/auth/sessions")).json()
    assert listed[0]["user_agent"] == "x" * USER_AGENT_LENGTH


async def test_revoking_a_session_refuses_its_cookie_at_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _logged_in(client)
    headers = {"X-CSRF-Token": client.cookies["csrftoken"]}
    async with _browser(app) as laptop:
        await login(laptop, "ada@example.com")
        target = next(
            item["id"]
            for item in (await laptop.get("/auth/sessions")).json()
            if item["current"]
        )
        response = await client.delete(f"/auth/sessions/{target}", headers=headers)
        assert response.status_code == 204
        assert "set-cookie" not in response.headers  # not this browser's session
        assert (await laptop.get("/auth/me")).status_code == 401
    assert (await client.get("/auth/me")).status_code == 200
    assert len(await _rows(app)) == 1
    again = await client.delete(f"/auth/sessions/{target}", headers=headers)
    assert again.status_code == 404


async def test_revoking_the_current_session_expires_its_cookies(
    client: httpx.AsyncClient,
) -> None:
    await _logged_in(client)
    headers = {"X-CSRF-Token": client.cookies["csrftoken"]}
    (own,) = (await client.get("/auth/sessions")).json()
    response = await client.delete(f"/auth/sessions/{own['id']}", headers=headers)
    assert response.status_code == 204
    assert _set_cookie(response, "session")["max-age"] == "0"
    assert (await client.get("/auth/me")).status_code == 401


@pytest.mark.parametrize(
    "session_id", ["ada", "unknown", "x" * 300], ids=["other-users", "unknown", "long"]
)
async def test_another_users_or_an_unknown_session_is_404(
    app: FastAPI, client: httpx.AsyncClient, session_id: str
) -> None:
    async with _browser(app) as ada:
        await _logged_in(ada, "ada@example.com")
        (target,) = (await ada.get("/auth/sessions")).json()
    await _logged_in(client, "eve@example.com")
    headers = {"X-CSRF-Token": client.cookies["csrftoken"]}
    path = f"/auth/sessions/{target['id'] if session_id == 'ada' else session_id}"
    response = await client.delete(path, headers=headers)
    assert response.status_code == 404
    assert len(await _rows(app)) == 2


async def test_ending_other_sessions_keeps_the_current_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _logged_in(client)
    async with _browser(app) as laptop, _browser(app) as eve:
        await login(laptop, "ada@example.com")
        await _logged_in(eve, "eve@example.com")
        headers = {"X-CSRF-Token": client.cookies["csrftoken"]}
        response = await client.delete("/auth/sessions", headers=headers)
        assert response.status_code == 204
        assert (await laptop.get("/auth/me")).status_code == 401
        assert (await eve.get("/auth/me")).status_code == 200
    assert (await client.get("/auth/me")).status_code == 200
    assert [
        item["current"] for item in (await client.get("/auth/sessions")).json()
    ] == [True]


async def test_end_sessions_ends_every_session_of_the_user(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await register(client, "ada@example.com")
    await login(client, "ada@example.com")
    async with _browser(app) as laptop, _browser(app) as eve:
        await login(laptop, "ada@example.com")
        await _logged_in(eve, "eve@example.com")
        async with app_state(app).sessionmaker() as db:
            assert isinstance(user["id"], int)
            await end_sessions(db, user["id"])
            await db.commit()
        assert (await laptop.get("/auth/me")).status_code == 401
        assert (await eve.get("/auth/me")).status_code == 200
    assert (await client.get("/auth/me")).status_code == 401


async def test_a_deactivated_user_loses_every_session(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _logged_in(client)
    async with app_state(app).sessionmaker() as db:
        await db.execute(update(User).values(is_active=False))
        await db.commit()
    assert (await client.get("/auth/me")).status_code == 401


async def test_deleting_a_user_deletes_their_sessions(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _logged_in(client)
    async with _browser(app) as eve:
        await _logged_in(eve, "eve@example.com")
    async with app_state(app).sessionmaker() as db:
        await db.execute(delete(User).where(User.email == "ada@example.com"))
        await db.commit()
    rows = await _rows(app)
    assert len(rows) == 1
    async with app_state(app).sessionmaker() as db:
        eve_id = await db.scalar(select(User.id))
    assert rows[0].user_id == eve_id


async def test_cleanup_removes_expired_sessions_and_counts_them(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    await _logged_in(client)
    async with _browser(app) as laptop, _browser(app) as tablet:
        await login(laptop, "ada@example.com")
        await login(tablet, "ada@example.com")
        await _forge(
            app, laptop.cookies["session"], expires_at=utcnow() - timedelta(seconds=1)
        )
        # Revoking deletes the row at once; cleanup finds nothing left of it.
        headers = {"X-CSRF-Token": tablet.cookies["csrftoken"]}
        assert (await tablet.post("/auth/logout", headers=headers)).status_code == 204
    assert len(await _rows(app)) == 2

    result = await cli_async(database_url, "cleanup-sessions")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("removed 1 expired or revoked sessions")
    assert len(await _rows(app)) == 1
    async with app_state(app).sessionmaker() as db:
        assert await cleanup_expired(db) == 0
    assert (await client.get("/auth/me")).status_code == 200


@pytest.mark.parametrize(
    "tamper",
    [
        lambda raw: raw[:-1] + ("A" if not raw.endswith("A") else "B"),
        lambda raw: raw + "x",
        lambda raw: raw[:20],
        lambda raw: "not-a-session",
        lambda raw: token_hash(raw),
        lambda raw: "x" * 3000,
    ],
    ids=["changed", "longer", "shorter", "garbage", "its-hash", "huge"],
)
async def test_an_altered_cookie_is_no_session(
    app: FastAPI, client: httpx.AsyncClient, tamper: Callable[[str], str]
) -> None:
    cookie = await _logged_in(client)
    assert await _status_with(app, tamper(cookie)) == 401
    assert await _status_with(app, tamper(cookie), "/auth/sessions") == 401
    assert len(await _rows(app)) == 1


async def test_a_second_instance_sees_logout_and_revocation_at_once(
    app: FastAPI, settings: Settings
) -> None:
    other = create_app(settings)  # another process on the same database
    try:
        async with _browser(app) as phone, _browser(other) as laptop:
            await register(phone, "ada@example.com")
            await login(phone, "ada@example.com")
            await login(laptop, "ada@example.com")
            phone_cookie = phone.cookies["session"]
            assert await _status_with(other, phone_cookie) == 200

            listed = (await phone.get("/auth/sessions")).json()
            laptop_id = next(item["id"] for item in listed if not item["current"])
            headers = {"X-CSRF-Token": phone.cookies["csrftoken"]}
            revoked = await phone.delete(f"/auth/sessions/{laptop_id}", headers=headers)
            assert revoked.status_code == 204
            assert (await laptop.get("/auth/me")).status_code == 401

            assert (
                await phone.post("/auth/logout", headers=headers)
            ).status_code == 204
            assert await _status_with(other, phone_cookie) == 401
    finally:
        await release(other)


async def test_logout_and_revocation_on_one_process_are_seen_at_once_on_the_other(
    servers: list[str],
) -> None:
    first, second = servers
    async with httpx.AsyncClient() as browser, httpx.AsyncClient() as laptop:
        form = await register_on(browser, first)
        assert (await browser.post(f"{first}/auth/login", data=form)).status_code == 200
        assert (await laptop.post(f"{second}/auth/login", data=form)).status_code == 200
        assert (await browser.get(f"{second}/auth/me")).status_code == 200

        # Logout through the second process; the first refuses the copy at once.
        kept = browser.cookies["session"]
        token = browser.cookies["csrftoken"]
        logout = await browser.post(
            f"{second}/auth/logout", headers={"X-CSRF-Token": token}
        )
        assert logout.status_code == 204
        async with httpx.AsyncClient(cookies={"session": kept}) as thief:
            assert (await thief.get(f"{first}/auth/me")).status_code == 401

        # Revoke the laptop from a new session on the first process; the
        # second process refuses the laptop at once.
        assert (await browser.post(f"{first}/auth/login", data=form)).status_code == 200
        listed = (await browser.get(f"{first}/auth/sessions")).json()
        other = next(item["id"] for item in listed if not item["current"])
        revoked = await browser.delete(
            f"{first}/auth/sessions/{other}",
            headers={"X-CSRF-Token": browser.cookies["csrftoken"]},
        )
        assert revoked.status_code == 204
        assert (await laptop.get(f"{second}/auth/me")).status_code == 401


async def test_revoking_sessions_is_recorded_by_public_id(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user_id = int(str((await register(client, "ada@example.com"))["id"]))
    headers = await login(client, "ada@example.com")
    for _ in range(3):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as other:
            await login(other, "ada@example.com")
    listed = (await client.get("/auth/sessions")).json()
    (one, *_) = [session["id"] for session in listed if not session["current"]]
    revoked = await client.delete(f"/auth/sessions/{one}", headers=headers)
    assert revoked.status_code == 204
    assert (await client.delete("/auth/sessions", headers=headers)).status_code == 204
    async with app_state(app).sessionmaker() as db:
        found = list(
            await db.scalars(
                select(SecurityEvent)
                .where(SecurityEvent.type == "session.revoked")
                .order_by(SecurityEvent.id)
            )
        )
    assert [(e.user_id, e.actor_id, e.detail) for e in found] == [
        (user_id, user_id, {"session": one}),
        (user_id, user_id, {"session": "others", "count": 2}),
    ]
