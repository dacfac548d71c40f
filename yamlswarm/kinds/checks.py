"""Compilation of a request's `check:` block (the request kind's checks, see `runtime.checks`)."""

from __future__ import annotations

import re
from typing import Any

from yamlswarm.kinds.base import CompileContext, JsonPath
from yamlswarm.plan import Checks, HeaderCheck, JmesCheck, StatusCheck

__all__ = ["JMES_OPS", "compile_checks"]

JMES_OPS = ("eq", "ne", "gt", "ge", "lt", "le", "in", "contains", "matches", "exists")
_STATUS_CLASS = re.compile(r"^([1-5])xx$")


def compile_checks(ctx: CompileContext, raw: Any, path: JsonPath) -> Checks:
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
        message=_message(ctx, check, path),
    )


def _message(ctx: CompileContext, block: dict, path: JsonPath) -> Any:
    """A check's `message:`, with `actual` and `expected` in scope besides the user's names."""
    if "message" not in block:
        return None
    return ctx.value((*path, "message"), block["message"], ctx.scope | {"actual", "expected"})


def _optional_value(ctx: CompileContext, block: dict, key: str, path: JsonPath) -> Any:
    return ctx.value((*path, key), block[key]) if key in block else None


def _status(ctx: CompileContext, raw: Any, path: JsonPath) -> StatusCheck | None:
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


def _jmes_check(ctx: CompileContext, raw: Any, path: JsonPath) -> JmesCheck:
    item = ctx.mapping(path, raw)
    expr = ctx.jmespath((*path, "expr"), item.get("expr", ""))
    ops = [k for k in JMES_OPS if k in item]
    if len(ops) != 1:
        ctx.error(path, f"a jmespath check needs exactly one of {', '.join(JMES_OPS)}")
        return JmesCheck(expr, "exists", True, ctx.source(path))
    op = ops[0]
    if op == "matches":
        value = ctx.regex((*path, op), item[op])
    else:
        value = ctx.value((*path, op), item[op])
    return JmesCheck(expr, op, value, ctx.source(path), _message(ctx, item, path))


def _header_checks(ctx: CompileContext, raw: Any, path: JsonPath) -> tuple[HeaderCheck, ...]:
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
