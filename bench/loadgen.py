"""A small closed-loop HTTP/1.1 load generator: the fallback when wrk is missing.

Standard library only. Each of ``--connections`` keep-alive connections sends
one request, waits for the whole answer, and sends the next, for
``--duration`` seconds, like wrk does. It prints wrk_report.lua's last line,
``BENCH_JSON {...}``, so bench/run.py reads both the same way. It is slower
than wrk (one Python process), so pin it to a core of its own and expect it
to cap the throughput of fast endpoints sooner than wrk would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from urllib.parse import urlsplit


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("-c", "--connections", type=int, default=50)
    parser.add_argument("-d", "--duration", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default="")
    parser.add_argument("-H", "--header", action="append", default=[])
    return parser.parse_args(argv)


class Stats:
    """Counts and latencies (microseconds) of the answers that came back."""

    def __init__(self) -> None:
        """Start with nothing counted."""
        self.latencies: list[int] = []
        self.bytes = 0
        self.errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}


def _request_bytes(args: argparse.Namespace, host: str, target: str) -> bytes:
    lines = [f"{args.method} {target} HTTP/1.1", f"Host: {host}"]
    lines += args.header
    body: bytes = args.body.encode()
    if body or args.method not in {"GET", "HEAD"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    length = None
    chunked = False
    for line in header_lines:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    size = len(head)
    if chunked:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            chunk = int(size_line.split(b";")[0], 16)
            await reader.readexactly(chunk + 2)
            size += len(size_line) + chunk + 2
            if chunk == 0:
                break
    elif length:
        await reader.readexactly(length)
        size += length
    return status, size


async def _connection(
    host: str, port: int, request: bytes, deadline: float, timeout: float, stats: Stats
) -> None:
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), timeout
            )
        except (OSError, TimeoutError):
            stats.errors["connect"] += 1
            await asyncio.sleep(0.01)
            continue
        try:
            while time.monotonic() < deadline:
                start = time.perf_counter_ns()
                writer.write(request)
                try:
                    status, size = await asyncio.wait_for(
                        _read_response(reader), timeout
                    )
                except TimeoutError:
                    stats.errors["timeout"] += 1
                    break
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    stats.errors["read"] += 1
                    break
                stats.latencies.append((time.perf_counter_ns() - start) // 1000)
                stats.bytes += size
                if status > 399:
                    stats.errors["status"] += 1
        finally:
            writer.close()


def _percentile(ordered: list[int], percent: float) -> int:
    if not ordered:
        return 0
    rank = max(0, math.ceil(percent / 100 * len(ordered)) - 1)
    return ordered[rank]


async def _run(args: argparse.Namespace) -> dict[str, object]:
    parts = urlsplit(args.url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    request = _request_bytes(args, f"{host}:{port}", target)
    stats = Stats()
    started = time.monotonic()
    deadline = started + args.duration
    tasks = [
        asyncio.create_task(
            _connection(host, port, request, deadline, args.timeout, stats)
        )
        for _ in range(args.connections)
    ]
    # Answers still in flight at the deadline are not counted, as in wrk.
    await asyncio.wait(tasks, timeout=args.duration + args.timeout)
    for task in tasks:
        task.cancel()
    elapsed_us = int((time.monotonic() - started) * 1e6)
    ordered = sorted(stats.latencies)
    count = len(ordered)
    mean = sum(ordered) / count if count else 0.0
    stdev = math.sqrt(sum((x - mean) ** 2 for x in ordered) / count) if count else 0.0
    return {
        "requests": count,
        "duration_us": min(elapsed_us, int(args.duration * 1e6)),
        "bytes": stats.bytes,
        "errors": stats.errors,
        "latency_us": {
            "mean": mean,
            "stdev": stdev,
            "min": ordered[0] if ordered else 0,
            "max": ordered[-1] if ordered else 0,
            **{
                name: _percentile(ordered, percent)
                for name, percent in (
                    ("p50", 50),
                    ("p75", 75),
                    ("p90", 90),
                    ("p99", 99),
                    ("p999", 99.9),
                )
            },
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Load the URL and print the summary line."""
    args = _parse_args(argv)
    result = asyncio.run(_run(args))
    print("BENCH_JSON " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
