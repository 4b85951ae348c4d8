"""Security headers on every response."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # Not "no-referrer": with it, browsers send "Origin: null" on the app's
    # own form posts, which the CSRF Origin check must refuse.
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
# JSON needs no scripts, styles or frames; the docs page (off in production
# unless enabled) loads Swagger UI from a CDN, so it keeps its own rules.
_API_CSP = "default-src 'none'; frame-ancestors 'none'"
_DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect"})
# Two years, as browsers' preload lists ask.
_HSTS = "max-age=63072000; includeSubDomains"


class SecurityHeadersMiddleware:
    """Add browser hardening headers; ``Strict-Transport-Security`` in production."""

    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app = app
        self.production = production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _COMMON.items():
                    headers.setdefault(name, value)
                if path not in _DOCS_PATHS:
                    headers.setdefault("content-security-policy", _API_CSP)
                if path.startswith("/auth/"):
                    # Answers carry tokens and personal data: never cache them.
                    headers.setdefault("cache-control", "no-store")
                if self.production:
                    headers.setdefault("strict-transport-security", _HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)
