"""A generated project served for real, for the matrix's fuzzing and browser steps.

They talk to the project over HTTP, as a client would. The server runs from
the project's own venv on a free port of 127.0.0.1 (``loopback.py``, shared
with the bench), with ``ENVIRONMENT=test`` and a database migrated for it alone.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import loopback
from helpers import TAIL_LINES, run, tail

# A password the fuzzer cannot guess: it never ends the session by accident.
ADMIN_PASSWORD_BYTES = 24


@dataclass(frozen=True, slots=True)
class Response:
    """What one HTTP exchange answered."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def json(self) -> object:
        """Return the body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class Server:
    """A running project: its port and where its output goes."""

    port: int
    log: Path

    @property
    def base_url(self) -> str:
        """Return the URL of the server's root, without the final slash."""
        return f"http://127.0.0.1:{self.port}"

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
            data = json.dumps(json_body)
            sent["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form)
            sent["Content-Type"] = loopback.FORM
        status, answer, body = loopback.request(
            self.port, method, path, body=data, headers=sent
        )
        return Response(status, answer.items(), body)

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
    alembic = loopback.venv_bin(venv, "alembic")
    run([alembic, "upgrade", "head"], cwd=project, env=env, timeout=120)


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
    command = [os.fspath(loopback.venv_bin(venv, "python")), "-m", "uvicorn", app]
    if app_dir is not None:
        command += ["--app-dir", os.fspath(app_dir)]
    process, port = loopback.start_uvicorn(command, cwd=project, env=env, log=log)
    try:
        yield Server(port, log)
    finally:
        loopback.stop(process)


def create_admin(project: Path, env: Mapping[str, str], venv: Path, email: str) -> str:
    """Create an ``admin`` from the command line; return its password."""
    password = secrets.token_urlsafe(ADMIN_PASSWORD_BYTES)
    python = os.fspath(loopback.venv_bin(venv, "python"))
    run(
        [python, "-m", "app", "create-user", "--email", email, "--role", "admin"],
        cwd=project,
        env=env,
        timeout=120,
        input=password + "\n",
    )
    return password
