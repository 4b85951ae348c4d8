"""Two-factor authentication (TOTP, RFC 6238, with recovery codes), every strategy.

The TOTP clock is frozen on one step (``clock``), so a test computes the
codes of the steps around it with pyotp instead of waiting 30 seconds.
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import func, select, update

from app.auth.events import SecurityEvent
from app.auth.mfa import totp
from app.auth.mfa.models import MfaChallenge, RecoveryCode, TotpCredential
from app.auth.models import LoginFailure, User
from app.config import Settings, describe
from app.cors import COOKIE_SESSIONS
from app.db import Base, utcnow
from app.main import create_app, release
from app.state import app_state
from tests.cli import cli
from tests.conftest import MakeSettings
from tests.helpers import (
    PASSWORD,
    auth_headers,
    can_write,
    grant,
    login,
    login_response,
    register,
    routes,
)

pytestmark = pytest.mark.anyio

EMAIL = "ada@example.com"
# The tables where the database and jwt strategies keep sessions.
SESSION_TABLES = ("user_session", "refresh_tokens")


@dataclass
class Clock:
    """The TOTP step the server sees, and the codes of the steps around it."""

    step: int

    def code(self, secret: str, offset: int = 0) -> str:
        """Return the code of ``step + offset`` for ``secret``."""
        return pyotp.TOTP(secret).at((self.step + offset) * totp.STEP_SECONDS)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    frozen = Clock(int(time.time()) // totp.STEP_SECONDS)
    monkeypatch.setattr(totp, "current_step", lambda now=None: frozen.step)
    return frozen


def wrong_code(clock: Clock, secret: str) -> str:
    """Return a code that no step within the window has."""
    good = {clock.code(secret, near) for near in (-1, 0, 1)}
    return next(f"{n:06d}" for n in range(10**6) if f"{n:06d}" not in good)


async def enrol(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """Start enrolment; return the secret."""
    response = await client.post(
        "/auth/mfa/totp", json={"password": PASSWORD}, headers=headers
    )
    assert response.status_code == 200, response.text
    secret: str = response.json()["secret"]
    return secret


async def enable_mfa(
    client: httpx.AsyncClient, clock: Clock, email: str = EMAIL
) -> tuple[str, list[str]]:
    """Register ``email`` and turn MFA on with the code of the step before."""
    await register(client, email)
    headers = await login(client, email)
    secret = await enrol(client, headers)
    confirmed = await client.post(
        "/auth/mfa/totp/confirm",
        json={"code": clock.code(secret, -1)},
        headers=headers,
    )
    assert confirmed.status_code == 200, confirmed.text
    codes: list[str] = confirmed.json()["recovery_codes"]
    return secret, codes


async def password_step(client: httpx.AsyncClient, email: str = EMAIL) -> str:
    """Post the password of a user with MFA on; return the mfa_token."""
    response = await login_response(client, email)
    assert response.json().keys() == {"mfa_required", "mfa_token"}
    token: str = response.json()["mfa_token"]
    return token


async def verify(client: httpx.AsyncClient, **body: str) -> httpx.Response:
    """Post the second step of a login."""
    return await client.post("/auth/mfa/verify", json=body)


async def session_rows(app: FastAPI) -> int:
    """Count what the strategy stores of sessions (none for signed cookies)."""
    count = 0
    async with app_state(app).engine.connect() as connection:
        for name in SESSION_TABLES:
            if name in Base.metadata.tables:
                table = Base.metadata.tables[name]
                query = select(func.count()).select_from(table)
                count += (await connection.execute(query)).scalar_one()
    return count


async def test_enrolment_answers_the_secret_its_uri_and_a_qr_code(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, EMAIL)
    headers = await login(client, EMAIL)
    response = await client.post(
        "/auth/mfa/totp", json={"password": PASSWORD}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    # 160 bits, base32.
    assert len(base64.b32decode(body["secret"])) == 20
    uri = pyotp.parse_uri(body["otpauth_uri"])
    assert isinstance(uri, pyotp.TOTP)
    assert uri.secret == body["secret"]
    assert (uri.interval, uri.digits, uri.name) == (30, 6, EMAIL)
    assert body["qr_svg"].startswith("<svg")
    # Pending: MFA is not on until a code confirms it.
    me = await client.get("/auth/me", headers=headers)
    assert me.json()["mfa_enabled"] is False


async def test_enrolment_needs_the_password(client: httpx.AsyncClient) -> None:
    await register(client, EMAIL)
    headers = await login(client, EMAIL)
    response = await client.post(
        "/auth/mfa/totp", json={"password": "not the password"}, headers=headers
    )
    assert response.status_code == 401


async def test_the_secret_is_not_readable_from_the_database(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, EMAIL)
    secret = await enrol(client, await login(client, EMAIL))
    raw = base64.b32decode(secret)
    async with app_state(app).sessionmaker() as db:
        stored = (await db.scalars(select(TotpCredential.secret))).one()
    assert raw not in stored
    assert secret.encode() not in stored
    assert secret.lower().encode() not in stored


async def test_confirming_turns_mfa_on_with_ten_single_shown_recovery_codes(
    app: FastAPI, client: httpx.AsyncClient, clock: Clock
) -> None:
    await register(client, EMAIL)
    headers = await login(client, EMAIL)
    secret = await enrol(client, headers)
    wrong = await client.post(
        "/auth/mfa/totp/confirm", json={"code": "000000"}, headers=headers
    )
    if wrong.status_code != 401:  # one in a million: 000000 is this step's code
        assert clock.code(secret) == "000000"
    confirmed = await client.post(
        "/auth/mfa/totp/confirm", json={"code": clock.code(secret)}, headers=headers
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    async with app_state(app).sessionmaker() as db:
        user = (await db.scalars(select(User))).one()
        assert user.mfa_enabled
        hashes = (await db.scalars(select(RecoveryCode.code_hash))).all()
    # Stored hashed: no code, in any of its forms, is in the table.
    assert len(hashes) == 10
    for code in codes:
        plain = code.replace("-", "")
        assert all(plain not in stored and code not in stored for stored in hashes)
    assert secret not in confirmed.text
    # A cookie session goes on under a new cookie; a bearer-token client logs
    # in again (turning MFA on gives the user a new security stamp).
    if COOKIE_SESSIONS:
        me = await client.get("/auth/me")
        assert me.status_code == 200
        assert me.json()["mfa_enabled"] is True
        renewed = {"X-CSRF-Token": client.cookies["csrftoken"]}
        # The secret is never shown again: enrolling again is refused.
        again = await client.post(
            "/auth/mfa/totp", json={"password": PASSWORD}, headers=renewed
        )
        assert again.status_code == 409
        assert secret not in again.text


async def test_turning_mfa_on_ends_the_users_other_sessions(
    app: FastAPI, client: httpx.AsyncClient, clock: Clock
) -> None:
    await register(client, EMAIL)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as other:
        elsewhere = await login_response(other, EMAIL)
        headers = await login(client, EMAIL)
        secret = await enrol(client, headers)
        await client.post(
            "/auth/mfa/totp/confirm", json={"code": clock.code(secret)}, headers=headers
        )
        assert not await can_write(other, elsewhere)


async def test_login_starts_no_session_before_the_second_factor(
    app: FastAPI, client: httpx.AsyncClient, clock: Clock
) -> None:
    secret, _ = await enable_mfa(client, clock)
    client.cookies.clear()
    before = await session_rows(app)
    response = await client.post(
        "/auth/login", data={"username": EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.keys() == {"mfa_required", "mfa_token"}
    assert body["mfa_required"] is True
    # No cookie (session or CSRF), no tokens, no session row or refresh family.
    assert "set-cookie" not in response.headers
    assert not client.cookies
    assert await session_rows(app) == before
    assert (await client.get("/auth/me")).status_code == 401
    # The mfa_token is no session either.
    bearer = {"Authorization": f"Bearer {body['mfa_token']}"}
    assert (await client.get("/auth/me", headers=bearer)).status_code == 401
    second = await verify(client, mfa_token=body["mfa_token"], code=clock.code(secret))
    assert second.status_code == 200, second.text
    if COOKIE_SESSIONS:
        assert second.json()["csrf_token"] == client.cookies["csrftoken"]
        cookies = second.headers.get_list("set-cookie")
        assert any("httponly" in cookie.lower() for cookie in cookies)
    else:
        assert second.json().keys() >= {"access_token", "refresh_token", "expires_in"}
        assert second.headers["cache-control"] == "no-store"
    headers = auth_headers(client, second)
    me = await client.get("/auth/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["mfa_enabled"] is True
    assert await can_write(client, second)


async def test_a_recovery_code_logs_in_once(
    client: httpx.AsyncClient, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.auth")
    _, codes = await enable_mfa(client, clock)
    client.cookies.clear()
    # Case and dashes do not matter.
    typed = codes[0].upper().replace("-", " ")
    first = await verify(
        client, mfa_token=await password_step(client), recovery_code=typed
    )
    assert first.status_code == 200, first.text
    client.cookies.clear()
    again = await verify(
        client, mfa_token=await password_step(client), recovery_code=codes[0]
    )
    assert again.status_code == 401
    assert "mfa.recovery_used user_id=" in caplog.text
    assert codes[0] not in caplog.text


async def test_a_code_is_accepted_once(client: httpx.AsyncClient, clock: Clock) -> None:
    secret, _ = await enable_mfa(client, clock)
    client.cookies.clear()
    code = clock.code(secret)
    first = await verify(client, mfa_token=await password_step(client), code=code)
    assert first.status_code == 200
    client.cookies.clear()
    replay = await verify(client, mfa_token=await password_step(client), code=code)
    assert replay.status_code == 401
    # Nor is an earlier step's code, once a later one was used.
    earlier = await verify(
        client, mfa_token=await password_step(client), code=clock.code(secret, -1)
    )
    assert earlier.status_code == 401


async def test_codes_outside_the_window_are_refused(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    secret, _ = await enable_mfa(client, clock)
    client.cookies.clear()
    token = await password_step(client)
    for offset in (-3, 2):
        code = clock.code(secret, offset)
        if code not in {clock.code(secret, near) for near in (-1, 0, 1)}:
            assert (await verify(client, mfa_token=token, code=code)).status_code == 401
    assert (
        await verify(client, mfa_token=token, code=clock.code(secret, 1))
    ).status_code == 200


async def test_an_expired_mfa_token_is_refused(
    app: FastAPI, client: httpx.AsyncClient, clock: Clock
) -> None:
    secret, _ = await enable_mfa(client, clock)
    client.cookies.clear()
    token = await password_step(client)
    async with app_state(app).sessionmaker() as db:
        challenge = (await db.scalars(select(MfaChallenge))).one()
        # Five minutes at most.
        assert challenge.expires_at <= utcnow() + timedelta(minutes=5)
        await db.execute(
            update(MfaChallenge).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await db.commit()
    response = await verify(client, mfa_token=token, code=clock.code(secret))
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


async def test_an_mfa_token_is_single_use(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    secret, _ = await enable_mfa(client, clock)
    client.cookies.clear()
    token = await password_step(client)
    assert (
        await verify(client, mfa_token=token, code=clock.code(secret))
    ).status_code == 200
    client.cookies.clear()
    reused = await verify(client, mfa_token=token, code=clock.code(secret, 1))
    assert reused.status_code == 401


async def test_the_token_stored_is_a_hash(
    app: FastAPI, client: httpx.AsyncClient, clock: Clock
) -> None:
    await enable_mfa(client, clock)
    client.cookies.clear()
    token = await password_step(client)
    async with app_state(app).sessionmaker() as db:
        stored = (await db.scalars(select(MfaChallenge.token_hash))).one()
    assert token not in stored


async def test_five_wrong_codes_kill_the_token(
    make_settings: MakeSettings, clock: Clock
) -> None:
    # A throttle that would allow more, to show the token's own limit.
    app = create_app(make_settings(login_failures_per_account=20))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver"
        ) as client:
            secret, _ = await enable_mfa(client, clock)
            client.cookies.clear()
            token = await password_step(client)
            wrong = wrong_code(clock, secret)
            for _ in range(5):
                response = await verify(client, mfa_token=token, code=wrong)
                assert response.status_code == 401
            dead = await verify(client, mfa_token=token, code=clock.code(secret))
            assert dead.status_code == 401
            async with app_state(app).sessionmaker() as db:
                failures = await db.scalar(
                    select(func.count()).select_from(LoginFailure)
                )
                assert not (await db.scalars(select(MfaChallenge))).all()
            # Each wrong code counted, per account and per client.
            assert failures is not None
            assert failures >= 10
    finally:
        await release(app)


async def test_wrong_codes_count_toward_the_login_throttle(
    app: FastAPI, client: httpx.AsyncClient, clock: Clock
) -> None:
    secret, _ = await enable_mfa(client, clock)
    client.cookies.clear()
    limit = app_state(app).settings.login_failures_per_account
    token = await password_step(client)
    wrong = wrong_code(clock, secret)
    for _ in range(limit - 1):
        assert (await verify(client, mfa_token=token, code=wrong)).status_code == 401
    # A new password step does not forget the wrong codes.
    token = await password_step(client)
    assert (await verify(client, mfa_token=token, code=wrong)).status_code == 401
    throttled = await verify(client, mfa_token=token, code=clock.code(secret))
    assert throttled.status_code == 429
    assert "retry-after" in throttled.headers


async def test_bad_bodies_are_4xx(client: httpx.AsyncClient, clock: Clock) -> None:
    await enable_mfa(client, clock)
    client.cookies.clear()
    token = await password_step(client)
    bodies: list[dict[str, object]] = [
        {},
        {"mfa_token": token},
        {"mfa_token": token, "code": ""},
        {"mfa_token": token, "code": "12345a"},
        {"mfa_token": token, "code": "1" * 100},
        {"mfa_token": token, "code": "١٢٣٤٥٦"},
        {"mfa_token": token, "recovery_code": ""},
        {"mfa_token": token, "recovery_code": "x" * 10_000},
        {"mfa_token": token, "code": "123456", "recovery_code": "abcd"},
        {"mfa_token": "", "code": "123456"},
        {"mfa_token": "a" * 10_000, "code": "123456"},
        {"mfa_token": "garbage\x00", "code": "123456"},
        {"mfa_token": 5, "code": 123456},
    ]
    for body in bodies:
        response = await client.post("/auth/mfa/verify", json=body)
        assert response.status_code == 422, (body, response.text)
    unknown = await verify(client, mfa_token="not-a-token", code="123456")
    assert unknown.status_code == 401
    recovery = await verify(client, mfa_token=token, recovery_code="\x00" * 10)
    assert recovery.status_code == 401


async def test_turning_mfa_off_needs_the_password_and_a_code(
    app: FastAPI, client: httpx.AsyncClient, clock: Clock
) -> None:
    secret, _ = await enable_mfa(client, clock)
    client.cookies.clear()
    second = await verify(
        client, mfa_token=await password_step(client), code=clock.code(secret)
    )
    headers = auth_headers(client, second)
    for body in (
        {"password": "not the password", "code": clock.code(secret, 1)},
        {"password": PASSWORD, "code": "not-a-recovery-code"},
        {"password": PASSWORD},
    ):
        refused = await client.request(
            "DELETE", "/auth/mfa/totp", json=body, headers=headers
        )
        assert refused.status_code in {401, 422}, body
    off = await client.request(
        "DELETE",
        "/auth/mfa/totp",
        json={"password": PASSWORD, "code": clock.code(secret, 1)},
        headers=headers,
    )
    assert off.status_code == 204, off.text
    async with app_state(app).sessionmaker() as db:
        assert not (await db.scalars(select(TotpCredential))).all()
        assert not (await db.scalars(select(RecoveryCode))).all()
    client.cookies.clear()
    again = await login_response(client, EMAIL)
    assert "mfa_token" not in again.json()


async def test_each_step_of_two_factor_authentication_is_an_event(
    app: FastAPI, client: httpx.AsyncClient, clock: Clock
) -> None:
    secret, codes = await enable_mfa(client, clock)
    client.cookies.clear()
    token = await password_step(client)
    assert (
        await verify(client, mfa_token=token, code=wrong_code(clock, secret))
    ).status_code == 401
    first = await verify(client, mfa_token=token, code=clock.code(secret))
    assert first.status_code == 200, first.text
    client.cookies.clear()
    second = await verify(
        client, mfa_token=await password_step(client), recovery_code=codes[0]
    )
    assert second.status_code == 200, second.text
    off = await client.request(
        "DELETE",
        "/auth/mfa/totp",
        json={"password": PASSWORD, "code": clock.code(secret, 1)},
        headers=auth_headers(client, second),
    )
    assert off.status_code == 204, off.text
    async with app_state(app).sessionmaker() as db:
        recorded = list(
            await db.scalars(select(SecurityEvent).order_by(SecurityEvent.id))
        )
    user_id = recorded[0].user_id
    steps = [
        (event.type, event.actor_id)
        for event in recorded
        if event.type.startswith("mfa.") or event.type == "login.succeeded"
    ]
    # The first login.succeeded is the password-only login before enrolment.
    assert steps == [
        ("login.succeeded", user_id),
        ("mfa.enabled", user_id),
        ("mfa.failed", None),
        ("login.succeeded", user_id),
        ("mfa.recovery_used", user_id),
        ("login.succeeded", user_id),
        ("mfa.disabled", user_id),
    ]
    assert {event.user_id for event in recorded} == {user_id}


async def test_a_recovery_code_also_turns_mfa_off(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    secret, codes = await enable_mfa(client, clock)
    client.cookies.clear()
    second = await verify(
        client, mfa_token=await password_step(client), code=clock.code(secret)
    )
    off = await client.request(
        "DELETE",
        "/auth/mfa/totp",
        json={"password": PASSWORD, "code": codes[3]},
        headers=auth_headers(client, second),
    )
    assert off.status_code == 204, off.text


async def test_the_admin_resets_a_users_mfa(
    app: FastAPI, client: httpx.AsyncClient, clock: Clock
) -> None:
    if "DELETE /admin/users/{}/mfa" not in routes(app):
        pytest.skip("without RBAC there is no admin route")
    await enable_mfa(client, clock)
    async with app_state(app).sessionmaker() as db:
        user_id = (await db.scalars(select(User.id))).one()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as admin:
        await register(admin, "admin@example.com")
        await grant(app, "admin@example.com", "admin")
        headers = await login(admin, "admin@example.com")
        missing = await admin.delete("/admin/users/999999/mfa", headers=headers)
        assert missing.status_code == 404
        reset = await admin.delete(f"/admin/users/{user_id}/mfa", headers=headers)
        assert reset.status_code == 204
    client.cookies.clear()
    assert "mfa_token" not in (await login_response(client, EMAIL)).json()


async def test_required_roles_keep_users_without_mfa_out(
    make_settings: MakeSettings, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    probe = create_app(make_settings())
    await release(probe)
    if "DELETE /admin/users/{}/mfa" not in routes(probe):
        pytest.skip("MFA_REQUIRED_ROLES exists only with RBAC")
    app = create_app(make_settings(mfa_required_roles="admin"))
    caplog.set_level(logging.INFO, logger="app.auth")
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver"
        ) as client:
            await register(client, EMAIL)
            await grant(app, EMAIL, "admin")
            headers = await login(client, EMAIL)
            refused = await client.get("/admin/users", headers=headers)
            assert refused.status_code == 403
            assert refused.json() == {"detail": "MFA enrollment required"}
            # Logged as every refusal is, in the events' format.
            assert "authorisation.refused user_id=" in caplog.text
            assert '"needed": "mfa"' in caplog.text
            write = await client.post(
                "/auth/password",
                json={"current_password": PASSWORD, "new_password": "x" * 12},
                headers=headers,
            )
            assert write.json() == {"detail": "MFA enrollment required"}
            assert (await client.get("/auth/me", headers=headers)).status_code == 200
            secret = await enrol(client, headers)
            confirmed = await client.post(
                "/auth/mfa/totp/confirm",
                json={"code": clock.code(secret)},
                headers=headers,
            )
            assert confirmed.status_code == 200
            client.cookies.clear()
            second = await verify(
                client,
                mfa_token=await password_step(client),
                code=clock.code(secret, 1),
            )
            allowed = await client.get(
                "/admin/users", headers=auth_headers(client, second)
            )
            assert allowed.status_code == 200
            # A user without a listed role is not asked to enrol.
            client.cookies.clear()
            await register(client, "bob@example.com")
            bob = await login(client, "bob@example.com")
            assert (await client.get("/auth/me", headers=bob)).status_code == 200
            assert await can_write(
                client, await login_response(client, "bob@example.com")
            )
    finally:
        await release(app)


async def test_required_roles_must_be_role_names(make_settings: MakeSettings) -> None:
    if "mfa_required_roles" not in Settings.model_fields:
        pytest.skip("MFA_REQUIRED_ROLES exists only with RBAC")
    settings = make_settings(mfa_required_roles=" admin , auditor ")
    assert getattr(settings, "mfa_required_roles") == {"admin", "auditor"}  # noqa: B009 - not in every project
    with pytest.raises(ValidationError) as error:
        make_settings(mfa_required_roles="admin;drop table")
    assert "\n" not in describe(error.value)
    assert "MFA_REQUIRED_ROLES" in describe(error.value)


async def test_nothing_secret_is_logged(
    client: httpx.AsyncClient, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret, codes = await enable_mfa(client, clock)
    client.cookies.clear()
    token = await password_step(client)
    await verify(client, mfa_token=token, code=wrong_code(clock, secret))
    await verify(client, mfa_token=token, code=clock.code(secret))
    assert "login.succeeded user_id=" in caplog.text
    assert "mfa.enabled user_id=" in caplog.text
    assert "mfa.failed user_id=" in caplog.text
    for value in (secret, token, clock.code(secret), *codes):
        assert value not in caplog.text


async def test_the_reset_mfa_command(
    app: FastAPI, client: httpx.AsyncClient, database_url: str, clock: Clock
) -> None:
    await enable_mfa(client, clock)
    unknown = cli(database_url, "reset-mfa", "--email", "nobody@example.com")
    assert unknown.returncode != 0
    assert len(unknown.stderr.strip().splitlines()) == 1, unknown.stderr
    assert "nobody@example.com" in unknown.stderr
    reset = cli(database_url, "reset-mfa", "--email", EMAIL)
    assert reset.returncode == 0, reset.stderr
    client.cookies.clear()
    assert "mfa_token" not in (await login_response(client, EMAIL)).json()


async def test_the_schema_describes_both_answers_of_login(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    login = paths["/auth/login"]["post"]["responses"]["200"]["content"]
    names = {
        item["$ref"].rsplit("/", 1)[-1]
        for item in login["application/json"]["schema"]["anyOf"]
    }
    assert "MfaRequired" in names
    assert len(names) == 2
    verify = paths["/auth/mfa/verify"]["post"]["responses"]
    assert {"200", "401", "422", "429"} <= verify.keys()
