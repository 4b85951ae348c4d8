"""The /docs page: Swagger UI from the app itself, or from a CDN when asked."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest

from app.docs import ASSETS, CDN_ORIGIN, CDN_URL
from app.main import create_app, release
from tests.conftest import MakeSettings

pytestmark = pytest.mark.anyio

# Every URL the page's markup loads or links to.
_URL = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _policy(response: httpx.Response) -> dict[str, list[str]]:
    """Return the response's Content-Security-Policy, by directive."""
    policy: dict[str, list[str]] = {}
    for directive in response.headers["content-security-policy"].split(";"):
        name, *sources = directive.split()
        policy[name] = sources
    return policy


def _inline_hashes(page: str) -> set[str]:
    """Return the CSP source of each inline script of ``page``, by its SHA-256."""
    return {
        "'sha256-"
        + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        + "'"
        for script in _INLINE_SCRIPT.findall(page)
    }


async def _get(
    make_settings: MakeSettings, path: str, **settings: object
) -> httpx.Response:
    app = create_app(make_settings(**settings))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as client:
        response = await client.get(path)
    await release(app)
    return response


async def test_docs_load_swagger_ui_from_the_app_only(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    urls = _URL.findall(page.text)
    assert len(urls) == len(ASSETS), urls
    assert all(url.startswith("/docs/assets/") for url in urls), urls
    assert "cdn." not in page.text
    assert "//" not in "".join(urls)


async def test_docs_assets_are_served_with_their_types(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/docs")
    for url in _URL.findall(page.text):
        asset = await client.get(url)
        assert asset.status_code == 200, url
        name = url.rsplit("/", 1)[1]
        assert asset.headers["content-type"] == ASSETS[name], url
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert len(asset.content) > 100, url
    bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in bundle.text


async def test_docs_page_sends_the_csrf_header_itself(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/docs")).text
    assert "requestInterceptor" in page
    assert '"X-CSRF-Token"' in page
    # The wrapper sits between the bundle and FastAPI's call to it.
    bundle = page.index("swagger-ui-bundle.js")
    assert bundle < page.index("requestInterceptor") < page.index("const ui")


async def test_docs_oauth2_redirect_is_served(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs/oauth2-redirect")
    assert page.status_code == 200
    assert "swaggerUIRedirectOauth2" in page.text


@pytest.mark.parametrize("path", ["/docs", "/docs/oauth2-redirect"])
async def test_docs_pages_run_only_their_own_scripts(
    client: httpx.AsyncClient, path: str
) -> None:
    page = await client.get(path)
    policy = _policy(page)
    assert policy["default-src"] == ["'none'"]
    # The project's files and the page's own inline scripts, by hash: an
    # injected script runs neither inline nor from elsewhere.
    hashes = _inline_hashes(page.text)
    assert hashes
    assert set(policy["script-src"]) == {"'self'", *hashes}
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    # The API's own policy is not added on top of it.
    assert len(page.headers.get_list("content-security-policy")) == 1


async def test_docs_page_sends_the_schema_to_no_validator(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/docs")).text
    assert '"validatorUrl": null' in page


async def test_docs_assets_cdn_loads_swagger_ui_from_the_cdn(
    make_settings: MakeSettings,
) -> None:
    page = await _get(make_settings, "/docs", docs_assets="cdn")
    urls = _URL.findall(page.text)
    assert urls, page.text
    assert all(url.startswith(CDN_URL) for url in urls), urls
    policy = _policy(page)
    assert set(policy["script-src"]) == {CDN_ORIGIN, *_inline_hashes(page.text)}
    assert policy["style-src"] == [CDN_ORIGIN, "'unsafe-inline'"]
    missing = await _get(
        make_settings, "/docs/assets/swagger-ui-bundle.js", docs_assets="cdn"
    )
    assert missing.status_code == 404


async def test_docs_are_off_in_production(make_settings: MakeSettings) -> None:
    for path in ("/docs", "/docs/assets/swagger-ui-bundle.js", "/openapi.json"):
        response = await _get(make_settings, path, environment="production")
        assert response.status_code == 404, path


def test_docs_assets_setting_is_checked(make_settings: MakeSettings) -> None:
    with pytest.raises(ValueError, match="docs_assets"):
        make_settings(docs_assets="unpkg")
