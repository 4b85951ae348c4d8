#!/usr/bin/env python3
"""Cost that does not grow with the data: /auth/me and login on a filled store.

    python bench/scale.py                      # 1k, 100k, 1M users; every strategy
    python bench/scale.py --quick              # 1k and 10k, SQLite, 3 rounds
    python bench/scale.py --sizes 1000,100000 --strategies database \
        --databases postgresql

For each session strategy and database it generates a project, migrates it,
creates the bench user with ``python -m app create-user`` and serves it as
``bench/run.py`` does (``targets.py``). Then, for each size in turn, it grows
the same database to that many users, each with a live session (``database``)
or a refresh family (``jwt``), a role and, when the schema has a ``security_events``
table, an event (``bench/scale_db.py``, bulk SQL), and measures:

- rounds of ``/health`` then ``/auth/me``; the median round's ratio, as
  ``bench/run.py`` reports it; and ``/auth/login``;
- the plan of every statement a login and an ``/auth/me`` send, captured
  from the application in process and explained on the filled database.

At the largest size, it adds as many expired rows (sessions or refresh
families, login failures, old events) and runs the project's cleanup command
while ``/auth/me`` is loaded and one client logs in twice a second; the same
load without cleanup is the baseline. Last, it sends ``--flood`` requests, each
with a credential never seen before (valid signed cookies or access tokens
minted with the project's SECRET_KEY), and samples the server's resident
memory: the per-process caches of verified credentials must level it off.

Results go to ``bench/scale.md`` and ``bench/scale.json`` (``--output``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loading import Loader, LoginLoop
from machine import detect_machine, find_wrk, postgres_reachable, rss_kib
from measuring import _login_run, _rounds
from paths import BENCH_DIR, TEMPLATE_DIR
from procs import CHILDREN, BenchError, guarded, log, raise_interrupt, run_cmd
from results import LoadResult, as_json
from scale_report import render
from server import EMAIL, Server, log_in
from targets import (
    Context,
    Target,
    bake,
    choices,
    create_user,
    database_url,
    install_and_migrate,
    pick,
    serve,
)
from venvs import enter_bench_venv

SCALE_DB = BENCH_DIR / "scale_db.py"
SIZES = "1000,100000,1000000"
QUICK_SIZES = "1000,10000"


@dataclass
class SizeResult:
    """What one size of the store measured."""

    users: int
    rows: dict[str, int]
    fill_seconds: float
    analyse_seconds: float | None
    round_ratios: list[float] = field(default_factory=list)
    me_over_health: float | None = None
    health: LoadResult | None = None
    me: LoadResult | None = None
    login: LoadResult | None = None
    server_rss_kib: int | None = None
    plans: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Logins:
    """The logins of the login loop beside a load."""

    count: int
    statuses: dict[str, int]
    failures: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None


@dataclass
class Cleanup:
    """The cleanup command on expired rows, under load, and the same load without."""

    expired_rows: dict[str, int]
    fill_seconds: float
    command: str
    output: str
    exit_status: int
    seconds: float
    baseline_me: LoadResult
    baseline_logins: Logins
    during_me: list[LoadResult]
    during_logins: Logins
    rows_after: dict[str, int]
    # The plans with the expired rows in place, before cleanup removes them.
    plans: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Flood:
    """Distinct credentials sent to /auth/me, and the server's memory meanwhile."""

    credentials: str
    requests: int
    seconds: float
    statuses: dict[str, int]
    rss_kib: list[tuple[int, int]]


@dataclass
class TargetScale:
    """Everything measured of one strategy on one database."""

    name: str
    strategy: str
    database: str
    sizes: list[SizeResult]
    cleanup: Cleanup | None = None
    flood: Flood | None = None
    error: str | None = None
    seconds: float = 0.0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Read the options."""
    parser = argparse.ArgumentParser(
        prog="python bench/scale.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"sizes {QUICK_SIZES}, 3 rounds, SQLite, a 20,000-request flood",
    )
    parser.add_argument("--sizes", help=f"users at each step (default {SIZES})")
    parser.add_argument(
        "--strategies", help="session strategies (default: all in cookiecutter.json)"
    )
    parser.add_argument(
        "--databases",
        help="databases (default: sqlite, and postgresql when a server answers "
        "on 127.0.0.1:5432; --quick: sqlite)",
    )
    parser.add_argument(
        "--phases",
        default="scaling,plans,cleanup,memory",
        help="what to measure (default: scaling,plans,cleanup,memory)",
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds of /health then /auth/me (default 9)"
    )
    parser.add_argument("--duration", type=int, default=2, help="seconds per run (2)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds (1)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--login-connections", type=int, default=4)
    parser.add_argument(
        "--cleanup-chunk",
        type=int,
        default=5,
        help="seconds of each /auth/me run while cleanup runs; runs follow each "
        "other until it ends (default 5)",
    )
    parser.add_argument(
        "--login-rate", type=float, default=2.0, help="logins/s beside cleanup (2)"
    )
    parser.add_argument(
        "--flood",
        type=int,
        help="requests with distinct credentials in the memory run (default 200000)",
    )
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--environment", default="production")
    parser.add_argument(
        "--output",
        type=Path,
        default=BENCH_DIR,
        help="folder of scale.md and scale.json",
    )
    parser.add_argument("--keep", action="store_true", help="keep the projects")
    args = parser.parse_args(argv)
    args.sizes = sorted(
        {
            int(s)
            for s in (args.sizes or (QUICK_SIZES if args.quick else SIZES)).split(",")
        }
    )
    if args.rounds is None:
        args.rounds = 3 if args.quick else 9
    if args.flood is None:
        args.flood = 20_000 if args.quick else 200_000
    args.phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    unknown = args.phases - {"scaling", "plans", "cleanup", "memory"}
    if unknown:
        parser.error(f"unknown phase {sorted(unknown)[0]!r}")
    if min(args.sizes) < 1:
        parser.error("sizes must be positive")
    return args


def helper(
    python: Path,
    project: Path,
    env: dict[str, str],
    *options: str,
    stdin: str | None = None,
    timeout: float = 3600,
) -> dict[str, Any]:
    """Run bench/scale_db.py in the project's venv; return its JSON."""
    out = run_cmd(
        [str(python), str(SCALE_DB), *options],
        what=f"scale_db.py {options[0]}",
        cwd=project,
        env=env,
        stdin=stdin,
        timeout=timeout,
    )
    line = next(x for x in reversed(out.splitlines()) if x.startswith("SCALE_JSON "))
    result: dict[str, Any] = json.loads(line.removeprefix("SCALE_JSON "))
    return result


@dataclass
class Served:
    """A generated project, its environment and its server."""

    python: Path
    project: Path
    env: dict[str, str]
    server: Server


def prepare(ctx: Context, target: Target, stack: contextlib.ExitStack) -> Served:
    """Generate, migrate and serve a project; create the bench user."""
    log(f"{target.name}: generating, installing, migrating")
    project = bake(
        TEMPLATE_DIR,
        ctx.tmp / target.slug,
        {
            "project_name": "Scale App",
            "session_strategy": target.strategy,
            "database": target.database,
        },
    )
    url = database_url(project, target, stack)
    python, env = install_and_migrate(project, url, ctx.args.environment)
    create_user(python, project, env, EMAIL, ctx.password)
    command = [str(python), "-m", "uvicorn", "app.main:app"]
    server = serve(ctx, target, command, project, env, stack)
    return Served(python, project, env, server)


def measure_target(ctx: Context, target: Target) -> TargetScale:
    """Grow one target's store size by size; measure each; then cleanup and memory."""
    args = ctx.args
    started = time.monotonic()
    result = TargetScale(target.name, target.strategy, target.database, [])
    with contextlib.ExitStack() as stack:
        served = prepare(ctx, target, stack)
        server = served.server
        log_in(server.port, ctx.password)
        for users in args.sizes:
            result.sizes.append(measure_size(ctx, served, target, users))
        if "cleanup" in args.phases:
            result.cleanup = measure_cleanup(ctx, served, target, args.sizes[-1])
        if "memory" in args.phases:
            log(f"{target.name}: {args.flood:,} requests with distinct credentials")
            raw = helper(
                served.python,
                served.project,
                served.env,
                "flood",
                "--port",
                str(server.port),
                "--pid",
                str(server.process.pid),
                "--requests",
                str(args.flood),
                "--email",
                EMAIL,
                "--every",
                str(max(1, args.flood // 20)),
            )
            raw["rss_kib"] = [tuple(x) for x in raw["rss_kib"]]
            result.flood = Flood(**raw)
            log(f"{target.name}: RSS {format_rss(result.flood.rss_kib)}")
    result.seconds = round(time.monotonic() - started, 1)
    return result


def format_rss(samples: list[tuple[int, int]]) -> str:
    """Return RSS samples as 'requests: MiB' pairs."""
    return ", ".join(f"{n:,}: {kib / 1024:.1f}" for n, kib in samples)


def measure_size(
    ctx: Context, served: Served, target: Target, users: int
) -> SizeResult:
    """Grow the store to ``users``; measure the ratio, logins and plans."""
    args = ctx.args
    log(f"{target.name}: filling to {users:,} users")
    filled = helper(
        served.python,
        served.project,
        served.env,
        "fill",
        "--users",
        str(users),
        "--email",
        EMAIL,
    )
    size = SizeResult(
        users=users,
        rows=filled["rows"],
        fill_seconds=filled["fill_seconds"],
        analyse_seconds=filled["analyse_seconds"],
        notes=filled["notes"],
    )
    log(
        f"{target.name}: {users:,} users: {size.rows} in {size.fill_seconds:.0f} s"
        + (
            f" (+ VACUUM ANALYZE {size.analyse_seconds:.0f} s)"
            if size.analyse_seconds
            else ""
        )
    )
    for note in size.notes:
        log(f"{target.name}: note: {note}")
    if "plans" in args.phases:
        explained = helper(
            served.python,
            served.project,
            served.env,
            "explain",
            "--email",
            EMAIL,
            stdin=ctx.password + "\n",
        )
        size.plans = explained["plans"]
    if "scaling" in args.phases:
        rounds, health, me = _rounds(ctx, served.server)
        size.server_rss_kib = rss_kib(served.server.process.pid)
        size.round_ratios = [r for r, _, _ in rounds]
        size.me_over_health = rounds[len(rounds) // 2][0]
        size.health, size.me = health, me
        size.login = _login_run(ctx, served.server)
        log(
            f"{target.name}: {users:,} users: /auth/me ÷ /health "
            f"{size.me_over_health:.3f} ({me.rps:,.0f} / {health.rps:,.0f} req/s), "
            f"login {size.login.rps:.1f} req/s"
        )
    return size


def cleanup_command(served: Served) -> list[str]:
    """Return the project's cleanup command, found in its own --help."""
    out = run_cmd(
        [str(served.python), "-m", "app", "--help"],
        what="python -m app --help",
        cwd=served.project,
        env=served.env,
    )
    for word in out.replace("{", " ").replace("}", " ").replace(",", " ").split():
        if word.startswith("cleanup"):
            return [str(served.python), "-m", "app", word]
    raise BenchError("python -m app has no cleanup command")


def logins_of(loop: LoginLoop) -> Logins:
    """Summarise a login loop: count, statuses, p50, p99, max."""
    ordered = sorted(loop.latencies_ms)

    def at(share: float) -> float | None:
        return (
            ordered[min(len(ordered) - 1, int(share * len(ordered)))]
            if ordered
            else None
        )

    return Logins(
        count=len(ordered),
        statuses={str(k): v for k, v in sorted(loop.statuses.items())},
        failures=loop.failures,
        p50_ms=at(0.5),
        p99_ms=at(0.99),
        max_ms=ordered[-1] if ordered else None,
    )


def measure_cleanup(ctx: Context, served: Served, target: Target, rows: int) -> Cleanup:
    """Add ``rows`` expired rows; load /auth/me and logins, then with cleanup."""
    args, server = ctx.args, served.server
    log(f"{target.name}: adding {rows:,} expired rows per table that cleanup cleans")
    added = helper(
        served.python, served.project, served.env, "expire", "--rows", str(rows)
    )
    plans = []
    if "plans" in args.phases:
        plans = helper(
            served.python,
            served.project,
            served.env,
            "explain",
            "--email",
            EMAIL,
            stdin=ctx.password + "\n",
        )["plans"]
    command = cleanup_command(served)
    log(f"{target.name}: baseline, then `{' '.join(command[1:])}` under load")
    auth = log_in(server.port, ctx.password)
    loop = LoginLoop(server.port, ctx.password, args.login_rate)
    loop.start()
    try:
        baseline = ctx.loader.run(
            server,
            "/auth/me",
            seconds=args.cleanup_chunk,
            connections=args.connections,
            headers=auth,
            wait_idle=False,
        )
    finally:
        loop.stopping.set()
        loop.join(timeout=60)
    baseline_logins = logins_of(loop)
    auth = log_in(server.port, ctx.password)
    process = CHILDREN.start(
        command,
        cwd=served.project,
        env=served.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started = time.monotonic()
    finished: dict[str, Any] = {}

    def wait() -> None:
        out, _ = process.communicate()
        finished.update(seconds=time.monotonic() - started, output=out)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    loop = LoginLoop(server.port, ctx.password, args.login_rate)
    loop.start()
    during: list[LoadResult] = []
    try:
        while not during or waiter.is_alive():
            during.append(
                ctx.loader.run(
                    server,
                    "/auth/me",
                    seconds=args.cleanup_chunk,
                    connections=args.connections,
                    headers=auth,
                    wait_idle=False,
                )
            )
    finally:
        loop.stopping.set()
        loop.join(timeout=60)
        waiter.join(timeout=3600)
        CHILDREN.stop(process)
    counts = helper(served.python, served.project, served.env, "counts")
    output = str(finished.get("output", "")).strip()
    log(f"{target.name}: cleanup took {finished.get('seconds', 0):.1f} s: {output}")
    return Cleanup(
        expired_rows={k: v for k, v in added["rows"].items()},
        fill_seconds=added["fill_seconds"],
        command=" ".join(["python", *command[1:]]),
        output=output.splitlines()[-1] if output else "",
        exit_status=process.returncode if process.returncode is not None else -1,
        seconds=round(finished.get("seconds", 0.0), 1),
        baseline_me=baseline,
        baseline_logins=baseline_logins,
        during_me=during,
        during_logins=logins_of(loop),
        rows_after=counts["rows"],
        plans=plans,
    )


def plan_targets(args: argparse.Namespace) -> list[Target]:
    """Return the targets the options name."""
    strategies = pick("session_strategy", args.strategies, choices("session_strategy"))
    default = ["sqlite"]
    if not args.quick and postgres_reachable():
        default.append("postgresql")
    databases = pick("database", args.databases, default)
    if "postgresql" in databases and not postgres_reachable():
        raise BenchError("no PostgreSQL answers on 127.0.0.1:5432")
    return [Target("ours", s, d) for d in databases for s in strategies]


def run(args: argparse.Namespace) -> int:
    """Measure every target; write the report."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGHUP, raise_interrupt)
    targets = plan_targets(args)
    machine = detect_machine(pin=not args.no_pin)
    loader = Loader(find_wrk(args.loadgen), machine, sys.executable)
    tmp = Path(tempfile.mkdtemp(prefix="fastapi-sessions-scale-"))
    ctx = Context(
        args=args,
        machine=machine,
        loader=loader,
        tmp=tmp,
        password=secrets.token_urlsafe(12),
        rbac=choices("rbac")[0],
    )
    head = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "started": time.monotonic(),
    }
    results: list[TargetScale] = []
    try:
        for target in targets:
            try:
                results.append(measure_target(ctx, target))
            except BenchError as error:
                log(f"{target.name}: {error}")
                results.append(
                    TargetScale(
                        target.name,
                        target.strategy,
                        target.database,
                        [],
                        error=str(error),
                    )
                )
            # Written after each target: a run cut short keeps what it measured.
            write_report(ctx, head, results)
    finally:
        CHILDREN.stop_all()
        if args.keep:
            log(f"kept the projects in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    markdown, elapsed = write_report(ctx, head, results)
    print(markdown)
    log(f"done in {elapsed:.0f} s; wrote {args.output / 'scale.md'}")
    return 1 if any(t.error for t in results) else 0


def write_report(
    ctx: Context, head: dict[str, Any], results: list[TargetScale]
) -> tuple[str, float]:
    """Write scale.md and scale.json; return the Markdown and the seconds so far."""
    args = ctx.args
    elapsed = round(time.monotonic() - head["started"], 1)
    report = {
        "date": head["date"],
        "machine": as_json(ctx.machine),
        "load_generator": ctx.loader.describe(),
        "load_average_before": head["load_average_before"],
        "load_average_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "elapsed_seconds": elapsed,
        "rbac": ctx.rbac,
        "settings": {
            "sizes": args.sizes,
            "rounds": args.rounds,
            "duration": args.duration,
            "warmup": args.warmup,
            "connections": args.connections,
            "login_connections": args.login_connections,
            "cleanup_chunk": args.cleanup_chunk,
            "login_rate": args.login_rate,
            "flood": args.flood,
            "environment": args.environment,
            "phases": sorted(args.phases),
        },
        "targets": as_json(results),
    }
    markdown = render(report)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "scale.md").write_text(markdown, encoding="utf-8")
    (args.output / "scale.json").write_text(
        json.dumps(report, indent=2) + "\n", encoding="utf-8"
    )
    return markdown, elapsed


def main(argv: Sequence[str] | None = None) -> int:
    """Bootstrap the bench's venv, then measure; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)

    def bootstrap_and_run() -> int:
        enter_bench_venv(__file__, argv)
        return run(args)

    return guarded(bootstrap_and_run)


if __name__ == "__main__":
    sys.exit(main())
