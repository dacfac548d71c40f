"""The request step: `<method>: URL` with sibling settings, or the long form `request: {...}`.

The plan nodes (`plan.RequestStep`, `plan.Body`, checks, extractions) live in
`yamlswarm.plan`, beside the request executor's other inputs; the executor is
`runtime.request.build_request`. Checks compile in `kinds.checks`, extractions
through the extractor table (`yamlswarm.extractors`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from yamlswarm.extractors import compile_extract
from yamlswarm.kinds.base import (
    STEP_OPTIONS,
    CompileContext,
    CompileEnv,
    Hints,
    JsonPath,
    StepBuildEnv,
    StepKind,
    StepUser,
    one_key_step,
)
from yamlswarm.kinds.checks import compile_checks
from yamlswarm.kinds.metric import METRICS_SETTING, compile_adds, with_metrics
from yamlswarm.kinds.stop import stopper
from yamlswarm.plan import Body, RequestStep
from yamlswarm.runtime.context import Executor
from yamlswarm.runtime.request import build_request
from yamlswarm.templates import Template

__all__ = ["KIND", "METHODS", "compile_headers", "compile_request"]

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
_BODY_KINDS = ("json", "body", "form", "files")
_METHOD_PATTERN = "^(" + "|".join("".join(f"[{c.upper()}{c}]" for c in m) for m in METHODS) + ")$"
_METHOD_HELP = "is not an HTTP method: use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS"


def compile_request(
    ctx: CompileContext, step: dict, path: JsonPath, env: CompileEnv
) -> RequestStep:
    """A `<method>: URL` step with its siblings, or a `request: {method, url, ...}` step."""
    if "request" in step:
        where = (*path, "request")
        options = ctx.mapping(where, step["request"])
        method = str(options.get("method", "GET")).upper()
        url_path = (*where, "url")
        raw_url = options.get("url", "")
    else:
        kind = next(k for k in step if k in METHODS)
        where, options, method = path, step, kind.upper()
        url_path = (*path, kind)
        raw_url = step[kind]
    url = ctx.value(url_path, raw_url)
    name = options.get("name")
    if name is None:
        name = raw_url if isinstance(url, Template) else url
    else:
        name = ctx.value((*where, "name"), name)
    defaults = env.defaults
    return RequestStep(
        method=method,
        url=url,
        name=name,
        headers=_headers(ctx, options.get("headers"), (*where, "headers"), defaults.headers),
        query=_pairs(ctx, options.get("query"), (*where, "query")),
        body=_body(ctx, options, where),
        timeout=ctx.seconds((*where, "timeout"), options.get("timeout"), defaults.timeout),
        follow_redirects=_flag(options, "follow_redirects", defaults.follow_redirects),
        verify_tls=_flag(options, "verify_tls", defaults.verify_tls),
        auth=_auth(ctx, options.get("auth"), (*where, "auth")),
        checks=compile_checks(ctx, options.get("check"), (*where, "check")),
        extract=compile_extract(ctx, options.get("extract"), (*where, "extract")),
        source=ctx.source(path),
        on_failure=options.get("on_failure"),
        metrics=compile_adds(ctx, options.get("metrics"), (*where, "metrics"), env),
    )


def build_request_step(step: RequestStep, env: StepBuildEnv) -> Executor:
    """The request's executor; with `on_failure`, a failed request then stops the user or test."""
    run = with_metrics(build_request(step, env), step.metrics, env)
    if step.on_failure is None:
        return run
    written = step.name.source if isinstance(step.name, Template) else step.name
    scope = "test" if step.on_failure == "stop_test" else "user"
    stop = stopper(env.stats, scope, f"{step.method} {written} failed")

    def guarded(user: StepUser) -> bool:
        if run(user):
            return True
        stop(user)

    return guarded


def _flag(options: dict, key: str, default: bool) -> bool:
    value = options.get(key)
    return default if value is None else bool(value)


def _pairs(ctx: CompileContext, raw: Any, path: JsonPath) -> tuple[tuple[str, Any], ...]:
    return tuple((str(k), ctx.value((*path, k), v)) for k, v in ctx.mapping(path, raw).items())


def compile_headers(ctx: CompileContext, raw: Any, path: JsonPath) -> tuple[tuple[str, Any], ...]:
    """`headers:` as (name, Value) pairs."""
    return _pairs(ctx, raw, path)


def _headers(
    ctx: CompileContext, raw: Any, path: JsonPath, inherited: tuple[tuple[str, Any], ...]
) -> tuple[tuple[str, Any], ...]:
    own = _pairs(ctx, raw, path)
    if not inherited:
        return own
    overridden = {name.lower() for name, _ in own}
    return tuple(pair for pair in inherited if pair[0].lower() not in overridden) + own


def _body(ctx: CompileContext, options: dict, path: JsonPath) -> Body | None:
    kinds = [k for k in _BODY_KINDS if k in options]
    if not kinds:
        return None
    if len(kinds) > 1:
        ctx.error(path, f"a request has one body: {' / '.join(kinds)} cannot be combined")
    kind = kinds[0]
    if kind == "files":
        return Body("files", _files(ctx, options["files"], (*path, "files")))
    return Body(kind, ctx.value((*path, kind), options[kind]))


def _files(ctx: CompileContext, raw: Any, path: JsonPath) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for field, spec in ctx.mapping(path, raw).items():
        where = (*path, field)
        entry = dict(spec) if isinstance(spec, dict) else {"path": spec}
        file = entry.get("path")
        if not isinstance(file, str):
            ctx.error(where, "a file to upload needs a 'path'")
            continue
        resolved = ctx.doc.base_dir / file
        if not resolved.is_file():
            ctx.error(
                where if isinstance(spec, str) else (*where, "path"),
                f"file to upload not found: {file}",
            )
        entry["path"] = str(resolved)
        entry.setdefault("filename", Path(file).name)
        out[str(field)] = entry
    return out


def _auth(ctx: CompileContext, raw: Any, path: JsonPath) -> tuple[Any, Any] | None:
    if raw is None:
        return None
    basic = ctx.mapping(path, raw).get("basic")
    pair = ctx.sequence((*path, "basic"), basic)
    if len(pair) != 2:
        ctx.error((*path, "basic"), "'basic' needs two values: [user, password]")
        return None
    return (ctx.value((*path, "basic", 0), pair[0]), ctx.value((*path, "basic", 1), pair[1]))


def _assigns(step: Mapping[Any, Any]) -> Iterator[str]:
    long_form = step.get("request")
    request = long_form if isinstance(long_form, dict) else step
    block = request.get("extract")
    if isinstance(block, dict):
        yield from (k for k in block if isinstance(k, str))


# ---------------------------------------------------------------- schema

_ONLY_ONE = "Only one of json, body, form, files."
_SETTINGS: dict[str, Any] = {
    "name": {
        "$ref": "#/$defs/text",
        "description": "Stats row name of this request (default: the URL as written); may be a template.",
    },
    "headers": {
        "$ref": "#/$defs/headers",
        "description": "Request headers, merged over defaults.headers (this step wins).",
    },
    "query": {
        "$ref": "#/$defs/query",
        "description": "Query string parameters; a list value repeats the parameter.",
    },
    "json": {
        "description": f"A JSON body (any value; strings may hold {{{{ templates }}}}). {_ONLY_ONE}"
    },
    "body": {"$ref": "#/$defs/text", "description": f"A raw text body. {_ONLY_ONE}"},
    "form": {
        "$ref": "#/$defs/form",
        "description": f"A form-encoded body (name: value). {_ONLY_ONE}",
    },
    "files": {
        "$ref": "#/$defs/files",
        "description": "A multipart upload: field name -> file path, or {path, filename, "
        f"content_type}}. {_ONLY_ONE}",
    },
    "timeout": {
        "$ref": "#/$defs/duration",
        "description": "Request timeout (default: defaults.timeout, else 30s).",
    },
    "follow_redirects": {
        "type": "boolean",
        "description": "Follow 3xx redirects (default: defaults.follow_redirects, else true).",
    },
    "verify_tls": {
        "type": "boolean",
        "description": "Verify TLS certificates (default: defaults.verify_tls, else true).",
    },
    "check": {
        "$ref": "#/$defs/check",
        "description": "Checks on the response; a failed check marks the request failed.",
    },
    "extract": {
        "$ref": "#/$defs/extract",
        "description": "Values to store from the response into user variables.",
    },
    "auth": {"$ref": "#/$defs/auth", "description": "Authentication: {basic: [user, password]}."},
    "metrics": METRICS_SETTING,
    "on_failure": {
        "enum": ["stop_user", "stop_test"],
        "description": "When the request fails: stop this virtual user, or the whole test.",
    },
}
_ONE_BODY = {  # each body key excludes the others
    kind: {"not": {"anyOf": [{"required": [other]} for other in _BODY_KINDS if other != kind]}}
    for kind in _BODY_KINDS
}
_LONG: dict[str, Any] = {
    "type": "object",
    "description": "A request given as {method, url, ...}.",
    "properties": {
        "method": {
            "type": "string",
            "pattern": _METHOD_PATTERN,
            "description": "HTTP method: GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS (any case).",
        },
        "url": {
            "$ref": "#/$defs/text",
            "description": "URL (absolute, or a path joined to host); may be a template.",
        },
        **_SETTINGS,
    },
    "required": ["method", "url"],
    "additionalProperties": False,
    "dependentSchemas": _ONE_BODY,
}
SCHEMA = {
    "request_step": {
        "type": "object",
        "description": "A request step: `<method>: URL` plus optional settings.",
        "properties": {
            **{
                m: {
                    "$ref": "#/$defs/text",
                    "description": f"Send a {m.upper()} request to this URL (absolute, or a path "
                    "joined to host); may be a template.",
                }
                for m in METHODS
            },
            **_SETTINGS,
            **STEP_OPTIONS,
        },
        "additionalProperties": False,
        "dependentSchemas": _ONE_BODY,
    },
    "request_step_long": _LONG,
    "request_kind_step": one_key_step(
        "request",
        "A request step in long form.",
        {"$ref": "#/$defs/request_step_long", "description": "The request: {method, url, ...}."},
    ),
}

KIND = StepKind(
    name="request",
    keys={
        **{m: f"Send a {m.upper()} request to this URL." for m in METHODS},
        "request": "A request in long form: {method, url, ...}.",
    },
    plan_type=RequestStep,
    compile=compile_request,
    build=build_request_step,
    schema=SCHEMA,
    step_defs={**{m: "request_step" for m in METHODS}, "request": "request_kind_step"},
    assigns=_assigns,
    hints=Hints(
        inside={"request": tuple(_LONG["properties"])},
        patterns={_METHOD_PATTERN: _METHOD_HELP},
    ),
)
