"""Targets: a generated project or the fastapi-users peer, set up and served."""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from loading import Loader
from machine import Machine
from paths import BENCH_DIR, TEMPLATE_DIR, loopback
from procs import CHILDREN, BenchError, child_env, log, run_cmd
from server import EMAIL, STARTUP_TIMEOUT, Server, start_server
from venvs import VENV_APP, VENV_PEER, ensure_venv, package_versions, read_requirements

PEER_APP = BENCH_DIR / "peer_fastapi_users.py"


@dataclass
class Target:
    """One app to measure: ours (a generated project) or the fastapi-users peer."""

    kind: str  # "ours" or "peer"
    strategy: str
    database: str

    @property
    def name(self) -> str:
        """Return the name shown in the report."""
        if self.kind == "peer":
            return f"fastapi-users {self.strategy}/{self.database}"
        return f"ours {self.strategy}/{self.database}"

    @property
    def slug(self) -> str:
        """Return a name usable in file names."""
        return f"{self.kind}-{self.strategy}-{self.database}"


@dataclass
class Context:
    """What every measurement needs."""

    args: argparse.Namespace
    machine: Machine
    loader: Loader
    tmp: Path
    password: str
    versions: dict[str, dict[str, str]] = field(default_factory=dict)
    rbac: str = ""
    # Put before each server's command (bench/instructions.py: valgrind).
    server_prefix: list[str] = field(default_factory=list)
    startup_timeout: float = STARTUP_TIMEOUT


def choices(option: str) -> list[str]:
    """Return an option's choice list from cookiecutter.json."""
    data = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text(encoding="utf-8"))
    values = data.get(option)
    if not isinstance(values, list):
        raise BenchError(f"cookiecutter.json has no choice list for {option!r}")
    return [str(v) for v in values]


def pick(option: str, given: str | None, default: list[str]) -> list[str]:
    """Return the chosen values of an option, checked against cookiecutter.json."""
    allowed = choices(option)
    if given is None:
        return default
    picked = [v.strip() for v in given.split(",") if v.strip()]
    unknown = [v for v in picked if v not in allowed]
    if unknown:
        raise BenchError(
            f"{option} {unknown[0]!r} is not in cookiecutter.json: {', '.join(allowed)}"
        )
    return picked


def bake(template: Path, out: Path, extra_context: dict[str, str]) -> Path:
    """Generate a project into ``out`` with cookiecutter's Python API."""
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.main import cookiecutter

    out.mkdir(parents=True, exist_ok=True)
    # Cookiecutter's clones and replay files stay beside the project.
    config = loopback.write_cookiecutter_config(out)
    try:
        project = cookiecutter(
            str(template),
            no_input=True,
            output_dir=str(out),
            config_file=str(config),
            extra_context=extra_context,
        )
    except (CookiecutterException, SystemExit, OSError) as error:
        raise BenchError(f"cookiecutter failed: {error}") from None
    return Path(project)


def project_dependencies(project: Path) -> list[str]:
    """Return the generated project's runtime dependencies."""
    import tomllib

    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    deps: list[str] = data["project"]["dependencies"]
    return deps


def install_and_migrate(
    project: Path, database_url: str, environment: str
) -> tuple[Path, dict[str, str]]:
    """Install a project's dependencies in bench/.venv-app, migrate its database.

    Return the venv's python and the environment the project runs in.
    """
    python = ensure_venv(VENV_APP, project_dependencies(project))
    env = child_env(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ENVIRONMENT": environment,
        }
    )
    run_cmd(
        [str(python), "-m", "alembic", "upgrade", "head"],
        what="alembic upgrade head",
        cwd=project,
        env=env,
        timeout=180,
    )
    return python, env


def create_user(
    python: Path, project: Path, env: dict[str, str], email: str, password: str
) -> None:
    """Create a user with the project's command line."""
    run_cmd(
        [str(python), "-m", "app", "create-user", "--email", email],
        what="python -m app create-user",
        cwd=project,
        env=env,
        stdin=password + "\n",
        timeout=120,
    )


def pg_admin(python: Path, sql: str) -> None:
    """Run one SQL statement as postgres on 127.0.0.1:5432."""
    code = (
        "import asyncio, sys, asyncpg\n"
        "async def main():\n"
        "    conn = await asyncpg.connect(host='127.0.0.1', port=5432, "
        "user='postgres', database='postgres', timeout=10)\n"
        "    try:\n"
        "        await conn.execute(sys.argv[1])\n"
        "    finally:\n"
        "        await conn.close()\n"
        "asyncio.run(main())\n"
    )
    run_cmd([str(python), "-c", code, sql], what=f"PostgreSQL: {sql}", timeout=60)


def drop_database(python: Path, name: str) -> None:
    """Drop a benchmark database; a failure is logged, not raised."""
    try:
        pg_admin(python, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except BenchError as error:
        log(f"could not drop database {name}: {error}")


def database_url(project: Path, target: Target, stack: contextlib.ExitStack) -> str:
    """Return the URL of a new database for the target, dropped with ``stack``."""
    if target.database == "sqlite":
        return f"sqlite+aiosqlite:///{project / 'bench.db'}"
    # asyncpg is among the project's dependencies, so in .venv-app.
    python = ensure_venv(VENV_APP, project_dependencies(project))
    name = f"bench_{target.strategy}_{secrets.token_hex(4)}"
    pg_admin(python, f'CREATE DATABASE "{name}"')
    stack.callback(drop_database, python, name)
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def serve(
    ctx: Context,
    target: Target,
    command: list[str],
    cwd: Path,
    env: dict[str, str],
    stack: contextlib.ExitStack,
) -> Server:
    """Start the target's server, stopped with ``stack``."""
    server = start_server(
        target.name,
        [*ctx.server_prefix, *command],
        cwd=cwd,
        env=env,
        log_path=ctx.tmp / f"{target.slug}.log",
        machine=ctx.machine,
        startup_timeout=ctx.startup_timeout,
    )
    stack.callback(CHILDREN.stop, server.process)
    return server


def prepare_ours(ctx: Context, target: Target, stack: contextlib.ExitStack) -> Server:
    """Generate, install, migrate, create the user and serve one of our projects."""
    log(f"{target.name}: generating, installing, migrating")
    project = bake(
        TEMPLATE_DIR,
        ctx.tmp / target.slug,
        {
            "project_name": "Bench App",
            "session_strategy": target.strategy,
            "database": target.database,
        },
    )
    url = database_url(project, target, stack)
    python, env = install_and_migrate(project, url, ctx.args.environment)
    create_user(python, project, env, EMAIL, ctx.password)
    command = [str(python), "-m", "uvicorn", "app.main:app"]
    server = serve(ctx, target, command, project, env, stack)
    if "ours" not in ctx.versions:
        ctx.versions["ours"] = package_versions(python)
    return server


def prepare_peer(ctx: Context, target: Target, stack: contextlib.ExitStack) -> Server:
    """Install, create the tables, serve and register the user of the peer."""
    log(f"{target.name}: installing, creating tables")
    python = ensure_venv(
        VENV_PEER, read_requirements(BENCH_DIR / "requirements-peer.txt")
    )
    database = ctx.tmp / f"{target.slug}.db"
    env = child_env(
        {
            "PEER_STRATEGY": target.strategy,
            "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "SECRET_KEY": secrets.token_urlsafe(48),
        }
    )
    run_cmd(
        [str(python), str(PEER_APP), "init-db"],
        what="peer init-db",
        cwd=ctx.tmp,
        env=env,
        timeout=120,
    )
    command = [str(python), "-m", "uvicorn", "peer_fastapi_users:app"]
    command += ["--app-dir", str(BENCH_DIR)]
    server = serve(ctx, target, command, ctx.tmp, env, stack)
    try:
        loopback.register(server.port, EMAIL, ctx.password)
    except loopback.LoopbackError as error:
        raise BenchError(f"peer {error}") from None
    if "peer" not in ctx.versions:
        ctx.versions["peer"] = package_versions(python)
    return server
