"""What step executors are built with: the run's stats, base origin, hooks, clock and tracing.

A leaf module: step builders (`runtime.steps`, `runtime.request`) receive a
`BuildEnv` instead of the runner, so they know nothing of how users are driven.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from yamlswarm.runtime.clock import Clock, real_clock

if TYPE_CHECKING:
    from yamlswarm.runtime.hook_calls import HookRunner
    from yamlswarm.runtime.http.message import Origin
    from yamlswarm.runtime.stats import Stats

Executor = Callable[[Any], bool]  # run(user) -> False when the step failed


@dataclass
class BuildEnv:
    """What step builders need from the run: stats, the base origin, hooks, tracing."""

    stats: Stats
    base: Origin | None
    hooks: HookRunner
    trace: Callable[..., None] | None = None  # set by --trace: called with each exchange
    log: Callable[[str], None] = print
    clock: Clock = field(default_factory=real_clock)
    _log_times: dict[str, float] = field(default_factory=dict)
