"""Which observers a run gets, built from its settings (see `runtime.observers`).

Each entry of `OBSERVERS` looks at the settings and returns an observer, or None
when the run did not ask for it. Adding a kind of observer (an exporter, the web
UI) is one factory function and one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from yamlswarm.export.observer import exports_observer
from yamlswarm.runtime.observers import Observer, Observers

if TYPE_CHECKING:
    from yamlswarm import plan as p
    from yamlswarm.settings import RunSettings


@dataclass(frozen=True, slots=True)
class ObserveEnv:
    """What a factory may look at: the plan, the settings, the streams and the role."""

    plan: p.Plan
    settings: RunSettings
    out: TextIO
    err: TextIO
    role: str  # "local" (one process) or "master" (merged numbers of a distributed run)
    steering: Any = None  # runtime.steering.Steering of a steered run (--web), else None


ObserverFactory = Callable[[ObserveEnv], Observer | None]


def _web(env: ObserveEnv) -> Observer | None:
    if not env.settings.web:
        return None
    from yamlswarm.web.server import web_observer

    return web_observer(env)


OBSERVERS: list[ObserverFactory] = [
    exports_observer,  # --out KIND=TARGET and the live history of --csv (yamlswarm.export)
    _web,  # --web: the live web UI (yamlswarm.web)
]


def build_observers(env: ObserveEnv) -> Observers:
    """The observers this run asked for, in the order of `OBSERVERS`."""
    built = (factory(env) for factory in OBSERVERS)
    return Observers((o for o in built if o is not None), env.err)
