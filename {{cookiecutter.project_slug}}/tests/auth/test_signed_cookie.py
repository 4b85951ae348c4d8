"""The signed_cookie strategy: what is in the cookie, and when it stops working."""

from __future__ import annotations

import base64
import time
from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi import FastAPI
from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from app.auth.cookies import MAX_COOKIE_BYTES
from app.auth.events import SecurityEvent
from app.auth.session.cookie import SALT, make_serializer
from app.auth.session.principal import RENEW_AFTER
from app.config import Settings
from app.main import create_app, release
from app.state import app_state
from tests.conftest import MakeSettings
from tests.helpers import PASSWORD, TEST_SECRET_KEY, login, register, replace_cookie
from tests.servers import register_on

pytestmark = pytest.mark.anyio

OTHER_KEY = "another-secret-key-that-is-also-long-0123456789"


def _set_cookie(response: httpx.Response, name: str) -> SimpleCookie:
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            return cookie
    raise AssertionError(f"no Set-Cookie for {name}")


def _payload(raw: str) -> dict[str, object]:
    """Decode the payload as anyone can, without the key."""
    _valid, data = URLSafeSerializer("not-the-key").loads_unsafe(raw)
    assert isinstance(data, dict)
    return data


async def _logged_in(client: httpx.AsyncClient) -> httpx.Response:
    await register(client, "ada@example.com")
    return await client.post(
        "/auth/login", data={"username": "ada@example.com", "password": PASSWORD}
    )


def _forge(settings: Settings, client: httpx.AsyncClient, **changes: int) -> None:
    """Re-sign the client's session cookie with changed times (we hold the key)."""
    serializer = make_serializer(settings.signing_keys)
    data = serializer.loads(client.cookies["session"])
    data.update(changes)
    replace_cookie(client, "session", serializer.dumps(data))


async def test_login_sets_a_hardened_session_cookie(client: httpx.AsyncClient) -> None:
    response = await _logged_in(client)
    assert response.status_code == 200
    morsel = _set_cookie(response, "session")["session"]
    assert morsel["httponly"]
    assert morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/"
    assert not morsel["domain"]
    assert not morsel["secure"]  # only in production
    csrf = _set_cookie(response, "csrftoken")["csrftoken"]
    assert not csrf["httponly"]  # the page's scripts read it
    assert len(morsel.value) + len("session") < MAX_COOKIE_BYTES


async def test_production_cookies_are_secure_with_the_host_prefix(
    production_settings: Settings,
) -> None:
    app = create_app(production_settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://testserver"
    ) as client:
        response = await _logged_in(client)
        morsel = _set_cookie(response, "__Host-session")["__Host-session"]
        assert morsel["secure"]
        assert morsel["path"] == "/"
        assert not morsel["domain"]
        assert _set_cookie(response, "csrftoken")["csrftoken"]["secure"]
        assert (await client.get("/auth/me")).status_code == 200
    await release(app)


async def test_payload_holds_ids_times_and_the_security_stamp_only(
    client: httpx.AsyncClient,
) -> None:
    await _logged_in(client)
    payload = _payload(client.cookies["session"])
    assert set(payload) == {"uid", "stamp", "sid", "iat", "seen"}
    assert "ada" not in client.cookies["session"]


async def test_signature_is_hmac_sha256_with_a_salt(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await _logged_in(client)
    raw = client.cookies["session"]
    # itsdangerous' default (SHA-1, its default salt) must not verify it.
    sha1 = URLSafeSerializer(settings.signing_keys[-1], salt=SALT)
    with pytest.raises(Exception, match="Signature"):
        sha1.loads(raw)
    signature = raw.rsplit(".", 1)[1]
    assert len(base64.urlsafe_b64decode(signature + "=")) == 32  # SHA-256


@pytest.mark.parametrize(
    "tamper",
    [
        lambda raw: raw[:-2] + ("AA" if not raw.endswith("AA") else "BB"),
        lambda raw: "x" + raw,
        lambda raw: "not-a-cookie",
        lambda raw: "",
        lambda raw: raw.split(".")[0],
    ],
    ids=["signature", "payload", "garbage", "empty", "unsigned"],
)
async def test_an_altered_cookie_is_no_session(
    client: httpx.AsyncClient, tamper: object
) -> None:
    await _logged_in(client)
    assert callable(tamper)
    replace_cookie(client, "session", tamper(client.cookies["session"]))
    assert (await client.get("/auth/me")).status_code == 401


async def test_a_cookie_signed_with_another_key_is_no_session(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await _logged_in(client)
    data = make_serializer(settings.signing_keys).loads(client.cookies["session"])
    replace_cookie(client, "session", make_serializer([OTHER_KEY]).dumps(data))
    assert (await client.get("/auth/me")).status_code == 401


async def test_idle_timeout_is_checked_from_the_payload(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await _logged_in(client)
    now = int(time.time())
    _forge(settings, client, seen=now - settings.session_idle_timeout + 5)
    assert (await client.get("/auth/me")).status_code == 200
    _forge(settings, client, seen=now - settings.session_idle_timeout - 1)
    assert (await client.get("/auth/me")).status_code == 401


async def test_a_remembered_cookie_still_times_out(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first request verifies the signature and remembers the cookie; the
    # times inside it are checked again on every request all the same.
    await _logged_in(client)
    assert (await client.get("/auth/me")).status_code == 200
    later = time.time() + settings.session_idle_timeout + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert (await client.get("/auth/me")).status_code == 401


async def test_absolute_lifetime_ends_an_active_session(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await _logged_in(client)
    now = int(time.time())
    _forge(settings, client, iat=now - settings.session_max_age - 1, seen=now)
    assert (await client.get("/auth/me")).status_code == 401


async def test_activity_renews_the_idle_clock_at_most_once_a_minute(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await _logged_in(client)
    fresh = await client.get("/auth/me")
    assert "set-cookie" not in fresh.headers  # no write on every request
    now = int(time.time())
    _forge(settings, client, seen=now - RENEW_AFTER - 1)
    renewed = await client.get("/auth/me")
    assert renewed.status_code == 200
    seen = _payload(_set_cookie(renewed, "session")["session"].value)["seen"]
    assert isinstance(seen, int)
    assert seen >= now


async def test_rotated_key_still_verifies_and_removing_it_ends_the_session(
    make_settings: MakeSettings,
) -> None:
    async def me_with(app: FastAPI, cookie: str) -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver",
            cookies={"session": cookie},
        ) as client:
            status = (await client.get("/auth/me")).status_code
        await release(app)
        return status

    old = create_app(make_settings())
    transport = httpx.ASGITransport(app=old)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:
        await _logged_in(client)
        cookie = client.cookies["session"]
    await release(old)

    rotated = make_settings(
        secret_key=OTHER_KEY, secret_key_fallbacks=[TEST_SECRET_KEY]
    )
    assert await me_with(create_app(rotated), cookie) == 200
    assert await me_with(create_app(make_settings(secret_key=OTHER_KEY)), cookie) == 401


async def test_logout_everywhere_ends_every_cookie_of_the_user(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client, "ada@example.com")
    headers = await login(client, "ada@example.com")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as laptop:
        await login(laptop, "ada@example.com")
        assert (await laptop.get("/auth/me")).status_code == 200
        kept = laptop.cookies["session"]
        response = await client.post("/auth/logout-everywhere", headers=headers)
        assert response.status_code == 204
        replace_cookie(laptop, "session", kept)
        assert (await laptop.get("/auth/me")).status_code == 401
    assert (await client.get("/auth/me")).status_code == 401


async def test_logout_expires_the_cookies(client: httpx.AsyncClient) -> None:
    await _logged_in(client)
    headers = {"X-CSRF-Token": client.cookies["csrftoken"]}
    response = await client.post("/auth/logout", headers=headers)
    assert response.status_code == 204
    morsel = _set_cookie(response, "session")["session"]
    assert morsel["max-age"] == "0"
    assert "session" not in client.cookies


async def test_logout_everywhere_on_one_process_is_seen_at_once_on_the_other(
    servers: list[str],
) -> None:
    first, second = servers
    async with httpx.AsyncClient() as browser, httpx.AsyncClient() as laptop:
        form = await register_on(browser, first)
        assert (await browser.post(f"{first}/auth/login", data=form)).status_code == 200
        assert (await laptop.post(f"{second}/auth/login", data=form)).status_code == 200
        assert (await laptop.get(f"{first}/auth/me")).status_code == 200
        ended = await browser.post(
            f"{second}/auth/logout-everywhere",
            headers={"X-CSRF-Token": browser.cookies["csrftoken"]},
        )
        assert ended.status_code == 204
        assert (await laptop.get(f"{first}/auth/me")).status_code == 401


async def test_logout_and_logout_everywhere_are_recorded(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user_id = int(str((await register(client, "ada@example.com"))["id"]))
    headers = await login(client, "ada@example.com")
    assert (await client.post("/auth/logout", headers=headers)).status_code == 204
    headers = await login(client, "ada@example.com")
    everywhere = await client.post("/auth/logout-everywhere", headers=headers)
    assert everywhere.status_code == 204
    async with app_state(app).sessionmaker() as db:
        found = list(
            await db.scalars(
                select(SecurityEvent)
                .where(SecurityEvent.type == "logout")
                .order_by(SecurityEvent.id)
            )
        )
    assert [(e.user_id, e.actor_id, e.detail) for e in found] == [
        (user_id, user_id, {}),
        (user_id, user_id, {"everywhere": True}),
    ]
