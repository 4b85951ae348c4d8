"""Request bodies over ``MAX_BODY_BYTES`` are refused with 413 before they are read."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from app.main import create_app, release
from tests.conftest import MakeSettings

pytestmark = pytest.mark.anyio

LIMIT = 1024 * 1024  # the default


def _registration(size: int) -> bytes:
    body = json.dumps({"email": "ada@example.com", "password": "x" * (size - 60)})
    return body.encode().ljust(size)


async def test_a_body_over_the_limit_is_413_with_the_usual_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/auth/register",
        content=_registration(LIMIT + 1),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large"}
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_limit_is_a_setting(make_settings: MakeSettings) -> None:
    app = create_app(make_settings(max_body_bytes=200))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        headers = {"Content-Type": "application/json"}
        fits = await client.post(
            "/auth/register", content=_registration(200), headers=headers
        )
        assert fits.status_code == 201
        over = await client.post(
            "/auth/register", content=_registration(201), headers=headers
        )
        assert over.status_code == 413
    await release(app)


async def test_a_chunked_body_is_cut_off_at_the_limit(server: str) -> None:
    # Chunks just past the limit, and no closing chunk: a server that read
    # the whole body would wait here for the rest until the socket times out.
    chunk = b" " * (64 * 1024)
    body = b"".join(
        b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(LIMIT // len(chunk) + 1)
    )
    status = _exchange(server, "Transfer-Encoding: chunked", body)
    assert status.startswith(b"HTTP/1.1 413 "), status


async def test_a_declared_length_over_the_limit_is_refused_before_any_body(
    server: str,
) -> None:
    # Nothing but the headers is sent: the answer must not wait for the body.
    status = _exchange(server, f"Content-Length: {16 * LIMIT}", b"")
    assert status.startswith(b"HTTP/1.1 413 "), status


def _exchange(server: str, length_header: str, body: bytes) -> bytes:
    """Send a registration's headers and ``body`` by hand; return the status line."""
    address = urlsplit(server)
    head = (
        "POST /auth/register HTTP/1.1\r\n"
        f"Host: {address.netloc}\r\n"
        "Content-Type: application/json\r\n"
        f"{length_header}\r\n\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        return sock.recv(4096).split(b"\r\n", 1)[0]
