"""The `set_header:` / `unset_header:` steps: change this user's session headers from now on."""

from __future__ import annotations

from dataclasses import dataclass

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
from yamlswarm.plan import NOWHERE, Source, Value
from yamlswarm.runtime.context import Executor
from yamlswarm.runtime.session_headers import SessionHeader
from yamlswarm.runtime.values import as_text, error_text
from yamlswarm.templates import renderer


@dataclass(frozen=True, slots=True)
class HeaderStep:
    """Sets (`values`, rendered when the step runs) or removes (`unset`) session headers."""

    values: tuple[tuple[str, Value], ...] = ()
    unset: tuple[str, ...] = ()
    source: Source = NOWHERE


def compile_header(ctx: CompileContext, step: dict, path: JsonPath, env: CompileEnv) -> HeaderStep:
    if "set_header" in step:
        where = (*path, "set_header")
        values = ctx.mapping(where, step["set_header"])
        return HeaderStep(
            values=tuple((str(k), ctx.value((*where, k), v)) for k, v in values.items()),
            source=ctx.source(path),
        )
    raw = step["unset_header"]
    names = raw if isinstance(raw, list) else [raw]
    return HeaderStep(unset=tuple(str(name) for name in names), source=ctx.source(path))


def build_header(step: HeaderStep, env: StepBuildEnv) -> Executor:
    if step.unset:
        keys = tuple(name.lower() for name in step.unset)

        def unset(user: StepUser) -> bool:
            for key in keys:
                user.session_headers.pop(key, None)
            return True

        return unset
    parts = [(name, name.lower(), renderer(value)) for name, value in step.values]
    row_name = "set_header " + ", ".join(name for name, _ in step.values)

    def set_(user: StepUser) -> bool:
        try:
            rendered = [(n, key, as_text(render(user.vars))) for n, key, render in parts]
        except Exception as exc:  # a template error fails the step, as data
            env.stats.row(row_name, "SET").failure(0.0, error_text(exc))
            return False
        for name, key, text in rendered:
            user.session_headers[key] = SessionHeader(name, text)
        return True

    return set_


SCHEMA = {
    "set_header_step": one_key_step(
        "set_header",
        "Set session headers of this user: sent with its every later request.",
        {
            "$ref": "#/$defs/headers",
            "description": "Header name -> value (templates rendered when the step runs).",
        },
    ),
    "unset_header_step": one_key_step(
        "unset_header",
        "Remove session headers of this user.",
        {
            "anyOf": [
                {"type": "string", "pattern": "^[^\\s:]+$"},
                {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "string", "pattern": "^[^\\s:]+$"},
                },
            ],
            "description": "A header name, or a list of them.",
        },
    ),
}

KIND = StepKind(
    name="header",
    keys={
        "set_header": "Set session headers of this user: {Name: value}.",
        "unset_header": "Remove a session header of this user (a name or a list).",
    },
    plan_type=HeaderStep,
    compile=compile_header,
    build=build_header,
    schema=SCHEMA,
    step_defs={"set_header": "set_header_step", "unset_header": "unset_header_step"},
    stats_method="SET",
    hints=Hints(nouns={"unset_header_step": "a header name or a list of names"}),
)
