"""Security events: each action records its event, with who, whom and whence.

Every strategy and RBAC flavour runs these; the strategies' own events
(revoking a database session, a reused refresh token) are tested in their
own files, and the admin's view in tests/admin/test_admin_events.py.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from app.auth import account_tokens, events
from app.auth.account_tokens import Purpose
from app.auth.events import EventType, SecurityEvent
from app.auth.models import User
from app.db import utcnow
from app.state import app_state
from tests.cli import cli
from tests.conftest import MakeSettings
from tests.helpers import (
    PASSWORD,
    auth_headers,
    login_response,
    logout,
    register,
    routes,
)
from tests.secrets_watch import watching

pytestmark = pytest.mark.anyio

ADA = "ada@example.com"
BOB = "bob@example.com"
# Where the test client says it comes from: an address and an agent no
# default would give.
ADDRESS = "203.0.113.9"
AGENT = "events-test/1.0"
NEW_PASSWORD = "a brand new passphrase"
HAS_ADMIN = importlib.util.find_spec("app.admin") is not None


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ADDRESS, 4321))
    # A header naming another address changes nothing: the address is the
    # one the server reports.
    headers = {"User-Agent": AGENT, "X-Forwarded-For": "198.51.100.77"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as http:
        yield http


async def stored(app: FastAPI, *types: EventType) -> list[SecurityEvent]:
    """Return the stored events (of ``types``, if given), oldest first."""
    query = select(SecurityEvent).order_by(SecurityEvent.id)
    if types:
        query = query.where(SecurityEvent.type.in_([str(t) for t in types]))
    async with app_state(app).sessionmaker() as db:
        return list(await db.scalars(query))


def assert_from_client(event: SecurityEvent) -> None:
    assert (event.ip, event.user_agent) == (ADDRESS, AGENT), event.type


async def _login_form(
    client: httpx.AsyncClient, email: str, password: str
) -> httpx.Response:
    return await client.post(
        "/auth/login", data={"username": email, "password": password}
    )


async def test_logins_record_who_whom_and_from_where(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ada = int(str((await register(client, ADA))["id"]))
    assert (await _login_form(client, ADA, "not the password")).status_code in {
        400,
        401,
    }
    assert (await _login_form(client, "nobody@example.com", PASSWORD)).status_code in {
        400,
        401,
    }
    login = await login_response(client, ADA)
    public_ids = []
    if "GET /auth/sessions" in routes(app):
        listed = await client.get("/auth/sessions")
        public_ids = [session["id"] for session in listed.json()]
    assert (await logout(client, login)).status_code == 204

    registered, wrong, unknown, succeeded, out = await stored(app)
    for event in (registered, wrong, unknown, succeeded, out):
        assert_from_client(event)
    assert (registered.type, registered.user_id, registered.actor_id) == (
        "user.registered",
        ada,
        ada,
    )
    # A failed login proves nobody's identity: no actor.
    assert (wrong.type, wrong.user_id, wrong.actor_id) == ("login.failed", ada, None)
    assert wrong.detail == {"reason": "wrong_password"}
    assert (unknown.type, unknown.user_id, unknown.actor_id) == (
        "login.failed",
        None,
        None,
    )
    assert unknown.detail == {"reason": "unknown_email", "email": "nobody@example.com"}
    assert (succeeded.type, succeeded.user_id, succeeded.actor_id) == (
        "login.succeeded",
        ada,
        ada,
    )
    assert (out.type, out.user_id, out.actor_id) == ("logout", ada, ada)
    body = login.json()
    if "refresh_token" in body:
        # The refresh family by its id; a logout names the one it revoked.
        assert set(succeeded.detail) == {"family"}
        assert out.detail == succeeded.detail
    elif public_ids:
        # A database session by its public id, as GET /auth/sessions lists it.
        assert succeeded.detail == {"session": public_ids[0]}
        assert out.detail == succeeded.detail
    else:
        assert succeeded.detail == {}


async def test_an_inactive_or_unverified_login_is_a_failure_with_its_reason(
    make_settings: MakeSettings,
) -> None:
    from app.main import create_app, release

    app = create_app(make_settings(email_verification="required"))
    transport = httpx.ASGITransport(app=app, client=(ADDRESS, 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ada = int(str((await register(client, ADA))["id"]))
        assert (await _login_form(client, ADA, PASSWORD)).status_code == 403
        async with app_state(app).sessionmaker() as db:
            await db.execute(update(User).values(is_active=False))
            await db.commit()
        assert (await _login_form(client, ADA, PASSWORD)).status_code in {400, 401}
    failures = await stored(app, EventType.LOGIN_FAILED)
    await release(app)
    assert [(e.user_id, e.detail["reason"]) for e in failures] == [
        (ada, "email_not_verified"),
        (ada, "inactive"),
    ]


async def test_a_throttled_login_is_recorded_once_a_while_per_client(
    make_settings: MakeSettings,
) -> None:
    from app.auth import credentials
    from app.main import create_app, release

    credentials._throttled_recently.clear()
    app = create_app(make_settings(login_failures_per_account=2))
    transport = httpx.ASGITransport(app=app, client=("198.51.100.3", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ada = int(str((await register(client, ADA))["id"]))
        statuses = [
            (await _login_form(client, ADA, "wrong password")).status_code
            for _ in range(5)
        ]
    assert statuses[-1] == 429
    assert statuses.count(429) == 3
    throttled = await stored(app, EventType.LOGIN_THROTTLED)
    await release(app)
    # Refusals stay cheap under a flood: one write per client a minute.
    assert len(throttled) == 1
    (event,) = throttled
    assert (event.user_id, event.actor_id, event.ip) == (ada, None, "198.51.100.3")
    assert event.detail["retry_after"] > 0


async def test_account_changes_are_recorded_by_their_owner(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ada = int(str((await register(client, ADA))["id"]))
    headers = auth_headers(client, await login_response(client, ADA))
    changed = await client.post(
        "/auth/password",
        headers=headers,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200, changed.text
    headers = auth_headers(client, changed)
    async with app_state(app).sessionmaker() as db:
        verify = await account_tokens.issue(
            db, user_id=ada, purpose=Purpose.VERIFY, email=ADA
        )
        move = await account_tokens.issue(
            db, user_id=ada, purpose=Purpose.EMAIL, email="ada@new.example.com"
        )
        await db.commit()
    verified = await client.post(
        "/auth/verify", headers=headers, json={"token": verify}
    )
    assert verified.status_code == 204
    moved = await client.post(
        "/auth/email/confirm", headers=headers, json={"token": move}
    )
    assert moved.status_code == 204
    async with app_state(app).sessionmaker() as db:
        reset = await account_tokens.issue(
            db, user_id=ada, purpose=Purpose.RESET, email="ada@new.example.com"
        )
        await db.commit()
    done = await client.post(
        "/auth/password/reset",
        headers=headers,
        json={"token": reset, "password": PASSWORD},
    )
    assert done.status_code == 204

    found = await stored(
        app,
        EventType.PASSWORD_CHANGED,
        EventType.EMAIL_VERIFIED,
        EventType.EMAIL_CHANGED,
        EventType.PASSWORD_RESET,
    )
    assert [e.type for e in found] == [
        "password.changed",
        "email.verified",
        "email.changed",
        "password.reset",
    ]
    for event in found:
        assert (event.user_id, event.actor_id) == (ada, ada)
        assert_from_client(event)
    assert found[2].detail == {"from": ADA, "to": "ada@new.example.com"}


async def test_a_wrong_current_password_is_a_failed_check(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ada = int(str((await register(client, ADA))["id"]))
    headers = auth_headers(client, await login_response(client, ADA))
    refused = await client.post(
        "/auth/password",
        headers=headers,
        json={"current_password": "not the password", "new_password": NEW_PASSWORD},
    )
    assert refused.status_code == 400
    (event,) = await stored(app, EventType.LOGIN_FAILED)
    assert (event.user_id, event.detail) == (
        ada,
        {"reason": "wrong_password", "during": "password_change"},
    )


async def test_a_user_reads_their_own_events_newest_first_in_pages(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ada = int(str((await register(client, ADA))["id"]))
    await register(client, BOB)
    for _ in range(3):
        await _login_form(client, BOB, "not bob's password")
        await login_response(client, ADA)
    headers = auth_headers(client, await login_response(client, ADA))
    mine = await client.get("/auth/events", headers=headers)
    assert mine.status_code == 200
    listed = mine.json()
    assert [e["type"] for e in listed] == ["login.succeeded"] * 4 + ["user.registered"]
    assert {e["user_id"] for e in listed} == {ada}
    ids = [e["id"] for e in listed]
    assert ids == sorted(ids, reverse=True)
    assert listed[0]["ip"] == ADDRESS
    assert listed[0]["user_agent"] == AGENT
    first = await client.get("/auth/events?limit=2", headers=headers)
    rest = await client.get(
        f"/auth/events?limit=100&before={first.json()[-1]['id']}", headers=headers
    )
    assert [e["id"] for e in first.json() + rest.json()] == ids
    for query in ("limit=0", "limit=101", "before=0", "limit=x", "before=99999999999"):
        bad = await client.get(f"/auth/events?{query}", headers=headers)
        assert bad.status_code == 422, query


async def test_a_user_cannot_read_another_users_events(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ada = int(str((await register(client, ADA))["id"]))
    await register(client, BOB)
    await _login_form(client, ADA, "not the password")
    headers = auth_headers(client, await login_response(client, BOB))
    for query in ("", f"?user_id={ada}", "?limit=100"):
        seen = await client.get(f"/auth/events{query}", headers=headers)
        assert seen.status_code == 200
        assert all(event["user_id"] != ada for event in seen.json()), query


@pytest.mark.skipif(HAS_ADMIN, reason="tests/admin/test_admin_events.py")
async def test_without_rbac_there_is_no_admin_view(client: httpx.AsyncClient) -> None:
    await register(client, ADA)
    headers = auth_headers(client, await login_response(client, ADA))
    assert (await client.get("/admin/events", headers=headers)).status_code == 404
    assert (await client.get("/auth/events", headers=headers)).status_code == 200


async def test_a_change_and_its_event_commit_together_or_not_at_all(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The event is added, then the transaction fails (a duplicate email
    # breaks a unique constraint at the commit): neither the change nor its
    # event may remain, and the same holds the other way round.
    await register(client, BOB)
    real = events.record

    def record_then_break(db, *args, **kwargs):  # type: ignore[no-untyped-def]
        real(db, *args, **kwargs)
        db.add(User(email=BOB, password_hash="x"))

    monkeypatch.setattr("app.auth.router.record", record_then_break)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as broken:
        response = await broken.post(
            "/auth/register", json={"email": ADA, "password": PASSWORD}
        )
    assert response.status_code == 500
    async with app_state(app).sessionmaker() as db:
        users = await db.scalar(select(func.count()).where(User.email == ADA))
    assert users == 0
    assert [e.type for e in await stored(app)] == ["user.registered"]  # Bob's


async def test_a_login_and_its_event_commit_together_or_not_at_all(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # login.succeeded is recorded in the transaction that starts the session:
    # when that fails, no session exists and no event says one did.
    await register(client, ADA)
    await register(client, BOB)
    from app.auth.session import lifecycle

    real = events.record

    def record_then_break(db, *args, **kwargs):  # type: ignore[no-untyped-def]
        real(db, *args, **kwargs)
        db.add(User(email=BOB, password_hash="x"))

    monkeypatch.setattr(lifecycle, "record", record_then_break)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as broken:
        response = await _login_form(broken, ADA, PASSWORD)
        assert response.status_code == 500
        assert "set-cookie" not in response.headers
    assert not await stored(app, EventType.LOGIN_SUCCEEDED)
    monkeypatch.undo()
    # The throttle's bookkeeping went with it, and the next login works.
    await login_response(client, ADA)
    assert len(await stored(app, EventType.LOGIN_SUCCEEDED)) == 1


async def test_the_command_line_lists_events_as_json_lines(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    ada = int(str((await register(client, ADA))["id"]))
    await register(client, BOB)
    await login_response(client, ADA)
    # The mail jobs write too: let them finish before another process reads.
    await app_state(app).outbox.drain()
    every = cli(database_url, "events")
    assert every.returncode == 0, every.stderr
    lines = [json.loads(line) for line in every.stdout.splitlines()]
    assert [line["type"] for line in lines] == [
        "user.registered",
        "user.registered",
        "login.succeeded",
    ]
    assert lines[0]["ip"] == ADDRESS
    adas = cli(database_url, "events", "--email", ADA.upper(), "--since", "2000-01-01")
    assert [json.loads(line)["user_id"] for line in adas.stdout.splitlines()] == [
        ada,
        ada,
    ]
    later = (utcnow() + timedelta(minutes=1)).isoformat()
    assert cli(database_url, "events", "--since", later).stdout == ""
    for args, message in (
        (("--email", "nobody@example.com"), "no user with email"),
        (("--since", "yesterday"), "invalid --since"),
    ):
        result = cli(database_url, "events", *args)
        assert result.returncode == 1
        assert result.stderr.startswith("error: ")
        assert message in result.stderr
        assert len(result.stderr.splitlines()) == 1


async def test_cleanup_drops_events_past_the_retention(
    app: FastAPI,
    client: httpx.AsyncClient,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await register(client, ADA)
    await register(client, BOB)
    async with app_state(app).sessionmaker() as db:
        await db.execute(
            update(SecurityEvent)
            .where(SecurityEvent.id == 1)
            .values(at=utcnow() - timedelta(days=31))
        )
        await db.commit()
    # The mail jobs write too: let them finish before another process writes.
    await app_state(app).outbox.drain()
    kept = cli(database_url, "cleanup-sessions")
    assert kept.returncode == 0, kept.stderr
    assert "0 events older than 365 days" in kept.stdout
    monkeypatch.setenv("EVENTS_RETENTION_DAYS", "30")
    dropped = cli(database_url, "cleanup-sessions")
    assert "1 events older than 30 days" in dropped.stdout, dropped.stderr
    assert [e.id for e in await stored(app)] == [2]
    monkeypatch.setenv("EVENTS_RETENTION_DAYS", "0")
    refused = cli(database_url, "cleanup-sessions")
    assert refused.returncode != 0
    assert "EVENTS_RETENTION_DAYS" in refused.stderr


async def test_events_hold_no_secret_of_any_flow(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # Every flow that records an event, watched: the passwords, tokens,
    # cookies and CSRF tokens sent and received appear in no event.
    with watching() as watch:
        ada = int(str((await register(client, ADA))["id"]))
        await _login_form(client, ADA, "a wrong guess at the password")
        await _login_form(client, "nobody@example.com", PASSWORD)
        login = await login_response(client, ADA)
        headers = auth_headers(client, login)
        await client.post(
            "/auth/password",
            headers=headers,
            json={"current_password": "not the password", "new_password": "x" * 12},
        )
        changed = await client.post(
            "/auth/password",
            headers=headers,
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        headers = auth_headers(client, changed)
        tokens = {}
        async with app_state(app).sessionmaker() as db:
            for purpose, email in (
                (Purpose.VERIFY, ADA),
                (Purpose.EMAIL, "ada@new.example.com"),
            ):
                tokens[purpose] = await account_tokens.issue(
                    db, user_id=ada, purpose=purpose, email=email
                )
            await db.commit()
        for path, purpose in (
            ("/auth/verify", Purpose.VERIFY),
            ("/auth/email/confirm", Purpose.EMAIL),
        ):
            done = await client.post(
                path, headers=headers, json={"token": tokens[purpose]}
            )
            assert done.status_code == 204
        async with app_state(app).sessionmaker() as db:
            reset = await account_tokens.issue(
                db, user_id=ada, purpose=Purpose.RESET, email="ada@new.example.com"
            )
            await db.commit()
        await client.post(
            "/auth/password/reset",
            headers=headers,
            json={"token": reset, "password": PASSWORD},
        )
        login = await login_response(client, "ada@new.example.com")
        await client.get("/auth/events", headers=auth_headers(client, login))
        assert (await logout(client, login)).status_code == 204
    assert {PASSWORD, NEW_PASSWORD, reset, *tokens.values()} <= watch.secrets
    assert len(watch.events) >= 10
    assert watch.leaks() == []
