"""``POST /auth/login`` as an RFC 6749 token endpoint (jwt), and the reuse interval."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import select, update

from app.auth.session.models import RefreshToken
from app.config import Settings, describe
from app.db import utcnow
from app.main import create_app, release
from app.state import app_state
from tests.conftest import MakeSettings
from tests.helpers import PASSWORD, register
from tests.secrets_watch import not_secrets

pytestmark = pytest.mark.anyio

EMAIL = "ada@example.com"
PAIR_FIELDS = {"access_token", "token_type", "expires_in", "refresh_token"}
ERROR_FIELDS = {"detail", "error", "error_description"}
# Long enough for a test, far from the maximum.
INTERVAL = 30


async def _password_grant(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    return await client.post(
        "/auth/login", data={"username": EMAIL, "password": PASSWORD, **fields}
    )


async def _logged_in(client: httpx.AsyncClient) -> Any:
    await register(client, EMAIL)
    response = await _password_grant(client)
    assert response.status_code == 200, response.text
    return response.json()


async def _refresh_grant(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(
        "/auth/login", data={"grant_type": "refresh_token", "refresh_token": token}
    )


async def _refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": token})


async def _me(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.get(
        "/auth/me", headers={"Authorization": f"Bearer {access_token}"}
    )


async def _family(app: FastAPI, refresh_token: str) -> list[RefreshToken]:
    token_hash = hashlib.sha256(refresh_token.encode()).hexdigest()
    async with app_state(app).sessionmaker() as db:
        family = select(RefreshToken.family).where(
            RefreshToken.token_hash == token_hash
        )
        rows = await db.scalars(
            select(RefreshToken).where(RefreshToken.family == family.scalar_subquery())
        )
        return list(rows)


def _assert_token_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_FIELDS
    assert body["error"] == error
    assert body["error_description"] == body["detail"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


@asynccontextmanager
async def _app_with(
    settings: Settings,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver"
        ) as client:
            yield app, client
    finally:
        await release(app)


# The password grant


@pytest.mark.parametrize("grant_type", [None, "password"], ids=["absent", "password"])
async def test_password_grant_is_unchanged(
    client: httpx.AsyncClient, grant_type: str | None
) -> None:
    await register(client, EMAIL)
    fields = {} if grant_type is None else {"grant_type": grant_type}
    response = await _password_grant(client, **fields)
    assert response.status_code == 200, response.text
    assert set(response.json()) == PAIR_FIELDS
    assert response.json()["token_type"] == "bearer"
    assert response.headers["cache-control"] == "no-store"
    assert (await _me(client, response.json()["access_token"])).status_code == 200


async def test_wrong_password_is_invalid_grant_with_the_same_body(
    client: httpx.AsyncClient,
) -> None:
    await register(client, EMAIL)
    wrong = await _password_grant(client, password="not the password")
    unknown = await client.post(
        "/auth/login", data={"username": "nobody@example.com", "password": PASSWORD}
    )
    _assert_token_error(wrong, 401, "invalid_grant")
    assert wrong.json() == unknown.json()
    assert wrong.json()["detail"] == "Incorrect email or password"


# The refresh grant


async def test_refresh_grant_rotates_as_refresh_does(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    first = await _logged_in(client)
    response = await _refresh_grant(client, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert set(second) == PAIR_FIELDS
    assert response.headers["cache-control"] == "no-store"
    assert second["refresh_token"] != first["refresh_token"]
    assert (await _me(client, second["access_token"])).status_code == 200
    # One rotation: the JSON endpoint continues the family the form grant began.
    third = await _refresh(client, second["refresh_token"])
    assert third.status_code == 200
    rows = await _family(app, first["refresh_token"])
    assert len(rows) == 3
    assert sum(row.used_at is not None for row in rows) == 2


@pytest.mark.parametrize("replay", ["form", "json"])
async def test_reuse_through_either_endpoint_revokes_the_family(
    app: FastAPI, client: httpx.AsyncClient, replay: str
) -> None:
    first = await _logged_in(client)
    second = (await _refresh_grant(client, first["refresh_token"])).json()
    again = _refresh_grant if replay == "form" else _refresh
    _assert_token_error(
        await again(client, first["refresh_token"]), 401, "invalid_grant"
    )
    _assert_token_error(
        await _refresh_grant(client, second["refresh_token"]), 401, "invalid_grant"
    )
    rows = await _family(app, first["refresh_token"])
    assert all(row.revoked_at is not None for row in rows)


@pytest.mark.parametrize("endpoint", ["form", "json"])
async def test_an_unknown_refresh_token_is_invalid_grant(
    client: httpx.AsyncClient, endpoint: str
) -> None:
    send = _refresh_grant if endpoint == "form" else _refresh
    _assert_token_error(await send(client, "not-a-token"), 401, "invalid_grant")


# Malformed requests


@pytest.mark.parametrize(
    "grant_type", ["client_credentials", "authorization_code", "PASSWORD", "x" * 500]
)
async def test_an_unknown_grant_type_is_unsupported(
    client: httpx.AsyncClient, grant_type: str
) -> None:
    response = await client.post(
        "/auth/login",
        data={"grant_type": grant_type, "username": EMAIL, "password": PASSWORD},
    )
    _assert_token_error(response, 400, "unsupported_grant_type")


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"username": EMAIL},
        {"password": PASSWORD},
        {"grant_type": "password", "username": "", "password": PASSWORD},
        {"grant_type": "refresh_token"},
        {"grant_type": "refresh_token", "refresh_token": ""},
        {"grant_type": "refresh_token", "refresh_token": "x" * 10_000},
    ],
    ids=[
        "nothing",
        "no-password",
        "no-username",
        "empty-username",
        "no-refresh-token",
        "empty-refresh-token",
        "huge-refresh-token",
    ],
)
async def test_missing_or_malformed_fields_are_invalid_request(
    client: httpx.AsyncClient, data: dict[str, str]
) -> None:
    await register(client, EMAIL)
    response = await client.post("/auth/login", data=data)
    _assert_token_error(response, 400, "invalid_request")


async def test_a_json_body_is_an_invalid_request(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/login", json={"username": EMAIL, "password": PASSWORD}
    )
    _assert_token_error(response, 400, "invalid_request")


async def test_openapi_keeps_the_password_flow_and_documents_the_grants(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    flows = schema["components"]["securitySchemes"]["oauth2_password"]["flows"]
    assert flows["password"]["tokenUrl"] == "/auth/login"
    body = schema["paths"]["/auth/login"]["post"]["requestBody"]["content"]
    [form_ref] = [
        content["schema"]["$ref"]
        for media, content in body.items()
        if media == "application/x-www-form-urlencoded"
    ]
    fields = schema["components"]["schemas"][form_ref.rsplit("/", 1)[1]]["properties"]
    assert {"grant_type", "username", "password", "refresh_token"} <= set(fields)


# REFRESH_REUSE_INTERVAL


def test_reuse_interval_is_off_by_default_and_bounded(
    make_settings: MakeSettings,
) -> None:
    assert make_settings().refresh_reuse_interval == 0
    assert make_settings(refresh_reuse_interval=300).refresh_reuse_interval == 300
    for bad in (-1, 301):
        with pytest.raises(ValidationError) as caught:
            make_settings(refresh_reuse_interval=bad)
        line = describe(caught.value)
        assert line.startswith("REFRESH_REUSE_INTERVAL: ")
        assert "\n" not in line


async def test_within_the_interval_a_spent_token_answers_its_successor(
    make_settings: MakeSettings,
) -> None:
    async with _app_with(make_settings(refresh_reuse_interval=INTERVAL)) as (
        app,
        client,
    ):
        first = await _logged_in(client)
        second = (await _refresh_grant(client, first["refresh_token"])).json()
        again = await _refresh(client, first["refresh_token"])
        assert again.status_code == 200, again.text
        assert again.headers["cache-control"] == "no-store"
        assert again.json()["refresh_token"] == second["refresh_token"]
        assert again.json()["access_token"] != second["access_token"]
        assert (await _me(client, again.json()["access_token"])).status_code == 200
        rows = await _family(app, first["refresh_token"])
        assert len(rows) == 2
        assert all(row.revoked_at is None for row in rows)
        # The successor rotates as usual; once it is spent, the first token's
        # replay is a reuse again, and revokes the family.
        third = await _refresh_grant(client, second["refresh_token"])
        assert third.status_code == 200
        replay = await _refresh_grant(client, first["refresh_token"])
        _assert_token_error(replay, 401, "invalid_grant")
        rows = await _family(app, first["refresh_token"])
        assert all(row.revoked_at is not None for row in rows)


async def test_after_the_interval_a_spent_token_revokes_its_family(
    make_settings: MakeSettings,
) -> None:
    async with _app_with(make_settings(refresh_reuse_interval=INTERVAL)) as (
        app,
        client,
    ):
        first = await _logged_in(client)
        second = (await _refresh(client, first["refresh_token"])).json()
        spent_hash = hashlib.sha256(first["refresh_token"].encode()).hexdigest()
        async with app_state(app).sessionmaker() as db:
            await db.execute(
                update(RefreshToken)
                .where(RefreshToken.token_hash == spent_hash)
                .values(used_at=utcnow() - timedelta(seconds=INTERVAL + 1))
            )
            await db.commit()
        _assert_token_error(
            await _refresh(client, first["refresh_token"]), 401, "invalid_grant"
        )
        _assert_token_error(
            await _refresh(client, second["refresh_token"]), 401, "invalid_grant"
        )


@pytest.mark.parametrize("endpoint", ["form", "json"])
async def test_concurrent_refreshes_within_the_interval_share_one_successor(
    make_settings: MakeSettings, endpoint: str
) -> None:
    async with _app_with(make_settings(refresh_reuse_interval=INTERVAL)) as (
        app,
        client,
    ):
        tokens = await _logged_in(client)
        send = _refresh_grant if endpoint == "form" else _refresh
        responses = await asyncio.gather(
            *(send(client, tokens["refresh_token"]) for _ in range(5))
        )
        assert [r.status_code for r in responses] == [200] * 5, [
            r.text for r in responses
        ]
        assert len({r.json()["refresh_token"] for r in responses}) == 1
        rows = await _family(app, tokens["refresh_token"])
        assert len(rows) == 2
        assert all(row.revoked_at is None for row in rows)
        successor = responses[0].json()["refresh_token"]
        assert (await _refresh(client, successor)).status_code == 200


async def test_the_database_alone_yields_no_usable_refresh_token(
    make_settings: MakeSettings,
) -> None:
    # The successor is derived with the server's key, never stored: what a
    # copy of the table holds does not refresh, whether or not it is spent.
    async with _app_with(make_settings(refresh_reuse_interval=INTERVAL)) as (
        app,
        client,
    ):
        first = await _logged_in(client)
        second = (await _refresh(client, first["refresh_token"])).json()
        rows = await _family(app, first["refresh_token"])
        stored = {
            str(value)
            for row in rows
            for value in vars(row).values()
            if isinstance(value, str)
        }
        assert first["refresh_token"] not in stored
        assert second["refresh_token"] not in stored
        # What the table holds is no secret (the family's id is in events).
        with not_secrets():
            for value in stored:
                assert (await _refresh(client, value)).status_code == 401
        # Nothing was taken for a reuse: the family still refreshes.
        assert (await _refresh(client, second["refresh_token"])).status_code == 200
