"""Schemathesis against a served project's OpenAPI schema, bounded in count and time.

Two runs per combination: one anonymous, over every operation, and one with a
logged-in user's headers, over every operation that cannot end the session
whatever the input. A 5xx, a body that breaks its documented schema or an
undocumented content type fails the run.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from helpers import TAIL_LINES, run, tail
from live import Server

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance"
# Test cases per operation in the fuzzing phase, and scenarios in the
# stateful one (the coverage phase comes on top). With argon2 behind register,
# login and password change, one run takes 5 to 30 seconds here.
MAX_EXAMPLES = 20
# A hard bound on one run, whatever the server or the generator does.
RUN_TIMEOUT = 120
REQUEST_TIMEOUT = 20
# Operations (``METHOD /path``) that may end the caller's session: the
# authenticated run leaves them out, the anonymous run covers them. Logouts
# end it whatever the input. The fuzzer reuses values from earlier answers, so
# it revokes its own session by the id that ``GET /auth/sessions`` showed it,
# and an admin deactivates itself by the id of ``GET /auth/me``. Refreshing
# needs no session, so the authenticated run would gain nothing from it. A
# password change needs the current password, which the fuzzer never sees: it
# stays in, and the step checks that the session survived the run. An
# admin's MFA reset of its own id gives it a new security stamp, which ends
# its session like a deactivation; turning its own MFA on or off needs the
# password (and a code), which the fuzzer never sees.
SESSION_ENDING = re.compile(
    r"POST /auth/(logout|logout-everywhere|refresh)"
    r"|DELETE /auth/sessions/.+"
    r"|PUT /admin/users/[^/]+/active"
    r"|DELETE /admin/users/[^/]+/mfa"
)
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Variables that would send the fuzzer's loopback traffic elsewhere.
_PROXY_NAMES = {"http_proxy", "https_proxy", "all_proxy"}


def session_ending_operations(server: Server) -> list[str]:
    """Return the names (``METHOD /path``) of the server's session-ending operations."""
    answer = server.request("GET", "/openapi.json")
    assert answer.status == 200, f"GET /openapi.json answered {answer.status}"
    schema = answer.json()
    assert isinstance(schema, dict), schema
    names = [
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method in _METHODS.intersection(operations)
    ]
    return sorted(name for name in names if SESSION_ENDING.fullmatch(name))


def schemathesis(
    server: Server,
    workdir: Path,
    *,
    headers: Mapping[str, str] | None = None,
    exclude: list[str] | None = None,
) -> None:
    """Fuzz ``server`` through its schema; fail with the report and the server log."""
    command: list[str | os.PathLike[str]] = [
        SCHEMATHESIS,
        "run",
        f"{server.base_url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--request-timeout",
        str(REQUEST_TIMEOUT),
        # The machine is busy with other combinations: slowness is no failure.
        "--suppress-health-check",
        "too_slow",
        "--generation-database",
        "none",
        "--no-color",
        # Show the generated values (passwords included) so a failure can be
        # replayed; the session in the headers belongs to a throwaway database.
        "--output-sanitize",
        "false",
        # Expected here (401s of the anonymous run, 4xx to random data): they
        # would push failures out of the report's tail.
        "--warnings",
        "off",
    ]
    for name, value in (headers or {}).items():
        command += ["--header", f"{name}: {value}"]
    for name in exclude or []:
        command += ["--exclude-name", name]
    env = {
        name: value
        for name, value in os.environ.items()
        if name.lower() not in _PROXY_NAMES and not name.startswith("PYTEST_")
    }
    env["NO_COLOR"] = "1"
    who = "authenticated" if headers else "anonymous"
    result = run(command, cwd=workdir, env=env, timeout=RUN_TIMEOUT, check=False)
    report = workdir / f"schemathesis-{who}.txt"
    report.write_text(result.stdout, encoding="utf-8")
    if result.returncode != 0:
        raise AssertionError(
            f"schemathesis ({who}) exited with {result.returncode}; "
            f"whole report in {report}\n"
            f"--- last {TAIL_LINES} lines of its report ---\n"
            f"{tail(result.stdout)}\n"
            f"--- last lines of the server's output ---\n{server.log_tail()}"
        )
