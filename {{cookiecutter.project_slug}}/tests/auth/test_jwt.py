"""The jwt strategy: access tokens checked without the database, rotating refresh."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import inspect
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import delete, func, select, update

from app.auth.events import SecurityEvent
from app.auth.models import User
from app.auth.rbac import Principal, to_claims
from app.auth.session import interface as session
from app.auth.session.models import RefreshToken
from app.auth.session.tokens import LEEWAY, REQUIRED_CLAIMS
from app.config import Settings, describe
from app.db import utcnow
from app.main import create_app, release
from app.state import app_state
from tests.cli import start_app
from tests.conftest import MakeSettings
from tests.database import UNREACHABLE_URL
from tests.helpers import PASSWORD, TEST_SECRET_KEY, register
from tests.servers import register_on

pytestmark = pytest.mark.anyio

OTHER_KEY = "another-secret-key-that-is-also-long-0123456789"
SECRET = TEST_SECRET_KEY.encode()
MISSING = object()


async def _login(client: httpx.AsyncClient, email: str = "ada@example.com") -> Any:
    response = await client.post(
        "/auth/login", data={"username": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _registered_login(
    client: httpx.AsyncClient, email: str = "ada@example.com"
) -> Any:
    await register(client, email)
    return await _login(client, email)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/auth/me", headers=_bearer(token))


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": token})


# The claims the RBAC flavour adds to a token: email_verified, and roles,
# permissions, or neither.
_GRANTS = frozenset(to_claims(Principal(id=1, email="ada@example.com")))


def _claims(settings: Settings, **changes: object) -> dict[str, object]:
    """Valid access-token claims for user 1, with ``changes`` (MISSING drops one)."""
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": "1",
        "iat": now,
        "exp": now + 60,
        "jti": "test-jti",
        "email": "ada@example.com",
        **to_claims(Principal(id=1, email="ada@example.com")),
        "stamp": "0" * 32,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not MISSING}


def _craft(
    claims: dict[str, object],
    key: Any = TEST_SECRET_KEY,
    algorithm: str = "HS256",
    headers: dict[str, object] | None = None,
) -> str:
    """Sign ``claims`` as an attacker or another issuer would, with PyJWT."""
    return jwt.encode(
        claims, key, algorithm=algorithm, headers={"typ": "at+jwt", **(headers or {})}
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hand_made(
    header: dict[str, object],
    claims: dict[str, object],
    key: bytes = b"",
    digest: str = "sha256",
) -> str:
    """Build an HMAC-signed (or, without a key, unsigned) token without PyJWT.

    PyJWT refuses to sign some of these, or warns about the key.
    """
    signing_input = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    )
    signature = hmac.new(key, signing_input.encode(), digest).digest() if key else b""
    return f"{signing_input}.{_b64(signature)}"


async def _family_rows(app: FastAPI, refresh_token: str) -> list[RefreshToken]:
    token_hash = hashlib.sha256(refresh_token.encode()).hexdigest()
    async with app_state(app).sessionmaker() as db:
        family = select(RefreshToken.family).where(
            RefreshToken.token_hash == token_hash
        )
        rows = await db.scalars(
            select(RefreshToken).where(RefreshToken.family == family.scalar_subquery())
        )
        return list(rows)


@asynccontextmanager
async def _serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a new app for ``settings`` (on the test's database)."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver"
        ) as client:
            yield client
    finally:
        await release(app)


async def _me_status(settings: Settings, token: str) -> int:
    async with _serve(settings) as client:
        return (await _me(client, token)).status_code


# Login and the access token


async def test_login_answers_a_token_pair(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await register(client, "ada@example.com")
    response = await client.post(
        "/auth/login", data={"username": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_ttl == 15 * 60
    assert response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers
    # The refresh token is opaque: 256 random bits, not a JWT.
    assert len(body["refresh_token"]) >= 43
    assert "." not in body["refresh_token"]


async def test_access_token_carries_the_required_claims(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    user = await register(client, "ada@example.com")
    token = (await _login(client))["access_token"]
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "typ": "at+jwt"}
    claims = jwt.decode(
        token,
        TEST_SECRET_KEY,
        algorithms=["HS256"],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    # Besides the registered claims, the email, the stamp and the grants of
    # the project's RBAC flavour (none without RBAC), nothing.
    assert set(claims) == {*REQUIRED_CLAIMS, "email", "stamp", *_GRANTS}
    assert claims["sub"] == str(user["id"])
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl
    assert claims["email"] == "ada@example.com"
    assert PASSWORD not in json.dumps(claims)


async def test_me_with_the_bearer_token(client: httpx.AsyncClient) -> None:
    user = await register(client, "ada@example.com")
    token = (await _login(client))["access_token"]
    response = await _me(client, token)
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["email"]) == (user["id"], "ada@example.com")


async def test_access_tokens_are_checked_without_the_database(
    client: httpx.AsyncClient, make_settings: MakeSettings
) -> None:
    token = (await _registered_login(client))["access_token"]
    # An app whose database cannot be opened still knows the user.
    offline = make_settings(database_url=UNREACHABLE_URL)
    assert await _me_status(offline, token) == 200
    assert "db" not in inspect.signature(session.current_principal).parameters


async def test_a_token_crafted_with_the_right_key_is_accepted(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # The control for the forgeries below: only what they change is wrong. No
    # user needs to exist, as the token alone is checked.
    assert (await _me(client, _craft(_claims(settings)))).status_code == 200


def _altered(audience: str, now: int) -> dict[str, dict[str, object]]:
    """Claim changes that each make a token invalid, by name."""
    return {
        "wrong-iss": {"iss": "https://evil.example"},
        "wrong-aud": {"aud": "another-api"},
        "aud-list": {"aud": ["another-api", audience]},
        "past-exp": {"exp": now - 3600},
        "exp-31-seconds-ago": {"exp": now - 31},  # the leeway is at most 30 s
        "future-iat": {"iat": now + 3600},
        **{f"no-{claim}": {claim: MISSING} for claim in REQUIRED_CLAIMS},
        "sub-not-a-user-id": {"sub": "ada"},
        "sub-not-ascii-digits": {"sub": "\u00b2"},
        "no-email": {"email": MISSING},
        "no-stamp": {"stamp": MISSING},
        "stamp-not-a-string": {"stamp": 1},
        "email-verified-not-a-bool": {"email_verified": "yes"},
        # Where the project has roles, the token's must be a list of names.
        **({"roles-not-a-list": {"roles": "admin"}} if "roles" in _GRANTS else {}),
    }


@pytest.mark.parametrize("case", list(_altered("", 0)))
async def test_a_token_with_wrong_or_missing_claims_is_refused(
    client: httpx.AsyncClient, settings: Settings, case: str
) -> None:
    changes = _altered(settings.jwt_audience, int(time.time()))[case]
    response = await _me(client, _craft(_claims(settings, **changes)))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


FORGERIES: dict[str, Any] = {
    "alg-none": lambda claims: _hand_made({"alg": "none", "typ": "at+jwt"}, claims),
    "alg-None": lambda claims: _hand_made({"alg": "None", "typ": "at+jwt"}, claims),
    "hs256-empty-signature": lambda claims: _hand_made(
        {"alg": "HS256", "typ": "at+jwt"}, claims
    ),
    "hs512-same-key": lambda claims: _hand_made(
        {"alg": "HS512", "typ": "at+jwt"}, claims, SECRET, "sha512"
    ),
    "hs384-same-key": lambda claims: _hand_made(
        {"alg": "HS384", "typ": "at+jwt"}, claims, SECRET, "sha384"
    ),
    "another-key": lambda claims: _craft(claims, OTHER_KEY),
    "another-key-named-by-kid": lambda claims: _craft(
        claims, OTHER_KEY, headers={"kid": "other"}
    ),
    "another-key-at-jku": lambda claims: _craft(
        claims,
        OTHER_KEY,
        headers={"jku": "https://evil.example/jwks.json", "kid": "evil"},
    ),
    "another-key-at-x5u": lambda claims: _craft(
        claims, OTHER_KEY, headers={"x5u": "https://evil.example/cert.pem"}
    ),
    "another-key-embedded-as-jwk": lambda claims: _craft(
        claims,
        OTHER_KEY,
        headers={"jwk": {"kty": "oct", "k": _b64(OTHER_KEY.encode())}},
    ),
    "unknown-crit": lambda claims: _craft(
        claims, headers={"crit": ["exp-ext"], "exp-ext": 1}
    ),
    "typ-JWT": lambda claims: _craft(claims, headers={"typ": "JWT"}),
    "typ-refresh": lambda claims: _craft(claims, headers={"typ": "rt+jwt"}),
    "no-typ": lambda claims: jwt.encode(
        claims, TEST_SECRET_KEY, algorithm="HS256", headers={"typ": None}
    ),
    "garbage": lambda claims: "not-a-token",
    "three-dots": lambda claims: "a.b.c",
    "empty": lambda claims: "",
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES)
async def test_a_forged_token_is_refused(
    client: httpx.AsyncClient, settings: Settings, forge: Any
) -> None:
    response = await _me(client, forge(_claims(settings)))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_kid_header_does_not_choose_the_key(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # Signed with the right key, the header's kid is simply not consulted.
    token = _craft(_claims(settings), headers={"kid": "../../etc/passwd"})
    assert (await _me(client, token)).status_code == 200


async def test_a_refresh_token_is_not_an_access_token(
    client: httpx.AsyncClient,
) -> None:
    tokens = await _registered_login(client)
    assert (await _me(client, tokens["refresh_token"])).status_code == 401


async def test_an_access_token_is_not_a_refresh_token(
    client: httpx.AsyncClient,
) -> None:
    tokens = await _registered_login(client)
    assert (await _refresh(client, tokens["access_token"])).status_code == 401


async def test_tokens_in_the_query_string_are_ignored(
    client: httpx.AsyncClient,
) -> None:
    token = (await _registered_login(client))["access_token"]
    for name in ("access_token", "token", "Authorization"):
        response = await client.get("/auth/me", params={name: token})
        assert response.status_code == 401
    response = await client.get("/auth/me", params={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_401_answers_name_the_bearer_scheme(client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    anonymous = await client.get("/auth/me")
    assert anonymous.headers["www-authenticate"] == "Bearer"
    invalid = await _me(client, "not-a-token")
    assert invalid.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    bad_login = await client.post(
        "/auth/login", data={"username": "ada@example.com", "password": "wrong pass"}
    )
    assert bad_login.status_code == 401
    assert bad_login.headers["www-authenticate"] == "Bearer"
    bad_refresh = await _refresh(client, "unknown")
    assert bad_refresh.status_code == 401
    assert bad_refresh.headers["www-authenticate"] == "Bearer"


async def test_openapi_declares_the_bearer_scheme(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    [(name, scheme)] = schemes.items()
    assert scheme["type"] == "oauth2"
    assert scheme["flows"]["password"]["tokenUrl"] == "/auth/login"
    assert schema["paths"]["/auth/me"]["get"]["security"] == [{name: []}]


async def test_rotated_secret_key_still_verifies_and_removing_it_ends_tokens(
    client: httpx.AsyncClient, make_settings: MakeSettings
) -> None:
    token = (await _registered_login(client))["access_token"]
    rotated = make_settings(
        secret_key=OTHER_KEY, secret_key_fallbacks=[TEST_SECRET_KEY]
    )
    assert await _me_status(rotated, token) == 200
    assert await _me_status(make_settings(secret_key=OTHER_KEY), token) == 401


# Refresh tokens


async def test_refresh_token_is_stored_as_a_hash(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    refresh_token = (await _registered_login(client))["refresh_token"]
    [row] = await _family_rows(app, refresh_token)
    assert row.token_hash == hashlib.sha256(refresh_token.encode()).hexdigest()
    assert refresh_token not in {row.token_hash, row.family}


async def test_refresh_rotates_the_pair(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    first = await _registered_login(client)
    response = await _refresh(client, first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert set(second) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert response.headers["cache-control"] == "no-store"
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert (await _me(client, second["access_token"])).status_code == 200
    rows = await _family_rows(app, second["refresh_token"])
    assert len(rows) == 2
    assert sum(row.used_at is not None for row in rows) == 1
    third = await _refresh(client, second["refresh_token"])
    assert third.status_code == 200


async def test_reusing_a_spent_refresh_token_revokes_its_family(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    first = await _registered_login(client)
    other_device = await _login(client)
    second = (await _refresh(client, first["refresh_token"])).json()
    with caplog.at_level(logging.WARNING, logger="app.auth"):
        reused = await _refresh(client, first["refresh_token"])
    assert reused.status_code == 401
    # The pair issued from the spent token stops refreshing too.
    assert (await _refresh(client, second["refresh_token"])).status_code == 401
    rows = await _family_rows(app, first["refresh_token"])
    assert all(row.revoked_at is not None for row in rows)
    # Another login is another family.
    assert (await _refresh(client, other_device["refresh_token"])).status_code == 200
    assert "refresh.reused user_id=" in caplog.text
    assert first["refresh_token"] not in caplog.text
    # Recorded with the family it revoked, by its id; nobody proved who
    # presented the token.
    async with app_state(app).sessionmaker() as db:
        (event,) = await db.scalars(
            select(SecurityEvent).where(SecurityEvent.type == "refresh.reused")
        )
    assert (event.user_id, event.actor_id) == (rows[0].user_id, None)
    assert event.detail == {"family": rows[0].family}


async def test_concurrent_refreshes_with_one_token_let_exactly_one_win(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # Both requests reach the database before either has answered; the
    # conditional UPDATE lets one spend the token, the other is a reuse.
    tokens = await _registered_login(client)
    responses = await asyncio.gather(
        _refresh(client, tokens["refresh_token"]),
        _refresh(client, tokens["refresh_token"]),
    )
    assert sorted(r.status_code for r in responses) == [200, 401]
    [winner] = [r.json() for r in responses if r.status_code == 200]
    # RFC 9700: reuse revokes the family, the winner's new token included.
    assert (await _refresh(client, winner["refresh_token"])).status_code == 401
    rows = await _family_rows(app, tokens["refresh_token"])
    assert len(rows) == 2
    assert all(row.revoked_at is not None for row in rows)


async def test_refresh_family_has_an_absolute_lifetime(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    before = utcnow()
    first = await _registered_login(client)
    second = (await _refresh(client, first["refresh_token"])).json()
    rows = await _family_rows(app, first["refresh_token"])
    # Set at login and inherited by every rotated token.
    assert len({row.expires_at for row in rows}) == 1
    lifetime = rows[0].expires_at - before
    assert timedelta(0) < lifetime - timedelta(seconds=settings.refresh_token_ttl)
    assert lifetime - timedelta(seconds=settings.refresh_token_ttl) < timedelta(
        minutes=1
    )
    async with app_state(app).sessionmaker() as db:
        await db.execute(
            update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await db.commit()
    assert (await _refresh(client, second["refresh_token"])).status_code == 401


async def test_inactive_user_cannot_refresh(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tokens = await _registered_login(client)
    async with app_state(app).sessionmaker() as db:
        await db.execute(update(User).values(is_active=False))
        await db.commit()
    assert (await _refresh(client, tokens["refresh_token"])).status_code == 401
    rows = await _family_rows(app, tokens["refresh_token"])
    assert all(row.revoked_at is not None for row in rows)


@pytest.mark.parametrize(
    "body",
    [{}, {"refresh_token": ""}, {"refresh_token": 42}, {"refresh_token": "x" * 10_000}],
    ids=["missing", "empty", "not-a-string", "huge"],
)
async def test_bad_refresh_bodies_are_422(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post("/auth/refresh", json=body)
    assert response.status_code == 422


# Logout and ending sessions


async def test_logout_revokes_the_family_and_the_access_token_lives_on(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    tokens = await _registered_login(client)
    response = await client.post(
        "/auth/logout",
        headers=_bearer(tokens["access_token"]),
        json={"refresh_token": tokens["refresh_token"]},
    )
    assert response.status_code == 204
    assert (await _refresh(client, tokens["refresh_token"])).status_code == 401
    # The documented residual window: until its expiry (15 minutes at most).
    assert (await _me(client, tokens["access_token"])).status_code == 200


async def test_logout_cannot_revoke_another_users_family(
    client: httpx.AsyncClient,
) -> None:
    ada = await _registered_login(client, "ada@example.com")
    eve = await _registered_login(client, "eve@example.com")
    response = await client.post(
        "/auth/logout",
        headers=_bearer(eve["access_token"]),
        json={"refresh_token": ada["refresh_token"]},
    )
    assert response.status_code == 204
    assert (await _refresh(client, ada["refresh_token"])).status_code == 200
    assert (await _refresh(client, eve["refresh_token"])).status_code == 200


async def test_logout_needs_the_access_token(client: httpx.AsyncClient) -> None:
    tokens = await _registered_login(client)
    response = await client.post(
        "/auth/logout", json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 401
    assert (await _refresh(client, tokens["refresh_token"])).status_code == 200


async def test_end_sessions_revokes_every_family_of_the_user(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    ada = await _registered_login(client, "ada@example.com")
    ada_laptop = await _login(client, "ada@example.com")
    eve = await _registered_login(client, "eve@example.com")
    async with app_state(app).sessionmaker() as db:
        ada_id = await db.scalar(select(User.id).where(User.email == "ada@example.com"))
        assert ada_id is not None
        await session.end_sessions(db, ada_id)
        await db.commit()
    assert (await _refresh(client, ada["refresh_token"])).status_code == 401
    assert (await _refresh(client, ada_laptop["refresh_token"])).status_code == 401
    assert (await _refresh(client, eve["refresh_token"])).status_code == 200


async def test_cleanup_removes_dead_families_and_keeps_what_detects_reuse(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    live = await _registered_login(client)
    rotated = (await _refresh(client, live["refresh_token"])).json()
    logged_out = await _login(client)
    await client.post(
        "/auth/logout",
        headers=_bearer(logged_out["access_token"]),
        json={"refresh_token": logged_out["refresh_token"]},
    )
    expired = await _login(client)
    [expired_row] = await _family_rows(app, expired["refresh_token"])
    async with app_state(app).sessionmaker() as db:
        await db.execute(
            update(RefreshToken)
            .where(RefreshToken.family == expired_row.family)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await db.commit()
        assert await session.cleanup_expired(db) == 2
        await db.commit()
        left = await db.scalar(select(func.count()).select_from(RefreshToken))
    assert left == 2  # the live family: its spent token and its current one
    # The spent token is still known, so its reuse is still caught.
    assert (await _refresh(client, live["refresh_token"])).status_code == 401
    assert (await _refresh(client, rotated["refresh_token"])).status_code == 401


async def test_deleting_a_user_deletes_their_refresh_tokens(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await _registered_login(client)
    async with app_state(app).sessionmaker() as db:
        await db.execute(delete(User))
        await db.commit()
        left = await db.scalar(select(func.count()).select_from(RefreshToken))
    assert left == 0


# Settings and asymmetric keys


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, environment="test", **values)  # type: ignore[arg-type]


def _refusal(**values: object) -> str:
    with pytest.raises(ValidationError) as caught:
        _settings(**values)
    message = describe(caught.value)
    assert "\n" not in message
    return message


def test_weak_hmac_secrets_are_refused_in_one_line() -> None:
    # SECRET_KEY has at least 32 characters, so at least the 32 bytes HS256 needs.
    assert _settings(secret_key="k" * 32).jwt_algorithm == "HS256"
    message = _refusal(secret_key="k" * 40, jwt_algorithm="HS512")
    assert "at least 64 bytes" in message
    message = _refusal(
        secret_key="k" * 64, secret_key_fallbacks=["o" * 40], jwt_algorithm="HS384"
    )
    assert "at least 48 bytes" in message


def test_access_tokens_cannot_be_configured_past_15_minutes() -> None:
    assert _settings(secret_key=TEST_SECRET_KEY, access_token_ttl=300)
    assert "ACCESS_TOKEN_TTL" in _refusal(
        secret_key=TEST_SECRET_KEY, access_token_ttl=901
    )


def test_app_refuses_to_start_with_a_secret_too_short_for_the_algorithm() -> None:
    env = {
        "ENVIRONMENT": "production",
        "SECRET_KEY": "k" * 40,
        "JWT_ALGORITHM": "HS512",
    }
    result = start_app(env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Invalid settings: ")
    assert "at least 64 bytes" in lines[0]


def test_asymmetric_algorithms_need_a_private_key() -> None:
    message = _refusal(secret_key=TEST_SECRET_KEY, jwt_algorithm="ES256")
    assert "JWT_PRIVATE_KEY" in message


def test_a_private_key_is_refused_with_an_hmac_algorithm() -> None:
    message = _refusal(secret_key=TEST_SECRET_KEY, jwt_private_key="anything")
    assert "JWT_PRIVATE_KEY is not used with JWT_ALGORITHM=HS256" in message


class KeyPair:
    """A freshly generated key pair for an asymmetric algorithm, as PEM."""

    def __init__(self, algorithm: str) -> None:
        # Only asymmetric keys need cryptography (pyjwt[crypto], a dependency).
        serialization = pytest.importorskip(
            "cryptography.hazmat.primitives.serialization"
        )
        ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
        ed25519 = pytest.importorskip(
            "cryptography.hazmat.primitives.asymmetric.ed25519"
        )
        curves = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1}
        if algorithm in curves:
            self.key = ec.generate_private_key(curves[algorithm]())
        else:
            self.key = ed25519.Ed25519PrivateKey.generate()
        self.algorithm = algorithm
        self.private_pem = str(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
        )
        self.public_pem = str(
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
            .decode()
        )


@pytest.fixture(params=["ES256", "EdDSA"])
def key_pair(request: pytest.FixtureRequest) -> KeyPair:
    return KeyPair(str(request.param))


async def test_asymmetric_tokens_verify_with_the_public_key_only(
    make_settings: MakeSettings, key_pair: KeyPair
) -> None:
    settings = make_settings(
        jwt_algorithm=key_pair.algorithm, jwt_private_key=key_pair.private_pem
    )
    async with _serve(settings) as client:
        tokens = await _registered_login(client)
        assert (await _me(client, tokens["access_token"])).status_code == 200
        refreshed = await _refresh(client, tokens["refresh_token"])
        assert refreshed.status_code == 200
    token = tokens["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == key_pair.algorithm
    claims = jwt.decode(
        token,
        key_pair.public_pem,
        algorithms=[key_pair.algorithm],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    assert claims["email"] == "ada@example.com"


async def test_asymmetric_forgeries_are_refused(
    make_settings: MakeSettings, key_pair: KeyPair
) -> None:
    settings = make_settings(
        jwt_algorithm=key_pair.algorithm, jwt_private_key=key_pair.private_pem
    )
    claims = _claims(settings)
    forgeries = {
        "another-key": _craft(
            claims, KeyPair(key_pair.algorithm).key, key_pair.algorithm
        ),
        # Algorithm confusion: the public key used as an HMAC secret.
        "public-key-as-hmac-secret": _hand_made(
            {"alg": "HS256", "typ": "at+jwt"}, claims, key_pair.public_pem.encode()
        ),
        "hs256-with-secret-key": _craft(claims),
        "alg-none": _hand_made({"alg": "none", "typ": "at+jwt"}, claims),
    }
    async with _serve(settings) as client:
        await register(client, "ada@example.com")
        control = _craft(claims, key_pair.key, key_pair.algorithm)
        assert (await _me(client, control)).status_code == 200
        for name, token in forgeries.items():
            assert (await _me(client, token)).status_code == 401, name


async def test_a_rotated_key_pair_still_verifies_through_its_public_key(
    make_settings: MakeSettings, key_pair: KeyPair
) -> None:
    old = make_settings(
        jwt_algorithm=key_pair.algorithm, jwt_private_key=key_pair.private_pem
    )
    async with _serve(old) as client:
        token = (await _registered_login(client))["access_token"]
    new = KeyPair(key_pair.algorithm)
    rotated = make_settings(
        jwt_algorithm=key_pair.algorithm,
        jwt_private_key=new.private_pem,
        jwt_public_key_fallbacks=[key_pair.public_pem],
    )
    assert await _me_status(rotated, token) == 200
    removed = make_settings(
        jwt_algorithm=key_pair.algorithm, jwt_private_key=new.private_pem
    )
    assert await _me_status(removed, token) == 401


def test_bad_asymmetric_keys_are_refused_in_one_line(key_pair: KeyPair) -> None:
    base = {"secret_key": TEST_SECRET_KEY, "jwt_algorithm": key_pair.algorithm}
    garbage = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"
    message = _refusal(**base, jwt_private_key=garbage)
    assert message == "JWT_PRIVATE_KEY is not a PEM key for this JWT_ALGORITHM"
    message = _refusal(**base, jwt_private_key=key_pair.public_pem)
    assert "must be a private key" in message
    message = _refusal(
        **base,
        jwt_private_key=key_pair.private_pem,
        jwt_public_key_fallbacks=["not a key"],
    )
    assert "JWT_PUBLIC_KEY_FALLBACKS" in message


def test_a_key_of_another_curve_is_refused() -> None:
    p384 = KeyPair("ES384")
    message = _refusal(
        secret_key=TEST_SECRET_KEY,
        jwt_algorithm="ES256",
        jwt_private_key=p384.private_pem,
    )
    assert "JWT_PRIVATE_KEY" in message


async def _login_on(client: httpx.AsyncClient, base_url: str) -> dict[str, str]:
    form = await register_on(client, base_url)
    response = await client.post(f"{base_url}/auth/login", data=form)
    assert response.status_code == 200
    pair: dict[str, str] = response.json()
    return pair


async def test_a_family_revoked_through_one_process_is_refused_by_the_other(
    servers: list[str],
) -> None:
    first, second = servers
    async with httpx.AsyncClient() as client:
        pair = await _login_on(client, first)
        bearer = {"Authorization": f"Bearer {pair['access_token']}"}
        assert (
            await client.get(f"{second}/auth/me", headers=bearer)
        ).status_code == 200
        logout = await client.post(
            f"{second}/auth/logout",
            json={"refresh_token": pair["refresh_token"]},
            headers=bearer,
        )
        assert logout.status_code == 204
        refused = await client.post(
            f"{first}/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        )
        assert refused.status_code == 401


async def test_concurrent_refreshes_through_both_processes_one_wins(
    servers: list[str],
) -> None:
    first, second = servers
    async with httpx.AsyncClient() as client:
        pair = await _login_on(client, first)
        body = {"refresh_token": pair["refresh_token"]}
        responses = await asyncio.gather(
            client.post(f"{first}/auth/refresh", json=body),
            client.post(f"{second}/auth/refresh", json=body),
        )
        assert sorted(response.status_code for response in responses) == [200, 401]


async def test_a_remembered_token_still_expires(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = (await _registered_login(client))["access_token"]
    assert (await _me(client, token)).status_code == 200  # verified, remembered
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    monkeypatch.setattr(time, "time", lambda: exp + LEEWAY + 1)
    assert (await _me(client, token)).status_code == 401


async def test_a_tampered_copy_of_a_remembered_token_is_refused(
    client: httpx.AsyncClient,
) -> None:
    token = (await _registered_login(client))["access_token"]
    assert (await _me(client, token)).status_code == 200
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "999"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    assert (
        await _me(client, f"{header}.{forged.decode()}.{signature}")
    ).status_code == 401
