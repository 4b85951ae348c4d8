"""Watch a whole test run: no security event may hold a secret any test used.

Every request a test client sends and every answer it gets are searched for
secrets (passwords, tokens, codes, cookies, CSRF tokens), and every row
written to ``security_events`` in this process is kept; at the end of the
run, no secret may appear in any of those rows (SECURITY.md, "Security
events").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl

import httpx
from sqlalchemy import event
from sqlalchemy.engine import Engine

# Fields of request and answer bodies that hold secrets.
SECRET_FIELDS = frozenset(
    {
        "password",
        "current_password",
        "new_password",
        "token",
        "refresh_token",
        "access_token",
        "csrf_token",
        "code",
        "recovery_code",
        "recovery_codes",
        "mfa_token",
        "secret",
    }
)
# Shorter values could match an event's own words by chance.
MIN_SECRET_LENGTH = 10


class SecretsWatch:
    """The secrets seen in HTTP traffic, and the events written."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.events: list[str] = []
        self.paused = False

    def statement(
        self,
        _connection: Any,
        _cursor: Any,
        statement: str,
        parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        if "security_events" in statement and statement.lstrip().startswith("INSERT"):
            self.events.append(repr(parameters))

    def request(self, request: httpx.Request) -> None:
        for name in ("authorization", "x-csrf-token", "cookie"):
            for value in request.headers.get_list(name):
                self._add(value.removeprefix("Bearer "))
                for part in value.split(";"):
                    self._add(part.partition("=")[2].strip())
        self._body(request.headers.get("content-type", ""), request.content)

    def response(self, response: httpx.Response) -> None:
        for value in response.headers.get_list("set-cookie"):
            self._add(value.split(";", 1)[0].partition("=")[2])
        self._body(response.headers.get("content-type", ""), response.content)

    def leaks(self) -> list[str]:
        """Return the secrets that some event holds."""
        written = "\n".join(self.events)
        return sorted(secret for secret in self.secrets if secret in written)

    def _body(self, content_type: str, content: bytes) -> None:
        if not content:
            return
        if content_type.startswith("application/x-www-form-urlencoded"):
            fields = parse_qsl(content.decode(errors="replace"))
            for name, value in fields:
                if name in SECRET_FIELDS:
                    self._add(value)
        elif content_type.startswith("application/json"):
            try:
                body = json.loads(content)
            except ValueError:
                return
            self._fields(body)

    def _fields(self, body: object) -> None:
        if isinstance(body, dict):
            for name, value in body.items():
                if name in SECRET_FIELDS:
                    for item in value if isinstance(value, list) else [value]:
                        if isinstance(item, str):
                            self._add(item)
                self._fields(value)
        elif isinstance(body, list):
            for item in body:
                self._fields(item)

    def _add(self, value: str) -> None:
        if self.paused:
            return
        # "x" * 12 is a password in some tests and a user agent in others.
        if len(value) >= MIN_SECRET_LENGTH and len(set(value)) > 3:
            self.secrets.add(value)


_ACTIVE: list[SecretsWatch] = []


@contextmanager
def not_secrets() -> Iterator[None]:
    """Send values that are no secrets where secrets go (stored ids, say)."""
    for watch in _ACTIVE:
        watch.paused = True
    try:
        yield
    finally:
        for watch in _ACTIVE:
            watch.paused = False


@contextmanager
def watching() -> Iterator[SecretsWatch]:
    """Watch every httpx client and every engine of this process meanwhile."""
    watch = SecretsWatch()
    _ACTIVE.append(watch)
    send = httpx.AsyncClient.send

    async def watched(
        self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        watch.request(request)
        response = await send(self, request, **kwargs)
        if not kwargs.get("stream"):
            watch.response(response)
        return response

    event.listen(Engine, "before_cursor_execute", watch.statement)
    httpx.AsyncClient.send = watched  # type: ignore[method-assign]
    try:
        yield watch
    finally:
        httpx.AsyncClient.send = send  # type: ignore[method-assign]
        event.remove(Engine, "before_cursor_execute", watch.statement)
        _ACTIVE.remove(watch)
