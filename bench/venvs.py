"""Virtual environments of the bench: its own, the generated apps', the peer's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from paths import BENCH_DIR, TEMPLATE_DIR, loopback
from procs import BenchError, last_line, log, run_cmd

VENV_BENCH = BENCH_DIR / ".venv-bench"
VENV_APP = BENCH_DIR / ".venv-app"
VENV_PEER = BENCH_DIR / ".venv-peer"
# The packages whose versions head the report.
VERSIONED = (
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "uvloop",
    "httptools",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "pwdlib",
    "argon2-cffi",
    "itsdangerous",
    "pyjwt",
    "fastapi-users",
    "fastapi-users-db-sqlalchemy",
)


def base_python() -> str:
    """Return the interpreter that new virtual environments are made from."""
    return getattr(sys, "_base_executable", None) or sys.executable


def read_requirements(path: Path) -> list[str]:
    """Return the requirement lines of a requirements file, comments dropped."""
    lines = (
        line.split("#", 1)[0].strip() for line in path.read_text("utf-8").splitlines()
    )
    return [line for line in lines if line]


def ensure_venv(venv: Path, requirements: Sequence[str]) -> Path:
    """Create ``venv`` if needed and make sure ``requirements`` are installed.

    A stamp file lists what was installed; nothing is asked of PyPI when the
    wanted requirements are already in it.
    """
    python = loopback.venv_bin(venv, "python")
    stamp = venv / "bench-requirements.txt"
    wanted = set(requirements)
    have: set[str] = set()
    if python.exists() and stamp.exists():
        have = set(stamp.read_text(encoding="utf-8").splitlines())
        if wanted <= have:
            return python
    relative = venv.relative_to(TEMPLATE_DIR)
    if not python.exists():
        log(f"creating {relative}")
        try:
            subprocess.run(
                [base_python(), "-m", "venv", str(venv)],
                check=True,
                capture_output=True,
                text=True,
            )
        except subprocess.CalledProcessError as error:
            raise BenchError(
                f"python -m venv {relative} failed: {last_line(error.stderr)} "
                "(on Debian: apt-get install python3-venv)"
            ) from None
    everything = sorted(wanted | have)
    log(f"installing into {relative}: {' '.join(sorted(wanted - have))}")
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    run_cmd(
        [*pip, "--quiet", *everything],
        what=f"pip install into {relative}",
        timeout=900,
    )
    stamp.write_text("\n".join(everything) + "\n", encoding="utf-8")
    return python


def package_versions(python: Path) -> dict[str, str]:
    """Return the versions of the packages that matter, as installed in a venv."""
    code = (
        "import json, importlib.metadata as m\n"
        "out = {}\n"
        f"for name in {list(VERSIONED)!r}:\n"
        "    try: out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    out = run_cmd([str(python), "-c", code], what="reading package versions")
    versions: dict[str, str] = json.loads(out)
    return versions


def in_venv(venv: Path) -> bool:
    """Return whether this interpreter runs in ``venv``."""
    return Path(sys.prefix).resolve() == venv.resolve()


def enter_bench_venv(script: str, argv: Sequence[str]) -> None:
    """Run ``script`` again in bench/.venv-bench (made first if need be).

    Return only when this interpreter already runs in it.
    """
    if in_venv(VENV_BENCH):
        return
    if sys.version_info < (3, 11):  # noqa: UP036 - any python3 may start this
        raise BenchError("Python 3.11 or newer is needed")
    python = ensure_venv(VENV_BENCH, read_requirements(BENCH_DIR / "requirements.txt"))
    os.execv(str(python), [str(python), str(Path(script).resolve()), *argv])
