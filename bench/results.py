"""What the bench measures, typed; written to results.json as ``as_json`` says."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from machine import Machine

# The metadata of a field left out of the JSON when it is None (the run could
# not tell), as the report has always done.
OPTIONAL = {"omit_if_none": True}


def as_json(value: Any) -> Any:
    """Return ``value`` as JSON-ready data: dataclasses become objects."""
    if is_dataclass(value) and not isinstance(value, type):
        return {
            item.name: as_json(getattr(value, item.name))
            for item in fields(value)
            if getattr(value, item.name) is not None
            or not item.metadata.get("omit_if_none")
        }
    if isinstance(value, list | tuple):
        return [as_json(item) for item in value]
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    return value


@dataclass
class Latency:
    """Latency percentiles of a run, in milliseconds."""

    mean: float
    p50: float
    p75: float
    p90: float
    p99: float
    p999: float
    max: float


@dataclass
class LoadResult:
    """One run of the load generator against one endpoint."""

    requests: int
    seconds: float
    rps: float
    latency_ms: Latency
    errors: dict[str, int]
    error_count: int
    # Known when /proc gave the server's CPU time.
    server_cpu_seconds: float | None = field(default=None, metadata=OPTIONAL)
    server_cpu_us_per_request: float | None = field(default=None, metadata=OPTIONAL)
    server_core_busy: float | None = field(default=None, metadata=OPTIONAL)
    event_loop_cpu_share: float | None = field(default=None, metadata=OPTIONAL)


@dataclass
class LoginLoopSummary:
    """What the login loop beside a /health run did."""

    logins: int
    per_second: float
    statuses: dict[str, int]
    failures: int
    latency_ms_p50: float | None
    latency_ms_max: float | None


@dataclass
class HealthUnderLogin:
    """/health alone, then while one client logs in."""

    alone: LoadResult
    with_logins: LoadResult
    logins: LoginLoopSummary
    p99_delta_ms: float


@dataclass
class Endpoints:
    """The reported run of each endpoint."""

    health: LoadResult
    me: LoadResult
    login: LoadResult


# (name, percentage of samples)
Shares = list[tuple[str, float]]


@dataclass
class Profile:
    """py-spy's samples of a server under /auth/me load, summarised."""

    samples: int
    raw: str
    threads: Shares
    event_loop_self_by_package: Shares
    event_loop_self_by_function: Shares
    event_loop_inclusive_by_function: Shares
    all_threads_self_by_function: Shares


@dataclass
class TargetResult:
    """Everything measured of one target."""

    name: str
    kind: str
    strategy: str
    database: str
    setup_seconds: float
    round_ratios: list[float]
    endpoints: Endpoints
    me_over_health: float
    health_under_login: HealthUnderLogin
    seconds: float
    auth_cpu_us_per_request: float | None = field(default=None, metadata=OPTIONAL)
    profile: Profile | None = field(default=None, metadata=OPTIONAL)
    # The server's resident memory (VmRSS) right after the /auth/me rounds;
    # absent from results written before it was measured.
    server_rss_kib: int | None = field(default=None, metadata=OPTIONAL)


@dataclass
class FailedTarget:
    """A target that could not be measured, and why."""

    name: str
    kind: str
    strategy: str
    database: str
    error: str


@dataclass
class Comparison:
    """One of our strategies against a strategy of fastapi-users, per endpoint."""

    ours: str
    theirs: str
    health_rps_ours: float
    health_rps_theirs: float
    health_rps_ratio: float | None
    health_cpu_us_ours: float | None
    health_cpu_us_theirs: float | None
    me_rps_ours: float
    me_rps_theirs: float
    me_rps_ratio: float | None
    me_cpu_us_ours: float | None
    me_cpu_us_theirs: float | None
    login_rps_ours: float
    login_rps_theirs: float
    login_rps_ratio: float | None
    login_cpu_us_ours: float | None
    login_cpu_us_theirs: float | None
    me_cpu_ratio: float | None


@dataclass
class Settings:
    """The options a run was made with."""

    duration: int
    warmup: int
    rounds: int
    connections: int
    login_connections: int
    probe_connections: int
    login_rate: float
    environment: str
    quick: bool


@dataclass
class Report:
    """A whole run: the machine, the settings, every target, the comparisons."""

    date: str
    machine: Machine
    load_generator: str
    settings: Settings
    rbac: str
    loadavg_before: str
    versions: dict[str, dict[str, str]]
    targets: list[TargetResult | FailedTarget]
    skipped: list[str]
    loadavg_after: str
    elapsed_seconds: float
    comparisons: list[Comparison]

    def measured(self) -> list[TargetResult]:
        """Return the targets that were measured."""
        return [t for t in self.targets if isinstance(t, TargetResult)]

    def failed(self) -> list[FailedTarget]:
        """Return the targets that could not be measured."""
        return [t for t in self.targets if isinstance(t, FailedTarget)]


def ratio(a: float | None, b: float | None) -> float | None:
    """Return a / b, or None when either is missing or b is zero."""
    if a is None or not b:
        return None
    return a / b
