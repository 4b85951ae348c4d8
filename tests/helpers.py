"""Shared helpers of the template's tests: paths, options, hooks and commands."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from cookiecutter.environment import StrictEnvironment
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config
from packaging.utils import canonicalize_name
from uv import find_uv_bin

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
COOKIECUTTER_JSON = TEMPLATE_DIR / "cookiecutter.json"
HOOKS_DIR = TEMPLATE_DIR / "hooks"
PROJECT_TEMPLATE_DIR = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
CACHE_DIR = TEMPLATE_DIR / ".cache"
# uv's wheel cache, shared by every project's venv (hard links, no copies).
UV_CACHE_DIR = CACHE_DIR / "uv"
# The first install of a run may download every dependency.
INSTALL_TIMEOUT = 900
# ``name==version`` with an optional environment marker, as uv writes them.
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)\s*(?:;.*)?$")

# Inherited variables that would change what a project's tools do.
FOREIGN_PREFIXES = ("PYTEST_", "PYTHON", "VIRTUAL_ENV", "MYPY", "RUFF_", "GIT_")
FOREIGN_NAMES = {"DATABASE_URL", "TEST_DATABASE_URL", "SECRET_KEY", "ENVIRONMENT"}
FOREIGN_NAMES |= {"PRE_COMMIT_HOME", "SKIP"}
# Lines of output shown when a command fails.
TAIL_LINES = 60
# Folders of a generated project that its tools make, not the template.
CACHE_DIRS = {".git", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
CACHE_DIRS |= {"__pycache__"}
SECRET_LINE = re.compile(r"^SECRET_KEY=(.*)$", re.MULTILINE)


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


def render_project_file(relative: str, answers: Mapping[str, Any]) -> str:
    """Render one file of the project template with the given answers."""
    context = {"cookiecutter": dict(answers)}
    environment = StrictEnvironment(context=context, keep_trailing_newline=True)
    source = (PROJECT_TEMPLATE_DIR / relative).read_text(encoding="utf-8")
    return environment.from_string(source).render(**context)


def project_requirements(combination: Mapping[str, str]) -> list[str]:
    """Return what a combination's project installs: runtime and ``dev`` extra."""
    pyproject = tomllib.loads(
        render_project_file("pyproject.toml", answers(combination))
    )
    project = pyproject["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["dev"]]


def tools_env() -> dict[str, str]:
    """Return this process's environment for a project's tools and git.

    Without what would change their behaviour, with a git identity and no
    user or system git configuration.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(FOREIGN_PREFIXES) and name not in FOREIGN_NAMES
    }
    env.update(
        GIT_AUTHOR_NAME="Template Tests",
        GIT_AUTHOR_EMAIL="template-tests@example.com",
        GIT_COMMITTER_NAME="Template Tests",
        GIT_COMMITTER_EMAIL="template-tests@example.com",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        NO_COLOR="1",
    )
    return env


def read_pins(constraints: Path) -> dict[str, str]:
    """Return the pinned version of each package of a constraints file."""
    pins: dict[str, str] = {}
    for line in constraints.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.fullmatch(line.strip())
        assert match, f"{constraints.name}: not an exact pin: {line!r}"
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def install_project(project: Path) -> Path:
    """Install a generated project in its own ``.venv``, as its README does.

    The README's ``python3 -m venv .venv && .venv/bin/pip install -c
    constraints.txt -e '.[dev]'``, done by uv for speed: the venv holds what
    the project's own ``pyproject.toml`` asks for and nothing else, so a
    missing dependency fails the project's checks. Every distribution
    installed must be pinned by the project's ``constraints.txt``.
    """
    venv = project / ".venv"
    python = venv / "bin" / "python"
    env = {name: value for name, value in os.environ.items() if name != "VIRTUAL_ENV"}
    env.setdefault("UV_CACHE_DIR", str(UV_CACHE_DIR))
    env.update(UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")
    uv = [find_uv_bin(), "--no-config", "--quiet"]
    run([*uv, "venv", "--python", sys.executable, venv], cwd=project, env=env)
    install = ["pip", "install", "--python", python, "--constraint", "constraints.txt"]
    # As pip does by default (uv does not): the dependencies' bytecode is made
    # at install, by uv in parallel, not by the first process that imports
    # each module (importing app.main from source takes about 2 s more here).
    install.append("--compile-bytecode")
    run(
        [*uv, *install, "--editable", ".[dev]"],
        cwd=project,
        env=env,
        timeout=INSTALL_TIMEOUT,
    )
    freeze = ["pip", "freeze", "--python", python, "--exclude-editable"]
    installed = run([*uv, *freeze], cwd=project, env=env).stdout.splitlines()
    pins = read_pins(project / "constraints.txt")
    unpinned = [line for line in installed if not _pinned(line, pins)]
    assert not unpinned, (
        f"installed but not pinned by constraints.txt: {unpinned}; "
        "run `python scripts/lock.py` in the template"
    )
    return venv


def _pinned(line: str, pins: Mapping[str, str]) -> bool:
    """Whether a ``pip freeze`` line is the version that ``pins`` names."""
    match = PIN.fullmatch(line.strip())
    return match is not None and pins.get(canonicalize_name(match[1])) == match[2]


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


def psql(sql: str, cwd: Path) -> None:
    """Run one SQL statement on the local PostgreSQL server as ``postgres``."""
    command = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"]
    run([*command, "-v", "ON_ERROR_STOP=1", "-c", sql], cwd=cwd, timeout=60)


def text_files(root: Path) -> Iterator[tuple[Path, str]]:
    """Yield every text file under ``root`` with its content, caches excluded."""
    for path in sorted(root.rglob("*")):
        if not path.is_file() or CACHE_DIRS.intersection(path.relative_to(root).parts):
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            yield path, data.decode("utf-8")
        except UnicodeDecodeError:
            continue


def secret_key(env_file: Path) -> str:
    """Return the SECRET_KEY value of an env file, without quotes."""
    match = SECRET_LINE.search(env_file.read_text(encoding="utf-8"))
    assert match, f"no SECRET_KEY line in {env_file.name}"
    return match.group(1).strip().strip("'\"")
