"""A real Chromium on the /docs page, and on a front end of another origin.

Deselect with ``-m 'not browser'``; see tests/browser.py for where Chromium
comes from. The browser reaches nothing but this machine.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, Locator, Page, Response, sync_playwright

from app.cors import COOKIE_SESSIONS
from tests import database
from tests.browser import ARGS, find_chromium, offline, other_origin
from tests.helpers import PASSWORD
from tests.servers import uvicorn_server

pytestmark = pytest.mark.browser

NEW_PASSWORD = "another correct horse battery staple"
CREDENTIALS = "include" if COOKIE_SESSIONS else "omit"

# Runs in the other origin's page: the front end's calls. The cookie
# strategies' session rides in cookies ("include"); a bearer token does not.
_FRONT_END = """
async ([api, email, password, credentials]) => {
  const call = async (path, init) => {
    try {
      const response = await fetch(api + path, {credentials, ...init});
      return {status: response.status, body: await response.text()};
    } catch (error) {
      return {status: 0, body: String(error)};  // refused by the browser
    }
  };
  const login = await call("/auth/login", {
    method: "POST", body: new URLSearchParams({username: email, password}),
  });
  let answer = {};
  try { answer = JSON.parse(login.body); } catch {}
  const access = answer.access_token;
  const bearer = access ? {Authorization: `Bearer ${access}`} : {};
  const json = {"Content-Type": "application/json"};
  const refresh = JSON.stringify({refresh_token: answer.refresh_token});
  const me = await call("/auth/me", {headers: bearer});
  const logout = access
    ? await call("/auth/logout", {
        method: "POST", headers: {...bearer, ...json}, body: refresh,
      })
    : await call("/auth/logout", {
        method: "POST", headers: {"X-CSRF-Token": answer.csrf_token || ""},
      });
  // After the logout: the session (cookies) or the refresh token (jwt) is gone.
  const after = access
    ? await call("/auth/refresh", {method: "POST", headers: json, body: refresh})
    : await call("/auth/me", {});
  const token = answer.csrf_token || access || "";
  return {login, token, me, logout, after};
}
"""


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One Chromium for the module: it takes seconds to start.

    Each test gets a context of its own (``page``): its own profile, cookies
    and storage, as a new browser would have.
    """
    with sync_playwright() as playwright:
        executable = find_chromium(playwright)
        browser = playwright.chromium.launch(
            executable_path=executable, args=ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh, offline browser context; yield its one page."""
    context = chromium.new_context()
    offline(context)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def listed_origin() -> Iterator[str]:
    """The origin of a front end that the module's server lists in CORS_ORIGINS."""
    with other_origin() as origin:
        yield origin


@pytest.fixture(scope="module")
def base_url(migrated_template: str, listed_origin: str) -> Iterator[str]:
    """One server for the module, on a fresh database, listing one front end."""
    url = database.clone(migrated_template)
    try:
        with uvicorn_server(url, env={"CORS_ORIGINS": listed_origin}) as served:
            yield served
    finally:
        database.drop(url)


def _register(base_url: str) -> str:
    """Register a user of this test's own; return its email."""
    email = f"browser-{secrets.token_hex(4)}@example.com"
    body = {"email": email, "password": PASSWORD}
    response = httpx.post(f"{base_url}/auth/register", json=body, timeout=30)
    assert response.status_code == 201, response.text
    return email


# Runs in the page before its own scripts: keeps what its Content-Security-
# Policy refused.
_RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.effectiveDirective} ${event.blockedURI}`);
});
"""


class DocsPage:
    """Swagger UI's /docs, used as a person would: Try it out, Execute."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        page.add_init_script(_RECORD_VIOLATIONS)
        page.goto(f"{base_url}/docs")
        page.locator(".swagger-ui .opblock").first.wait_for(state="visible")

    def violations(self) -> list[str]:
        """Return what the page's Content-Security-Policy refused so far."""
        found: list[str] = self.page.evaluate("window.cspViolations")
        return found

    def operation(self, method: str, path: str) -> Locator:
        """Return the operation's block, opened, in "Try it out" mode."""
        summary = self.page.locator(f'.opblock-summary-path[data-path="{path}"]')
        block = self.page.locator(f".opblock-{method.lower()}").filter(has=summary)
        if "is-open" not in (block.get_attribute("class") or ""):
            block.locator(".opblock-summary").first.click()
        if block.locator("button.try-out__btn.cancel").count() == 0:
            block.locator("button.try-out__btn").click()
        return block

    def execute(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Response:
        """Fill the operation's form or JSON body, execute it; return the answer."""
        block = self.operation(method, path)
        for name, value in (form or {}).items():
            block.locator(f'tr[data-property-name="{name}"] input').fill(value)
        if body is not None:
            block.locator("textarea.body-param__text").fill(json.dumps(body))

        def is_the_call(response: Response) -> bool:
            return (
                urlsplit(response.url).path == path
                and response.request.method == method
            )

        with self.page.expect_response(is_the_call) as answer:
            block.locator("button.execute").click()
        return answer.value

    def authorize(self, email: str, password: str) -> Response:
        """Log in with the Authorize button's OAuth2 password flow (jwt)."""
        page = self.page
        page.locator(".auth-wrapper button.authorize").click()
        modal = page.locator(".modal-ux")
        logout = modal.locator("button.authorize", has_text="Logout")
        if logout.count():
            logout.click()
        modal.locator("#oauth_username").fill(email)
        modal.locator("#oauth_password").fill(password)
        with page.expect_response(
            lambda r: urlsplit(r.url).path == "/auth/login"
        ) as answer:
            modal.locator("button.authorize", has_text="Authorize").click()
        modal.locator("button.btn-done").click()
        return answer.value


def _status(response: Response) -> str:
    return (
        f"{response.request.method} {response.url}: {response.status} {response.text()}"
    )


def test_docs_page_renders_offline_and_logs_in(page: Page, base_url: str) -> None:
    """Login, /auth/me, password change, logout and a new login, all from /docs.

    With the cookie strategies, then two-factor authentication: enrolment and
    a two-step login.

    Every request to another host is refused, and none is made.
    """
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    email = _register(base_url)
    docs = DocsPage(page, base_url)
    assert page.locator(".swagger-ui .info .title").is_visible()
    if COOKIE_SESSIONS:
        _cookie_session_through_the_docs(docs, email)
    else:
        _bearer_session_through_the_docs(docs, email)
    foreign = [url for url in requested if not url.startswith(f"{base_url}/")]
    assert not foreign, foreign
    # The page's own policy let all of it run.
    assert docs.violations() == []


def test_docs_page_refuses_a_script_injected_into_it(page: Page, base_url: str) -> None:
    """What an XSS in Swagger UI would add to the page does not run.

    The page's own scripts run (it rendered), an inline script added to it
    does not, nor one from another origin.
    """
    docs = DocsPage(page, base_url)
    page.evaluate(
        """() => {
          for (const source of ["window.injected = true", null]) {
            const script = document.createElement("script");
            if (source) script.textContent = source;
            else script.src = "https://attacker.example/steal.js";
            document.body.append(script);
          }
        }"""
    )
    page.wait_for_function("window.cspViolations.length >= 2")
    assert page.evaluate("window.injected") is None
    assert sorted(docs.violations()) == [
        "script-src-elem https://attacker.example/steal.js",
        "script-src-elem inline",
    ]


def _cookie_session_through_the_docs(docs: DocsPage, email: str) -> None:
    login = docs.execute(
        "POST", "/auth/login", form={"username": email, "password": PASSWORD}
    )
    assert login.status == 200, _status(login)
    me = docs.execute("GET", "/auth/me")
    assert me.status == 200, _status(me)
    assert me.json()["email"] == email
    change = docs.execute(
        "POST",
        "/auth/password",
        body={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert change.status == 200, _status(change)
    # The page sent the token itself, from the csrftoken cookie.
    assert change.request.all_headers().get("x-csrf-token")
    logout = docs.execute("POST", "/auth/logout")
    assert logout.status == 204, _status(logout)
    gone = docs.execute("GET", "/auth/me")
    assert gone.status == 401, _status(gone)
    again = docs.execute(
        "POST", "/auth/login", form={"username": email, "password": NEW_PASSWORD}
    )
    assert again.status == 200, _status(again)
    back = docs.execute("GET", "/auth/me")
    assert back.status == 200, _status(back)
    _mfa_login_through_the_docs(docs, email)


def _mfa_login_through_the_docs(docs: DocsPage, email: str) -> None:
    # Two-factor authentication from the same page: enrol, confirm, log out,
    # then the two-step login ends with the same HttpOnly session cookie.
    enrolment = docs.execute("POST", "/auth/mfa/totp", body={"password": NEW_PASSWORD})
    assert enrolment.status == 200, _status(enrolment)
    assert enrolment.json()["qr_svg"].startswith("<svg")
    code = pyotp.TOTP(enrolment.json()["secret"])
    confirm = docs.execute("POST", "/auth/mfa/totp/confirm", body={"code": code.now()})
    assert confirm.status == 200, _status(confirm)
    logout = docs.execute("POST", "/auth/logout")
    assert logout.status == 204, _status(logout)
    docs.page.context.clear_cookies()
    first = docs.execute(
        "POST", "/auth/login", form={"username": email, "password": NEW_PASSWORD}
    )
    assert first.status == 200, _status(first)
    assert first.json()["mfa_required"] is True
    assert not docs.page.context.cookies()
    # The next step's code: the one just used is spent, and the window is ±1.
    second = docs.execute(
        "POST",
        "/auth/mfa/verify",
        body={
            "mfa_token": first.json()["mfa_token"],
            "code": code.at(time.time() + 30),
        },
    )
    assert second.status == 200, _status(second)
    cookies = {cookie["name"]: cookie for cookie in docs.page.context.cookies()}
    assert cookies["session"]["httpOnly"] is True
    assert second.json()["csrf_token"] == cookies["csrftoken"]["value"]
    me = docs.execute("GET", "/auth/me")
    assert me.status == 200, _status(me)
    assert me.json()["mfa_enabled"] is True


def _bearer_session_through_the_docs(docs: DocsPage, email: str) -> None:
    login = docs.authorize(email, PASSWORD)
    assert login.status == 200, _status(login)
    me = docs.execute("GET", "/auth/me")
    assert me.status == 200, _status(me)
    assert me.request.all_headers()["authorization"].startswith("Bearer ")
    change = docs.execute(
        "POST",
        "/auth/password",
        body={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert change.status == 200, _status(change)
    # The change ended every session, the page's access token included for
    # unsafe requests: log in again with the new password, then log out.
    again = docs.authorize(email, NEW_PASSWORD)
    assert again.status == 200, _status(again)
    refresh_token = again.json()["refresh_token"]
    logout = docs.execute("POST", "/auth/logout", body={"refresh_token": refresh_token})
    assert logout.status == 204, _status(logout)
    spent = docs.execute("POST", "/auth/refresh", body={"refresh_token": refresh_token})
    assert spent.status == 401, _status(spent)


def test_front_end_on_a_listed_origin_logs_in_and_out(
    page: Page, base_url: str, listed_origin: str
) -> None:
    email = _register(base_url)
    page.goto(f"{listed_origin}/")
    result = page.evaluate(_FRONT_END, [base_url, email, PASSWORD, CREDENTIALS])
    assert result["login"]["status"] == 200, result
    assert result["me"]["status"] == 200, result
    assert json.loads(result["me"]["body"])["email"] == email
    if COOKIE_SESSIONS:
        # CONTRACT.md, Clients: the login answer carries the CSRF token, which
        # a page on another origin cannot read from the cookie.
        assert result["token"], result
    assert result["logout"]["status"] == 204, result
    assert result["after"]["status"] == 401, result


def test_front_end_on_an_unlisted_origin_is_refused_by_the_browser(
    page: Page, base_url: str
) -> None:
    # Another port than the listed front end's: an origin of its own.
    with other_origin() as origin:
        email = _register(base_url)
        page.goto(f"{origin}/")
        result = page.evaluate(_FRONT_END, [base_url, email, PASSWORD, CREDENTIALS])
    # fetch() rejects: the answers carry no Access-Control-Allow-Origin.
    for call in ("login", "me", "logout", "after"):
        assert result[call]["status"] == 0, result
        assert "Failed to fetch" in result[call]["body"], result
