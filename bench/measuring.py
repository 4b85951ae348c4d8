"""One target measured: rounds of /health and /auth/me, logins, /health under logins."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from loading import LoginLoop
from machine import rss_kib
from paths import loopback
from procs import log
from profiling import profile
from results import (
    Endpoints,
    HealthUnderLogin,
    LoadResult,
    TargetResult,
    ratio,
)
from server import EMAIL, Server, log_in
from targets import Context, Target, prepare_ours, prepare_peer


def measure(ctx: Context, target: Target) -> TargetResult:
    """Serve one target and load each endpoint; return the numbers."""
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        prepare = prepare_ours if target.kind == "ours" else prepare_peer
        server = prepare(ctx, target, stack)
        log_in(server.port, ctx.password)  # fails early, with a clear line
        setup_seconds = round(time.monotonic() - started, 1)
        log(f"{target.name}: loading on 127.0.0.1:{server.port}")
        round_ratios, health, me = _rounds(ctx, server)
        rss = rss_kib(server.process.pid)
        login = _login_run(ctx, server)
        health_under_login = _health_under_login(ctx, server)
        measured_profile = None
        if ctx.args.profile:
            auth = log_in(server.port, ctx.password)
            measured_profile = profile(ctx, target, server, auth)
    seconds = round(time.monotonic() - started, 1)
    log(f"{target.name}: {seconds:.0f} s (setup {setup_seconds:.0f} s)")
    cpu_me = me.server_cpu_us_per_request
    cpu_health = health.server_cpu_us_per_request
    return TargetResult(
        name=target.name,
        kind=target.kind,
        strategy=target.strategy,
        database=target.database,
        setup_seconds=setup_seconds,
        round_ratios=[r for r, _, _ in round_ratios],
        endpoints=Endpoints(health=health, me=me, login=login),
        me_over_health=round_ratios[len(round_ratios) // 2][0],
        health_under_login=health_under_login,
        seconds=seconds,
        auth_cpu_us_per_request=(
            None if cpu_me is None or cpu_health is None else cpu_me - cpu_health
        ),
        profile=measured_profile,
        server_rss_kib=rss,
    )


Round = tuple[float, LoadResult, LoadResult]


def _rounds(ctx: Context, server: Server) -> tuple[list[Round], LoadResult, LoadResult]:
    """Return every round sorted by its ratio, and the median round's two runs.

    /health and /auth/me alternate, round after round: a neighbour that slows
    the machine for a while then weighs on both runs of a round, and the
    median round stands for the target.
    """
    args, loader = ctx.args, ctx.loader
    # Warm both up once; the runs of a round then follow each other closely,
    # so that both see the machine in the same state.
    if args.warmup:
        auth = log_in(server.port, ctx.password)
        for path, headers in (("/health", None), ("/auth/me", auth)):
            loader.run(
                server,
                path,
                seconds=args.warmup,
                connections=args.connections,
                headers=headers,
            )
    rounds: list[Round] = []
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
        rounds.append((ratio(me.rps, health.rps) or 0.0, health, me))
    rounds.sort(key=lambda r: r[0])
    _, health, me = rounds[len(rounds) // 2]
    return rounds, health, me


def _login_run(ctx: Context, server: Server) -> LoadResult:
    """Load /auth/login with the right password, after a warm-up."""
    args = ctx.args
    kwargs: dict[str, Any] = {
        "connections": args.login_connections,
        "method": "POST",
        "body": loopback.login_form(EMAIL, ctx.password),
        "content_type": loopback.FORM,
    }
    if args.warmup:
        ctx.loader.run(server, "/auth/login", seconds=args.warmup, **kwargs)
    return ctx.loader.run(server, "/auth/login", seconds=args.duration, **kwargs)


def _health_under_login(ctx: Context, server: Server) -> HealthUnderLogin:
    """Return /health's latency alone, then while one client logs in."""
    args = ctx.args
    alone = ctx.loader.run(
        server, "/health", seconds=args.duration, connections=args.probe_connections
    )
    loop = LoginLoop(server.port, ctx.password, args.login_rate)
    loop.start()
    try:
        time.sleep(min(1.0, 2.0 / args.login_rate))
        with_logins = ctx.loader.run(
            server,
            "/health",
            seconds=args.duration,
            connections=args.probe_connections,
            wait_idle=False,
        )
    finally:
        loop.stopping.set()
        loop.join(timeout=60)
    return HealthUnderLogin(
        alone=alone,
        with_logins=with_logins,
        logins=loop.summary(),
        p99_delta_ms=with_logins.latency_ms.p99 - alone.latency_ms.p99,
    )
