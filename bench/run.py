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
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = BENCH_DIR.parent
VENV_BENCH = BENCH_DIR / ".venv-bench"
VENV_APP = BENCH_DIR / ".venv-app"
VENV_PEER = BENCH_DIR / ".venv-peer"
LUA_SCRIPT = BENCH_DIR / "wrk_report.lua"
LOADGEN = BENCH_DIR / "loadgen.py"
PEER_APP = BENCH_DIR / "peer_fastapi_users.py"

EMAIL = "bench@example.com"
FORM = "application/x-www-form-urlencoded"
STARTUP_TIMEOUT = 60.0
# Which of our strategies is compared with which of fastapi-users'.
COMPARISONS = (("jwt", "jwt"), ("database", "database"), ("signed_cookie", "database"))
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


class BenchError(Exception):
    """Something is missing or broken: reported on one line."""


def log(message: str) -> None:
    """Progress, on stderr so that stdout carries only the results."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Command line


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


# --------------------------------------------------------------------------
# Child processes: every one is registered and stopped on the way out.


class Children:
    """Processes started by the bench, each in its own process group."""

    def __init__(self) -> None:
        """Start with no children."""
        self._procs: list[subprocess.Popen[Any]] = []
        self._lock = threading.Lock()

    def start(self, command: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a child in a process group of its own and remember it."""
        process = subprocess.Popen(list(command), start_new_session=True, **kwargs)
        with self._lock:
            self._procs.append(process)
        return process

    def stop(self, process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
        """Stop a child and its group: SIGTERM, then SIGKILL after ``timeout``."""
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        with self._lock, contextlib.suppress(ValueError):
            self._procs.remove(process)

    def stop_all(self) -> None:
        """Stop every child still running."""
        with self._lock:
            procs = list(reversed(self._procs))
        for process in procs:
            self.stop(process, timeout=5.0)


CHILDREN = Children()


def _raise_interrupt(signum: int, _frame: Any) -> None:
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
        CHILDREN.stop(process)
        raise BenchError(f"{what} did not finish within {timeout:.0f} s") from None
    finally:
        CHILDREN.stop(process)
    if process.returncode != 0:
        raise BenchError(
            f"{what} failed (exit {process.returncode}): {last_line(err or out)}"
        )
    return str(out)


# --------------------------------------------------------------------------
# Virtual environments


def venv_python(venv: Path) -> Path:
    """Return the interpreter of a virtual environment."""
    return venv / "bin" / "python"


def base_python() -> str:
    """Return the interpreter that new virtual environments are made from."""
    return getattr(sys, "_base_executable", None) or sys.executable


def read_requirements(path: Path) -> list[str]:
    """Return the requirement lines of a requirements file, comments dropped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [
        line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()
    ]


def ensure_venv(venv: Path, requirements: Sequence[str]) -> Path:
    """Create ``venv`` if needed and make sure ``requirements`` are installed.

    A stamp file lists what was installed; nothing is asked of PyPI when the
    wanted requirements are already in it.
    """
    python = venv_python(venv)
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
    run_cmd(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            *everything,
        ],
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


# --------------------------------------------------------------------------
# The machine, pinning, the load generator


@dataclass
class Machine:
    """What the report says about the machine, and how the load is pinned."""

    cpu_model: str
    cores: int
    kernel: str
    python: str
    server_cpu: int | None
    load_cpu: int | None

    def describe(self) -> dict[str, Any]:
        """Return the machine as JSON-ready data."""
        return {
            "cpu_model": self.cpu_model,
            "cores": self.cores,
            "kernel": self.kernel,
            "python": self.python,
            "server_cpu": self.server_cpu,
            "load_generator_cpu": self.load_cpu,
        }


def cpu_model() -> str:
    """Return the CPU model from /proc/cpuinfo."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def detect_machine(pin: bool) -> Machine:
    """Describe the machine and pin this driver to the load generator's core."""
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = load_cpu = None
    if pin and shutil.which("taskset") and len(cpus) >= 2:
        server_cpu, load_cpu = cpus[0], cpus[1]
        # The driver (login loop, py-spy) stays off the server's core too.
        os.sched_setaffinity(0, {load_cpu})
    return Machine(
        cpu_model=cpu_model(),
        cores=os.cpu_count() or len(cpus),
        kernel=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        server_cpu=server_cpu,
        load_cpu=load_cpu,
    )


def find_wrk(mode: str) -> str | None:
    """Return wrk's path, installing it with apt-get when allowed; None: fallback."""
    if mode == "python":
        return None
    path = shutil.which("wrk")
    if path is None and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "wrk"]
        log("wrk is missing: apt-get install -y wrk")
        try:
            run_cmd(install, what="apt-get install wrk", env=env, timeout=300)
        except BenchError:
            with contextlib.suppress(BenchError):
                run_cmd(["apt-get", "update", "-q"], what="apt-get update", env=env)
                run_cmd(install, what="apt-get install wrk", env=env, timeout=300)
        path = shutil.which("wrk")
    if path is None:
        if mode == "wrk":
            raise BenchError(
                "wrk is missing and apt-get could not install it; install wrk "
                "or pass --loadgen python"
            )
        log("wrk is not available: using the slower Python load generator")
    return path


def wrk_version(path: str) -> str:
    """Return wrk's version line."""
    result = subprocess.run([path, "-v"], capture_output=True, text=True, check=False)
    first = (result.stdout or result.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def postgres_reachable() -> bool:
    """Return whether something listens on 127.0.0.1:5432."""
    with (
        contextlib.suppress(OSError),
        socket.create_connection(("127.0.0.1", 5432), timeout=1),
    ):
        return True
    return False


def proc_cpu_seconds(pid: int, main_thread: bool = False) -> float | None:
    """Return the user + system CPU time of a process (or of its main thread)."""
    path = f"/proc/{pid}/task/{pid}/stat" if main_thread else f"/proc/{pid}/stat"
    try:
        stat = Path(path).read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------
# HTTP from the driver (standard library only: no cookie jar to get in the way)


def http_call(
    port: int,
    method: str,
    path: str,
    *,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15.0,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Send one request on loopback; return status, headers and body."""
    own = conn is None
    connection = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.msg, response.read()
    finally:
        if own:
            connection.close()


def login_body(password: str) -> str:
    """Return the login form for the benchmark user."""
    return urllib.parse.urlencode({"username": EMAIL, "password": password})


def log_in(port: int, password: str) -> dict[str, str]:
    """Log in; return the header that authenticates later requests."""
    status, headers, data = http_call(
        port,
        "POST",
        "/auth/login",
        body=login_body(password),
        headers={"Content-Type": FORM},
    )
    if status not in (200, 204):
        raise BenchError(f"POST /auth/login answered {status}: {data[:200]!r}")
    payload: Any = None
    if data and "json" in (headers.get("content-type") or ""):
        payload = json.loads(data)
    if isinstance(payload, dict) and payload.get("access_token"):
        return {"Authorization": f"Bearer {payload['access_token']}"}
    cookies = [
        value.split(";", 1)[0].strip() for value in headers.get_all("Set-Cookie") or []
    ]
    if not cookies:
        raise BenchError("POST /auth/login set no cookie and sent no access_token")
    auth = {"Cookie": "; ".join(cookies)}
    status, _, data = http_call(port, "GET", "/auth/me", headers=auth)
    if status != 200:
        raise BenchError(f"GET /auth/me after login answered {status}: {data[:200]!r}")
    return auth


# --------------------------------------------------------------------------
# Servers


@dataclass
class Server:
    """A uvicorn process serving one target."""

    name: str
    process: subprocess.Popen[Any]
    port: int
    log_path: Path


def start_server(
    name: str,
    command: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    machine: Machine,
    startup_timeout: float = STARTUP_TIMEOUT,
) -> Server:
    """Start uvicorn on a free loopback port, pinned; return once /health is 200."""
    pin = (
        ["taskset", "-c", str(machine.server_cpu)]
        if machine.server_cpu is not None
        else []
    )
    port = free_port()
    full = [
        *pin,
        *command,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with log_path.open("wb") as log_file:
        process = CHILDREN.start(
            full,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, process, port, log_path)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(
                f"{name}: uvicorn exited at start-up: "
                f"{last_line(log_path.read_text(errors='replace'))}"
            )
        with contextlib.suppress(OSError, http.client.HTTPException):
            if http_call(port, "GET", "/health", timeout=2)[0] == 200:
                return server
        time.sleep(0.1)
    CHILDREN.stop(process)
    raise BenchError(
        f"{name}: /health did not answer 200 within {startup_timeout:.0f} s"
    )


# --------------------------------------------------------------------------
# Load


@dataclass
class Loader:
    """Runs wrk (or the Python fallback) pinned to the load generator's core."""

    wrk: str | None
    machine: Machine
    bench_python: str

    def describe(self) -> str:
        """Return the load generator's name and version."""
        if self.wrk:
            return f"{wrk_version(self.wrk)}, 1 thread"
        return "bench/loadgen.py (Python asyncio fallback)"

    def run(
        self,
        server: Server,
        path: str,
        *,
        seconds: int,
        connections: int,
        method: str = "GET",
        body: str = "",
        content_type: str = "",
        headers: dict[str, str] | None = None,
        timeout: int = 10,
        wait_idle: bool = True,
    ) -> dict[str, Any]:
        """Load one endpoint; return wrk's numbers and the server's CPU time.

        First wait until the server is idle, unless ``wait_idle`` is false
        (when other load is meant to run beside this one).
        """
        url = f"http://127.0.0.1:{server.port}{path}"
        pin = (
            ["taskset", "-c", str(self.machine.load_cpu)]
            if self.machine.load_cpu is not None
            else []
        )
        header_args: list[str] = []
        for name, value in (headers or {}).items():
            header_args += ["-H", f"{name}: {value}"]
        env = dict(os.environ)
        if self.wrk:
            command = [
                *pin,
                self.wrk,
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "--timeout",
                f"{timeout}s",
                "-s",
                str(LUA_SCRIPT),
                *header_args,
                url,
            ]
            env.update(
                BENCH_METHOD=method, BENCH_BODY=body, BENCH_CONTENT_TYPE=content_type
            )
        else:
            if content_type:
                header_args += ["-H", f"Content-Type: {content_type}"]
            command = [
                *pin,
                self.bench_python,
                str(LOADGEN),
                url,
                "-c",
                str(connections),
                "-d",
                str(seconds),
                "--timeout",
                str(timeout),
                "--method",
                method,
                "--body",
                body,
                *header_args,
            ]
        if wait_idle:
            settle(server)
        pid = server.process.pid
        cpu_before = proc_cpu_seconds(pid)
        loop_before = proc_cpu_seconds(pid, main_thread=True)
        wall_before = time.monotonic()
        out = run_cmd(
            command,
            what=f"load {method} {path}",
            env=env,
            timeout=seconds + timeout + 60,
        )
        cpu_after = proc_cpu_seconds(pid)
        loop_after = proc_cpu_seconds(pid, main_thread=True)
        wall = time.monotonic() - wall_before
        if server.process.poll() is not None:
            raise BenchError(
                f"{server.name}: the server died under load: "
                f"{last_line(server.log_path.read_text(errors='replace'))}"
            )
        line = next(
            (x for x in reversed(out.splitlines()) if x.startswith("BENCH_JSON ")), None
        )
        if line is None:
            raise BenchError(f"load {method} {path}: no summary: {last_line(out)}")
        raw = json.loads(line.removeprefix("BENCH_JSON "))
        result = summarise(raw, delta(cpu_before, cpu_after), wall)
        loop = delta(loop_before, loop_after)
        if loop is not None and result.get("server_cpu_seconds"):
            result["event_loop_cpu_share"] = loop / result["server_cpu_seconds"]
        return result


def delta(before: float | None, after: float | None) -> float | None:
    """Return after - before, or None when either is unknown."""
    return None if before is None or after is None else after - before


def settle(server: Server, longest: float = 30.0) -> None:
    """Wait until the server is idle: work queued by the last run is done.

    Logins still queued when a run ends (argon2 takes ~100 ms each) would
    otherwise slow the start of the next run.
    """
    started = time.monotonic()
    before = proc_cpu_seconds(server.process.pid)
    while before is not None and time.monotonic() < started + longest:
        time.sleep(0.25)
        now = proc_cpu_seconds(server.process.pid)
        if now is None or now - before < 0.025:  # under 10% of a core
            break
        before = now
    waited = time.monotonic() - started
    if waited > 3:
        log(f"{server.name}: waited {waited:.0f} s for the server to go idle")


def summarise(raw: dict[str, Any], cpu: float | None, wall: float) -> dict[str, Any]:
    """Turn the load generator's summary into req/s, ms and CPU per request.

    ``cpu`` is the server's CPU time over the load generator's whole life,
    ``wall`` seconds (a little longer than the run: start-up and shutdown).
    """
    requests = raw["requests"]
    seconds = raw["duration_us"] / 1e6 if raw["duration_us"] else 0.0
    latency = raw["latency_us"]
    errors = raw["errors"]
    result: dict[str, Any] = {
        "requests": requests,
        "seconds": round(seconds, 3),
        "rps": requests / seconds if seconds else 0.0,
        "latency_ms": {
            key: latency[key] / 1000
            for key in ("mean", "p50", "p75", "p90", "p99", "p999", "max")
        },
        "errors": errors,
        "error_count": sum(errors.values()),
    }
    if cpu is not None and requests and wall > 0:
        result["server_cpu_seconds"] = round(cpu, 3)
        result["server_cpu_us_per_request"] = cpu / requests * 1e6
        result["server_core_busy"] = cpu / wall
    return result


class LoginLoop(threading.Thread):
    """Logs in at a steady low rate, one login at a time, until stopped."""

    def __init__(self, port: int, password: str, rate: float) -> None:
        """Prepare a loop of logins at ``rate`` per second."""
        super().__init__(daemon=True, name="login-loop")
        self.port = port
        self.body = login_body(password)
        self.interval = 1.0 / rate
        self.stopping = threading.Event()
        self.latencies_ms: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.failures = 0
        self.started_at = 0.0
        self.stopped_at = 0.0

    def run(self) -> None:
        """Log in until stopped, at most one login in flight."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.started_at = time.monotonic()
        next_at = self.started_at
        try:
            while not self.stopping.is_set():
                start = time.perf_counter()
                try:
                    status, _, _ = http_call(
                        self.port,
                        "POST",
                        "/auth/login",
                        body=self.body,
                        headers={"Content-Type": FORM},
                        conn=conn,
                    )
                    self.statuses[status] += 1
                    self.latencies_ms.append((time.perf_counter() - start) * 1000)
                except (OSError, http.client.HTTPException):
                    self.failures += 1
                    conn.close()
                    conn = http.client.HTTPConnection(
                        "127.0.0.1", self.port, timeout=30
                    )
                next_at = max(next_at + self.interval, time.monotonic())
                self.stopping.wait(max(0.0, next_at - time.monotonic()))
        finally:
            self.stopped_at = time.monotonic()
            conn.close()

    def summary(self) -> dict[str, Any]:
        """Return what the loop did: count, rate, statuses and latencies."""
        elapsed = (self.stopped_at - self.started_at) or 1.0
        ordered = sorted(self.latencies_ms)
        return {
            "logins": len(ordered),
            "per_second": len(ordered) / elapsed,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "failures": self.failures,
            "latency_ms_p50": ordered[len(ordered) // 2] if ordered else None,
            "latency_ms_max": ordered[-1] if ordered else None,
        }


# --------------------------------------------------------------------------
# Targets


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
    cookiecutter_config: Path
    versions: dict[str, dict[str, str]] = field(default_factory=dict)
    rbac: str = ""
    # Put before each server's command (bench/instructions.py: valgrind).
    server_prefix: list[str] = field(default_factory=list)
    startup_timeout: float = STARTUP_TIMEOUT


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """Return the environment of a child process, with ``extra`` set."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}
    }
    env.update(extra)
    return env


def generate(ctx: Context, target: Target) -> Path:
    """Generate the target's project with cookiecutter's Python API."""
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.main import cookiecutter

    out = ctx.tmp / target.slug
    out.mkdir()
    try:
        project = cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            output_dir=str(out),
            config_file=str(ctx.cookiecutter_config),
            extra_context={
                "project_name": "Bench App",
                "session_strategy": target.strategy,
                "database": target.database,
            },
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


def prepare_ours(ctx: Context, target: Target, stack: contextlib.ExitStack) -> Server:
    """Generate, install, migrate, create the user and serve one of our projects."""
    log(f"{target.name}: generating, installing, migrating")
    project = generate(ctx, target)
    python = ensure_venv(VENV_APP, project_dependencies(project))
    ctx.versions.setdefault("ours", {})
    if target.database == "sqlite":
        url = f"sqlite+aiosqlite:///{project / 'bench.db'}"
    else:
        name = f"bench_{target.strategy}_{secrets.token_hex(4)}"
        pg_admin(python, f'CREATE DATABASE "{name}"')
        stack.callback(drop_database, python, name)
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    env = child_env(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ENVIRONMENT": ctx.args.environment,
        }
    )
    run_cmd(
        [str(python), "-m", "alembic", "upgrade", "head"],
        what="alembic upgrade head",
        cwd=project,
        env=env,
        timeout=180,
    )
    run_cmd(
        [str(python), "-m", "app", "create-user", "--email", EMAIL],
        what="python -m app create-user",
        cwd=project,
        env=env,
        stdin=ctx.password + "\n",
        timeout=120,
    )
    server = start_server(
        target.name,
        [*ctx.server_prefix, str(python), "-m", "uvicorn", "app.main:app"],
        cwd=project,
        env=env,
        log_path=ctx.tmp / f"{target.slug}.log",
        machine=ctx.machine,
        startup_timeout=ctx.startup_timeout,
    )
    stack.callback(CHILDREN.stop, server.process)
    if not ctx.versions["ours"]:
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
    server = start_server(
        target.name,
        [
            *ctx.server_prefix,
            str(python),
            "-m",
            "uvicorn",
            "peer_fastapi_users:app",
            "--app-dir",
            str(BENCH_DIR),
        ],
        cwd=ctx.tmp,
        env=env,
        log_path=ctx.tmp / f"{target.slug}.log",
        machine=ctx.machine,
        startup_timeout=ctx.startup_timeout,
    )
    stack.callback(CHILDREN.stop, server.process)
    status, _, data = http_call(
        server.port,
        "POST",
        "/auth/register",
        body=json.dumps({"email": EMAIL, "password": ctx.password}),
        headers={"Content-Type": "application/json"},
    )
    if status != 201:
        raise BenchError(f"peer POST /auth/register answered {status}: {data[:200]!r}")
    if "peer" not in ctx.versions:
        ctx.versions["peer"] = package_versions(python)
    return server


def measure(ctx: Context, target: Target) -> dict[str, Any]:
    """Serve one target and load each endpoint; return the numbers."""
    args = ctx.args
    loader = ctx.loader
    result: dict[str, Any] = {
        "name": target.name,
        "kind": target.kind,
        "strategy": target.strategy,
        "database": target.database,
    }
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if target.kind == "ours":
            server = prepare_ours(ctx, target, stack)
        else:
            server = prepare_peer(ctx, target, stack)
        log_in(server.port, ctx.password)  # fails early, with a clear line
        result["setup_seconds"] = round(time.monotonic() - started, 1)
        log(f"{target.name}: loading on 127.0.0.1:{server.port}")

        def timed(path: str, **kwargs: Any) -> dict[str, Any]:
            if args.warmup:
                loader.run(server, path, seconds=args.warmup, **kwargs)
            return loader.run(server, path, seconds=args.duration, **kwargs)

        # /health and /auth/me alternate, round after round: a neighbour that
        # slows the machine for a while then weighs on both runs of a round,
        # and the median round stands for the target.
        # Warm both up once; the runs of a round then follow each other
        # closely, so that both see the machine in the same state.
        auth = log_in(server.port, ctx.password)
        if args.warmup:
            for path, headers in (("/health", None), ("/auth/me", auth)):
                loader.run(
                    server,
                    path,
                    seconds=args.warmup,
                    connections=args.connections,
                    headers=headers,
                )
        rounds = []
        for _ in range(args.rounds):
            health = loader.run(
                server, "/health", seconds=args.duration, connections=args.connections
            )
            # A fresh session right before its run: a signed cookie older than
            # a minute would be renewed (re-signed, Set-Cookie) on every request.
            auth = log_in(server.port, ctx.password)
            me = loader.run(
                server,
                "/auth/me",
                seconds=args.duration,
                connections=args.connections,
                headers=auth,
            )
            rounds.append((ratio(me["rps"], health["rps"]) or 0.0, health, me))
        rounds.sort(key=lambda r: r[0])
        median, health, me = rounds[len(rounds) // 2]
        result["round_ratios"] = [r[0] for r in rounds]
        endpoints: dict[str, Any] = {"health": health, "me": me}
        endpoints["login"] = timed(
            "/auth/login",
            connections=args.login_connections,
            method="POST",
            body=login_body(ctx.password),
            content_type=FORM,
        )
        result["endpoints"] = endpoints
        result["me_over_health"] = median
        cpu_me = endpoints["me"].get("server_cpu_us_per_request")
        cpu_health = endpoints["health"].get("server_cpu_us_per_request")
        if cpu_me is not None and cpu_health is not None:
            result["auth_cpu_us_per_request"] = cpu_me - cpu_health

        # /health p99 with and without logins running beside it.
        alone = loader.run(
            server, "/health", seconds=args.duration, connections=args.probe_connections
        )
        loop = LoginLoop(server.port, ctx.password, args.login_rate)
        loop.start()
        try:
            time.sleep(min(1.0, 2.0 / args.login_rate))
            with_logins = loader.run(
                server,
                "/health",
                seconds=args.duration,
                connections=args.probe_connections,
                wait_idle=False,
            )
        finally:
            loop.stopping.set()
            loop.join(timeout=60)
        result["health_under_login"] = {
            "alone": alone,
            "with_logins": with_logins,
            "logins": loop.summary(),
            "p99_delta_ms": with_logins["latency_ms"]["p99"]
            - alone["latency_ms"]["p99"],
        }

        if args.profile:
            auth = log_in(server.port, ctx.password)
            result["profile"] = profile(ctx, target, server, auth)
    result["seconds"] = round(time.monotonic() - started, 1)
    log(
        f"{target.name}: {result['seconds']:.0f} s "
        f"(setup {result['setup_seconds']:.0f} s)"
    )
    return result


def ratio(a: float | None, b: float | None) -> float | None:
    """Return a / b, or None when either is missing or b is zero."""
    if a is None or not b:
        return None
    return a / b


# --------------------------------------------------------------------------
# Profiling (optional): py-spy on the server while /auth/me is loaded


def profile(
    ctx: Context, target: Target, server: Server, auth: dict[str, str]
) -> dict[str, Any]:
    """Record the server with py-spy while /auth/me is loaded; summarise it."""
    py_spy = VENV_BENCH / "bin" / "py-spy"
    if not py_spy.exists():
        raise BenchError(
            "py-spy is missing from bench/.venv-bench (see requirements.txt)"
        )
    out_dir = ctx.args.output / "profiles"
    out_dir.mkdir(parents=True, exist_ok=True)
    raw_path = out_dir / f"{target.slug}.txt"
    raw_path.unlink(missing_ok=True)
    pin = (
        ["taskset", "-c", str(ctx.machine.load_cpu)]
        if ctx.machine.load_cpu is not None
        else []
    )
    seconds = ctx.args.duration
    log(f"{target.name}: py-spy record during /auth/me")
    settle(server)
    failures: list[BaseException] = []

    def load() -> None:
        try:
            ctx.loader.run(
                server,
                "/auth/me",
                seconds=seconds + 2,
                connections=ctx.args.connections,
                headers=auth,
                wait_idle=False,
            )
        except BaseException as error:  # reported by the caller's thread
            failures.append(error)

    # The load starts before the recording and ends after it.
    loader_thread = threading.Thread(target=load, name="profile-load", daemon=True)
    loader_thread.start()
    time.sleep(0.5)
    recorder = CHILDREN.start(
        [
            *pin,
            str(py_spy),
            "record",
            "--pid",
            str(server.process.pid),
            "--duration",
            str(seconds),
            "--rate",
            "250",
            "--nonblocking",
            "--threads",
            "--full-filenames",
            "--format",
            "raw",
            "--output",
            str(raw_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        try:
            _, err = recorder.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            err = "py-spy did not finish"
    finally:
        CHILDREN.stop(recorder)
        loader_thread.join(timeout=seconds + 60)
    if failures:
        raise BenchError(f"load during py-spy: {failures[0]}")
    if not raw_path.exists():
        raise BenchError(f"py-spy wrote no profile: {last_line(err or '')}")
    return summarise_profile(raw_path)


FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def frame_package(path: str) -> str:
    """Return the package a source file belongs to."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/app/" in path or path.startswith("app/"):
        return "app (generated project)"
    if path.endswith("peer_fastapi_users.py"):
        return "peer app"
    match = re.search(r"python3\.\d+/([^/]+)", path)
    if match:
        return "stdlib " + match.group(1).removesuffix(".py")
    return path


def thread_group(name: str) -> str:
    """Return the group of a thread name: its pool, not its number."""
    if name == "MainThread":
        return "MainThread (event loop)"
    match = re.fullmatch(r"Thread-\d+ \((?P<target>.+)\)", name)
    if match:
        return f"{match['target']} threads"
    return re.sub(r"[_-]\d+$", "", name) + " threads"


def summarise_profile(path: Path) -> dict[str, Any]:
    """Summarise py-spy's raw stacks: threads, then self and inclusive time.

    py-spy counts a thread whenever it is runnable, so on one saturated core a
    thread that waits for the CPU counts as much as the one running: read the
    thread shares as demand, and the event loop's own breakdown as its cost.
    """
    threads: Counter[str] = Counter()
    loop_pkg: Counter[str] = Counter()
    loop_self: Counter[str] = Counter()
    loop_incl: Counter[str] = Counter()
    all_self: Counter[str] = Counter()
    total = loop_total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        parts = stack.split(";")
        group = "unknown thread"
        if parts[0].startswith("thread ("):
            group = thread_group(parts.pop(0).split("): ", 1)[-1].strip())
        frames = []
        for raw in parts:
            match = FRAME.match(raw.strip())
            if match:
                file = match["file"]
                short = "/".join(file.split("site-packages/")[-1].split("/")[-2:])
                frames.append((f"{match['func']} ({short})", frame_package(file)))
            else:
                frames.append((raw.strip(), raw.strip()))
        if not frames:
            continue
        total += count
        threads[group] += count
        leaf_name, leaf_pkg = frames[-1]
        all_self[f"{leaf_name} [{group.split()[0]}]"] += count
        if group.startswith("MainThread"):
            loop_total += count
            loop_pkg[leaf_pkg] += count
            loop_self[leaf_name] += count
            for name in {name for name, _ in frames}:
                loop_incl[name] += count

    def top(counter: Counter[str], n: int, of: int) -> list[list[Any]]:
        if not of:
            return []
        return [[name, round(100 * c / of, 1)] for name, c in counter.most_common(n)]

    inside = path.is_relative_to(TEMPLATE_DIR)
    shown = path.relative_to(TEMPLATE_DIR) if inside else path
    return {
        "samples": total,
        "raw": str(shown),
        "threads": top(threads, 10, total),
        "event_loop_self_by_package": top(loop_pkg, 12, loop_total),
        "event_loop_self_by_function": top(loop_self, 15, loop_total),
        "event_loop_inclusive_by_function": top(loop_incl, 30, loop_total),
        "all_threads_self_by_function": top(all_self, 15, total),
    }


# --------------------------------------------------------------------------
# Report

NONE = "n/a"


def fmt_ms(value: float | None) -> str:
    """Milliseconds with about three significant digits."""
    if value is None:
        return NONE
    if value < 10:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:.0f}"


def fmt_num(value: float | None) -> str:
    """Return a whole number with thousands separators."""
    return NONE if value is None else f"{value:,.0f}"


def fmt_ratio(value: float | None) -> str:
    """Return a ratio such as 2.50x."""
    return NONE if value is None else f"{value:.2f}x"


def fmt_share(value: float | None) -> str:
    """Return a fraction as a percentage."""
    return NONE if value is None else f"{value:.0%}"


def comparisons(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pair our strategies with fastapi-users' (SQLite) as COMPARISONS says."""

    def find(kind: str, strategy: str) -> dict[str, Any] | None:
        for t in targets:
            if (
                t["kind"] == kind
                and t["strategy"] == strategy
                and t["database"] == "sqlite"
                and "endpoints" in t
            ):
                return t
        return None

    rows = []
    for ours_s, theirs_s in COMPARISONS:
        ours, theirs = find("ours", ours_s), find("peer", theirs_s)
        if ours is None or theirs is None:
            continue
        row: dict[str, Any] = {"ours": ours["name"], "theirs": theirs["name"]}
        for endpoint in ("health", "me", "login"):
            a, b = ours["endpoints"][endpoint], theirs["endpoints"][endpoint]
            row[f"{endpoint}_rps_ours"] = a["rps"]
            row[f"{endpoint}_rps_theirs"] = b["rps"]
            row[f"{endpoint}_rps_ratio"] = ratio(a["rps"], b["rps"])
            row[f"{endpoint}_cpu_us_ours"] = a.get("server_cpu_us_per_request")
            row[f"{endpoint}_cpu_us_theirs"] = b.get("server_cpu_us_per_request")
        row["me_cpu_ratio"] = ratio(row["me_cpu_us_theirs"], row["me_cpu_us_ours"])
        rows.append(row)
    return rows


def table(
    header: Sequence[str], align: str, rows: Sequence[Sequence[str]]
) -> list[str]:
    """Return a Markdown table; ``align`` has one letter per column: l or r."""
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def header_lines(report: dict[str, Any]) -> list[str]:
    """Return the machine, the settings and the package versions."""
    m, s = report["machine"], report["settings"]
    if m["server_cpu"] is not None:
        pinning = (
            f"uvicorn pinned to CPU {m['server_cpu']}, load generator and driver "
            f"to CPU {m['load_generator_cpu']}"
        )
    else:
        pinning = "not pinned: --no-pin, or taskset or a second core missing"
    lines = [
        "# Authentication cost per request: benchmark results",
        "",
        f"- Date: {report['date']}; total run {report['elapsed_seconds']:.0f} s",
        f"- Machine: {m['cpu_model']}, {m['cores']} cores ({pinning}); "
        f"{m['kernel']}; Python {m['python']}",
        f"- Load: {report['load_generator']}; {s['connections']} connections for "
        f"/health and /auth/me, {s['login_connections']} for /auth/login; "
        f"{s['duration']} s per run after {s['warmup']} s of warm-up, "
        f"{s.get('rounds', 1)} round(s) of /health then /auth/me; uvicorn "
        "1 worker, `--no-access-log --log-level warning`",
        f"- Generated projects: ENVIRONMENT={s['environment']}, rbac={report['rbac']}",
        f"- Load average before: {report['loadavg_before']}, after: "
        f"{report['loadavg_after']}. Other work on the machine competes for the "
        "server's core: see 'server core busy' (below 100% means the server was "
        "not given a whole core) and prefer CPU µs/req to req/s when it is low.",
    ]
    for side, versions in sorted(report["versions"].items()):
        listed = ", ".join(f"{k} {v}" for k, v in versions.items())
        lines.append(f"- Packages ({side}): {listed}")
    return lines


def endpoint_lines(ok: list[dict[str, Any]]) -> list[str]:
    """Throughput, latency and CPU per endpoint."""
    labels = {
        "health": "GET /health",
        "me": "GET /auth/me",
        "login": "POST /auth/login",
    }
    rows = []
    for t in ok:
        for key, label in labels.items():
            e = t["endpoints"][key]
            rows.append(
                [
                    t["name"],
                    label,
                    fmt_num(e["rps"]),
                    fmt_ms(e["latency_ms"]["p50"]),
                    fmt_ms(e["latency_ms"]["p99"]),
                    fmt_num(e.get("server_cpu_us_per_request")),
                    fmt_share(e.get("event_loop_cpu_share")),
                    fmt_share(e.get("server_core_busy")),
                    str(e["error_count"]),
                ]
            )
    header = [
        "target",
        "endpoint",
        "req/s",
        "p50 ms",
        "p99 ms",
        "server CPU µs/req",
        "on event loop",
        "server core busy",
        "errors",
    ]
    lines = ["", "## Requests per target", ""]
    return lines + table(header, "llrrrrrrr", rows)


def cost_lines(ok: list[dict[str, Any]]) -> list[str]:
    """Return what /auth/me costs over /health in the same run."""
    rows = [
        [
            t["name"],
            fmt_ratio(t.get("me_over_health")),
            " ".join(fmt_ratio(r) for r in t.get("round_ratios", [])),
            fmt_num(t.get("auth_cpu_us_per_request")),
        ]
        for t in ok
    ]
    header = [
        "target",
        "/auth/me ÷ /health req/s",
        "each round",
        "/auth/me minus /health CPU µs/req",
    ]
    lines = [
        "",
        "## What authentication costs",
        "",
        "Each round loads /health, then /auth/me, back to back; the median round "
        "is the ratio, and its two runs are the ones in the table above.",
        "",
    ]
    return lines + table(header, "llrr", rows)


def login_impact_lines(ok: list[dict[str, Any]], settings: dict[str, Any]) -> list[str]:
    """/health latency alone and while logins run beside it."""
    rows = []
    for t in ok:
        h = t["health_under_login"]
        a, w, lg = h["alone"], h["with_logins"], h["logins"]
        rows.append(
            [
                t["name"],
                fmt_ms(a["latency_ms"]["p99"]),
                fmt_ms(w["latency_ms"]["p99"]),
                f"{h['p99_delta_ms']:+.2f}",
                fmt_ms(w["latency_ms"]["max"]),
                f"{fmt_num(a['rps'])} → {fmt_num(w['rps'])}",
                f"{lg['per_second']:.1f}",
                fmt_ms(lg["latency_ms_p50"]),
            ]
        )
    header = [
        "target",
        "/health p99 alone ms",
        "with logins ms",
        "Δ p99 ms",
        "max with logins ms",
        "/health req/s alone → with",
        "logins/s",
        "login p50 ms",
    ]
    lines = [
        "",
        "## /health while logins run",
        "",
        f"/health with {settings['probe_connections']} connections, alone and while "
        f"one client logs in (about {settings['login_rate']:g} a second, one at a "
        "time, each hashing with argon2).",
        "",
    ]
    return lines + table(header, "lrrrrrrr", rows)


def comparison_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Ours over fastapi-users'."""
    if not rows:
        return []
    body = [
        [
            r["ours"],
            r["theirs"],
            fmt_ratio(r["me_rps_ratio"]),
            f"{fmt_num(r['me_rps_ours'])} / {fmt_num(r['me_rps_theirs'])}",
            f"{fmt_num(r['me_cpu_us_ours'])} / {fmt_num(r['me_cpu_us_theirs'])}",
            fmt_ratio(r["login_rps_ratio"]),
            fmt_ratio(r["health_rps_ratio"]),
        ]
        for r in rows
    ]
    header = [
        "ours",
        "theirs",
        "/auth/me req/s ours ÷ theirs",
        "/auth/me req/s ours / theirs",
        "/auth/me CPU µs/req ours / theirs",
        "/auth/login req/s ours ÷ theirs",
        "/health req/s ours ÷ theirs",
    ]
    lines = ["", "## Against fastapi-users (SQLite)", ""]
    return lines + table(header, "llrrrrr", body)


def profile_lines(ok: list[dict[str, Any]]) -> list[str]:
    """Return py-spy's summary: threads, then the event loop's self time."""
    lines: list[str] = []
    for t in ok:
        p = t.get("profile")
        if not p:
            continue
        if not lines:
            lines += [
                "",
                "## Where /auth/me spends the server's time (py-spy)",
                "",
                "Samples of every thread that was runnable; on one saturated core a "
                "thread waiting for the CPU is counted too, so the thread shares "
                "show demand. The function tables are the event loop's own "
                "samples (self time: the innermost Python frame, C code included).",
            ]
        lines += [
            "",
            f"### {t['name']}: {p['samples']} samples, raw stacks in `{p['raw']}`",
            "",
        ]
        shares = [[name, f"{share}%"] for name, share in p["threads"]]
        lines += table(["thread", "% of samples"], "lr", shares)
        lines.append("")
        packages = [[n, f"{share}%"] for n, share in p["event_loop_self_by_package"]]
        lines += table(["event loop self time in", "%"], "lr", packages)
        lines.append("")
        functions = [
            [f"`{name}`", f"{share}%"]
            for name, share in p["event_loop_self_by_function"]
        ]
        lines += table(["event loop function (self)", "%"], "lr", functions)
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """Return the whole report as Markdown."""
    ok = [t for t in report["targets"] if "endpoints" in t]
    out = header_lines(report)
    out += endpoint_lines(ok)
    out += cost_lines(ok)
    out += login_impact_lines(ok, report["settings"])
    out += comparison_lines(report["comparisons"])
    failed = [t for t in report["targets"] if "error" in t]
    if failed or report["skipped"]:
        out += ["", "## Not measured", ""]
        out += [f"- {t['name']}: {t['error']}" for t in failed]
        out += [f"- {note}" for note in report["skipped"]]
    out += profile_lines(ok)
    out += [
        "",
        "req/s and latencies come from the load generator. Server CPU µs/req is "
        "the uvicorn process's user+system CPU time during the run divided by the "
        "requests served; other work on the machine disturbs it less than req/s. "
        "'On event loop' is the main thread's part of that time; the rest is "
        "worker threads (aiosqlite's, the password-hash pool).",
    ]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Main


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
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
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
    config = tmp / "cookiecutter-config.yaml"
    # Cookiecutter's clones and replay files stay in the temporary folder.
    config.write_text(
        f'cookiecutters_dir: "{tmp / "cookiecutters"}"\n'
        f'replay_dir: "{tmp / "replay"}"\n',
        encoding="utf-8",
    )
    ctx = Context(
        args=args,
        machine=machine,
        loader=loader,
        tmp=tmp,
        password=secrets.token_urlsafe(12),
        cookiecutter_config=config,
        rbac=choices("rbac")[0],
    )
    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine.describe(),
        "load_generator": loader.describe(),
        "settings": {
            key: getattr(args, key)
            for key in (
                "duration",
                "warmup",
                "rounds",
                "connections",
                "login_connections",
                "probe_connections",
                "login_rate",
                "environment",
                "quick",
            )
        },
        "rbac": ctx.rbac,
        "loadavg_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "versions": ctx.versions,
        "targets": [],
        "skipped": skipped,
    }
    started = time.monotonic()
    try:
        for target in targets:
            try:
                report["targets"].append(measure(ctx, target))
            except BenchError as error:
                log(f"{target.name}: {error}")
                report["targets"].append(
                    {
                        "name": target.name,
                        "kind": target.kind,
                        "strategy": target.strategy,
                        "database": target.database,
                        "error": str(error),
                    }
                )
    finally:
        CHILDREN.stop_all()
        if args.keep:
            log(f"kept the projects and server logs in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    report["loadavg_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report["elapsed_seconds"] = round(time.monotonic() - started, 1)
    report["comparisons"] = comparisons(report["targets"])
    markdown = render_markdown(report)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.md").write_text(markdown, encoding="utf-8")
    (args.output / "results.json").write_text(
        json.dumps(report, indent=2) + "\n", encoding="utf-8"
    )
    print(markdown)
    log(
        f"done in {report['elapsed_seconds']:.0f} s; wrote "
        f"{args.output / 'results.md'} and {args.output / 'results.json'}"
    )
    return 1 if any("error" in t for t in report["targets"]) else 0


def in_venv(venv: Path) -> bool:
    """Return whether this interpreter runs in ``venv``."""
    return Path(sys.prefix).resolve() == venv.resolve()


def main(argv: Sequence[str] | None = None) -> int:
    """Bootstrap the bench's venv, then run; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    try:
        if not in_venv(VENV_BENCH):
            if sys.version_info < (3, 11):  # noqa: UP036 - any python3 may start this
                raise BenchError("Python 3.11 or newer is needed")
            if args.refresh_venvs:
                for venv in (VENV_BENCH, VENV_APP, VENV_PEER):
                    shutil.rmtree(venv, ignore_errors=True)
            python = ensure_venv(
                VENV_BENCH, read_requirements(BENCH_DIR / "requirements.txt")
            )
            rest = [a for a in argv if a != "--refresh-venvs"]
            os.execv(str(python), [str(python), str(Path(__file__).resolve()), *rest])
        if args.refresh_venvs:
            for venv in (VENV_APP, VENV_PEER):
                shutil.rmtree(venv, ignore_errors=True)
        return run(args)
    except BenchError as error:
        CHILDREN.stop_all()
        print(f"bench: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        CHILDREN.stop_all()
        print("bench: interrupted; every server it started is stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
