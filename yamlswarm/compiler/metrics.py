"""Compilation of the top-level `metrics:`: the custom metrics a scenario declares.

`NAME: KIND` or `NAME: {kind: KIND, description: TEXT}`, KIND one of counter, gauge,
rate, trend (the schema checks the shape and the names). A name that a threshold
could not tell from a built-in metric (`rps`, `p95`, ...) is refused here.
"""

from __future__ import annotations

import re
from typing import Any

from yamlswarm.compiler.context import Context
from yamlswarm.plan import MetricDecl
from yamlswarm.thresholds import is_builtin

__all__ = ["compile_metrics"]

KINDS = ("counter", "gauge", "rate", "trend")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def compile_metrics(ctx: Context, raw: Any) -> tuple[MetricDecl, ...]:
    out = []
    for name, spec in ctx.mapping(("metrics",), raw).items():
        path = ("metrics", name)
        entry = spec if isinstance(spec, dict) else {"kind": spec}
        kind, description = entry.get("kind"), entry.get("description") or ""
        if kind not in KINDS or not isinstance(name, str) or not _NAME.match(name):
            continue  # the schema reported it
        if is_builtin(name):
            ctx.error(
                path,
                f"{name!r} is a built-in threshold metric: give the custom metric another name",
                key=True,
            )
            continue
        out.append(MetricDecl(str(name), str(kind), str(description), ctx.source(path)))
    return tuple(out)
