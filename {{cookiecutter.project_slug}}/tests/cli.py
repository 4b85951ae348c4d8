"""The command line, run in this process or in a process of its own.

``python -m app`` takes about two seconds to start, most of it importing the
app, and the suite runs its commands dozens of times. ``cli`` runs
``app.cli.main`` in this process instead, as ``app/__main__.py`` does: same
arguments, environment, working folder and standard input, same exit status
and output. ``cli_process`` runs the real ``python -m app``; the tests that
are about the process itself (its exit status and lines on a real terminal
or pipe) use it.

The command runs in a thread of its own: it calls ``asyncio.run``, which
cannot run inside an async test's event loop. Its output is captured from
``sys.stdout`` and ``sys.stderr``, so run one command at a time.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import chdir, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass

import anyio

from app import cli as app_cli
from app.config import get_settings
from app.main import create_app, release
from tests.servers import PROJECT_ROOT

COMMAND_TIMEOUT = 60.0


@dataclass(frozen=True)
class CliResult:
    """What a command left: its exit status and its two outputs."""

    returncode: int
    stdout: str
    stderr: str


def cli(database_url: str, *args: str, stdin: str = "") -> CliResult:
    """Run ``python -m app ARGS`` on ``database_url`` in this process."""
    return run_in_process(
        lambda: app_cli.main(list(args)), {"DATABASE_URL": database_url}, stdin
    )


async def cli_async(database_url: str, *args: str, stdin: str = "") -> CliResult:
    """``cli`` from an async test, its event loop left free meanwhile."""
    return await anyio.to_thread.run_sync(lambda: cli(database_url, *args, stdin=stdin))


def start_app(env: Mapping[str, str]) -> CliResult:
    """Build the app from the environment with ``env`` added, as its process does.

    What ``import app.main`` does when uvicorn starts the app, in this
    process: a refusal is a one-line ``SystemExit``, as in the real one
    (tests/test_config.py starts one to show it).
    """

    def start() -> None:
        asyncio.run(release(create_app()))

    return run_in_process(start, env)


def cli_process(
    database_url: str, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m app ARGS`` on ``database_url`` in a process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=COMMAND_TIMEOUT,
    )


def run_in_process(
    entry: Callable[[], object], env: Mapping[str, str], stdin: str = ""
) -> CliResult:
    """Run ``entry`` as the body of a program, with ``env`` added to its environment.

    The exit status is what Python makes of ``raise SystemExit(entry())``:
    ``None`` is 0, a number is itself, a message is printed on standard error
    and gives 1. Any other exception is raised here, as the test's failure.
    """
    stdout, stderr = io.StringIO(), io.StringIO()
    outcome: list[object] = []

    def program() -> None:
        try:
            outcome.append(entry())
        except SystemExit as stop:
            outcome.append(stop.code)
        except BaseException as error:  # raised again in the test
            outcome.append(error)

    with (
        _environment(env),
        chdir(PROJECT_ROOT),
        _stdin(io.StringIO(stdin)),
        redirect_stdout(stdout),
        redirect_stderr(stderr),
    ):
        thread = threading.Thread(target=program, name="cli", daemon=True)
        thread.start()
        thread.join(COMMAND_TIMEOUT)
        assert not thread.is_alive(), f"the command ran over {COMMAND_TIMEOUT}s"
    (code,) = outcome
    if isinstance(code, BaseException):
        raise code
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=stderr)
        code = 1
    return CliResult(code, stdout.getvalue(), stderr.getvalue())


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """Add ``env`` to ``os.environ``; settings are read afresh inside and after."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


@contextmanager
def _stdin(stream: io.StringIO) -> Iterator[None]:
    saved, sys.stdin = sys.stdin, stream
    try:
        yield
    finally:
        sys.stdin = saved
