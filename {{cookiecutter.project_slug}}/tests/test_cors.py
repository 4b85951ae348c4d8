"""CORS_ORIGINS: listed front ends may call the API from the browser."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from app.config import Settings, describe
from app.cors import COOKIE_SESSIONS
from app.main import create_app, release
from tests.conftest import MakeSettings
from tests.helpers import PASSWORD, register

pytestmark = pytest.mark.anyio

FRONT_END = "http://127.0.0.1:5173"
STRANGER = "http://127.0.0.1:6666"


@pytest.fixture
async def cors_app(make_settings: MakeSettings) -> AsyncIterator[FastAPI]:
    app = create_app(make_settings(cors_origins=[FRONT_END]))
    yield app
    await release(app)


@pytest.fixture
async def cors_client(cors_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=cors_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:
        yield client


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-csrf-token",
    }


async def test_preflight_from_a_listed_origin_is_allowed(
    cors_client: httpx.AsyncClient,
) -> None:
    response = await cors_client.options("/auth/logout", headers=_preflight(FRONT_END))
    assert response.status_code == 200, response.text
    headers = response.headers
    assert headers["access-control-allow-origin"] == FRONT_END
    allowed = headers["access-control-allow-headers"].lower()
    assert "x-csrf-token" in allowed
    assert "content-type" in allowed
    assert "POST" in headers["access-control-allow-methods"]
    credentials = headers.get("access-control-allow-credentials") == "true"
    assert credentials == COOKIE_SESSIONS
    # Still inside the security headers.
    assert headers["x-content-type-options"] == "nosniff"


async def test_preflight_from_another_origin_gets_no_cors_headers(
    cors_client: httpx.AsyncClient,
) -> None:
    response = await cors_client.options("/auth/logout", headers=_preflight(STRANGER))
    assert "access-control-allow-origin" not in response.headers
    simple = await cors_client.get("/health", headers={"Origin": STRANGER})
    assert "access-control-allow-origin" not in simple.headers


async def test_answers_to_a_listed_origin_carry_cors_headers(
    cors_client: httpx.AsyncClient,
) -> None:
    response = await cors_client.get("/health", headers={"Origin": FRONT_END})
    assert response.headers["access-control-allow-origin"] == FRONT_END
    assert response.headers["vary"].lower().count("origin") == 1


async def test_login_from_a_listed_origin_passes_the_origin_check(
    cors_client: httpx.AsyncClient,
) -> None:
    await register(cors_client, "cors@example.com")
    response = await cors_client.post(
        "/auth/login",
        data={"username": "cors@example.com", "password": PASSWORD},
        headers={"Origin": FRONT_END},
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == FRONT_END


async def test_without_cors_origins_there_is_no_cors(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    assert not any("CORS" in str(item.cls) for item in app.user_middleware)
    response = await client.options("/auth/logout", headers=_preflight(FRONT_END))
    assert "access-control-allow-origin" not in response.headers
    await register(client, "cors@example.com")
    login = await client.post(
        "/auth/login",
        data={"username": "cors@example.com", "password": PASSWORD},
        headers={"Origin": FRONT_END},
    )
    if COOKIE_SESSIONS:
        assert login.status_code == 403, login.text
    assert "access-control-allow-origin" not in login.headers


def test_cors_origins_is_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", f" {FRONT_END}, https://app.example.com ")
    settings = Settings(_env_file=None, secret_key="x" * 48)
    assert settings.cors_origins == [FRONT_END, "https://app.example.com"]
{%- if cookiecutter.session_strategy != "jwt" %}
    # Listed origins are trusted by the CSRF Origin check as well.
    assert FRONT_END in settings.trusted_origins
{%- endif %}
    monkeypatch.setenv("CORS_ORIGINS", "")
    empty = Settings(_env_file=None, secret_key="x" * 48)
    assert empty.cors_origins == []


@pytest.mark.parametrize(
    "origin",
    ["*", "app.example.com", "https://app.example.com/", "ftp://x.example", "null"],
)
def test_a_cors_origin_that_is_not_an_origin_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, origin: str
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", f"{FRONT_END},{origin}")
    with pytest.raises(ValidationError, match="is not an origin") as caught:
        Settings(_env_file=None, secret_key="x" * 48)
    message = describe(caught.value)
    assert message.startswith("CORS_ORIGINS: "), message
    assert "\n" not in message
