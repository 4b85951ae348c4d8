"""A legitimate login's time while others flood the server with registrations.

Every registration costs an argon2id hash (a taken address too, so that
timing tells nothing). Unthrottled and unbounded, a flood of them queues
behind the hashing threads, and another client's login waits behind the
queue. This measures that login, alone and during two floods of registrations
of a taken address: from one client address, and from forty.

    python bench/flood.py                     # the template in this checkout
    python bench/flood.py --template DIR      # another copy (say, an older commit)

It reuses ``bench/run.py``'s set-up (``targets.py``): its virtual
environments, the generated project (``jwt`` on SQLite by default), uvicorn
with one worker pinned to one core and this driver on the other. The flooding
clients use loopback addresses 127.0.0.2 and up, the measured client
127.0.0.1. Figures go to standard output and ``bench/flood.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from machine import detect_machine
from paths import BENCH_DIR, TEMPLATE_DIR, loopback
from procs import CHILDREN, guarded, log
from server import EMAIL, start_server
from targets import bake, create_user, install_and_migrate
from venvs import enter_bench_venv

FLOOD_CONNECTIONS = 40
LOGINS = 20
# Seconds the flood runs before the measured logins start.
RAMP_UP = 1.0
TAKEN = "taken@example.com"
TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass
class Phase:
    """What one phase measured: the legitimate logins and the flood's answers."""

    name: str
    login_seconds: list[float] = field(default_factory=list)
    login_statuses: Counter[int] = field(default_factory=Counter)
    flood_statuses: Counter[int] = field(default_factory=Counter)

    def row(self) -> str:
        """Return the phase as a Markdown table row."""
        times = sorted(self.login_seconds)
        median = statistics.median(times) * 1000
        p90 = times[int(0.9 * (len(times) - 1))] * 1000
        logins = _counts(self.login_statuses)
        flood = _counts(self.flood_statuses)
        return (
            f"| {self.name} | {median:,.0f} | {p90:,.0f} | {max(times) * 1000:,.0f} "
            f"| {logins} | {flood or '-'} |"
        )


def _counts(statuses: Counter[int]) -> str:
    """Return how many times each status came: ``20×200, 3×429``."""  # noqa: RUF002
    return ", ".join(f"{n}{TIMES}{s}" for s, n in sorted(statuses.items()))


def post(
    port: int, path: str, body: bytes, content_type: str, source: str
) -> tuple[int, float]:
    """POST ``body`` from loopback address ``source``; return (status, seconds)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=120, source_address=(source, 0)
    )
    try:
        connection.request("POST", path, body, {"Content-Type": content_type})
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        connection.close()


def login(port: int, password: str) -> tuple[int, float]:
    """Log in as the bench user from 127.0.0.1."""
    form = loopback.login_form(EMAIL, password).encode()
    return post(port, "/auth/login", form, loopback.FORM, "127.0.0.1")


def flood(port: int, source: str, stop: threading.Event, phase: Phase) -> None:
    """Register the taken address again and again until ``stop`` is set."""
    body = json.dumps({"email": TAKEN, "password": "a password of the flood"})
    while not stop.is_set():
        try:
            status, _ = post(
                port, "/auth/register", body.encode(), "application/json", source
            )
        except OSError:
            status = 0  # a refused or dropped connection
        phase.flood_statuses[status] += 1


def measure(port: int, password: str, name: str, sources: list[str]) -> Phase:
    """Time LOGINS sequential logins while ``sources`` flood (none: alone)."""
    phase = Phase(name)
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=flood, args=(port, sources[i % len(sources)], stop, phase)
        )
        for i in range(FLOOD_CONNECTIONS if sources else 0)
    ]
    for thread in threads:
        thread.start()
    try:
        if threads:
            time.sleep(RAMP_UP)
        for _ in range(LOGINS):
            status, seconds = login(port, password)
            phase.login_statuses[status] += 1
            phase.login_seconds.append(seconds)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    log(f"{name}: {phase.row()}")
    return phase


def serve(
    template: Path, strategy: str, tmp: Path, stack: contextlib.ExitStack
) -> tuple[int, str]:
    """Generate, install, migrate and serve a project; return its port and password."""
    context = {"project_name": "Flood App", "session_strategy": strategy}
    project = bake(template, tmp, context)
    url = f"sqlite+aiosqlite:///{project / 'flood.db'}"
    python, env = install_and_migrate(project, url, "production")
    password = secrets.token_urlsafe(16)
    for email in (EMAIL, TAKEN):
        create_user(python, project, env, email, password)
    server = start_server(
        "flood",
        [str(python), "-m", "uvicorn", "app.main:app"],
        cwd=project,
        env=env,
        log_path=tmp / "uvicorn.log",
        machine=detect_machine(pin=True),
    )
    stack.callback(CHILDREN.stop, server.process)
    return server.port, password


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Read the options."""
    parser = argparse.ArgumentParser(
        prog="python bench/flood.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--template",
        type=Path,
        default=TEMPLATE_DIR,
        help="the template to generate from (default: this checkout)",
    )
    parser.add_argument("--strategy", default="jwt", help="session strategy (jwt)")
    parser.add_argument(
        "--output", type=Path, default=BENCH_DIR / "flood.md", help="report file"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Bootstrap the bench's venv, then measure; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)

    def bootstrap_and_measure() -> int:
        enter_bench_venv(__file__, argv)
        write_report(args, phases(args.template.resolve(), args.strategy))
        return 0

    return guarded(bootstrap_and_measure)


def phases(template: Path, strategy: str) -> list[Phase]:
    """Serve a project and measure the logins alone, then during each flood."""
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        port, password = serve(template, strategy, Path(tmp), stack)
        one = ["127.0.0.2"]
        many = [f"127.0.0.{n}" for n in range(2, 2 + FLOOD_CONNECTIONS)]
        return [
            measure(port, password, "alone", []),
            measure(port, password, "flood from 1 address", one),
            measure(port, password, f"flood from {len(many)} addresses", many),
        ]


def write_report(args: argparse.Namespace, phases: list[Phase]) -> None:
    """Print the phases as a Markdown table and write it to ``--output``."""
    report = [
        f"Template: `{args.template.resolve()}`, strategy `{args.strategy}`, SQLite, "
        f"{FLOOD_CONNECTIONS} flooding connections, {LOGINS} logins per phase.",
        "",
        "| phase | login p50 ms | p90 ms | max ms | login answers | flood answers |",
        "|---|---:|---:|---:|---|---|",
        *(phase.row() for phase in phases),
    ]
    text = "\n".join(report) + "\n"
    args.output.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
