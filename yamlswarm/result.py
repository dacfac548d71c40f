"""The result of a run: plain data shared by the runtime, the reports and distributed mode.

`RunResult.to_dict()` gives exactly the JSON object of SPEC section 6 (`--json`);
`RunResult.from_dict()` reads one back for `yamlswarm report`. Latencies are in
milliseconds with 3 decimals, times (`first_seen`, `last_seen`, timeline `t`)
in seconds since the start of the run. Nothing here imports gevent.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

from yamlswarm.errors import UsageError
from yamlswarm.plan import ArrivalLoad, ClosedLoad, IterationsLoad, Load, StagesLoad

# Percentile keys of `latency_ms` and the percentile each one stands for.
PERCENTILE_KEYS: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p99_9", 99.9),
)
# Rows of steps that are not one request (a `group:` transaction, a hook `call:`, a failed
# `set:`/`if:`/`loop:`/`metric:`): shown as rows, but not added into the totals, the timeline
# or the live numbers, so that a request is never counted twice and a 0 s step error does not
# drag the request percentiles down; the CSV puts them in PREFIX_transactions.csv. Every
# `StepKind.stats_method` of the step-kind registry belongs here (tests/test_kinds.py checks it).
STEP_METHODS = frozenset({"GROUP", "FLOW", "CALL", "SET", "IF", "LOOP", "LOG", "THINK", "METRIC"})


@dataclass(slots=True)
class Latency:
    """A latency distribution summary in milliseconds (all 0 when there was no request)."""

    min: float = 0.0
    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    p99_9: float = 0.0
    max: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Latency:
        return cls(**{f.name: float(data.get(f.name, 0.0)) for f in fields(cls)})


@dataclass(slots=True)
class RowResult:
    """One stats row: a request name and method (or a step row: GROUP, CALL, ...)."""

    name: str
    method: str
    requests: int = 0
    failures: int = 0
    rps: float = 0.0
    latency_ms: Latency = field(default_factory=Latency)  # of the successful requests
    service_ms: Latency | None = None  # open model only: time from the actual send
    # Locust's percentiles ("50%" .. "100%") in ms, for the Locust-style CSV (None: not kept)
    percentiles_ms: dict[str, float] | None = None
    failures_latency_ms: Latency | None = None  # of the failed requests (None: none failed)
    size_bytes: int = 0  # response body bytes of all its requests (see `mean_size_bytes`)

    @property
    def mean_size_bytes(self) -> float:
        return round(self.size_bytes / self.requests, 1) if self.requests else 0.0

    @property
    def label(self) -> str:
        return f"{self.method} {self.name}" if self.method else self.name

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "method": self.method, **_numbers_to_dict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RowResult:
        return cls(
            name=str(data.get("name", "")),
            method=str(data.get("method", "")),
            **_numbers_from_dict(data),
        )


@dataclass(slots=True)
class ErrorResult:
    """Failures of one row grouped by a short stable error name."""

    name: str
    method: str
    error: str
    count: int
    first_seen: float = 0.0  # seconds since the start of the run
    last_seen: float = 0.0
    example: str | None = None  # the first full message seen

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorResult:
        return cls(
            name=str(data.get("name", "")),
            method=str(data.get("method", "")),
            error=str(data["error"]),
            count=int(data["count"]),
            first_seen=float(data.get("first_seen", 0.0)),
            last_seen=float(data.get("last_seen", 0.0)),
            example=data.get("example"),
        )


@dataclass(slots=True)
class ThresholdResult:
    """A threshold as written, whether it passed and the measured value (None: no data)."""

    expr: str
    passed: bool
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"expr": self.expr, "passed": self.passed, "value": self.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ThresholdResult:
        value = data.get("value")
        return cls(str(data["expr"]), bool(data["passed"]), None if value is None else float(value))


@dataclass(slots=True)
class CheckResult:
    """A check of one request row and how often it failed (JUnit: one test case each)."""

    name: str
    method: str
    check: str
    failures: int = 0
    messages: list[str] = field(default_factory=list)  # its `message:`s as rendered, first ones

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if not self.messages:
            del out["messages"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            str(data["name"]),
            str(data["method"]),
            str(data["check"]),
            int(data["failures"]),
            [str(m) for m in data.get("messages") or ()],
        )


@dataclass(slots=True)
class TimelineRow:
    """One second of the run; percentiles in ms, None for a second without requests."""

    t: int
    users: int
    rps: float
    failures_per_s: float
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimelineRow:
        return cls(
            t=int(data["t"]),
            users=int(data["users"]),
            rps=float(data["rps"]),
            failures_per_s=float(data["failures_per_s"]),
            p50=_optional_float(data.get("p50")),
            p95=_optional_float(data.get("p95")),
            p99=_optional_float(data.get("p99")),
        )


def _optional_float(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


@dataclass(slots=True)
class Totals:
    """All request rows merged (rows of GROUP, CALL and other step rows are not added in)."""

    requests: int = 0
    failures: int = 0
    rps: float = 0.0
    latency_ms: Latency = field(default_factory=Latency)  # of the successful requests
    service_ms: Latency | None = None
    percentiles_ms: dict[str, float] | None = None  # as RowResult's
    failures_latency_ms: Latency | None = None  # of the failed requests (None: none failed)
    size_bytes: int = 0  # as RowResult's

    @property
    def mean_size_bytes(self) -> float:
        return round(self.size_bytes / self.requests, 1) if self.requests else 0.0

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def to_dict(self) -> dict[str, Any]:
        return _numbers_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Totals:
        return cls(**_numbers_from_dict(data))


def _numbers_to_dict(row: RowResult | Totals) -> dict[str, Any]:
    """The numbers a request row and the totals share, as JSON."""
    out: dict[str, Any] = {
        "requests": row.requests,
        "failures": row.failures,
        "rps": row.rps,
        "latency_ms": row.latency_ms.to_dict(),
        # response body bytes: the total is exact (merged across workers), the mean per request
        "size_bytes": {"total": row.size_bytes, "mean": row.mean_size_bytes},
    }
    if row.service_ms is not None:
        out["service_ms"] = row.service_ms.to_dict()
    if row.percentiles_ms is not None:
        out["percentiles_ms"] = dict(row.percentiles_ms)
    if row.failures_latency_ms is not None:
        out["failures_latency_ms"] = row.failures_latency_ms.to_dict()
    return out


def _numbers_from_dict(data: dict[str, Any]) -> dict[str, Any]:
    service, failed = data.get("service_ms"), data.get("failures_latency_ms")
    return {
        "requests": int(data["requests"]),
        "failures": int(data["failures"]),
        "rps": float(data.get("rps", 0.0)),
        "latency_ms": Latency.from_dict(data.get("latency_ms") or {}),
        "service_ms": Latency.from_dict(service) if service is not None else None,
        "percentiles_ms": _percentiles(data.get("percentiles_ms")),
        "failures_latency_ms": Latency.from_dict(failed) if failed is not None else None,
        "size_bytes": int((data.get("size_bytes") or {}).get("total", 0)),
    }


def _percentiles(raw: Any) -> dict[str, float] | None:
    return {str(k): float(v) for k, v in raw.items()} if isinstance(raw, dict) else None


@dataclass(slots=True)
class RunResult:
    """Everything a finished (or interrupted) run reports; the `--json` object."""

    yamlswarm_version: str
    scenario: str
    started_at: str  # ISO 8601, UTC
    duration_s: float
    model: dict[str, Any]
    iterations: int = 0  # flow iterations finished
    dropped: int = 0
    totals: Totals = field(default_factory=Totals)
    requests: list[RowResult] = field(default_factory=list)
    errors: list[ErrorResult] = field(default_factory=list)
    thresholds: list[ThresholdResult] = field(default_factory=list)
    timeline: list[TimelineRow] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    interrupted: bool = False
    aborted: str | None = None  # why a threshold with `abort: true` stopped the run
    exit_code: int = 0
    cluster: dict[str, Any] | None = None  # distributed runs: {"workers": n, "lost_workers": [...]}
    # -T/-E/--user-type: {"tags": [...], "exclude_tags": [...], "user_types": [...]}
    selection: dict[str, list[str]] | None = None
    # where the run came from: the target (credentials masked), the scenario file, the command
    host: str | None = None
    scenario_file: str | None = None
    command: list[str] | None = None
    users_stopped: dict[str, int] = field(default_factory=dict)  # reason -> users a step stopped
    test_stopped: str | None = None  # why a `stop: test` step ended the run
    # open model: how late iterations started after they were due, {p50, p99, max} in ms
    schedule_lag_ms: dict[str, float] | None = None
    # the load generator's own health: {cpu_pct, loop_lag_ms: {p50, p99, max}, ...}
    generator: dict[str, Any] | None = None
    # custom metrics by name, in runtime.metrics' JSON shape (counter {kind, value, rate}, ...)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    iterations_interrupted: int = 0  # cut short by the run's stop (counted in no FLOW row)

    @property
    def passed(self) -> bool:
        """True when every threshold passed."""
        return all(t.passed for t in self.thresholds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "yamlswarm_version": self.yamlswarm_version,
            "scenario": self.scenario,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "model": dict(self.model),
            "iterations": self.iterations,
            "iterations_interrupted": self.iterations_interrupted,
            "dropped": self.dropped,
            "totals": self.totals.to_dict(),
            "requests": [r.to_dict() for r in self.requests],
            "errors": [e.to_dict() for e in self.errors],
            "thresholds": [t.to_dict() for t in self.thresholds],
            "timeline": [t.to_dict() for t in self.timeline],
            "checks": [c.to_dict() for c in self.checks],
            "interrupted": self.interrupted,
            "aborted": self.aborted,
            "exit_code": self.exit_code,
            **({"cluster": dict(self.cluster)} if self.cluster is not None else {}),
            **({"selection": dict(self.selection)} if self.selection is not None else {}),
            **_provenance_to_dict(self),
            **({"users_stopped": dict(self.users_stopped)} if self.users_stopped else {}),
            **({"test_stopped": self.test_stopped} if self.test_stopped is not None else {}),
            **({"schedule_lag_ms": dict(self.schedule_lag_ms)} if self.schedule_lag_ms else {}),
            **({"generator": dict(self.generator)} if self.generator else {}),
            "metrics": {name: dict(m) for name, m in self.metrics.items()},
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "result") -> RunResult:
        """Read a saved result; a file that is not one raises UsageError (exit 2)."""
        if not isinstance(data, dict):
            raise UsageError(f"{source}: not a yamlswarm result (expected a JSON object)")
        try:
            return cls._from_dict(data)
        except KeyError as exc:
            raise UsageError(f"{source}: not a yamlswarm result (missing key {exc})") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"{source}: not a valid yamlswarm result ({exc})") from None

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> RunResult:
        aborted = data.get("aborted")
        return cls(
            yamlswarm_version=str(data["yamlswarm_version"]),
            scenario=str(data["scenario"]),
            started_at=str(data["started_at"]),
            duration_s=float(data["duration_s"]),
            model=dict(data.get("model") or {}),
            iterations=int(data.get("iterations", 0)),
            iterations_interrupted=int(data.get("iterations_interrupted", 0)),
            dropped=int(data.get("dropped", 0)),
            totals=Totals.from_dict(data["totals"]),
            requests=[RowResult.from_dict(r) for r in data.get("requests", [])],
            errors=[ErrorResult.from_dict(e) for e in data.get("errors", [])],
            thresholds=[ThresholdResult.from_dict(t) for t in data.get("thresholds", [])],
            timeline=[TimelineRow.from_dict(t) for t in data.get("timeline", [])],
            checks=[CheckResult.from_dict(c) for c in data.get("checks", [])],
            interrupted=bool(data.get("interrupted", False)),
            aborted=None if aborted is None else str(aborted),
            exit_code=int(data.get("exit_code", 0)),
            cluster=dict(data["cluster"]) if data.get("cluster") else None,
            selection=_selection(data.get("selection")),
            host=_text_or_none(data.get("host")),
            scenario_file=_text_or_none(data.get("scenario_file")),
            command=[str(a) for a in data["command"]] if data.get("command") else None,
            users_stopped={str(k): int(v) for k, v in (data.get("users_stopped") or {}).items()},
            test_stopped=None if data.get("test_stopped") is None else str(data["test_stopped"]),
            schedule_lag_ms=dict(data["schedule_lag_ms"]) if data.get("schedule_lag_ms") else None,
            generator=dict(data["generator"]) if data.get("generator") else None,
            metrics={str(k): dict(v) for k, v in (data.get("metrics") or {}).items()},
        )


def _provenance_to_dict(result: RunResult) -> dict[str, Any]:
    """`host`, `scenario_file` and `command`, each only when known."""
    out: dict[str, Any] = {}
    for key in ("host", "scenario_file"):
        if getattr(result, key) is not None:
            out[key] = getattr(result, key)
    if result.command is not None:
        out["command"] = list(result.command)
    return out


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _selection(raw: Any) -> dict[str, list[str]] | None:
    if not raw:
        return None
    return {
        key: [str(v) for v in raw.get(key) or ()] for key in ("tags", "exclude_tags", "user_types")
    }


def describe_model(load: Load, iterations_cap: int | None = None) -> dict[str, Any]:
    """The `model` object of the result for a compiled load model (durations in seconds)."""
    out: dict[str, Any]
    if isinstance(load, ClosedLoad):
        out = {
            "kind": "closed",
            "users": load.users,
            "spawn_rate": load.spawn_rate,
            "duration_s": load.duration,
        }
    elif isinstance(load, StagesLoad):
        stages = [
            {"duration_s": s.duration, "users": s.users, "spawn_rate": s.spawn_rate}
            for s in load.stages
        ]
        out = {"kind": "stages", "stages": stages}
    elif isinstance(load, ArrivalLoad):
        phases = [
            {"duration_s": p.duration, "rate": p.rate, "ramp_to": p.ramp_to} for p in load.phases
        ]
        out = {"kind": "open", "phases": phases, "max_users": load.max_users}
    elif isinstance(load, IterationsLoad):
        out = {"kind": "iterations", "iterations": load.iterations, "users": load.users}
    else:  # pragma: no cover - the Load union is closed
        raise TypeError(f"unknown load model {load!r}")
    if iterations_cap is not None:
        out["iterations_cap"] = iterations_cap
    return out


class LiveRow(NamedTuple):
    """A row of the live dashboard: one of the busiest request rows so far."""

    name: str
    method: str
    requests: int
    failures: int
    mean_ms: float  # over the whole run so far


@dataclass(slots=True)
class LiveView:
    """What the live progress shows, once a second (built by `Stats.live_view`)."""

    elapsed_s: float
    duration_s: float | None  # None: no planned duration (iterations, until Ctrl-C)
    users: int
    rps: float  # the last second
    requests: int  # totals so far
    failures: int
    p50: float  # ms, over the last 10 seconds
    p95: float
    p99: float
    dropped: int = 0
    top_rows: list[LiveRow] = field(default_factory=list)  # the busiest request rows, busiest first
    schedule_lag_ms: dict[str, float] | None = None  # open model, so far: {p50, p99, max}
    generator: dict[str, Any] | None = None  # the load generator's health, last seconds
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # custom metrics, so far
