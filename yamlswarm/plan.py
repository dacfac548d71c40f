"""The compiled plan: plain, frozen data that the runtime turns into virtual users.

Produced by `yamlswarm.compiler`, consumed by `yamlswarm.runtime`. Nothing here
imports YAML, jsonschema, Click, gevent or the network, so compiler tests need
none of them. Every node carries the `Source` it came from. The nodes of
step kinds other than requests live in their kind's module (`yamlswarm.kinds`).

Values that may contain templates are typed `Value`: either a plain constant
(str, int, float, bool, None, or a dict/list of those) or a
`yamlswarm.templates.Template`, whose `render(ctx)` gives the value for one
user at run time. The compiler emits a Template only where a `{{` occurs, so
the runtime can decide once, when it builds a user's step executors, whether
a field costs anything per request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

Value = Any  # a constant, or a yamlswarm.templates.Template


@dataclass(frozen=True, slots=True)
class Source:
    """Where a plan node came from: file, 1-based line and column, JSON path."""

    file: str = "<plan>"
    line: int = 0
    column: int = 0
    path: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


NOWHERE = Source()

# ---------------------------------------------------------------- waits


@dataclass(frozen=True, slots=True)
class Wait:
    """Time between flow iterations (`wait:`) or a `think:` pause.

    kind: "constant" (low seconds), "between" (uniform in low..high),
    "pacing" (iteration start to start = low seconds),
    "throughput" (low = iterations per second per user).
    """

    kind: str
    low: float
    high: float = 0.0
    source: Source = NOWHERE


# ---------------------------------------------------------------- checks and extraction


@dataclass(frozen=True, slots=True)
class StatusCheck:
    """Accepted status codes: explicit codes and/or classes (2 for "2xx")."""

    codes: frozenset[int] = frozenset()
    classes: frozenset[int] = frozenset()
    source: Source = NOWHERE

    def accepts(self, status: int) -> bool:
        return status in self.codes or status // 100 in self.classes

    def describe(self) -> str:
        parts = sorted(str(c) for c in self.codes) + sorted(f"{c}xx" for c in self.classes)
        return " or ".join(parts)


@dataclass(frozen=True, slots=True)
class JmesCheck:
    """`{expr: EXPR, <op>: value}` — op in eq ne gt ge lt le in contains matches exists."""

    expr: str  # the JMESPath source text; the runtime compiles it once
    op: str
    value: Value
    source: Source = NOWHERE
    message: Value | None = None  # shown when it fails; may read {{ actual }} / {{ expected }}


@dataclass(frozen=True, slots=True)
class HeaderCheck:
    """A response header equal to `value`, or containing / matching it (`op`)."""

    name: str
    op: str  # "eq" | "contains" | "matches"
    value: Value
    source: Source = NOWHERE


@dataclass(frozen=True, slots=True)
class Checks:
    """Everything under a request's `check:`; empty means the default (status < 400)."""

    status: StatusCheck | None = None
    jmespath: tuple[JmesCheck, ...] = ()
    body_contains: Value | None = None
    body_matches: str | None = None  # regex source
    headers: tuple[HeaderCheck, ...] = ()
    max_latency: float | None = None  # seconds
    source: Source = NOWHERE
    message: Value | None = None  # for a failed check without a message of its own

    @property
    def needs_body(self) -> bool:
        return bool(self.jmespath or self.body_contains is not None or self.body_matches)


@dataclass(frozen=True, slots=True)
class Extract:
    """Store one value from a response into user variable `var`.

    kind: "jmespath" | "regex" | "header" | "cookie" | "status";
    `expr` is the JMESPath/regex source or the header/cookie name;
    `group` is the regex group; `default` is used when nothing matches
    (`has_default` tells a default of None from no default).
    """

    var: str
    kind: str
    expr: str = ""
    group: int = 1
    default: Value = None
    has_default: bool = False
    source: Source = NOWHERE


# ---------------------------------------------------------------- custom metrics


@dataclass(frozen=True, slots=True)
class MetricDecl:
    """One entry of the top-level `metrics:`: kind is counter | gauge | rate | trend."""

    name: str
    kind: str
    description: str = ""
    source: Source = NOWHERE


@dataclass(frozen=True, slots=True)
class MetricAdd:
    """Add `value` (a constant or a Template) to the declared metric `name` of `kind`
    (a `metric:` step, or one entry of a request's `metrics:`)."""

    name: str
    kind: str
    value: Value = 1
    source: Source = NOWHERE


# ---------------------------------------------------------------- steps


@dataclass(frozen=True, slots=True)
class Body:
    """A request body. kind: "json" | "body" (raw text/bytes) | "form" | "files"."""

    kind: str
    value: Value


class Step(Protocol):
    """A plan step: a frozen node of one step kind (see `yamlswarm.kinds`), which knows its source.

    The request kind's nodes are defined here, as the request executor, checks and
    extraction read them; every other kind defines its node in its own module.
    """

    @property
    def source(self) -> Source: ...


@dataclass(frozen=True, slots=True)
class RequestStep:
    method: str  # upper case: GET, POST, ...
    url: Value  # absolute URL or a path joined to the host
    name: Value | None = None  # stats row name; None: the URL as written
    headers: tuple[tuple[str, Value], ...] = ()  # defaults merged in by the compiler
    query: tuple[tuple[str, Value], ...] = ()
    body: Body | None = None
    timeout: float = 30.0
    follow_redirects: bool = True
    verify_tls: bool = True
    auth: tuple[Value, Value] | None = None  # basic auth (user, password)
    checks: Checks = field(default_factory=Checks)
    extract: tuple[Extract, ...] = ()
    source: Source = NOWHERE
    on_failure: str | None = None  # "stop_user" | "stop_test": a failed request stops them
    metrics: tuple[MetricAdd, ...] = ()  # `metrics:`: added after the response (kinds.metric)


# ---------------------------------------------------------------- users and flows


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    weight: float
    steps: tuple[Step, ...]
    stop_on_failure: bool = False
    source: Source = NOWHERE
    tags: tuple[str, ...] = ()  # its own; `--tags` also sees its user type's


@dataclass(frozen=True, slots=True)
class UserType:
    """A kind of virtual user; exactly one of `weight` / `count` is set."""

    name: str
    flows: tuple[Flow, ...]
    weight: float | None = 1.0
    count: int | None = None
    wait: Wait | None = None  # None: no wait between iterations
    on_start: tuple[Step, ...] = ()
    on_stop: tuple[Step, ...] = ()
    source: Source = NOWHERE
    tags: tuple[str, ...] = ()  # every flow of the type has them
    # `session: {headers}`: sent with every request of a user of the type, rendered per
    # request; one whose template reads a variable not yet set is left out (runtime.session)
    session_headers: tuple[tuple[str, Value], ...] = ()


# ---------------------------------------------------------------- data feeds


@dataclass(frozen=True, slots=True)
class DataFeed:
    """A CSV feed, loaded at compile time. `rows` are tuples matching `columns`."""

    name: str
    path: str  # absolute path of the CSV file
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    order: str = "sequential"  # sequential | random | unique
    per: str = "user"  # user | iteration
    on_exhausted: str = "recycle"  # recycle | stop_user | stop_test
    source: Source = NOWHERE


# ---------------------------------------------------------------- load models


@dataclass(frozen=True, slots=True)
class ClosedLoad:
    users: int
    spawn_rate: float  # users per second
    duration: float | None  # seconds; None: until stopped (or the iterations cap)
    kind: str = "closed"
    source: Source = NOWHERE


@dataclass(frozen=True, slots=True)
class Stage:
    duration: float
    users: int
    spawn_rate: float | None = None  # None: linear ramp over the stage


@dataclass(frozen=True, slots=True)
class StagesLoad:
    stages: tuple[Stage, ...]
    kind: str = "stages"
    source: Source = NOWHERE


@dataclass(frozen=True, slots=True)
class Phase:
    duration: float
    rate: float  # iterations per second at the phase start
    ramp_to: float | None = None  # rate at the phase end (linear ramp)


@dataclass(frozen=True, slots=True)
class ArrivalLoad:
    phases: tuple[Phase, ...]
    max_users: int
    kind: str = "open"
    source: Source = NOWHERE


@dataclass(frozen=True, slots=True)
class IterationsLoad:
    iterations: int
    users: int
    kind: str = "iterations"
    source: Source = NOWHERE


Load = ClosedLoad | StagesLoad | ArrivalLoad | IterationsLoad


# ---------------------------------------------------------------- thresholds


@dataclass(frozen=True, slots=True)
class Threshold:
    """`[ROW:] METRIC OP VALUE`, with VALUE in the metric's base unit.

    Latency metrics (pNN, avg, min, max) are in milliseconds, error_rate is a
    fraction (1% -> 0.01), the rest are plain numbers.
    """

    expr: str  # as written, for reports
    metric: str  # "p95", "p99.9", "avg", "min", "max", "rps", "error_rate", ...
    op: str  # "<" "<=" ">" ">=" "==" "!="
    value: float
    row: str | None = None
    abort: bool = False
    after: float = 0.0  # seconds before an aborting threshold is checked
    source: Source = NOWHERE
    custom: bool = False  # `row` names a declared custom metric, `metric` one of its stats


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """`defaults.tls`: how https connections are verified; files as absolute paths."""

    verify: bool = True
    ca_bundle: str | None = None  # PEM file of trusted CAs (None: the system's)
    client_cert: str | None = None  # PEM client certificate (mTLS)
    client_key: str | None = None  # its private key (None: in client_cert)


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """`defaults.limits`: bounds on a response head (a named error when exceeded)."""

    max_header_bytes: int = 64 * 1024
    max_headers: int = 100


@dataclass(frozen=True, slots=True)
class Defaults:
    """`defaults:` after compilation (headers are merged into each request)."""

    timeout: float = 30.0
    follow_redirects: bool = True
    verify_tls: bool = True
    tls: TlsSettings = field(default_factory=TlsSettings)
    proxy: str | None = None  # `defaults.proxy`; None: HTTP_PROXY / HTTPS_PROXY / NO_PROXY
    limits: HttpLimits = field(default_factory=HttpLimits)


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    file: str  # absolute path of the scenario file
    host: str | None  # None: must come from --host
    load: Load
    users: tuple[UserType, ...]
    variables: dict[str, Any] = field(default_factory=dict)  # rendered once at compile
    defaults: Defaults = field(default_factory=Defaults)
    data: tuple[DataFeed, ...] = ()
    faker_locale: str | None = None
    hooks: tuple[str, ...] = ()  # absolute module file paths or dotted names
    thresholds: tuple[Threshold, ...] = ()
    iterations_cap: int | None = None  # `iterations:` beside another model
    source: Source = NOWHERE
    metrics: tuple[MetricDecl, ...] = ()  # the top-level `metrics:` (custom metrics)
