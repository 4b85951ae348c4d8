"""Account recovery by email, against a real SMTP server (tests/smtp.py).

Each flow reads the message the app sent, follows its link's token and
finishes: verification, password reset, email change. Every strategy runs
the same tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.account_tokens import AccountToken
from app.auth.models import User
from app.config import Settings
from app.db import utcnow
from app.state import app_state
from tests.cli import cli_async
from tests.conftest import MakeSettings
from tests.helpers import (
    PASSWORD,
    auth_headers,
    login_response,
    register,
    session_ended,
)
from tests.smtp import Mailbox, html_of, text_of

pytestmark = pytest.mark.anyio

PUBLIC_URL = "https://app.example.com"
ADA = "ada@example.com"
NEW_PASSWORD = "a brand new passphrase"
INVALID = {"detail": "Invalid or expired token"}


@pytest.fixture
def settings(make_settings: MakeSettings, mailbox: Mailbox) -> Settings:
    return make_settings(
        email_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_tls="none",
        public_url=PUBLIC_URL,
    )


async def sent(app: FastAPI) -> None:
    """Wait until the app's background mail jobs are done."""
    await app_state(app).outbox.drain()


class Me:
    """``GET /auth/me`` as it is now, for what a login gave a client.

    A bearer client refreshes first: an access token carries what was true
    when it was issued (a verification shows after the next refresh). A
    cookie session reads the database on every request.
    """

    def __init__(self, client: httpx.AsyncClient, login: httpx.Response) -> None:
        self.client = client
        self.body = login.json()
        self.headers = auth_headers(client, login)

    async def get(self) -> dict[str, object]:
        """Return the current answer of ``/auth/me``."""
        if "refresh_token" in self.body:
            refreshed = await self.client.post(
                "/auth/refresh", json={"refresh_token": self.body["refresh_token"]}
            )
            assert refreshed.status_code == 200, refreshed.text
            self.body = refreshed.json()
            self.headers = {"Authorization": f"Bearer {self.body['access_token']}"}
        response = await self.client.get("/auth/me", headers=self.headers)
        assert response.status_code == 200, response.text
        answer: dict[str, object] = response.json()
        return answer


async def registered(app: FastAPI, client: httpx.AsyncClient, email: str = ADA) -> str:
    """Register ``email`` and return the token of the verification link it got."""
    await register(client, email)
    await sent(app)
    return mailbox_of(app).token_to(email, "verify-email")


def mailbox_of(app: FastAPI) -> Mailbox:
    # The test server's mailbox, found through the port the app sends to.
    return _MAILBOXES[app_state(app).settings.smtp_port]


_MAILBOXES: dict[int, Mailbox] = {}


@asynccontextmanager
async def app_of_its_own(
    make_settings: MakeSettings, mailbox: Mailbox, **overrides: object
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app mailing to ``mailbox`` with settings of its own, and its client."""
    from app.main import create_app, release

    app = create_app(
        make_settings(
            email_backend="smtp",
            smtp_host="127.0.0.1",
            smtp_port=mailbox.port,
            smtp_tls="none",
            public_url=PUBLIC_URL,
            **overrides,
        )
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            yield app, client
    finally:
        await release(app)


@pytest.fixture(autouse=True)
def _known_mailbox(mailbox: Mailbox) -> Iterator[None]:
    _MAILBOXES[mailbox.port] = mailbox
    yield
    del _MAILBOXES[mailbox.port]


async def forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/auth/password/forgot", json={"email": email})


async def reset(client: httpx.AsyncClient, token: str, password: str) -> httpx.Response:
    return await client.post(
        "/auth/password/reset", json={"token": token, "password": password}
    )


async def login_status(client: httpx.AsyncClient, email: str, password: str) -> int:
    response = await client.post(
        "/auth/login", data={"username": email, "password": password}
    )
    return response.status_code


# Verification


async def test_registration_mails_a_link_that_verifies_the_address(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    token = await registered(app, client)
    message = mailbox.last_to(ADA)
    assert app.title in message["Subject"]
    assert f"{PUBLIC_URL}/verify-email?token={token}" in text_of(message)
    assert f"{PUBLIC_URL}/verify-email?token={token}" in html_of(message)
    login = await login_response(client, ADA)
    me = Me(client, login)
    assert (await me.get())["email_verified"] is False

    verified = await client.post(
        "/auth/verify", json={"token": token}, headers=auth_headers(client, login)
    )
    assert verified.status_code == 204, verified.text
    assert (await me.get())["email_verified"] is True


async def test_a_verification_request_mails_a_new_link_and_none_once_verified(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    first = await registered(app, client)
    login = await login_response(client, ADA)
    headers = auth_headers(client, login)
    asked = await client.post("/auth/verify/request", headers=headers)
    assert asked.status_code == 202
    await sent(app)
    second = mailbox.token_to(ADA, "verify-email")
    assert second != first
    # The newer link voids the older one.
    assert (
        await client.post("/auth/verify", json={"token": first}, headers=headers)
    ).json() == INVALID
    assert (
        await client.post("/auth/verify", json={"token": second}, headers=headers)
    ).status_code == 204
    count = len(mailbox.messages)
    assert (
        await client.post("/auth/verify/request", headers=headers)
    ).status_code == 202
    await sent(app)
    assert len(mailbox.messages) == count


async def test_verification_requests_are_throttled_per_account(
    make_settings: MakeSettings, mailbox: Mailbox
) -> None:
    # Each request mails the address, which a registration may have taken
    # from someone else: a loop must not turn the app into a mail bomb.
    own = app_of_its_own(make_settings, mailbox, login_failures_per_account=2)
    async with own as (app, client):
        await register(client, ADA)
        headers = auth_headers(client, await login_response(client, ADA))
        answers = [
            await client.post("/auth/verify/request", headers=headers) for _ in range(4)
        ]
        await sent(app)
        assert [a.status_code for a in answers] == [202, 202, 429, 429]
        assert int(answers[-1].headers["retry-after"]) > 0
        # The registration's message and two more, no matter how many asked.
        assert len(mailbox.to(ADA)) == 3
        # Asking for links never locks the account's logins or its resets.
        client.cookies.clear()  # a new client: no session, no CSRF token
        assert (await forgot(client, ADA)).status_code == 202
        assert await login_status(client, ADA, PASSWORD) == 200


# Tokens


async def test_tokens_are_random_stored_hashed_and_expire_in_time(
    app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine, mailbox: Mailbox
) -> None:
    verify = await registered(app, client)
    await forgot(client, ADA)
    await sent(app)
    reset_token = mailbox.token_to(ADA, "reset-password")
    assert len(verify) >= 43  # 256 bits in base64url
    async with engine.connect() as connection:
        rows = (await connection.execute(select(AccountToken))).all()
    by_purpose = {row.purpose: row for row in rows}
    assert set(by_purpose) == {"verify", "reset"}
    for token, row in (
        (verify, by_purpose["verify"]),
        (reset_token, by_purpose["reset"]),
    ):
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in str(tuple(row))
    assert by_purpose["verify"].expires_at - by_purpose[
        "verify"
    ].created_at == timedelta(hours=24)
    assert by_purpose["reset"].expires_at - by_purpose["reset"].created_at == timedelta(
        hours=1
    )


@pytest.mark.parametrize("case", ["tampered", "used", "expired", "other-purpose"])
async def test_a_bad_used_expired_or_foreign_token_gets_the_same_400(
    app: FastAPI,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    mailbox: Mailbox,
    case: str,
) -> None:
    verify = await registered(app, client)
    await forgot(client, ADA)
    await sent(app)
    token = mailbox.token_to(ADA, "reset-password")
    if case == "tampered":
        token = token[:-1] + ("A" if token[-1] != "A" else "B")
    elif case == "used":
        assert (await reset(client, token, NEW_PASSWORD)).status_code == 204
    elif case == "expired":
        async with engine.begin() as connection:
            await connection.execute(
                update(AccountToken).values(expires_at=utcnow() - timedelta(seconds=1))
            )
    else:
        token = verify
    for path, body in (
        ("/auth/password/reset", {"token": token, "password": "yet another one"}),
        ("/auth/verify", {"token": token}),
        ("/auth/email/confirm", {"token": token}),
    ):
        if case == "other-purpose" and path == "/auth/verify":
            continue  # it is a verification token
        response = await client.post(path, json=body)
        assert response.status_code == 400, (path, response.text)
        assert response.json() == INVALID
    if case == "other-purpose":
        # Refused elsewhere, it still serves its own purpose.
        assert (
            await client.post("/auth/verify", json={"token": verify})
        ).status_code == 204


async def test_a_newer_reset_link_or_a_password_change_voids_older_ones(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client, ADA)
    await forgot(client, ADA)
    await sent(app)
    older = mailbox.token_to(ADA, "reset-password")
    await forgot(client, ADA)
    await sent(app)
    newer = mailbox.token_to(ADA, "reset-password")
    assert (await reset(client, older, NEW_PASSWORD)).json() == INVALID

    login = await login_response(client, ADA)
    changed = await client.post(
        "/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=auth_headers(client, login),
    )
    assert changed.status_code == 200, changed.text
    client.cookies.clear()
    assert (await reset(client, newer, "yet another passphrase")).json() == INVALID


# Forgot password


async def test_forgot_answers_the_same_with_the_same_work_for_any_address(
    app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine, mailbox: Mailbox
) -> None:
    await register(client, ADA)
    await sent(app)
    statements: list[str] = []
    app_engine = app_state(app).engine.sync_engine
    # httpx's ASGI transport runs the request in this task; the mail job runs
    # in its own and may start before the response reaches the client.
    request_task = asyncio.current_task()

    def record(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        if asyncio.current_task() is request_task:
            statements.append(sql)

    answers, timings, work = [], [], []
    for email in (ADA, "nobody@example.com") * 3:
        statements.clear()
        # The request alone: the job's statements are left out, and it is
        # waited for here.
        event.listen(app_engine, "before_cursor_execute", record)
        started = time.perf_counter()
        response = await forgot(client, email)
        timings.append((email, time.perf_counter() - started))
        event.remove(app_engine, "before_cursor_execute", record)
        answers.append((response.status_code, response.text))
        work.append(tuple(statements))
        await sent(app)
    assert len(set(answers)) == 1
    assert answers[0][0] == 202
    # The same statements for a known and an unknown address: whether an
    # account exists is only looked up after the answer.
    assert len(set(work)) == 1, work
    assert any("login_failures" in sql for sql in work[0]), work[0]
    assert not any("users" in sql for sql in work[0])
    known = sorted(t for email, t in timings if email == ADA)[1]
    unknown = sorted(t for email, t in timings if email != ADA)[1]
    assert abs(known - unknown) < 0.5, timings
    assert len(mailbox.to(ADA)) == 1 + 3  # the verification, then three resets
    assert not mailbox.to("nobody@example.com")


async def test_forgot_is_throttled_per_address_and_per_client(
    make_settings: MakeSettings, mailbox: Mailbox
) -> None:
    async with app_of_its_own(
        make_settings,
        mailbox,
        login_failures_per_account=2,
        login_failures_per_client=3,
    ) as (_, client):
        assert [(await forgot(client, ADA)).status_code for _ in range(3)] == [
            202,
            202,
            429,
        ]
        assert (await forgot(client, "other@example.com")).status_code == 202
        # Three from this client: another address is refused too.
        refused = await forgot(client, "third@example.com")
        assert refused.status_code == 429
        assert "retry-after" in refused.headers
        # Asking for resets never locks the account's logins.
        assert await login_status(client, ADA, PASSWORD) == 401


# Reset


async def test_a_reset_sets_the_password_ends_every_session_and_logs_nobody_in(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client, ADA)
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as laptop,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as phone,
    ):
        laptop_login = await login_response(laptop, ADA)
        phone_login = await login_response(phone, ADA)
        await forgot(client, ADA)
        await sent(app)
        token = mailbox.token_to(ADA, "reset-password")
        done = await reset(client, token, NEW_PASSWORD)
        assert done.status_code == 204
        assert not done.content
        assert "set-cookie" not in done.headers
        assert await session_ended(laptop, laptop_login)
        assert await session_ended(phone, phone_login)
    assert (await client.get("/auth/me")).status_code == 401
    assert await login_status(client, ADA, PASSWORD) == 401
    assert await login_status(client, ADA, NEW_PASSWORD) == 200


async def test_a_weak_new_password_is_422_and_keeps_the_link(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client, ADA)
    await forgot(client, ADA)
    await sent(app)
    token = mailbox.token_to(ADA, "reset-password")
    weak = await reset(client, token, "short1")
    assert weak.status_code == 422
    assert "short1" not in weak.text
    assert (await reset(client, token, NEW_PASSWORD)).status_code == 204


# Email change


async def test_an_email_change_needs_the_password_and_the_new_address_and_tells_the_old(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await registered(app, client)
    login = await login_response(client, ADA)
    headers = auth_headers(client, login)
    new = "ada@new.example.com"
    wrong = await client.post(
        "/auth/email",
        json={"new_email": new, "password": "not my password"},
        headers=headers,
    )
    assert wrong.status_code == 401
    await sent(app)
    assert not mailbox.to(new)
    asked = await client.post(
        "/auth/email", json={"new_email": new, "password": PASSWORD}, headers=headers
    )
    assert asked.status_code == 202, asked.text
    await sent(app)
    token = mailbox.token_to(new, "confirm-email")
    notice = mailbox.last_to(ADA)
    assert new in text_of(notice)
    assert "token=" not in text_of(notice) + html_of(notice)

    confirmed = await client.post(
        "/auth/email/confirm", json={"token": token}, headers=headers
    )
    assert confirmed.status_code == 204, confirmed.text
    # A bearer client sees the new address after its next refresh.
    answer = await Me(client, login).get() if "refresh_token" in login.json() else None
    client.cookies.clear()
    assert await login_status(client, ADA, PASSWORD) == 401
    relogin = await login_response(client, new)
    current = await Me(client, relogin).get()
    assert current["email"] == new
    assert current["email_verified"] is True
    if answer is not None:
        assert answer["email"] == new


async def test_an_address_taken_before_the_confirmation_is_409(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client, ADA)
    login = await login_response(client, ADA)
    new = "grace@example.com"
    asked = await client.post(
        "/auth/email",
        json={"new_email": new, "password": PASSWORD},
        headers=auth_headers(client, login),
    )
    assert asked.status_code == 202
    await sent(app)
    token = mailbox.token_to(new, "confirm-email")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as other:
        await register(other, new)
        taken = await other.post("/auth/email/confirm", json={"token": token})
    assert taken.status_code == 409
    assert taken.json() == {"detail": "A user with this email already exists"}


# Required verification


async def test_required_verification_refuses_an_unverified_login_with_403(
    make_settings: MakeSettings, mailbox: Mailbox
) -> None:
    async with app_of_its_own(
        make_settings, mailbox, email_verification="required"
    ) as (app, client):
        await register(client, ADA)
        await app_state(app).outbox.drain()
        refused = await client.post(
            "/auth/login", data={"username": ADA, "password": PASSWORD}
        )
        assert refused.status_code == 403
        assert refused.json() == {"detail": "Email not verified"}
        assert "access_token" not in refused.text
        assert "__Host-" not in refused.headers.get("set-cookie", "")
        assert "session" not in refused.headers.get("set-cookie", "")
        assert (await client.get("/auth/me")).status_code == 401
        token = mailbox.token_to(ADA, "verify-email")
        assert (
            await client.post("/auth/verify", json={"token": token})
        ).status_code == 204
        assert await login_status(client, ADA, PASSWORD) == 200
        client.cookies.clear()
        # A wrong password is still the usual 401, verified or not.
        assert await login_status(client, ADA, "not my password") == 401


# The mail server


async def test_a_dead_mail_server_costs_no_request_and_loses_no_change(
    make_settings: MakeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    from app.main import create_app, release
    from tests.smtp import free_port, silent_server

    with silent_server() as silent:
        # A server that refuses connections, and one that never answers.
        for name, port in (("refused", free_port()), ("silent", silent)):
            email = f"{name}@example.com"
            app = create_app(
                make_settings(
                    email_backend="smtp",
                    smtp_host="127.0.0.1",
                    smtp_port=port,
                    smtp_tls="none",
                    smtp_timeout=0.5,
                )
            )
            outbox = app_state(app).outbox
            # Each message is tried three times (tests/test_mail.py): soon here.
            outbox.retry_delays = (0.1, 0.1)
            try:
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://testserver"
                ) as client:
                    caplog.clear()
                    with caplog.at_level(logging.ERROR, logger="app.mail"):
                        await register(client, email)
                        assert (await forgot(client, email)).status_code == 202
                        if name == "silent":
                            # Answered while the mail server still keeps the
                            # job waiting.
                            assert outbox.pending
                        await outbox.drain()
                    # The account was made and works; the messages were lost.
                    assert await login_status(client, email, PASSWORD) == 200
                    failures = [r for r in caplog.records if r.name == "app.mail"]
                    assert len(failures) == 2, caplog.text
                    assert "token" not in caplog.text
                    assert "verify-email" not in caplog.text
            finally:
                await release(app)


# The command line


async def _cli(database_url: str, *args: str, stdin: str = "") -> str:
    result = await cli_async(database_url, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_create_user_can_mark_the_address_verified(
    database_url: str, engine: AsyncEngine
) -> None:
    await _cli(database_url, "create-user", "--email", ADA, stdin=PASSWORD)
    await _cli(
        database_url,
        "create-user",
        "--email",
        "grace@example.com",
        "--verified",
        stdin=PASSWORD,
    )
    async with engine.connect() as connection:
        rows = dict(
            (await connection.execute(select(User.email, User.email_verified))).all()
        )
    assert rows == {ADA: False, "grace@example.com": True}


async def test_cleanup_removes_expired_tokens(
    app: FastAPI,
    client: httpx.AsyncClient,
    database_url: str,
    engine: AsyncEngine,
) -> None:
    await registered(app, client)
    await forgot(client, ADA)
    await sent(app)
    async with engine.begin() as connection:
        await connection.execute(
            update(AccountToken)
            .where(AccountToken.purpose == "reset")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    output = await _cli(database_url, "cleanup-sessions")
    assert "1 expired email tokens" in output
    async with engine.connect() as connection:
        left = (await connection.execute(select(AccountToken.purpose))).scalars().all()
    assert left == ["verify"]
