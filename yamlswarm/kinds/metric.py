"""The `metric:` step (`metric: {name, add}`) and a request's `metrics:` key: custom metrics from YAML.

Both add a value, a constant or a template, to a metric declared under the top-level
`metrics:` (an undeclared name is a located error with a did-you-mean). `add` defaults
to 1 for a counter and true for a rate; a gauge or trend needs it. Template values are
converted at run time: a number, or a string holding one ("12.5"); a rate also takes
true/false. A value that is none of these (or a negative one for a counter or trend)
fails the step with a named error in its row `metric NAME` (method METRIC), never more.

On a request (`metrics: {order_value: "{{ total }}"}`) the values are rendered after the
response, its checks and its extraction (so they read what `extract:` stored), and added
only when the request succeeded; a rate metric there counts every request: a pass when
the request succeeded and its value is true, a fail otherwise (`checkout_ok: true` is the
success rate of that request). A failed metric update does not fail the request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from yamlswarm.kinds.base import (
    CompileContext,
    CompileEnv,
    Hints,
    JsonPath,
    StepBuildEnv,
    StepKind,
    StepUser,
    one_key_step,
)
from yamlswarm.plan import NOWHERE, MetricAdd, Source
from yamlswarm.runtime.context import BuildEnv, Executor
from yamlswarm.runtime.metrics import MetricValueError
from yamlswarm.runtime.values import error_text
from yamlswarm.templates import Template, renderer

__all__ = ["KIND", "MetricStep", "compile_adds", "convert", "with_metrics"]

METHOD = "METRIC"
_DEFAULTS = {"counter": 1, "rate": True}
_TRUTH = {"true": True, "false": False}


@dataclass(frozen=True, slots=True)
class MetricStep:
    add: MetricAdd
    source: Source = NOWHERE


# ---------------------------------------------------------------- values


def convert(kind: str, value: Any) -> Any:
    """A rendered value as the metric of `kind` takes it; MetricValueError when it cannot."""
    if kind == "rate" and isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if kind == "rate" and text.lower() in _TRUTH:
            return _TRUTH[text.lower()]
        try:
            value = float(text)
        except ValueError:
            raise MetricValueError(f"{value!r:.60} is not a number") from None
        return value if kind != "rate" else value != 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MetricValueError(f"{value!r:.60} is not a number")
    return value if kind != "rate" else value != 0


# ---------------------------------------------------------------- compiling


def compile_metric(ctx: CompileContext, step: dict, path: JsonPath, env: CompileEnv) -> MetricStep:
    where = (*path, "metric")
    spec = ctx.mapping(where, step["metric"])
    name = spec.get("name")
    add = _compile_add(ctx, env, name, (*where, "name"), spec, "add", ctx.source(path), False)
    return MetricStep(add, ctx.source(path))


def compile_adds(
    ctx: CompileContext, raw: Any, path: JsonPath, env: CompileEnv
) -> tuple[MetricAdd, ...]:
    """A request's `metrics: {NAME: value-or-template}`."""
    spec = ctx.mapping(path, raw)
    return tuple(
        _compile_add(ctx, env, name, (*path, name), spec, name, ctx.source((*path, name)), True)
        for name in spec
    )


def _compile_add(
    ctx: CompileContext,
    env: CompileEnv,
    name: Any,
    name_path: JsonPath,
    spec: Mapping[Any, Any],
    key: Any,
    source: Source,
    name_is_key: bool,
) -> MetricAdd:
    kind = env.metrics.get(name) if isinstance(name, str) else None
    if kind is None:
        ctx.error(name_path, _undeclared(name, env), key=name_is_key)
        return MetricAdd(str(name), "counter", 1, source)
    value_path = (*name_path[:-1], key)
    if spec.get(key) is None:
        if kind not in _DEFAULTS:
            ctx.error(name_path[:-1], f"metric {name!r} is a {kind}: give the value to 'add'")
            return MetricAdd(name, kind, 0, source)
        return MetricAdd(name, kind, _DEFAULTS[kind], source)
    value = ctx.value(value_path, spec[key])
    # a template folded to a constant is checked too; one left as written had an error
    if not isinstance(value, Template) and not (isinstance(value, str) and "{{" in value):
        try:
            value = convert(kind, value)
            if kind in ("counter", "trend") and value < 0:
                raise MetricValueError(f"a {kind} takes no negative value ({value!r})")
        except MetricValueError as exc:
            ctx.error(value_path, f"metric {name!r} ({kind}): {exc}")
    return MetricAdd(name, kind, value, source)


def _undeclared(name: Any, env: CompileEnv) -> str:
    if not env.metrics:
        return f"metric {name!r} is not declared: declare it under the top-level 'metrics:'"
    names = sorted(env.metrics)
    return (
        f"metric {name!r} is not declared{env.suggest(str(name), names)}; "
        f"declared: {', '.join(names)}"
    )


# ---------------------------------------------------------------- running


def adder(add: MetricAdd, env: BuildEnv) -> Callable[[dict[str, Any]], bool]:
    """`run(user_vars) -> bool`: add the value; False (and a named error) when it cannot."""
    metric = env.stats.metrics.ensure(add.name, add.kind)
    put, kind = metric.add, add.kind
    row_name = f"metric {add.name}"
    render = renderer(add.value)  # a constant was converted when compiled

    def run(ctx: dict[str, Any]) -> bool:
        try:
            put(convert(kind, render(ctx)))
        except MetricValueError as exc:
            env.stats.row(row_name, METHOD).failure(0.0, exc.reason, example=str(exc))
            return False
        except Exception as exc:  # the template failed (an undefined name, a bound)
            env.stats.row(row_name, METHOD).failure(0.0, error_text(exc))
            return False
        return True

    return run


def build_metric(step: MetricStep, env: StepBuildEnv) -> Executor:
    add = adder(step.add, env)

    def run(user: StepUser) -> bool:
        return add(user.vars)

    return run


def with_metrics(run: Executor, adds: tuple[MetricAdd, ...], env: BuildEnv) -> Executor:
    """A request executor followed by its `metrics:` (see the module docstring)."""
    if not adds:
        return run
    always = [adder(a, env) for a in adds if a.kind != "rate"]
    rates = [(adder(a, env), env.stats.metrics[a.name].add) for a in adds if a.kind == "rate"]

    def run_with_metrics(user: StepUser) -> bool:
        ok = run(user)
        ctx = user.vars
        if ok:
            for add in always:
                add(ctx)
        for add, put in rates:
            if ok:
                add(ctx)
            else:
                put(False)
        return ok

    return run_with_metrics


# ---------------------------------------------------------------- schema

METRICS_SETTING = {
    "$ref": "#/$defs/metric_values",
    "description": "Custom metrics to add to after the response, {NAME: value-or-template} "
    "(only when the request succeeded; a rate counts every request).",
}

SCHEMA = {
    "metric_step": one_key_step(
        "metric",
        "Add a value to a custom metric declared under `metrics:`.",
        {"$ref": "#/$defs/metric_update", "description": "{name, add}."},
    ),
    "metric_update": {
        "type": "object",
        "description": "Which metric, and what to add.",
        "properties": {
            "name": {"$ref": "#/$defs/metric_name", "description": "A declared metric."},
            "add": {
                "description": "The value (a number, true/false for a rate, or a template); "
                "default 1 for a counter, true for a rate."
            },
        },
        "required": ["name"],
        "additionalProperties": False,
    },
    "metric_values": {
        "type": "object",
        "description": "Declared metric name -> value to add (may be a template).",
        "propertyNames": {"$ref": "#/$defs/metric_name"},
        "additionalProperties": {
            "description": "The value: a number, true/false for a rate, or a template."
        },
    },
}

KIND = StepKind(
    name="metric",
    keys={"metric": "Add a value to a custom metric: {name, add}."},
    plan_type=MetricStep,
    compile=compile_metric,
    build=build_metric,
    schema=SCHEMA,
    stats_method=METHOD,
    hints=Hints(
        nouns={
            "metric_update": "a mapping {name, add}",
            "metric_values": "a mapping of metric names to values",
        }
    ),
)
