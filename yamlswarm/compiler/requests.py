"""Compilation of request steps (shorthand and long form), their checks and extractions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yamlswarm.compiler.context import Context, JsonPath
from yamlswarm.plan import Body, Checks, Extract, HeaderCheck, JmesCheck, RequestStep, StatusCheck
from yamlswarm.templates import Template

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
_BODY_KINDS = ("json", "body", "form", "files")
_JMES_OPS = ("eq", "ne", "gt", "ge", "lt", "le", "in", "contains", "matches", "exists")
_EXTRACT_KINDS = ("jmespath", "regex", "header", "cookie", "status")
_STATUS_CLASS = re.compile(r"^([1-5])xx$")


@dataclass(frozen=True)
class RequestDefaults:
    """`defaults:` compiled once: headers merged into, and values inherited by, every request."""

    headers: tuple[tuple[str, Any], ...] = ()
    timeout: float = 30.0
    follow_redirects: bool = True
    verify_tls: bool = True


def compile_request(
    ctx: Context, kind: str, step: dict, path: JsonPath, defaults: RequestDefaults
) -> RequestStep:
    """A `<method>: URL` step with its siblings, or a `request: {method, url, ...}` step."""
    if kind == "request":
        where = (*path, "request")
        options = ctx.mapping(where, step["request"])
        method = str(options.get("method", "GET")).upper()
        url_path = (*where, "url")
        raw_url = options.get("url", "")
    else:
        where, options, method = path, step, kind.upper()
        url_path = (*path, kind)
        raw_url = step[kind]
    url = ctx.value(url_path, raw_url)
    name = options.get("name")
    if name is None:
        name = raw_url if isinstance(url, Template) else url
    else:
        name = ctx.value((*where, "name"), name)
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
    )


def _flag(options: dict, key: str, default: bool) -> bool:
    value = options.get(key)
    return default if value is None else bool(value)


def _pairs(ctx: Context, raw: Any, path: JsonPath) -> tuple[tuple[str, Any], ...]:
    return tuple((str(k), ctx.value((*path, k), v)) for k, v in ctx.mapping(path, raw).items())


def compile_headers(ctx: Context, raw: Any, path: JsonPath) -> tuple[tuple[str, Any], ...]:
    """`headers:` as (name, Value) pairs."""
    return _pairs(ctx, raw, path)


def _headers(
    ctx: Context, raw: Any, path: JsonPath, inherited: tuple[tuple[str, Any], ...]
) -> tuple[tuple[str, Any], ...]:
    own = _pairs(ctx, raw, path)
    if not inherited:
        return own
    overridden = {name.lower() for name, _ in own}
    return tuple(pair for pair in inherited if pair[0].lower() not in overridden) + own


def _body(ctx: Context, options: dict, path: JsonPath) -> Body | None:
    kinds = [k for k in _BODY_KINDS if k in options]
    if not kinds:
        return None
    if len(kinds) > 1:
        ctx.error(path, f"a request has one body: {' / '.join(kinds)} cannot be combined")
    kind = kinds[0]
    if kind == "files":
        return Body("files", _files(ctx, options["files"], (*path, "files")))
    return Body(kind, ctx.value((*path, kind), options[kind]))


def _files(ctx: Context, raw: Any, path: JsonPath) -> dict[str, dict[str, Any]]:
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


def _auth(ctx: Context, raw: Any, path: JsonPath) -> tuple[Any, Any] | None:
    if raw is None:
        return None
    basic = ctx.mapping(path, raw).get("basic")
    pair = ctx.sequence((*path, "basic"), basic)
    if len(pair) != 2:
        ctx.error((*path, "basic"), "'basic' needs two values: [user, password]")
        return None
    return (ctx.value((*path, "basic", 0), pair[0]), ctx.value((*path, "basic", 1), pair[1]))


# ---------------------------------------------------------------- checks


def compile_checks(ctx: Context, raw: Any, path: JsonPath) -> Checks:
    check = ctx.mapping(path, raw)
    if not check:
        return Checks(source=ctx.source(path))
    return Checks(
        status=_status(ctx, check.get("status"), (*path, "status")),
        jmespath=tuple(
            _jmes_check(ctx, item, (*path, "jmespath", i))
            for i, item in enumerate(ctx.sequence((*path, "jmespath"), check.get("jmespath")))
        ),
        body_contains=_optional_value(ctx, check, "body_contains", path),
        body_matches=(
            ctx.regex((*path, "body_matches"), check["body_matches"])
            if "body_matches" in check
            else None
        ),
        headers=_header_checks(ctx, check.get("header"), (*path, "header")),
        max_latency=ctx.duration((*path, "max_latency"), check.get("max_latency")),
        source=ctx.source(path),
    )


def _optional_value(ctx: Context, block: dict, key: str, path: JsonPath) -> Any:
    return ctx.value((*path, key), block[key]) if key in block else None


def _status(ctx: Context, raw: Any, path: JsonPath) -> StatusCheck | None:
    if raw is None:
        return None
    items = raw if isinstance(raw, list) else [raw]
    codes: set[int] = set()
    classes: set[int] = set()
    for index, item in enumerate(items):
        where = (*path, index) if isinstance(raw, list) else path
        match = _STATUS_CLASS.match(item) if isinstance(item, str) else None
        if match:
            classes.add(int(match.group(1)))
        elif isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599:
            codes.add(item)
        else:
            ctx.error(where, f"{item!r} is not a status code (100..599) or class such as '2xx'")
    return StatusCheck(frozenset(codes), frozenset(classes), ctx.source(path))


def _jmes_check(ctx: Context, raw: Any, path: JsonPath) -> JmesCheck:
    item = ctx.mapping(path, raw)
    expr = ctx.jmespath((*path, "expr"), item.get("expr", ""))
    ops = [k for k in _JMES_OPS if k in item]
    if len(ops) != 1:
        ctx.error(path, f"a jmespath check needs exactly one of {', '.join(_JMES_OPS)}")
        return JmesCheck(expr, "exists", True, ctx.source(path))
    op = ops[0]
    if op == "matches":
        value = ctx.regex((*path, op), item[op])
    else:
        value = ctx.value((*path, op), item[op])
    return JmesCheck(expr, op, value, ctx.source(path))


def _header_checks(ctx: Context, raw: Any, path: JsonPath) -> tuple[HeaderCheck, ...]:
    out = []
    for name, spec in ctx.mapping(path, raw).items():
        where = (*path, name)
        if isinstance(spec, dict) and "matches" in spec:
            op, value = "matches", ctx.regex((*where, "matches"), spec["matches"])
        elif isinstance(spec, dict) and "contains" in spec:
            op, value = "contains", ctx.value((*where, "contains"), spec["contains"])
        else:
            op, value = "eq", ctx.value(where, spec)
        out.append(HeaderCheck(str(name), op, value, ctx.source(where)))
    return tuple(out)


# ---------------------------------------------------------------- extraction


def compile_extract(ctx: Context, raw: Any, path: JsonPath) -> tuple[Extract, ...]:
    return tuple(
        _extractor(ctx, str(var), spec, (*path, var))
        for var, spec in ctx.mapping(path, raw).items()
    )


def _extractor(ctx: Context, var: str, raw: Any, path: JsonPath) -> Extract:
    spec = ctx.mapping(path, raw)
    kinds = [k for k in _EXTRACT_KINDS if k in spec]
    source = ctx.source(path)
    if len(kinds) != 1:
        ctx.error(path, f"an extractor needs exactly one of {', '.join(_EXTRACT_KINDS)}")
        return Extract(var, "status", source=source)
    kind = kinds[0]
    where = (*path, kind)
    expr, group = "", 1
    if kind == "jmespath":
        expr = ctx.jmespath(where, spec[kind])
    elif kind == "regex":
        expr = ctx.regex(where, spec[kind])
        group = ctx.integer((*path, "group"), spec.get("group"), 1)
        _check_group(ctx, path, expr, group)
    elif kind in ("header", "cookie"):
        expr = str(spec[kind])
    has_default = "default" in spec
    default = ctx.value((*path, "default"), spec["default"]) if has_default else None
    return Extract(var, kind, expr, group, default, has_default, source)


def _check_group(ctx: Context, path: JsonPath, pattern: str, group: int) -> None:
    try:
        groups = re.compile(pattern).groups
    except re.error:
        return  # already reported
    if group > groups:
        ctx.error((*path, "group"), f"regex {pattern!r} has no group {group} (it has {groups})")
