#!/usr/bin/env python3
"""What authentication costs per request, per session strategy, against fastapi-users.

One command, from the template's root or anywhere::

    python bench/run.py            # every strategy of cookiecutter.json, ~15 min
    python bench/run.py --quick    # SQLite only, short runs, about 3 min
    python bench/run.py --help

It installs what it needs (virtual environments under ``bench/``, and wrk
with apt-get when missing), generates one project per session strategy and
database with cookiecutter, migrates it, creates a user, serves it with
uvicorn (1 worker, pinned to one core) and loads ``/health``, ``/auth/me``
and ``/auth/login`` with wrk (pinned to the other core). A minimal
fastapi-users app (``bench/peer_fastapi_users.py``) is measured the same way.
Results go to stdout, ``bench/results.md`` and ``bench/results.json``.

This is a measurement tool: nothing here asserts a time. Every server it
starts is stopped on exit, Ctrl-C and errors included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from loading import LOADGEN, LUA_SCRIPT, Loader
from machine import detect_machine, find_wrk, postgres_reachable
from measuring import measure
from paths import BENCH_DIR, TEMPLATE_DIR
from procs import CHILDREN, BenchError, guarded, log, raise_interrupt
from report import comparisons, render_markdown
from results import FailedTarget, Report, Settings, TargetResult, as_json
from targets import PEER_APP, Context, Target, choices, pick
from venvs import VENV_APP, VENV_BENCH, VENV_PEER, enter_bench_venv, in_venv


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Read the options; fill in the defaults that depend on --quick."""
    parser = argparse.ArgumentParser(
        prog="python bench/run.py",
        description=(
            "Measure /health, /auth/me and /auth/login of generated projects "
            "(one per session strategy and database) and of a fastapi-users peer."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="5 rounds instead of 15, on SQLite only: about 3 minutes",
    )
    parser.add_argument(
        "--duration",
        type=int,
        help="seconds of each measured run (default 2)",
    )
    parser.add_argument(
        "--warmup", type=int, help="seconds of warm-up before each run (default 1)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds of /health then /auth/me per target; the median round "
        "counts (default 15; --quick: 5)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=50,
        help="connections for /health and /auth/me (default 50)",
    )
    parser.add_argument(
        "--login-connections",
        type=int,
        default=4,
        help="connections for /auth/login: each login hashes for ~100 ms, so a "
        "few keep the hashing pool busy without piling up time-outs (default 4)",
    )
    parser.add_argument(
        "--probe-connections",
        type=int,
        default=4,
        help="connections of the /health probe run with and without logins (default 4)",
    )
    parser.add_argument(
        "--login-rate",
        type=float,
        default=2.0,
        help="logins per second sent during the /health probe (default 2)",
    )
    parser.add_argument(
        "--strategies",
        help="comma-separated session strategies (default: all in cookiecutter.json)",
    )
    parser.add_argument(
        "--databases",
        help="comma-separated databases (default: sqlite, and postgresql when a "
        "server answers on 127.0.0.1:5432; --quick: sqlite)",
    )
    parser.add_argument(
        "--no-peer", action="store_true", help="skip the fastapi-users peer"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also record /auth/me under load with py-spy and summarise where "
        "the time goes (adds one run per target)",
    )
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="wrk (installed with apt-get when missing), or the Python fallback "
        "bench/loadgen.py; auto prefers wrk",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin the server and the load generator to cores of their own "
        "(the server's password-hashing threads may then use the other core)",
    )
    parser.add_argument(
        "--environment",
        default="production",
        help="ENVIRONMENT of the generated projects (default production)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=BENCH_DIR,
        help="folder for results.md and results.json (default bench/)",
    )
    parser.add_argument(
        "--refresh-venvs",
        action="store_true",
        help="delete bench/.venv-* first, so the latest packages are installed",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the generated projects and logs (their folder is printed)",
    )
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 2
    if args.warmup is None:
        args.warmup = 1
    if args.rounds is None:
        args.rounds = 5 if args.quick else 15
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.duration < 1 or args.warmup < 0:
        parser.error("--duration must be at least 1 and --warmup at least 0")
    for name in ("connections", "login_connections", "probe_connections"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.login_rate <= 0:
        parser.error("--login-rate must be positive")
    return args


def plan(args: argparse.Namespace, skipped: list[str]) -> list[Target]:
    """Return the targets to measure, noting what is skipped and why."""
    strategies = pick("session_strategy", args.strategies, choices("session_strategy"))
    all_databases = choices("database")
    default_dbs = [d for d in all_databases if d == "sqlite"]
    if not args.quick and "postgresql" in all_databases:
        if postgres_reachable():
            default_dbs.append("postgresql")
        else:
            skipped.append("postgresql: no server on 127.0.0.1:5432")
    databases = pick("database", args.databases, default_dbs)
    if args.databases and "postgresql" in databases and not postgres_reachable():
        raise BenchError("--databases postgresql: no server answers on 127.0.0.1:5432")
    targets = [Target("ours", s, d) for d in databases for s in strategies]
    if not args.no_peer:
        targets += [
            Target("peer", "jwt", "sqlite"),
            Target("peer", "database", "sqlite"),
        ]
    return targets


def run(args: argparse.Namespace) -> int:
    """Measure every target and write the report; return the exit status."""
    for needed in (LUA_SCRIPT, LOADGEN, PEER_APP, TEMPLATE_DIR / "cookiecutter.json"):
        if not needed.exists():
            raise BenchError(f"{needed} is missing")
    # Ctrl-C, kill and a closed terminal all unwind through the clean-up,
    # even where SIGINT was ignored (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, raise_interrupt)
    signal.signal(signal.SIGHUP, raise_interrupt)
    skipped: list[str] = []
    targets = plan(args, skipped)
    machine = detect_machine(pin=not args.no_pin)
    loader = Loader(find_wrk(args.loadgen), machine, sys.executable)
    # Each round loads /health and /auth/me; then /auth/login, then the
    # /health probe alone and with logins; plus setup.
    runs = 2 * args.rounds + 3
    per_target = runs * args.duration + 3 * args.warmup + 10
    if args.profile:
        per_target += args.duration
    minutes, seconds = divmod(len(targets) * per_target, 60)
    log(
        f"{len(targets)} targets: {', '.join(t.name for t in targets)}; "
        f"about {minutes} min {seconds} s of loading (the first run also installs)"
    )
    tmp = Path(tempfile.mkdtemp(prefix="fastapi-sessions-bench-"))
    ctx = Context(
        args=args,
        machine=machine,
        loader=loader,
        tmp=tmp,
        password=secrets.token_urlsafe(12),
        rbac=choices("rbac")[0],
    )
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    loadavg_before = loadavg()
    results: list[TargetResult | FailedTarget] = []
    started = time.monotonic()
    try:
        for target in targets:
            try:
                results.append(measure(ctx, target))
            except BenchError as error:
                log(f"{target.name}: {error}")
                results.append(
                    FailedTarget(
                        target.name,
                        target.kind,
                        target.strategy,
                        target.database,
                        str(error),
                    )
                )
    finally:
        CHILDREN.stop_all()
        if args.keep:
            log(f"kept the projects and server logs in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report = Report(
        date=date,
        machine=machine,
        load_generator=loader.describe(),
        settings=Settings(
            **{name: getattr(args, name) for name in Settings.__dataclass_fields__}
        ),
        rbac=ctx.rbac,
        loadavg_before=loadavg_before,
        versions=ctx.versions,
        targets=results,
        skipped=skipped,
        loadavg_after=loadavg(),
        elapsed_seconds=round(time.monotonic() - started, 1),
        comparisons=[],
    )
    report.comparisons = comparisons(report.measured())
    markdown = render_markdown(report)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.md").write_text(markdown, encoding="utf-8")
    (args.output / "results.json").write_text(
        json.dumps(as_json(report), indent=2) + "\n", encoding="utf-8"
    )
    print(markdown)
    log(
        f"done in {report.elapsed_seconds:.0f} s; wrote "
        f"{args.output / 'results.md'} and {args.output / 'results.json'}"
    )
    return 1 if report.failed() else 0


def loadavg() -> str:
    """Return the load averages over 1, 5 and 15 minutes."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> int:
    """Bootstrap the bench's venv, then run; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)

    def bootstrap_and_run() -> int:
        if args.refresh_venvs and not in_venv(VENV_BENCH):
            shutil.rmtree(VENV_BENCH, ignore_errors=True)
        enter_bench_venv(__file__, [a for a in argv if a != "--refresh-venvs"])
        if args.refresh_venvs:
            for venv in (VENV_APP, VENV_PEER):
                shutil.rmtree(venv, ignore_errors=True)
        return run(args)

    return guarded(bootstrap_and_run)


if __name__ == "__main__":
    sys.exit(main())
