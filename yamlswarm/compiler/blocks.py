"""The scenario's `blocks:`: named step lists that `use: NAME` runs, compiled once each.

A block may use other blocks; a cycle is reported once, at the `use:` that
closes it, with the cycle spelled out (`blocks cycle: a -> b -> a`).
"""

from __future__ import annotations

from typing import Any

from yamlswarm.compiler.context import Context, JsonPath, suggest
from yamlswarm.kinds.base import CompileContext, CompileEnv
from yamlswarm.plan import Step

__all__ = ["Blocks"]


class Blocks:
    """The raw `blocks:` mapping and, once compiled, each block's plan steps."""

    def __init__(self, ctx: Context, raw: Any) -> None:
        self.raw = {str(k): v for k, v in ctx.mapping(("blocks",), raw).items()}
        self.env: CompileEnv | None = None  # set by the compiler before any step compiles
        self._compiled: dict[str, tuple[Step, ...]] = {}
        self._stack: list[str] = []

    def use(self, ctx: CompileContext, name: Any, path: JsonPath) -> tuple[Step, ...] | None:
        """The steps of block `name` (None: unknown, or a cycle; reported at `path`)."""
        key = str(name)
        if key in self._compiled:
            return self._compiled[key]
        if key not in self.raw:
            known = sorted(self.raw)
            listed = f"; blocks: {', '.join(known)}" if known else "; there is no 'blocks:'"
            ctx.error(path, f"unknown block {key!r}{suggest(key, known)}{listed}")
            return None
        if key in self._stack:
            cycle = " -> ".join([*self._stack[self._stack.index(key) :], key])
            ctx.error(path, f"blocks cycle: {cycle}")
            return None
        assert self.env is not None
        self._stack.append(key)
        try:
            steps = self.env.steps(ctx, self.raw[key], ("blocks", key))
        finally:
            self._stack.pop()
        self._compiled[key] = steps
        return steps

    def compile_unused(self, ctx: CompileContext) -> None:
        """Compile the blocks no step used, so their mistakes are reported too."""
        for name in self.raw:
            if name not in self._compiled:
                self.use(ctx, name, ("blocks", name))
