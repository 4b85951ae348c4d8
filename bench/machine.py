"""The machine: its description, core pinning, CPU time, the load generator."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from procs import BenchError, apt_install, log


@dataclass
class Machine:
    """What the report says about the machine, and how the load is pinned."""

    cpu_model: str
    cores: int
    kernel: str
    python: str
    server_cpu: int | None
    load_generator_cpu: int | None

    def pin_server(self) -> list[str]:
        """Return the command prefix that pins a server to its core, if any."""
        return _taskset(self.server_cpu)

    def pin_load(self) -> list[str]:
        """Return the prefix that pins a load generator to its core, if any."""
        return _taskset(self.load_generator_cpu)


def _taskset(cpu: int | None) -> list[str]:
    return [] if cpu is None else ["taskset", "-c", str(cpu)]


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
        load_generator_cpu=load_cpu,
    )


def find_wrk(mode: str) -> str | None:
    """Return wrk's path, installing it with apt-get when allowed; None: fallback."""
    if mode == "python":
        return None
    path = apt_install("wrk", "wrk")
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


def rss_kib(pid: int) -> int | None:
    """Return a process's resident memory (VmRSS) in KiB, or None if unknown."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None
