"""Profiling (optional, --profile): py-spy on the server while /auth/me is loaded."""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

from loading import settle
from paths import TEMPLATE_DIR
from procs import CHILDREN, BenchError, last_line, log
from results import Profile, Shares
from server import Server
from targets import Context, Target
from venvs import VENV_BENCH


def profile(
    ctx: Context, target: Target, server: Server, auth: dict[str, str]
) -> Profile:
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
    pin = ctx.machine.pin_load()
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


def summarise_profile(path: Path) -> Profile:
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

    def top(counter: Counter[str], n: int, of: int) -> Shares:
        if not of:
            return []
        return [(name, round(100 * c / of, 1)) for name, c in counter.most_common(n)]

    inside = path.is_relative_to(TEMPLATE_DIR)
    shown = path.relative_to(TEMPLATE_DIR) if inside else path
    return Profile(
        samples=total,
        raw=str(shown),
        threads=top(threads, 10, total),
        event_loop_self_by_package=top(loop_pkg, 12, loop_total),
        event_loop_self_by_function=top(loop_self, 15, loop_total),
        event_loop_inclusive_by_function=top(loop_incl, 30, loop_total),
        all_threads_self_by_function=top(all_self, 15, total),
    )
