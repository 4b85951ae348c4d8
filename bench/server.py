"""A target's uvicorn, pinned to the server's core, and its benchmark user."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from machine import Machine
from paths import loopback
from procs import CHILDREN, BenchError, last_line

EMAIL = "bench@example.com"
STARTUP_TIMEOUT = 60.0


@dataclass
class Server:
    """A uvicorn process serving one target."""

    name: str
    process: subprocess.Popen[Any]
    port: int
    log_path: Path

    def died(self) -> str | None:
        """Return the last line of its log if the server has exited, else None."""
        if self.process.poll() is None:
            return None
        return last_line(self.log_path.read_text(errors="replace"))


def start_server(
    name: str,
    command: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    machine: Machine,
    startup_timeout: float = STARTUP_TIMEOUT,
) -> Server:
    """Start uvicorn with 1 worker, pinned; return once /health is 200."""
    try:
        process, port = loopback.start_uvicorn(
            [*machine.pin_server(), *command, "--workers", "1"],
            cwd=cwd,
            env=env,
            log=log_path,
            timeout=startup_timeout,
            start=CHILDREN.start,
        )
    except loopback.LoopbackError as error:
        first = str(error).splitlines()[0]
        raise BenchError(f"{name}: {first} {last_line(str(error))}") from None
    return Server(name, process, port, log_path)


def log_in(port: int, password: str) -> dict[str, str]:
    """Log in as the benchmark user; return the header that authenticates."""
    try:
        # Only GETs follow: no CSRF header, so the measured request stays lean.
        auth = loopback.log_in(port, EMAIL, password, csrf=False)
    except loopback.LoopbackError as error:
        raise BenchError(str(error)) from None
    status, _, data = loopback.request(port, "GET", "/auth/me", headers=auth)
    if status != 200:
        raise BenchError(f"GET /auth/me after login answered {status}: {data[:200]!r}")
    return auth
