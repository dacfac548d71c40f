"""Per-second observers: what watches a run while it goes on (live exports, a web UI).

Once a second, after the statistics close their second, the runner (or, in a
distributed run, the master's merged report) hands every observer a `Tick`; at the
end it closes them with the final result. An observer must return quickly: network
or disk work goes to its own thread or greenlet behind a bounded queue, so a slow
backend never slows the load. An observer that raises is reported once on stderr
and dropped; the run goes on.

Observers are built from the run's settings by the factories in
`yamlswarm.observing.OBSERVERS` (one entry per kind of observer).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from yamlswarm.result import TimelineRow
    from yamlswarm.runtime.stats import Stats


@dataclass(frozen=True, slots=True)
class Tick:
    """One closed second of a run: the live statistics, the users and that second's row."""

    stats: Stats
    users: int
    elapsed: float  # seconds since the run started
    second: TimelineRow


class Observer(Protocol):
    """Told once a second while a run goes on, and closed once at its end."""

    def second(self, tick: Tick) -> None:
        """A second has closed; return quickly."""

    def close(self, result: Any | None) -> None:
        """The run has ended (`result` is its RunResult, None when there is none)."""


class Observers:
    """The observers of one run; each one's failure is contained and reported once."""

    def __init__(self, observers: Iterable[Observer], err: TextIO) -> None:
        self._live = list(observers)
        self._err = err

    def __bool__(self) -> bool:
        return bool(self._live)

    def second(self, tick: Tick) -> None:
        for observer in tuple(self._live):
            try:
                observer.second(tick)
            except Exception as exc:  # an observer's bug never stops the load
                self._drop(observer, exc)

    def close(self, result: Any | None) -> None:
        for observer in tuple(self._live):
            try:
                observer.close(result)
            except Exception as exc:
                self._drop(observer, exc)
        self._live.clear()

    def _drop(self, observer: Observer, exc: Exception) -> None:
        self._live.remove(observer)
        name = type(observer).__name__
        print(f"yamlswarm: {name} failed and was stopped: {exc!r:.300}", file=self._err)
