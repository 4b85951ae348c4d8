#!/usr/bin/env python3
"""Instructions per request, counted by callgrind: a figure noise hardly moves.

On a shared virtual machine the speed of a core drifts by more than the
differences worth measuring, so requests per second (``bench/run.py``) need
many rounds to say anything. This counts instead what the server executes:
each target's uvicorn runs under ``valgrind --tool=callgrind``, and after a
warm-up the counters are zeroed, a fixed number of requests is sent over 50
keep-alive connections, and the counters are dumped. Instructions divided by
requests is the cost of one request; run twice, it agreed within 0.1% to 3%
here, whatever else the machine was doing (work done once a second, such as
uvicorn's Date header, is spread over runs of different lengths).

It counts user-space instructions only (every thread of the server): the
kernel's work (sockets, epoll) is about the same for every path, and is left
out of both sides of a ratio.

    python bench/instructions.py                      # SQLite, every strategy
    python bench/instructions.py --databases sqlite,postgresql --peer

It reuses ``bench/run.py``'s set-up (``targets.py``: its virtual environments,
generated projects and servers) and installs valgrind with apt-get when
missing.
Results are printed and written to ``bench/instructions.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from loading import Loader
from machine import detect_machine
from paths import BENCH_DIR
from procs import (
    CHILDREN,
    BenchError,
    apt_install,
    guarded,
    log,
    raise_interrupt,
    run_cmd,
)
from server import Server, log_in
from targets import Context, Target, choices, pick, prepare_ours, prepare_peer
from venvs import enter_bench_venv

PATHS = ("/health", "/auth/me")
WARMUP = 300
CONNECTIONS = 50
# Python starts slowly under valgrind: about a minute here.
STARTUP_TIMEOUT = 300.0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Read the options."""
    parser = argparse.ArgumentParser(
        prog="python bench/instructions.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=2000,
        help="requests counted per path, after a warm-up (default 2000)",
    )
    parser.add_argument(
        "--strategies",
        help="comma-separated session strategies (default: all in cookiecutter.json)",
    )
    parser.add_argument(
        "--databases", default="sqlite", help="comma-separated databases (sqlite)"
    )
    parser.add_argument(
        "--peer", action="store_true", help="count the fastapi-users peer as well"
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=CONNECTIONS,
        help="keep-alive connections (default 50); under valgrind an app whose "
        "requests each hold a pooled database connection may time out waiting "
        "for one with many",
    )
    parser.add_argument(
        "--output", type=Path, default=BENCH_DIR, help="folder of the report"
    )
    args = parser.parse_args(argv)
    if args.requests < 100:
        parser.error("--requests must be at least 100")
    if args.connections < 1:
        parser.error("--connections must be at least 1")
    # What the set-up of targets.py reads.
    args.environment = "production"
    return args


def find_valgrind() -> str:
    """Return callgrind_control's path, installing valgrind when allowed."""
    path = apt_install("valgrind", "callgrind_control")
    if path is None:
        raise BenchError("valgrind is missing; install it (Debian: valgrind)")
    return path


async def _send(
    port: int, path: str, headers: dict[str, str], count: int, connections: int
) -> None:
    """Send ``count`` GETs of ``path`` over keep-alive connections; check each."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode()
    left = [count]

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while left[0] > 0:
                left[0] -= 1
                writer.write(request)
                status = await reader.readline()
                if b" 200 " not in status:
                    raise BenchError(f"GET {path} answered {status!r}")
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(min(connections, count))))


def count(
    control: str,
    server: Server,
    out: Path,
    path: str,
    headers: dict[str, str],
    requests: int,
    connections: int,
) -> int:
    """Return the server's instructions per request of ``path``."""
    asyncio.run(_send(server.port, path, headers, WARMUP, connections))
    pid = str(server.process.pid)
    for old in out.glob("callgrind.out.*"):
        old.unlink()
    run_cmd([control, "--zero", pid], what="callgrind_control --zero")
    asyncio.run(_send(server.port, path, headers, requests, connections))
    run_cmd([control, "--dump", pid], what="callgrind_control --dump")
    for _ in range(300):  # the dump is written while the server goes on
        if any(out.glob("callgrind.out.*")):
            break
        time.sleep(0.1)
    time.sleep(0.5)
    totals = [
        int(line.split()[1])
        for dump in out.glob("callgrind.out.*")
        for line in dump.read_text(errors="replace").splitlines()
        if line.startswith(("summary:", "totals:"))
    ]
    if not totals:
        raise BenchError(f"callgrind wrote no counts for {path}")
    return max(totals) // requests


def main(argv: Sequence[str] | None = None) -> int:
    """Count every target; print and write the report."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)

    def bootstrap_and_count() -> int:
        enter_bench_venv(__file__, argv)
        signal.signal(signal.SIGTERM, raise_interrupt)
        # The same string hashes, so the same instructions, in every run.
        os.environ["PYTHONHASHSEED"] = "0"
        rows, failed = count_all(args)
        report = render(rows, failed, args)
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "instructions.md").write_text(report, encoding="utf-8")
        print(report)
        return 1 if failed else 0

    return guarded(bootstrap_and_count)


def count_all(args: argparse.Namespace) -> tuple[list[tuple[str, str, int]], list[str]]:
    """Count every target; return the counts and the targets that failed."""
    tmp = Path(tempfile.mkdtemp(prefix="fastapi-sessions-instructions-"))
    rows: list[tuple[str, str, int]] = []
    failed: list[str] = []
    try:
        control = find_valgrind()
        strategies = pick(
            "session_strategy", args.strategies, choices("session_strategy")
        )
        databases = pick("database", args.databases, ["sqlite"])
        targets = [Target("ours", s, d) for d in databases for s in strategies]
        if args.peer:
            targets += [Target("peer", s, "sqlite") for s in ("jwt", "database")]
        machine = detect_machine(pin=True)
        for target in targets:
            out = tmp / f"{target.slug}-callgrind"
            out.mkdir()
            ctx = Context(
                args=args,
                machine=machine,
                loader=Loader(None, machine, sys.executable),
                tmp=tmp,
                password=secrets.token_urlsafe(12),
                rbac=choices("rbac")[0],
                server_prefix=[
                    "valgrind",
                    "--tool=callgrind",
                    f"--callgrind-out-file={out}/callgrind.out.%p",
                ],
                startup_timeout=STARTUP_TIMEOUT,
            )
            try:
                rows += measure(ctx, target, control, out, args)
            except BenchError as error:
                log(f"{target.name}: {error}")
                failed.append(f"{target.name}: {error}")
    finally:
        CHILDREN.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return rows, failed


def measure(
    ctx: Context,
    target: Target,
    control: str,
    out: Path,
    args: argparse.Namespace,
) -> list[tuple[str, str, int]]:
    """Serve one target under callgrind; return its count for each path."""
    rows = []
    with contextlib.ExitStack() as stack:
        prepare = prepare_ours if target.kind == "ours" else prepare_peer
        server = prepare(ctx, target, stack)
        headers = log_in(server.port, ctx.password)
        for path in PATHS:
            per_request = count(
                control, server, out, path, headers, args.requests, args.connections
            )
            log(f"{target.name} {path}: {per_request:,} instructions")
            rows.append((target.name, path, per_request))
    return rows


def render(
    rows: list[tuple[str, str, int]], failed: list[str], args: argparse.Namespace
) -> str:
    """Return the report: instructions per request, and /auth/me over /health."""
    health = {name: n for name, path, n in rows if path == "/health"}
    lines = [
        "# Instructions per request (callgrind)",
        "",
        f"- Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}; "
        f"{args.requests} requests per path over {args.connections} connections, "
        f"after {WARMUP}; uvicorn 1 worker, ENVIRONMENT=production",
        f"- Python {sys.version.split()[0]}; user-space instructions of the "
        "server process only (valgrind --tool=callgrind)",
        "",
        "| target | path | instructions per request | /health ÷ this |",
        "|---|---|---:|---:|",
    ]
    for name, path, n in rows:
        lines.append(f"| {name} | `{path}` | {n:,} | {health[name] / n:.2f} |")
    if failed:
        lines += ["", "Not counted:", "", *(f"- {line}" for line in failed)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
