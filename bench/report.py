"""The report: Markdown tables of a run's results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from results import (
    Comparison,
    LoadResult,
    Report,
    Settings,
    TargetResult,
    ratio,
)

# Which of our strategies is compared with which of fastapi-users'.
COMPARISONS = (("jwt", "jwt"), ("database", "database"), ("signed_cookie", "database"))
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


def fmt_mib(kib: int | None) -> str:
    """Return KiB as MiB with one decimal."""
    return NONE if kib is None else f"{kib / 1024:.1f}"


def comparisons(targets: list[TargetResult]) -> list[Comparison]:
    """Pair our strategies with fastapi-users' (SQLite) as COMPARISONS says."""

    def find(kind: str, strategy: str) -> TargetResult | None:
        for t in targets:
            if t.kind == kind and t.strategy == strategy and t.database == "sqlite":
                return t
        return None

    rows = []
    for ours_s, theirs_s in COMPARISONS:
        ours, theirs = find("ours", ours_s), find("peer", theirs_s)
        if ours is None or theirs is None:
            continue
        values: dict[str, Any] = {}
        for endpoint in ("health", "me", "login"):
            a = getattr(ours.endpoints, endpoint)
            b = getattr(theirs.endpoints, endpoint)
            values[f"{endpoint}_rps_ours"] = a.rps
            values[f"{endpoint}_rps_theirs"] = b.rps
            values[f"{endpoint}_rps_ratio"] = ratio(a.rps, b.rps)
            values[f"{endpoint}_cpu_us_ours"] = a.server_cpu_us_per_request
            values[f"{endpoint}_cpu_us_theirs"] = b.server_cpu_us_per_request
        cpu_ratio = ratio(values["me_cpu_us_theirs"], values["me_cpu_us_ours"])
        rows.append(
            Comparison(
                ours=ours.name, theirs=theirs.name, **values, me_cpu_ratio=cpu_ratio
            )
        )
    return rows


def table(
    header: Sequence[str], align: str, rows: Sequence[Sequence[str]]
) -> list[str]:
    """Return a Markdown table; ``align`` has one letter per column: l or r."""
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def header_lines(report: Report) -> list[str]:
    """Return the machine, the settings and the package versions."""
    m, s = report.machine, report.settings
    if m.server_cpu is not None:
        pinning = (
            f"uvicorn pinned to CPU {m.server_cpu}, load generator and driver "
            f"to CPU {m.load_generator_cpu}"
        )
    else:
        pinning = "not pinned: --no-pin, or taskset or a second core missing"
    lines = [
        "# Authentication cost per request: benchmark results",
        "",
        f"- Date: {report.date}; total run {report.elapsed_seconds:.0f} s",
        f"- Machine: {m.cpu_model}, {m.cores} cores ({pinning}); "
        f"{m.kernel}; Python {m.python}",
        f"- Load: {report.load_generator}; {s.connections} connections for "
        f"/health and /auth/me, {s.login_connections} for /auth/login; "
        f"{s.duration} s per run after {s.warmup} s of warm-up, "
        f"{s.rounds} round(s) of /health then /auth/me; uvicorn "
        "1 worker, `--no-access-log --log-level warning`",
        f"- Generated projects: ENVIRONMENT={s.environment}, rbac={report.rbac}",
        f"- Load average before: {report.loadavg_before}, after: "
        f"{report.loadavg_after}. Other work on the machine competes for the "
        "server's core: see 'server core busy' (below 100% means the server was "
        "not given a whole core) and prefer CPU µs/req to req/s when it is low.",
    ]
    for side, versions in sorted(report.versions.items()):
        listed = ", ".join(f"{k} {v}" for k, v in versions.items())
        lines.append(f"- Packages ({side}): {listed}")
    return lines


def endpoint_lines(ok: list[TargetResult]) -> list[str]:
    """Throughput, latency and CPU per endpoint."""
    labels = {
        "health": "GET /health",
        "me": "GET /auth/me",
        "login": "POST /auth/login",
    }
    rows = []
    for t in ok:
        for key, label in labels.items():
            e: LoadResult = getattr(t.endpoints, key)
            rows.append(
                [
                    t.name,
                    label,
                    fmt_num(e.rps),
                    fmt_ms(e.latency_ms.p50),
                    fmt_ms(e.latency_ms.p99),
                    fmt_num(e.server_cpu_us_per_request),
                    fmt_share(e.event_loop_cpu_share),
                    fmt_share(e.server_core_busy),
                    str(e.error_count),
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


def cost_lines(ok: list[TargetResult]) -> list[str]:
    """Return what /auth/me costs over /health in the same run."""
    rows = [
        [
            t.name,
            fmt_ratio(t.me_over_health),
            " ".join(fmt_ratio(r) for r in t.round_ratios),
            fmt_num(t.auth_cpu_us_per_request),
            fmt_mib(t.server_rss_kib),
        ]
        for t in ok
    ]
    header = [
        "target",
        "/auth/me ÷ /health req/s",
        "each round",
        "/auth/me minus /health CPU µs/req",
        "server RSS after /auth/me MiB",
    ]
    lines = [
        "",
        "## What authentication costs",
        "",
        "Each round loads /health, then /auth/me, back to back; the median round "
        "is the ratio, and its two runs are the ones in the table above.",
        "",
    ]
    return lines + table(header, "llrrr", rows)


def login_impact_lines(ok: list[TargetResult], settings: Settings) -> list[str]:
    """/health latency alone and while logins run beside it."""
    rows = []
    for t in ok:
        h = t.health_under_login
        a, w, lg = h.alone, h.with_logins, h.logins
        rows.append(
            [
                t.name,
                fmt_ms(a.latency_ms.p99),
                fmt_ms(w.latency_ms.p99),
                f"{h.p99_delta_ms:+.2f}",
                fmt_ms(w.latency_ms.max),
                f"{fmt_num(a.rps)} → {fmt_num(w.rps)}",
                f"{lg.per_second:.1f}",
                fmt_ms(lg.latency_ms_p50),
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
        f"/health with {settings.probe_connections} connections, alone and while "
        f"one client logs in (about {settings.login_rate:g} a second, one at a "
        "time, each hashing with argon2).",
        "",
    ]
    return lines + table(header, "lrrrrrrr", rows)


def comparison_lines(rows: list[Comparison]) -> list[str]:
    """Ours over fastapi-users'."""
    if not rows:
        return []
    body = [
        [
            r.ours,
            r.theirs,
            fmt_ratio(r.me_rps_ratio),
            f"{fmt_num(r.me_rps_ours)} / {fmt_num(r.me_rps_theirs)}",
            f"{fmt_num(r.me_cpu_us_ours)} / {fmt_num(r.me_cpu_us_theirs)}",
            fmt_ratio(r.login_rps_ratio),
            fmt_ratio(r.health_rps_ratio),
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


def profile_lines(ok: list[TargetResult]) -> list[str]:
    """Return py-spy's summary: threads, then the event loop's self time."""
    lines: list[str] = []
    for t in ok:
        p = t.profile
        if p is None:
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
            f"### {t.name}: {p.samples} samples, raw stacks in `{p.raw}`",
            "",
        ]
        shares = [[name, f"{share}%"] for name, share in p.threads]
        lines += table(["thread", "% of samples"], "lr", shares)
        lines.append("")
        packages = [[n, f"{share}%"] for n, share in p.event_loop_self_by_package]
        lines += table(["event loop self time in", "%"], "lr", packages)
        lines.append("")
        functions = [
            [f"`{name}`", f"{share}%"] for name, share in p.event_loop_self_by_function
        ]
        lines += table(["event loop function (self)", "%"], "lr", functions)
    return lines


def render_markdown(report: Report) -> str:
    """Return the whole report as Markdown."""
    ok = report.measured()
    out = header_lines(report)
    out += endpoint_lines(ok)
    out += cost_lines(ok)
    out += login_impact_lines(ok, report.settings)
    out += comparison_lines(report.comparisons)
    failed = report.failed()
    if failed or report.skipped:
        out += ["", "## Not measured", ""]
        out += [f"- {t.name}: {t.error}" for t in failed]
        out += [f"- {note}" for note in report.skipped]
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
