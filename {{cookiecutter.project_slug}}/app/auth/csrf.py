"""CSRF protection for cookie-borne sessions: signed double submit and Origin.

The ``csrftoken`` cookie holds ``nonce.signature``, the signature binding the
nonce to the session it was issued for; a script on the page copies it into
the ``X-CSRF-Token`` header. Another site can neither read the cookie nor
forge a token for the victim's session, and a token planted by a sibling
domain does not match the session.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable

from itsdangerous import Signer
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("app.auth")

CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def make_signer(keys: list[str]) -> Signer:
    """Return the signer of CSRF tokens (HMAC-SHA256, its own salt)."""
    return Signer(
        keys, salt="app.auth.csrf", key_derivation="hmac", digest_method=hashlib.sha256
    )


def issue_token(signer: Signer, binding: str) -> str:
    """Return a fresh token bound to the session identified by ``binding``."""
    nonce = secrets.token_urlsafe(16)
    signature = signer.get_signature(f"{binding}.{nonce}").decode()
    return f"{nonce}.{signature}"


def token_is_valid(signer: Signer, binding: str, token: str) -> bool:
    """Return whether ``token`` was issued for the session ``binding``."""
    nonce, _, signature = token.partition(".")
    if not nonce or not signature:
        return False
    return signer.verify_signature(f"{binding}.{nonce}".encode(), signature.encode())


class CSRFMiddleware:
    """Refuse unsafe requests that carry the session cookie without a valid token."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        session_cookie: str,
        binding: Callable[[str], str | None],
        signer: Signer,
        trusted_origins: list[str],
    ) -> None:
        self.app = app
        self.session_cookie = session_cookie
        self.binding = binding
        self.signer = signer
        self.trusted_origins = frozenset(trusted_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            problem = self._problem(Headers(scope=scope))
            if problem:
                log.warning("request refused path=%s: %s", scope["path"], problem)
                await JSONResponse({"detail": problem}, status_code=403)(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)

    def _problem(self, headers: Headers) -> str | None:
        origin = headers.get("origin")
        if origin is not None and not self._origin_is_trusted(origin, headers):
            return "Cross-origin request refused"
        cookies = cookie_parser(headers.get("cookie", ""))
        session = cookies.get(self.session_cookie)
        if session is None:
            return None
        cookie_token = cookies.get(CSRF_COOKIE, "")
        header_token = headers.get(CSRF_HEADER, "")
        if not cookie_token or not hmac.compare_digest(
            cookie_token.encode(), header_token.encode()
        ):
            return "CSRF token missing or incorrect"
        binding = self.binding(session)
        # A session cookie that does not verify is no session: the route
        # answers 401, not this middleware.
        if binding is not None and not token_is_valid(
            self.signer, binding, cookie_token
        ):
            return "CSRF token missing or incorrect"
        return None

    def _origin_is_trusted(self, origin: str, headers: Headers) -> bool:
        if origin in self.trusted_origins:
            return True
        host = headers.get("host", "")
        return origin in {f"https://{host}", f"http://{host}"}
