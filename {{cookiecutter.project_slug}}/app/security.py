"""Security headers on every response."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Header = tuple[bytes, bytes]

_COMMON: tuple[Header, ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Not "no-referrer": with it, browsers send "Origin: null" on the app's
    # own form posts, which the CSRF Origin check must refuse.
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
# JSON needs no scripts, styles or frames. The docs pages (off in production
# unless enabled) set a policy of their own (app/docs.py): Swagger UI's
# scripts and styles, from the project or the CDN.
_API_CSP: Header = (
    b"content-security-policy",
    b"default-src 'none'; frame-ancestors 'none'",
)
_DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect"})
# Answers under /auth/ carry tokens and personal data: never cache them.
_NO_STORE: Header = (b"cache-control", b"no-store")
# Two years, as browsers' preload lists ask.
_HSTS: Header = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")


class SecurityHeadersMiddleware:
    """Add browser hardening headers; ``Strict-Transport-Security`` in production.

    A header the response already has is left as it is. The sets of headers
    are encoded once, so a response only pays for a scan of its own headers.
    """

    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app = app
        common = (*_COMMON, _HSTS) if production else _COMMON
        self._docs = common
        self._api = (*common, _API_CSP)
        self._auth = (*common, _API_CSP, _NO_STORE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in extra if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def headers_for(self, path: str) -> tuple[Header, ...]:
        """Return the headers a response to ``path`` gets."""
        if path in _DOCS_PATHS:
            return self._docs
        if path.startswith("/auth/"):
            return self._auth
        return self._api


def security_headers(path: str, *, production: bool) -> dict[str, str]:
    """Return the headers the middleware would add to a response to ``path``.

    For the one response sent past it: Starlette's last-resort 500, which
    comes from outside every middleware of the app.
    """
    headers = SecurityHeadersMiddleware(_no_app, production=production)
    return {name.decode(): value.decode() for name, value in headers.headers_for(path)}


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise NotImplementedError  # pragma: no cover - only headers_for is used
