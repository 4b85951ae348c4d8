"""Child processes: every one is registered and stopped on the way out."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from paths import loopback


class BenchError(Exception):
    """Something is missing or broken: reported on one line."""


def log(message: str) -> None:
    """Progress, on stderr so that stdout carries only the results."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


class Children:
    """Processes started by the bench, each in its own process group."""

    def __init__(self) -> None:
        """Start with no children."""
        self._procs: list[subprocess.Popen[Any]] = []
        self._lock = threading.Lock()

    def start(self, command: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a child in a process group of its own and remember it."""
        process = loopback.spawn(command, **kwargs)
        with self._lock:
            self._procs.append(process)
        return process

    def stop(self, process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
        """Stop a child and its group: SIGTERM, then SIGKILL after ``timeout``."""
        loopback.stop(process, timeout)
        with self._lock, contextlib.suppress(ValueError):
            self._procs.remove(process)

    def stop_all(self) -> None:
        """Stop every child still running."""
        with self._lock:
            procs = list(reversed(self._procs))
        for process in procs:
            self.stop(process, timeout=5.0)


CHILDREN = Children()


def guarded(body: Callable[[], int]) -> int:
    """Run a script's body; on an error or Ctrl-C stop every child, say so, exit."""
    try:
        return body()
    except BenchError as error:
        CHILDREN.stop_all()
        print(f"bench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        CHILDREN.stop_all()
        print("bench: interrupted; every server it started is stopped", file=sys.stderr)
        return 130


def raise_interrupt(signum: int, _frame: Any) -> None:
    """Turn a signal into KeyboardInterrupt, so that the clean-up runs."""
    raise KeyboardInterrupt(f"signal {signum}")


def last_line(text: str) -> str:
    """Return the last non-empty line of a command's output, for one-line errors."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def run_cmd(
    command: Sequence[str],
    *,
    what: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 600.0,
) -> str:
    """Run a command to its end; return stdout; raise BenchError on failure."""
    try:
        process = CHILDREN.start(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    except FileNotFoundError as error:
        raise BenchError(f"{what}: {error.filename} not found") from None
    try:
        out, err = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what} did not finish within {timeout:.0f} s") from None
    finally:
        CHILDREN.stop(process)
    if process.returncode != 0:
        raise BenchError(
            f"{what} failed (exit {process.returncode}): {last_line(err or out)}"
        )
    return str(out)


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """Return the environment of a child process, with ``extra`` set."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}
    }
    env.update(extra)
    return env


def apt_install(package: str, command: str) -> str | None:
    """Return ``command``'s path, installing ``package`` with apt-get if allowed."""
    path = shutil.which(command)
    if path is None and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", package]
        log(f"{command} is missing: apt-get install -y {package}")
        try:
            run_cmd(install, what=f"apt-get install {package}", env=env, timeout=600)
        except BenchError:
            with contextlib.suppress(BenchError):
                run_cmd(["apt-get", "update", "-q"], what="apt-get update", env=env)
                run_cmd(
                    install, what=f"apt-get install {package}", env=env, timeout=600
                )
        path = shutil.which(command)
    return path
