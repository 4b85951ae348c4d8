"""Load: wrk (or bench/loadgen.py) on its own core, and logins beside it."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from machine import Machine, proc_cpu_seconds, wrk_version
from paths import BENCH_DIR, loopback
from procs import BenchError, last_line, log, run_cmd
from results import Latency, LoadResult, LoginLoopSummary
from server import EMAIL, Server

LUA_SCRIPT = BENCH_DIR / "wrk_report.lua"
LOADGEN = BENCH_DIR / "loadgen.py"


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

    def command(
        self,
        url: str,
        *,
        seconds: int,
        connections: int,
        method: str,
        body: str,
        content_type: str,
        headers: dict[str, str],
        timeout: int,
    ) -> tuple[list[str], dict[str, str]]:
        """Return the load generator's command line and environment."""
        header_args: list[str] = []
        for name, value in headers.items():
            header_args += ["-H", f"{name}: {value}"]
        env = dict(os.environ)
        pin = self.machine.pin_load()
        if self.wrk:
            # wrk_report.lua reads the method and the body from the environment.
            env.update(
                BENCH_METHOD=method, BENCH_BODY=body, BENCH_CONTENT_TYPE=content_type
            )
            options = [f"-c{connections}", f"-d{seconds}s", "--latency"]
            options += ["--timeout", f"{timeout}s", "-s", str(LUA_SCRIPT)]
            return [*pin, self.wrk, "-t1", *options, *header_args, url], env
        if content_type:
            header_args += ["-H", f"Content-Type: {content_type}"]
        options = ["-c", str(connections), "-d", str(seconds)]
        options += ["--timeout", str(timeout), "--method", method, "--body", body]
        return [*pin, self.bench_python, str(LOADGEN), url, *options, *header_args], env

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
    ) -> LoadResult:
        """Load one endpoint; return the load generator's numbers and the CPU time.

        First wait until the server is idle, unless ``wait_idle`` is false
        (when other load is meant to run beside this one).
        """
        command, env = self.command(
            f"http://127.0.0.1:{server.port}{path}",
            seconds=seconds,
            connections=connections,
            method=method,
            body=body,
            content_type=content_type,
            headers=headers or {},
            timeout=timeout,
        )
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
        died = server.died()
        if died is not None:
            raise BenchError(f"{server.name}: the server died under load: {died}")
        line = next(
            (x for x in reversed(out.splitlines()) if x.startswith("BENCH_JSON ")), None
        )
        if line is None:
            raise BenchError(f"load {method} {path}: no summary: {last_line(out)}")
        raw = json.loads(line.removeprefix("BENCH_JSON "))
        result = summarise(raw, delta(cpu_before, cpu_after), wall)
        loop = delta(loop_before, loop_after)
        if loop is not None and result.server_cpu_seconds:
            result.event_loop_cpu_share = loop / result.server_cpu_seconds
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


def summarise(raw: dict[str, Any], cpu: float | None, wall: float) -> LoadResult:
    """Turn the load generator's summary into req/s, ms and CPU per request.

    ``cpu`` is the server's CPU time over the load generator's whole life,
    ``wall`` seconds (a little longer than the run: start-up and shutdown).
    """
    requests = raw["requests"]
    seconds = raw["duration_us"] / 1e6 if raw["duration_us"] else 0.0
    latency = raw["latency_us"]
    errors = raw["errors"]
    result = LoadResult(
        requests=requests,
        seconds=round(seconds, 3),
        rps=requests / seconds if seconds else 0.0,
        latency_ms=Latency(
            **{
                key: latency[key] / 1000
                for key in ("mean", "p50", "p75", "p90", "p99", "p999", "max")
            }
        ),
        errors=errors,
        error_count=sum(errors.values()),
    )
    if cpu is not None and requests and wall > 0:
        result.server_cpu_seconds = round(cpu, 3)
        result.server_cpu_us_per_request = cpu / requests * 1e6
        result.server_core_busy = cpu / wall
    return result


class LoginLoop(threading.Thread):
    """Logs in at a steady low rate, one login at a time, until stopped."""

    def __init__(self, port: int, password: str, rate: float) -> None:
        """Prepare a loop of logins at ``rate`` per second."""
        super().__init__(daemon=True, name="login-loop")
        self.port = port
        self.body = loopback.login_form(EMAIL, password)
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
                    status, _, _ = loopback.request(
                        self.port,
                        "POST",
                        "/auth/login",
                        body=self.body,
                        headers={"Content-Type": loopback.FORM},
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

    def summary(self) -> LoginLoopSummary:
        """Return what the loop did: count, rate, statuses and latencies."""
        elapsed = (self.stopped_at - self.started_at) or 1.0
        ordered = sorted(self.latencies_ms)
        return LoginLoopSummary(
            logins=len(ordered),
            per_second=len(ordered) / elapsed,
            statuses={str(k): v for k, v in sorted(self.statuses.items())},
            failures=self.failures,
            latency_ms_p50=ordered[len(ordered) // 2] if ordered else None,
            latency_ms_max=ordered[-1] if ordered else None,
        )
