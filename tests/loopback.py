"""A generated project on loopback: a free port, uvicorn serving it, a login.

Shared by the template's tests (``live.py``) and its benchmark (``bench/``),
which imports it by path: standard library only, since the bench runs in a
venv of its own that holds none of the tests' tools.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

FORM = "application/x-www-form-urlencoded"
CSRF_COOKIE = "csrftoken"
CSRF_HEADER = "X-CSRF-Token"
STARTUP_TIMEOUT = 30.0
# Another process may take the free port between our look and uvicorn's bind.
START_ATTEMPTS = 3
UVICORN_OPTIONS = ("--no-access-log", "--log-level", "warning")

Spawn = Callable[..., "subprocess.Popen[Any]"]


class LoopbackError(Exception):
    """The served project did not start, or did not answer as expected."""


def venv_bin(venv: Path, name: str) -> Path:
    """Return the path of a command installed in a virtual environment."""
    return venv / "bin" / name


def write_cookiecutter_config(directory: Path) -> Path:
    """Write a cookiecutter config that keeps clones and replays in ``directory``."""
    config = {
        "cookiecutters_dir": str(directory / "cookiecutters"),
        "replay_dir": str(directory / "replay"),
    }
    path = directory / "cookiecutter-config.yaml"
    # JSON is valid YAML, so no YAML writer is needed.
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def request(
    port: int,
    method: str,
    path: str,
    *,
    body: str | bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Send one request to 127.0.0.1; return status, headers and body.

    ``http.client`` rather than urllib: no proxy from the environment and no
    cookie jar come between the caller and the server.
    """
    connection = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, response.msg, response.read()
    finally:
        if conn is None:
            connection.close()


def spawn(command: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """Start a process in a group of its own, so that ``stop`` ends its children."""
    return subprocess.Popen(list(command), start_new_session=True, **kwargs)


def stop(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Stop a process and its group: SIGTERM, then SIGKILL after ``timeout``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start_uvicorn(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    timeout: float = STARTUP_TIMEOUT,
    start: Spawn = spawn,
) -> tuple[subprocess.Popen[Any], int]:
    """Serve ``command`` (uvicorn and its app) on a free port of 127.0.0.1.

    Return the process and its port once ``GET /health`` answers 200. Its
    output goes to ``log``; ``start`` starts the process (the bench registers
    its children to stop them on Ctrl-C).
    """
    attempts = START_ATTEMPTS
    while True:
        port = free_port()
        options = ["--host", "127.0.0.1", "--port", str(port), *UVICORN_OPTIONS]
        with log.open("wb") as output:
            process = start(
                [*command, *options],
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        if _answers_health(process, port, timeout):
            return process, port
        exited = process.poll() is not None
        stop(process)
        attempts -= 1
        output_text = log.read_text(encoding="utf-8", errors="replace")
        if not attempts or "address already in use" not in output_text:
            what = "exited at start-up" if exited else "did not answer /health"
            raise LoopbackError(
                f"uvicorn {what} (port {port}, {timeout:.0f} s at most); "
                f"its output ends:\n{output_text[-4000:]}"
            )


def _answers_health(process: subprocess.Popen[Any], port: int, timeout: float) -> bool:
    """Return whether ``GET /health`` answers 200 before the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(OSError, http.client.HTTPException):
            if request(port, "GET", "/health", timeout=2)[0] == 200:
                return True
        time.sleep(0.1)
    return False


def login_form(email: str, password: str) -> str:
    """Return the OAuth2 password form of a login."""
    return urllib.parse.urlencode({"username": email, "password": password})


def register(port: int, email: str, password: str) -> None:
    """Register a user through the API."""
    payload = json.dumps({"email": email, "password": password})
    status, _, data = request(
        port,
        "POST",
        "/auth/register",
        body=payload,
        headers={"Content-Type": "application/json"},
    )
    if status != 201:
        raise LoopbackError(f"POST /auth/register answered {status}: {data[:200]!r}")


def log_in(
    port: int, email: str, password: str, *, csrf: bool = True
) -> dict[str, str]:
    """Log in; return the headers that carry the session on later requests.

    ``Authorization: Bearer`` when the login answers with an access token,
    else the cookies it set, with the CSRF header that unsafe requests need
    when one is the CSRF cookie and ``csrf`` is true.
    """
    status, headers, data = request(
        port,
        "POST",
        "/auth/login",
        body=login_form(email, password),
        headers={"Content-Type": FORM},
    )
    if status not in {200, 204}:
        raise LoopbackError(f"POST /auth/login answered {status}: {data[:200]!r}")
    json_answer = data and "json" in (headers["Content-Type"] or "")
    payload = json.loads(data) if json_answer else None
    if isinstance(payload, dict) and payload.get("access_token"):
        return {"Authorization": f"Bearer {payload['access_token']}"}
    jar: SimpleCookie = SimpleCookie()
    for value in headers.get_all("Set-Cookie") or []:
        jar.load(value)
    if not jar:
        raise LoopbackError("POST /auth/login set no cookie and sent no access_token")
    cookies = "; ".join(f"{name}={morsel.coded_value}" for name, morsel in jar.items())
    session = {"Cookie": cookies}
    if csrf and CSRF_COOKIE in jar:
        session[CSRF_HEADER] = jar[CSRF_COOKIE].value
    return session
