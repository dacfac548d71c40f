"""What a step kind is, and what its compile function and runtime builder are given.

A leaf of the registry: it imports the plan's `Source`/`Step` and the runtime's
`BuildEnv`/`Executor`, nothing of the compiler, the schema or the scenario loader,
so kind modules stay free of YAML, jsonschema, Click and gevent. The compiler's
`Context` and the virtual user are described here as Protocols: a kind module
needs to know what it may ask of them, not where they live.

    StepKind         one entry of the registry (`yamlswarm.kinds.KINDS`)
    Hints            how schema errors of the kind's own `$defs` are worded
    CompileEnv       what every compile function gets besides the step mapping
    StepBuildEnv     the run's BuildEnv plus `block()`, for kinds with nested steps
    StepUser         what an executor may use of a virtual user at run time
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from yamlswarm.plan import Source, Step, TlsSettings
from yamlswarm.runtime.context import BuildEnv, Executor

if TYPE_CHECKING:
    import random
    from pathlib import Path

    from yamlswarm.hookmodules import HookModules

__all__ = [
    "STEP_OPTIONS",
    "CompileContext",
    "CompileEnv",
    "Hints",
    "JsonPath",
    "RequestDefaults",
    "StepBuildEnv",
    "StepKind",
    "StepUser",
    "one_key_step",
]

JsonPath = tuple[Any, ...]

# ---------------------------------------------------------------- compiling


class _Document(Protocol):
    @property
    def base_dir(self) -> Path: ...


class CompileContext(Protocol):
    """What a compile function may ask of the compiler (`compiler.context.Context`).

    None of these raise for a user mistake: they record a located problem and
    return a harmless stand-in, so one compilation reports every mistake.
    """

    @property
    def doc(self) -> _Document: ...

    @property
    def scope(self) -> frozenset[str]:
        """The names a step's templates may read."""
        ...

    def error(self, path: JsonPath, message: str, *, key: bool = False) -> None: ...

    def source(self, path: JsonPath) -> Source: ...

    def mapping(self, path: JsonPath, raw: Any) -> dict[Any, Any]: ...

    def sequence(self, path: JsonPath, raw: Any) -> list[Any]: ...

    def duration(self, path: JsonPath, raw: Any, default: float | None = None) -> float | None: ...

    def seconds(self, path: JsonPath, raw: Any, default: float) -> float: ...

    def rate(self, path: JsonPath, raw: Any, default: float | None = None) -> float | None: ...

    def integer(self, path: JsonPath, raw: Any, default: int, minimum: int = 0) -> int: ...

    def regex(self, path: JsonPath, pattern: Any) -> str: ...

    def jmespath(self, path: JsonPath, expr: Any) -> str: ...

    def value(self, path: JsonPath, raw: Any, scope: frozenset[str] | None = None) -> Any:
        """A value compiled for run time: a constant, or a `templates.Template`."""
        ...


@dataclass(frozen=True)
class RequestDefaults:
    """`defaults:` compiled once: headers merged into, and values inherited by, every request."""

    headers: tuple[tuple[str, Any], ...] = ()
    timeout: float = 30.0
    follow_redirects: bool = True
    verify_tls: bool = True
    tls: TlsSettings = field(default_factory=TlsSettings)  # CA bundle, client certificate
    proxy: str | None = None  # `defaults.proxy`; None: the environment's


@dataclass(frozen=True)
class CompileEnv:
    """What every step of a scenario shares while compiling; `steps()` compiles nested lists."""

    defaults: RequestDefaults
    hooks: HookModules | None  # None: not loaded, `call:` is not checked
    hook_specs: tuple[str, ...]  # as written, for messages
    compile_steps: Callable[[CompileContext, Any, JsonPath, CompileEnv], tuple[Step, ...]]
    suggest: Callable[[str, Iterable[str]], str]  # " (did you mean 'x'?)" or ""
    compile_step: Callable[[CompileContext, Any, JsonPath, CompileEnv], Step | None]
    # `use: NAME`: the compiled steps of block NAME (None: unknown, or part of a cycle; reported)
    use_block: Callable[[CompileContext, Any, JsonPath], tuple[Step, ...] | None] = (
        lambda ctx, name, path: None
    )
    metrics: Mapping[str, str] = field(default_factory=dict)  # declared custom metrics -> kind

    def steps(self, ctx: CompileContext, raw: Any, path: JsonPath) -> tuple[Step, ...]:
        """A nested `steps:` / `then:` / `else:` list, compiled by the compiler's dispatcher."""
        return self.compile_steps(ctx, raw, path, self)

    def step(self, ctx: CompileContext, raw: Any, path: JsonPath) -> Step | None:
        """One ordinary step at `path`, of a list whose other items the kind compiles itself
        (websocket.steps); None when it has errors (they are recorded)."""
        return self.compile_step(ctx, raw, path, self)


# ---------------------------------------------------------------- building and running


class StepUser(Protocol):
    """What a step executor may use of a virtual user (`runtime.user.VirtualUser`)."""

    vars: dict[str, Any]  # the user's template context: variables, data, faker, ...
    rng: random.Random
    transport: Any  # runtime.http.transport.Transport
    session_headers: dict[str, Any]  # lower-case name -> runtime.session_headers.SessionHeader
    extra_transports: list[Any]  # a `parallel:` step's pool of further transports
    id: int
    name: str
    stop_on_failure: bool
    in_on_stop: bool
    busy: bool  # True while a request is in flight (a graceful stop lets it finish)

    @property
    def stopping(self) -> bool: ...

    def sleep(self, seconds: float) -> None: ...

    def take_intended_start(self) -> float | None: ...


BlockBuilder = Callable[[Sequence[Step], "StepBuildEnv"], Executor]


def _no_block(steps: Sequence[Step], env: StepBuildEnv) -> Executor:
    raise RuntimeError("nested steps are built through runtime.steps.build_steps")


@dataclass
class StepBuildEnv(BuildEnv):
    """The run's BuildEnv plus the one callable kinds with nested steps build them with."""

    build_block: BlockBuilder = _no_block

    def block(self, steps: Sequence[Step]) -> Executor:
        """One executor that runs `steps` in order (a failure in a stop_on_failure flow ends it)."""
        return self.build_block(steps, self)


# ---------------------------------------------------------------- the registry entry

CompileFn = Callable[[CompileContext, dict[Any, Any], JsonPath, CompileEnv], Step]
BuildFn = Callable[[Any, StepBuildEnv], Executor]


def _assigns_nothing(step: Mapping[Any, Any]) -> Iterable[Any]:
    return ()


@dataclass(frozen=True)
class Hints:
    """How `scenario.schema_errors` words errors in the kind's own `$defs` (all optional)."""

    nouns: Mapping[str, str] = field(default_factory=dict)  # $defs name -> "expected <noun>"
    subjects: Mapping[str, str] = field(default_factory=dict)  # -> "<subject> needs exactly one of"
    inside: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # key -> settings inside it
    patterns: Mapping[str, str] = field(default_factory=dict)  # a `pattern` -> what a mismatch is
    durations: frozenset[str] = frozenset()  # $defs whose bad pattern or bound is a bad duration
    sizes: Mapping[str, str] = field(default_factory=dict)  # $defs name -> message when too small
    step_keys: frozenset[str] = frozenset()  # keys of steps valid only in the kind's nested lists


@dataclass(frozen=True)
class StepKind:
    """One kind of step: how it is selected, validated, compiled, built and counted.

    `keys` are the YAML keys that select the kind, each with the description the
    `step` schema gives it. A step with key K must satisfy the `$defs` entry
    `step_defs.get(K, "<name>_step")`, which `schema` (the `$defs` this kind adds)
    provides. `compile(ctx, step, path, env)` returns a `plan_type` node;
    `build(node, env)` returns its executor `run(user) -> bool`. `assigns(step)`
    names the user variables a raw step sets itself, and `nested` the paths of its
    child step lists (e.g. `("loop", "steps")`), so the compiler knows every name
    a scenario may assign and the schema errors know where steps are; `children`
    names the attributes of the plan node that hold its child steps.
    """

    name: str
    keys: Mapping[str, str]
    plan_type: type
    compile: CompileFn
    build: BuildFn
    schema: Mapping[str, Any]
    step_defs: Mapping[str, str] = field(default_factory=dict)
    stats_method: str | None = None  # the method of the stats row it records, if any
    assigns: Callable[[Mapping[Any, Any]], Iterable[Any]] = _assigns_nothing
    nested: tuple[tuple[str, ...], ...] = ()
    children: tuple[str, ...] = ()
    hints: Hints = field(default_factory=Hints)

    def step_def(self, key: str) -> str:
        """The `$defs` entry a step selected by `key` must satisfy."""
        return self.step_defs.get(key, f"{self.name}_step")


# Settings any step may have beside its kind key (compiled by `compiler.steps.compile_step`).
STEP_OPTIONS: dict[str, Any] = {
    "probability": {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 1,
        "description": "Run the step with this probability (0 < p <= 1), drawn from the "
        "user's seeded random source; otherwise skip it.",
    },
}


def one_key_step(key: str, description: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of a step that is one key and its value (`think: 1s`, `loop: {...}`)."""
    return {
        "type": "object",
        "description": description,
        "properties": {key: dict(value), **STEP_OPTIONS},
        "required": [key],
        "additionalProperties": False,
    }
