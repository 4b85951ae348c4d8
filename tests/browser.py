"""A real browser against a generated project with cookie-borne sessions.

Debian's chromium (``apt-get install chromium``), driven by playwright; the
browser is never downloaded (no ``playwright install``). The project is
served with one extra same-origin page, ``/test-page``, by a wrapper module
written next to the test, so the template stays as it is. A second server on
another port of 127.0.0.1 plays the foreign page: another origin, but the same
site, so ``SameSite=Lax`` still sends the session cookie along with its forms
and only the application's own checks stand in the way.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, Playwright

from live import Server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TEST_PAGE = "/test-page"
WRAPPER_MODULE = "browser_test_app"
# The page's scripts may call the app's own origin and post forms to it, no more.
TEST_PAGE_CSP = "default-src 'self'; form-action 'self'; frame-ancestors 'none'"
# The page's own policy, as a front end would set it. Under the app's default
# (no-referrer) Chrome sends `Origin: null` with a form post, even to its own
# origin, and the app's Origin check refuses the login.
TEST_PAGE_REFERRER_POLICY = "same-origin"
# Milliseconds a browser action may take before the step fails.
ACTION_TIMEOUT = 20_000

_WRAPPER_SOURCE = '''\
"""The generated app plus a same-origin page for the template's browser tests."""

from fastapi.responses import HTMLResponse

from app.main import create_app

PAGE = {page!r}

app = create_app()


@app.get({path!r}, include_in_schema=False)
async def test_page() -> HTMLResponse:
    """Serve the login form, from the app's own origin."""
    headers = {{"Content-Security-Policy": {csp!r}, "Referrer-Policy": {referrer!r}}}
    return HTMLResponse(PAGE, headers=headers)
'''

_LOGIN_PAGE = """\
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Browser test page</title></head>
<body>
<form id="login" method="post" action="/auth/login">
  <input id="username" name="username" type="email" autocomplete="username">
  <input id="password" name="password" type="password">
  <button id="submit" type="submit">Log in</button>
</form>
</body>
</html>
"""

_FOREIGN_PAGE = """\
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Another origin</title></head>
<body>
<form id="attack" method="post" action="{action}">
  <input type="hidden" name="anything" value="1">
  <button id="submit" type="submit">Claim your prize</button>
</form>
</body>
</html>
"""

# Runs in the page: a fetch with the browser's cookies, the CSRF header if asked.
FETCH = """\
async ([method, path, withToken]) => {
    const pair = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
    const headers = withToken && pair ? {"X-CSRF-Token": pair.split("=")[1]} : {};
    const response = await fetch(path, {method, headers, credentials: "same-origin"});
    return response.status;
}
"""


def write_wrapper(directory: Path) -> str:
    """Write the wrapper module into ``directory``; return its ``module:app``."""
    source = _WRAPPER_SOURCE.format(
        page=_LOGIN_PAGE,
        path=TEST_PAGE,
        csp=TEST_PAGE_CSP,
        referrer=TEST_PAGE_REFERRER_POLICY,
    )
    (directory / f"{WRAPPER_MODULE}.py").write_text(source, encoding="utf-8")
    return f"{WRAPPER_MODULE}:app"


@contextmanager
def browser_context(playwright: Playwright, profile: Path) -> Iterator[BrowserContext]:
    """Start chromium with a fresh profile in ``profile``; close it afterwards."""
    context = playwright.chromium.launch_persistent_context(
        profile,
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        headless=True,
    )
    context.set_default_timeout(ACTION_TIMEOUT)
    try:
        yield context
    finally:
        context.close()


@contextmanager
def foreign_site(action: str) -> Iterator[str]:
    """Serve, on another port, a page whose form posts to ``action``; yield its URL."""
    page = _FOREIGN_PAGE.format(action=html.escape(action)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def fetch_status(page: Page, method: str, path: str, *, with_token: bool) -> int:
    """Return the status of a fetch made by ``page``'s own script."""
    status: int = page.evaluate(FETCH, [method, path, with_token])
    return status


def script_cookies(page: Page) -> set[str]:
    """Return the names of the cookies that ``page``'s scripts can read."""
    text: str = page.evaluate("document.cookie")
    return {pair.split("=", 1)[0] for pair in text.split("; ") if pair}


@dataclass
class BrowserApp:
    """A browser on the app's test page, and the user it logs in as."""

    server: Server
    context: BrowserContext
    page: Page
    email: str
    password: str

    def url(self, path: str) -> str:
        """Return the absolute URL of ``path`` on the app."""
        return self.server.base_url + path

    def log_in(self) -> None:
        """Log in by posting the test page's form, then return to the page."""
        page = self.page
        page.goto(self.url(TEST_PAGE))
        page.fill("#username", self.email)
        page.fill("#password", self.password)
        login = self.url("/auth/login")
        with page.expect_response(login) as answer:
            page.click("#submit")
        page.wait_for_url(login)
        assert answer.value.status in {200, 204}, (
            f"login through the form answered {answer.value.status}: "
            f"{answer.value.text()}"
        )
        page.goto(self.url(TEST_PAGE))

    def logged_in(self) -> bool:
        """Return whether the page's session is alive (``GET /auth/me`` is 200)."""
        status = fetch_status(self.page, "GET", "/auth/me", with_token=False)
        assert status in {200, 401}, f"GET /auth/me answered {status}"
        return status == 200

    def ensure_logged_in(self) -> None:
        """Log in again if an earlier step ended the session."""
        if not self.logged_in():
            self.log_in()
