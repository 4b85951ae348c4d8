"""The ``/docs`` page: Swagger UI served by the project itself, no CDN needed.

Swagger UI's files come from the ``swagger-ui-bundle-v2`` package (its
version is Swagger UI's); ``DOCS_ASSETS=cdn`` loads them from jsDelivr
instead, as FastAPI does by default. The page sends the ``X-CSRF-Token``
header itself, so the cookie strategies' unsafe routes work from it.

Both pages carry a Content-Security-Policy of their own: scripts only from
where the assets come from, plus the page's own inline scripts by their
SHA-256, so that a script injected into the page (Swagger UI has had DOM XSS
advisories) does not run; requests only to this origin.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
ASSETS_URL = "/docs/assets"
# The files the page loads, with their media types.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
CDN_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"
CDN_ORIGIN = "https://cdn.jsdelivr.net"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

# Swagger UI takes a requestInterceptor function, which FastAPI's parameters
# (JSON) cannot carry: this wraps SwaggerUIBundle, between the bundle and
# FastAPI's call to it, so that every call gets one. The interceptor copies
# the csrftoken cookie into X-CSRF-Token on unsafe requests (the cookie
# strategies' double submit); without the cookie (jwt) it adds nothing.
_INTERCEPTOR = """<script>
(() => {
  const unsafe = new Set(["POST", "PUT", "PATCH", "DELETE"]);
  const sendCsrfToken = (request) => {
    const pair = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
    if (pair && unsafe.has(String(request.method).toUpperCase())) {
      request.headers["X-CSRF-Token"] = decodeURIComponent(pair.slice(10));
    }
    return request;
  };
  window.SwaggerUIBundle = new Proxy(window.SwaggerUIBundle, {
    apply: (bundle, self, [config]) =>
      bundle.call(self, {...config, requestInterceptor: sendCsrfToken}),
  });
})();
</script>"""


def asset_urls(assets: str) -> dict[str, str]:
    """Return the URL of each file the page loads, for ``DOCS_ASSETS``."""
    base = CDN_URL if assets == "cdn" else ASSETS_URL
    return {name: f"{base}/{name}" for name in ASSETS}


def docs_html(*, title: str, openapi_url: str, assets: str) -> str:
    """Return the page: FastAPI's own, with the CSRF interceptor added."""
    urls = asset_urls(assets)
    bundle = urls["swagger-ui-bundle.js"]
    response = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{title} - Swagger UI",
        swagger_js_url=bundle,
        swagger_css_url=urls["swagger-ui.css"],
        swagger_favicon_url=urls["favicon-32x32.png"],
        oauth2_redirect_url=OAUTH2_REDIRECT_URL,
        swagger_ui_parameters={
            # The session cookie is sent anyway; this keeps a bearer token
            # across reloads (jwt).
            "persistAuthorization": True,
            # Swagger UI would otherwise send the schema's URL to
            # validator.swagger.io for a badge, from any non-local host.
            "validatorUrl": None,
        },
    )
    page = bytes(response.body).decode()
    loader = f'<script src="{bundle}"></script>'
    if page.count(loader) != 1:  # pragma: no cover - a change in FastAPI
        raise RuntimeError("FastAPI's Swagger UI page no longer loads the bundle once")
    return page.replace(loader, loader + _INTERCEPTOR)


def content_security_policy(page: str, *, assets: str) -> str:
    """Return the policy of ``page``: its own inline scripts, its assets' origin.

    Styles may be inline: Swagger UI sets style attributes as it renders.
    Images may be ``data:`` URLs: its icons are.
    """
    source = CDN_ORIGIN if assets == "cdn" else "'self'"
    hashes = " ".join(_hash_source(script) for script in _INLINE_SCRIPT.findall(page))
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {source} {hashes}",
            f"style-src {source} 'unsafe-inline'",
            f"img-src {source} data:",
            # The schema, and the calls that "Try it out" makes.
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def _hash_source(script: str) -> str:
    digest = hashlib.sha256(script.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def install(app: FastAPI, *, assets: str) -> None:
    """Serve ``/docs``, its OAuth2 redirect and (unless ``cdn``) its files."""
    if app.openapi_url is None:
        return
    page = docs_html(title=app.title, openapi_url=app.openapi_url, assets=assets)
    page_policy = content_security_policy(page, assets=assets)
    redirect = bytes(get_swagger_ui_oauth2_redirect_html().body).decode()
    redirect_policy = content_security_policy(redirect, assets=assets)

    async def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(page, headers={"content-security-policy": page_policy})

    async def oauth2_redirect(request: Request) -> HTMLResponse:
        policy = {"content-security-policy": redirect_policy}
        return HTMLResponse(redirect, headers=policy)

    # Starlette routes, as FastAPI adds its own docs: not API operations.
    app.add_route(DOCS_URL, docs, include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT_URL, oauth2_redirect, include_in_schema=False)
    if assets == "local":
        for name, media_type in ASSETS.items():
            app.add_route(
                f"{ASSETS_URL}/{name}",
                _asset(name, media_type),
                include_in_schema=False,
            )


def _asset(name: str, media_type: str) -> Callable[[Request], Awaitable[FileResponse]]:
    path = Path(str(swagger_ui_path)) / name

    async def serve(request: Request) -> FileResponse:
        return FileResponse(path, media_type=media_type)

    return serve
