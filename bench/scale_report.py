"""``bench/scale.md``: the tables of a ``bench/scale.py`` run."""

from __future__ import annotations

import re
from typing import Any

from report import fmt_mib, fmt_ms, fmt_num, fmt_share, table

# Within this much, the ratio at the largest size "does not grow with the data".
TOLERANCE = 0.10
# The parts of a plan that change with the numbers alone: estimates, and the
# values bound (PostgreSQL shows them in a custom plan).
_NUMBERS = re.compile(r"'[^']*'|\(cost=[^)]*\)|rows=\d+|width=\d+|\d+(\.\d+)?")


def shape(plan: str) -> str:
    """Return a plan without its estimates: what must not change with the size."""
    return _NUMBERS.sub("#", plan)


def render(report: dict[str, Any]) -> str:
    """Return the whole report as Markdown."""
    settings, machine = report["settings"], report["machine"]
    lines = [
        "# Cost that does not grow with the data: scale results",
        "",
        f"- Date: {report['date']}; total run {report['elapsed_seconds']:.0f} s",
        f"- Machine: {machine['cpu_model']}, {machine['cores']} cores; "
        f"{machine['kernel']}; Python {machine['python']}; load average before "
        f"{report['load_average_before']}, after {report['load_average_after']}",
        f"- Load: {report['load_generator']}; {settings['connections']} connections; "
        f"{settings['rounds']} rounds of /health then /auth/me, "
        f"{settings['duration']} s each; /auth/login with "
        f"{settings['login_connections']} connections; ENVIRONMENT="
        f"{settings['environment']}, rbac={report['rbac']}",
        f"- Sizes (users): {', '.join(f'{s:,}' for s in settings['sizes'])}; "
        f"phases: {', '.join(settings['phases'])}",
    ]
    for target in report["targets"]:
        lines += ["", f"## {target['name']}", ""]
        if target.get("error"):
            lines.append(f"Not measured: {target['error']}")
            continue
        lines += size_lines(target["sizes"])
        lines += plan_lines(target["sizes"])
        if target.get("cleanup"):
            lines += cleanup_lines(target["cleanup"], settings)
            lines += expired_plan_lines(target["sizes"], target["cleanup"])
        if target.get("flood"):
            lines += flood_lines(target["flood"])
    return "\n".join(lines) + "\n"


def cpu_ratio(health: dict[str, Any], me: dict[str, Any]) -> str:
    """Return /health's CPU per request over /auth/me's: the ratio noise moves less."""
    a = health.get("server_cpu_us_per_request")
    b = me.get("server_cpu_us_per_request")
    return f"{a / b:.3f}" if a and b else "n/a"


def size_lines(sizes: list[dict[str, Any]]) -> list[str]:
    """Return the table of the sizes, and the ratio's change."""
    measured = [s for s in sizes if s.get("me")]
    lines: list[str] = []
    notes = sorted({note for s in sizes for note in s.get("notes", [])})
    if notes:
        lines += [*(f"- Filler: {note}" for note in notes), ""]
    if not measured:
        return lines
    rows = []
    for s in measured:
        me, health, login = s["me"], s["health"], s["login"]
        stored = ", ".join(f"{k} {v:,}" for k, v in s["rows"].items())
        rows.append(
            [
                f"{s['users']:,}",
                stored,
                f"{s['fill_seconds']:.0f}",
                f"{s['me_over_health']:.3f}",
                " ".join(f"{r:.2f}" for r in s["round_ratios"]),
                fmt_num(me["rps"]),
                fmt_num(health["rps"]),
                fmt_ms(me["latency_ms"]["p99"]),
                fmt_num(me.get("server_cpu_us_per_request")),
                cpu_ratio(health, me),
                fmt_share(me.get("server_core_busy")),
                f"{login['rps']:.1f}",
                fmt_ms(login["latency_ms"]["p99"]),
                fmt_mib(s.get("server_rss_kib")),
            ]
        )
    header = [
        "users",
        "rows",
        "fill s",
        "/auth/me ÷ /health",
        "each round",
        "/auth/me req/s",
        "/health req/s",
        "/auth/me p99 ms",
        "/auth/me CPU µs/req",
        "/health ÷ /auth/me CPU µs/req",
        "server core busy",
        "login req/s",
        "login p99 ms",
        "RSS MiB",
    ]
    lines += table(header, "rlrrlrrrrrrrrr", rows)
    first, last = measured[0], measured[-1]
    if len(measured) > 1 and first["me_over_health"]:
        change = last["me_over_health"] / first["me_over_health"] - 1
        verdict = "within" if abs(change) <= TOLERANCE else "NOT within"
        lines += [
            "",
            f"Ratio at {last['users']:,} users over the ratio at {first['users']:,}: "
            f"{change:+.1%}, {verdict} {TOLERANCE:.0%}. When 'server core busy' "
            "is well under 100%, other work had the server's core, and the CPU "
            "ratio beside it is the steadier figure.",
        ]
    return lines


def plan_lines(sizes: list[dict[str, Any]]) -> list[str]:
    """Return the plans at the largest size, and whether any plan changed shape."""
    explained = [s for s in sizes if s.get("plans")]
    if not explained:
        return []
    last = explained[-1]
    shapes = {(p["request"], p["sql"]): {shape(p["plan"])} for p in last["plans"]}
    for s in explained[:-1]:
        for p in s["plans"]:
            shapes.setdefault((p["request"], p["sql"]), set()).add(shape(p["plan"]))
    changed = [key for key, seen in shapes.items() if len(seen) > 1]
    users = ", ".join(f"{s['users']:,}" for s in explained)
    lines = [
        "",
        f"### Query plans at {last['users']:,} users",
        "",
        "Every statement that a login and an /auth/me sent, captured in process "
        "(SQLAlchemy's `before_cursor_execute`, and the hot-path reader's "
        "statements) and explained on the filled database. "
        + (
            f"The same plans, estimates aside, at every size measured ({users} users)."
            if not changed
            else f"{len(changed)} statement(s) changed plan between sizes."
        ),
    ]
    for p in last["plans"]:
        lines += plan_block(p)
    return lines


def plan_block(plan: dict[str, str]) -> list[str]:
    """Return one statement and its plan as Markdown."""
    return [
        "",
        f"{plan['request']} ({plan['via']}):",
        "",
        "```sql",
        plan["sql"].strip(),
        "```",
        "",
        "```text",
        plan["plan"],
        "```",
    ]


def expired_plan_lines(
    sizes: list[dict[str, Any]], cleanup: dict[str, Any]
) -> list[str]:
    """Return the plans that differ once the expired rows are in place."""
    if not cleanup.get("plans"):
        return []
    before = {
        (p["request"], p["sql"]): shape(p["plan"])
        for s in sizes[-1:]
        for p in s.get("plans", [])
    }
    changed = [
        p
        for p in cleanup["plans"]
        if before.get((p["request"], p["sql"])) != shape(p["plan"])
    ]
    expired = ", ".join(f"{k} {v:,}" for k, v in cleanup["expired_rows"].items())
    lines = [
        "",
        f"### Query plans with the expired rows in place ({expired})",
        "",
    ]
    if not changed:
        return [*lines, "Every plan is the same as above, estimates aside."]
    lines.append(
        f"{len(changed)} statement(s) with a plan other than above (the other "
        "plans are the same, estimates aside):"
    )
    for p in changed:
        lines += plan_block(p)
    return lines


def _logins(logins: dict[str, Any]) -> str:
    statuses = ", ".join(f"{n}×{s}" for s, n in logins["statuses"].items())  # noqa: RUF001
    return (
        f"{logins['count']} logins ({statuses or 'none'}; {logins['failures']} "
        f"failed), p50 {fmt_ms(logins['p50_ms'])} / p99 {fmt_ms(logins['p99_ms'])} "
        f"/ max {fmt_ms(logins['max_ms'])} ms"
    )


def cleanup_lines(cleanup: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """Return the cleanup run against its baseline."""
    expired = ", ".join(f"{k} {v:,}" for k, v in cleanup["expired_rows"].items())
    after = ", ".join(f"{k} {v:,}" for k, v in cleanup["rows_after"].items())
    rows = [
        [
            "without cleanup",
            fmt_num(cleanup["baseline_me"]["rps"]),
            fmt_ms(cleanup["baseline_me"]["latency_ms"]["p99"]),
            fmt_ms(cleanup["baseline_me"]["latency_ms"]["max"]),
            str(cleanup["baseline_me"]["error_count"]),
        ]
    ]
    for n, run in enumerate(cleanup["during_me"], 1):
        rows.append(
            [
                f"during cleanup, run {n}",
                fmt_num(run["rps"]),
                fmt_ms(run["latency_ms"]["p99"]),
                fmt_ms(run["latency_ms"]["max"]),
                str(run["error_count"]),
            ]
        )
    lines = [
        "",
        "### Cleanup under load",
        "",
        f"Rows before (expired ones added in {cleanup['fill_seconds']:.0f} s): "
        f"{expired}. `{cleanup['command']}` took {cleanup['seconds']:.1f} s "
        f"(exit {cleanup['exit_status']}): {cleanup['output']}. Rows after: {after}.",
        "",
        f"/auth/me with {settings['connections']} connections in runs of "
        f"{settings['cleanup_chunk']} s, and one client logging in about "
        f"{settings['login_rate']:g} times a second:",
        "",
    ]
    lines += table(["/auth/me", "req/s", "p99 ms", "max ms", "errors"], "lrrrr", rows)
    lines += [
        "",
        f"- Logins without cleanup: {_logins(cleanup['baseline_logins'])}",
        f"- Logins during cleanup: {_logins(cleanup['during_logins'])}",
    ]
    return lines


def flood_lines(flood: dict[str, Any]) -> list[str]:
    """Return the server's memory through a flood of distinct credentials."""
    statuses = ", ".join(f"{n:,}×{s}" for s, n in flood["statuses"].items())  # noqa: RUF001
    samples = flood["rss_kib"]
    rows = [[f"{n:,}", f"{kib / 1024:.1f}"] for n, kib in samples]
    lines = [
        "",
        "### Memory under a flood of distinct credentials",
        "",
        f"{flood['requests']:,} GET /auth/me in {flood['seconds']:.0f} s, each with "
        f"one of {flood['credentials']} ({statuses}); the server's VmRSS:",
        "",
    ]
    lines += table(["requests sent", "RSS MiB"], "rr", rows)
    if len(samples) > 4:
        middle, end = samples[len(samples) // 2][1], samples[-1][1]
        lines += [
            "",
            f"Second half of the flood: {(end - middle) / 1024:+.1f} MiB.",
        ]
    return lines
