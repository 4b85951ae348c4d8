"""A real Chromium for the browser tests, driven by playwright.

Chromium is found at ``$CHROMIUM``, else at ``/usr/bin/chromium`` (Debian's
``apt-get install chromium``), else where ``playwright install chromium`` puts
its own. Without one the tests are skipped with one line saying so, or fail
with it when ``REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, Playwright, Route

SYSTEM_CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Milliseconds a browser action may take before the test fails.
ACTION_TIMEOUT = 20_000
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
_BLANK_PAGE = b"<!doctype html><title>Another origin</title><p>front end</p>"


def find_chromium(playwright: Playwright) -> Path:
    """Return a Chromium to launch; skip the test (or fail) when there is none."""
    named = os.environ.get("CHROMIUM")
    candidates = [Path(named)] if named else []
    candidates += [SYSTEM_CHROMIUM, Path(playwright.chromium.executable_path)]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    reason = (
        "no Chromium for the browser tests: set CHROMIUM to its path, or "
        "`apt-get install chromium`, or `playwright install chromium`"
        + (f" (CHROMIUM={named} is not an executable file)" if named else "")
    )
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}; REQUIRE_BROWSER=1", pytrace=False)
    pytest.skip(reason)


def offline(context: BrowserContext) -> None:
    """Refuse every request of ``context`` to a host other than this machine."""

    def only_local(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            route.abort("internetdisconnected")

    context.route("**/*", only_local)
    context.set_default_timeout(ACTION_TIMEOUT)


@contextmanager
def other_origin() -> Iterator[str]:
    """Serve a blank page on another port of 127.0.0.1; yield its origin.

    Another origin than the app's, but the same site: ``SameSite=Lax``
    cookies go along with its requests, and CORS alone decides what its
    scripts may read.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(_BLANK_PAGE)))
            self.end_headers()
            self.wfile.write(_BLANK_PAGE)

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
