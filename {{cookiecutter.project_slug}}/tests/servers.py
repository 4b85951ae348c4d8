"""Real uvicorn processes for the tests that need more than one process."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

import httpx

from tests.helpers import PASSWORD, TEST_SECRET_KEY

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Seconds a server may take to answer: a loaded machine starts it slowly.
STARTUP_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def uvicorn_server(
    database_url: str,
    *,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    workers: int = 1,
) -> Iterator[str]:
    """Run ``app.main:app`` in its own process(es); yield its base URL.

    ``env`` adds settings; ``log``, if given, receives the server's log. With
    ``workers`` above 1, uvicorn's worker processes share one socket.
    """
    with _started(database_url, env=env, log=log, workers=workers) as server:
        _wait_until_healthy(*server)
        yield server[1]


@contextmanager
def uvicorn_servers(
    database_url: str,
    workers: Sequence[int],
    *,
    env: Mapping[str, str] | None = None,
) -> Iterator[list[str]]:
    """Run one server per item of ``workers`` (its worker processes) on one database.

    Yield their base URLs. They start side by side: each process spends
    seconds importing the app.
    """
    with ExitStack() as stack:
        started = [
            stack.enter_context(_started(database_url, env=env, workers=count))
            for count in workers
        ]
        for server in started:
            _wait_until_healthy(*server)
        yield [base_url for _process, base_url, _log in started]


@contextmanager
def _started(
    database_url: str,
    *,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    workers: int = 1,
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path | None]]:
    """Start the server process; yield it with its base URL and log, not waiting."""
    port = _free_port()
    environment = {
        **os.environ,
        "ENVIRONMENT": "test",
        "SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": database_url,
        **(env or {}),
    }
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)]
    # As README.md runs it in production: no Server header.
    command += ["--workers", str(workers), "--no-server-header"]
    with ExitStack() as files:
        stderr: IO[bytes] | int = (
            subprocess.PIPE if log is None else files.enter_context(log.open("wb"))
        )
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--log-level", "warning"],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            yield process, f"http://127.0.0.1:{port}", log
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()


def _wait_until_healthy(
    process: subprocess.Popen[bytes], base_url: str, log: Path | None = None
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if log is not None:
                errors = log.read_text(errors="replace")
            else:
                errors = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"uvicorn exited early: {errors[-2000:]}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"uvicorn did not answer on {base_url}")


async def register_on(client: httpx.AsyncClient, base_url: str) -> dict[str, str]:
    """Register a new user through the server at ``base_url``; return its login form."""
    email = f"ada-{secrets.token_hex(4)}@example.com"
    response = await client.post(
        f"{base_url}/auth/register", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    return {"username": email, "password": PASSWORD}
