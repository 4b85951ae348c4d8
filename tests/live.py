"""A generated project served for real: uvicorn on loopback, a user, its headers.

The fuzzing and browser steps of the matrix talk to the project over HTTP, as
a client would. The server runs from the project's own venv on a free port
of 127.0.0.1, with ``ENVIRONMENT=test`` and a database migrated for it alone.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

from helpers import TAIL_LINES, run, tail

STARTUP_TIMEOUT = 30.0
# Another process may take the free port between our look and uvicorn's bind.
START_ATTEMPTS = 3
# A password the fuzzer cannot guess: it never ends the session by accident.
ADMIN_PASSWORD_BYTES = 24
# Loopback only: no proxy from the environment may see these requests.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True, slots=True)
class Response:
    """What one HTTP exchange answered."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> object:
        """Return the body parsed as JSON."""
        return json.loads(self.body)

    def cookies(self) -> dict[str, str]:
        """Return the cookies this response sets (name to value)."""
        jar: SimpleCookie = SimpleCookie()
        for name, value in self.headers:
            if name.lower() == "set-cookie":
                jar.load(value)
        return {name: morsel.value for name, morsel in jar.items()}


@dataclass(frozen=True, slots=True)
class Server:
    """A running project: its base URL and where its output goes."""

    base_url: str
    log: Path

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one request to the server and return its answer, 4xx and 5xx too."""
        data = None
        sent = dict(headers or {})
        if json_body is not None:
            data = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(
            self.base_url + path, data=data, headers=sent, method=method
        )
        try:
            with _OPENER.open(request, timeout=30) as answer:
                return Response(answer.status, answer.headers.items(), answer.read())
        except urllib.error.HTTPError as error:
            with error:
                return Response(error.code, error.headers.items(), error.read())

    def log_tail(self, lines: int = TAIL_LINES) -> str:
        """Return the last lines the server wrote (tracebacks land here)."""
        return tail(self.log.read_text(encoding="utf-8", errors="replace"), lines)


def server_env(project_env: Mapping[str, str], database_url: str) -> dict[str, str]:
    """Return the environment of a served project: test settings, its database."""
    return {
        **project_env,
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "test",
        "SECRET_KEY": secrets.token_urlsafe(48),
    }


def migrate(project: Path, env: Mapping[str, str], venv: Path) -> None:
    """Build the schema in the database of ``env`` with the project's migrations."""
    run(
        [venv / "bin" / "alembic", "upgrade", "head"], cwd=project, env=env, timeout=120
    )


@contextmanager
def serve(
    project: Path,
    env: Mapping[str, str],
    venv: Path,
    log: Path,
    *,
    app: str = "app.main:app",
    app_dir: Path | None = None,
) -> Iterator[Server]:
    """Run ``app`` under uvicorn on a free loopback port until the block ends."""
    command = [os.fspath(venv / "bin" / "python"), "-m", "uvicorn", app]
    command += ["--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"]
    if app_dir is not None:
        command += ["--app-dir", os.fspath(app_dir)]
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        with log.open("w", encoding="utf-8") as output:
            process = subprocess.Popen(
                [*command, "--port", str(port)],
                cwd=project,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(f"http://127.0.0.1:{port}", log)
        try:
            if _wait_until_healthy(process, server):
                yield server
                return
        finally:
            _stop(process)
        if attempt == START_ATTEMPTS or "address already in use" not in (
            server.log_tail().lower()
        ):
            raise AssertionError(
                f"uvicorn did not serve {app} on {server.base_url}:\n"
                f"{server.log_tail()}"
            )


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_healthy(process: subprocess.Popen[bytes], server: Server) -> bool:
    """Return whether the server answers ``/health`` before it exits or times out."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            if server.request("GET", "/health").status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the server, forcibly if it does not stop within ten seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def register(server: Server, email: str, password: str) -> None:
    """Register a user through the API."""
    answer = server.request(
        "POST", "/auth/register", json_body={"email": email, "password": password}
    )
    assert answer.status == 201, (answer.status, answer.body)


def create_admin(project: Path, env: Mapping[str, str], venv: Path, email: str) -> str:
    """Create an ``admin`` from the command line; return its password."""
    password = secrets.token_urlsafe(ADMIN_PASSWORD_BYTES)
    command = [venv / "bin" / "python", "-m", "app", "create-user", "--email", email]
    run(
        [*command, "--role", "admin"],
        cwd=project,
        env=env,
        timeout=120,
        input=password + "\n",
    )
    return password


def login_headers(server: Server, email: str, password: str) -> dict[str, str]:
    """Log in and return the headers that carry the session on later requests.

    ``Authorization: Bearer`` when the login answers with an access token, else
    the cookies it set with the CSRF header that unsafe requests need.
    """
    answer = server.request(
        "POST", "/auth/login", form={"username": email, "password": password}
    )
    assert answer.status in {200, 204}, (answer.status, answer.body)
    body = answer.json() if answer.body else {}
    if isinstance(body, dict) and "access_token" in body:
        return {"Authorization": f"Bearer {body['access_token']}"}
    cookies = answer.cookies()
    assert "csrftoken" in cookies, f"login set no csrftoken cookie: {cookies}"
    return {
        "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
        "X-CSRF-Token": cookies["csrftoken"],
    }
