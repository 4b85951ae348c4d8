"""A standard OAuth2 client (authlib) against a real server (jwt).

authlib reads the token endpoint as RFC 6749 describes it: the password
grant to log in, the refresh grant whenever its access token has expired, and
``error`` in a refused answer.
"""

from __future__ import annotations

import secrets
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from app.config import Settings
from tests import database
from tests.helpers import PASSWORD
from tests.servers import uvicorn_server

with warnings.catch_warnings():
    # authlib 1.9 prefers the httpx2 fork and warns when it falls back to
    # httpx, which the project already uses; its clients work the same.
    # Importing authlib sets its warnings to "always", so ours comes after.
    import authlib.deprecate  # noqa: F401

    warnings.filterwarnings("ignore", "The httpx module is deprecated")
    from authlib.integrations.httpx_client import OAuth2Client, OAuthError

# Seconds; long enough for a test.
INTERVAL = 30
REFRESHES = 3


@pytest.fixture(scope="module", params=[0, INTERVAL], ids=["reuse-off", "reuse-on"])
def reuse_server(
    request: pytest.FixtureRequest, migrated_template: str
) -> Iterator[tuple[str, int]]:
    """A server with REFRESH_REUSE_INTERVAL off (the default), then on.

    Off is the shared ``server``'s setting; on needs a server of its own.
    """
    interval: int = request.param
    if interval == Settings.model_fields["refresh_reuse_interval"].default:
        yield request.getfixturevalue("server"), interval
        return
    url = database.clone(migrated_template)
    try:
        env = {"REFRESH_REUSE_INTERVAL": str(interval)}
        with uvicorn_server(url, env=env) as base_url:
            yield base_url, interval
    finally:
        database.drop(url)


def _registered(base_url: str) -> str:
    email = f"ada-{secrets.token_hex(4)}@example.com"
    response = httpx.post(
        f"{base_url}/auth/register", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    return email


def _client(base_url: str, **options: Any) -> Any:
    # A public client, as a single-page or mobile app is: no client secret.
    return OAuth2Client(
        client_id="my-app",
        token_endpoint=f"{base_url}/auth/login",
        token_endpoint_auth_method="none",
        **options,
    )


def test_authlib_logs_in_and_refreshes_by_itself(server: str) -> None:
    email = _registered(server)
    refreshed: list[dict[str, Any]] = []

    def update_token(token: dict[str, Any], **_: object) -> None:
        refreshed.append(dict(token))

    with _client(server, update_token=update_token) as client:
        token = client.fetch_token(
            f"{server}/auth/login", username=email, password=PASSWORD
        )
        seen = [token["refresh_token"]]
        for _ in range(REFRESHES):
            # Expired for the client: it refreshes before the next request.
            client.token["expires_at"] = int(time.time()) - 60
            me = client.get(f"{server}/auth/me")
            assert me.status_code == 200, me.text
            assert me.json()["email"] == email
            assert client.token["refresh_token"] != seen[-1]
            seen.append(client.token["refresh_token"])
    assert len(refreshed) == REFRESHES
    assert len(set(seen)) == REFRESHES + 1


def test_authlib_raises_on_a_wrong_password(server: str) -> None:
    email = _registered(server)
    with _client(server) as client, pytest.raises(OAuthError) as caught:
        client.fetch_token(
            f"{server}/auth/login", username=email, password="not the password"
        )
    assert caught.value.error == "invalid_grant"


def test_authlib_replaying_a_spent_refresh_token(
    reuse_server: tuple[str, int],
) -> None:
    base_url, interval = reuse_server
    token_url = f"{base_url}/auth/login"
    email = _registered(base_url)
    with _client(base_url) as client:
        first = client.fetch_token(token_url, username=email, password=PASSWORD)
        second = client.refresh_token(token_url, refresh_token=first["refresh_token"])
        if interval:
            again = client.refresh_token(
                token_url, refresh_token=first["refresh_token"]
            )
            assert again["refresh_token"] == second["refresh_token"]
            assert client.get(f"{base_url}/auth/me").status_code == 200
            # The family lives on: the successor rotates as usual.
            client.refresh_token(token_url, refresh_token=second["refresh_token"])
        else:
            with pytest.raises(OAuthError) as caught:
                client.refresh_token(token_url, refresh_token=first["refresh_token"])
            assert caught.value.error == "invalid_grant"
            # Reuse revoked the family: the pair issued from it is dead too.
            with pytest.raises(OAuthError):
                client.refresh_token(token_url, refresh_token=second["refresh_token"])


def test_concurrent_refreshes_on_a_real_server(reuse_server: tuple[str, int]) -> None:
    # Five clients send the same refresh token at the same moment, each on a
    # connection of its own. Within the interval they all get the one
    # successor and the family lives; without it one wins and the reuse
    # revokes the family.
    base_url, interval = reuse_server
    token_url = f"{base_url}/auth/login"
    email = _registered(base_url)
    with _client(base_url) as client:
        token = client.fetch_token(token_url, username=email, password=PASSWORD)
    start = threading.Barrier(5)

    def refresh(_: int) -> httpx.Response:
        with httpx.Client() as http:
            start.wait()
            return http.post(
                token_url,
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": token["refresh_token"],
                },
            )

    with ThreadPoolExecutor(5) as pool:
        responses = list(pool.map(refresh, range(5)))
    statuses = sorted(r.status_code for r in responses)
    winners = {r.json()["refresh_token"] for r in responses if r.status_code == 200}
    assert len(winners) == 1
    [successor] = winners
    again = httpx.post(
        token_url, data={"grant_type": "refresh_token", "refresh_token": successor}
    )
    if interval:
        assert statuses == [200] * 5, [r.text for r in responses]
        assert again.status_code == 200
    else:
        assert statuses == [200] + [401] * 4
        assert again.status_code == 401
