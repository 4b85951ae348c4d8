"""Shared helpers of the template's tests: paths, options, hooks and commands."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from cookiecutter.environment import StrictEnvironment
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
COOKIECUTTER_JSON = TEMPLATE_DIR / "cookiecutter.json"
HOOKS_DIR = TEMPLATE_DIR / "hooks"
PROJECT_TEMPLATE_DIR = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"

# Lines of output shown when a command fails.
TAIL_LINES = 60


def choice_options() -> dict[str, list[str]]:
    """Return every choice option of cookiecutter.json with its values, in order."""
    spec = json.loads(COOKIECUTTER_JSON.read_text(encoding="utf-8"))
    return {
        key: list(value)
        for key, value in spec.items()
        if isinstance(value, list) and not key.startswith("_")
    }


def combinations() -> list[dict[str, str]]:
    """Return every combination of the choice options, as extra_context dicts."""
    options = choice_options()
    return [
        dict(zip(options, values, strict=True))
        for values in itertools.product(*options.values())
    ]


def combination_id(combination: Mapping[str, str]) -> str:
    """Return a test id such as ``signed_cookie-none-sqlite``."""
    return "-".join(combination.values())


def answers(extra_context: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the answers cookiecutter gives with ``--no-input`` and extra context."""
    context = generate_context(
        context_file=str(COOKIECUTTER_JSON), extra_context=dict(extra_context or {})
    )
    return dict(prompt_for_config(context, no_input=True))


def render_hook(name: str, answers: Mapping[str, Any]) -> str:
    """Render a hook file the way cookiecutter does before running it."""
    context = {"cookiecutter": dict(answers)}
    environment = StrictEnvironment(context=context, keep_trailing_newline=True)
    source = (HOOKS_DIR / f"{name}.py").read_text(encoding="utf-8")
    return environment.from_string(source).render(**context)


def load_hook(name: str, answers: Mapping[str, Any], directory: Path) -> ModuleType:
    """Render a hook into ``directory`` and import it (``__name__`` is not main)."""
    path = directory / f"{name}.py"
    path.write_text(render_hook(name, answers), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"rendered_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tail(output: str, lines: int = TAIL_LINES) -> str:
    """Return the last lines of a command's output."""
    return "\n".join(output.splitlines()[-lines:])


def run(
    command: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    check: bool = True,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing stdout and stderr together; fail with its tail.

    ``input`` is written to its standard input, which is empty otherwise.
    """
    args = [os.fspath(part) for part in command]
    started = time.monotonic()
    with subprocess.Popen(
        args,
        cwd=cwd,
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            # Communicating again returns all the output, none of it is lost.
            output, _ = process.communicate()
            raise AssertionError(
                _failure(args, cwd, f"timed out after {timeout:.0f}s", output)
            ) from None
    result = subprocess.CompletedProcess(args, process.returncode, output, None)
    if check and result.returncode != 0:
        elapsed = time.monotonic() - started
        status = f"exit status {result.returncode} after {elapsed:.1f}s"
        raise AssertionError(_failure(args, cwd, status, output))
    return result


def _failure(args: Sequence[str], cwd: Path, status: str, output: str) -> str:
    """Return the message shown when a command fails."""
    return (
        f"command failed ({status}): {subprocess.list2cmdline(args)}\n"
        f"in: {cwd}\n"
        f"--- last {TAIL_LINES} lines of output ---\n{tail(output)}"
    )
