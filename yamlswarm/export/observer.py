"""The live exports of one run as one observer: sample each second once, hand it to every sink.

Built by `exports_observer(env)` (an entry of `yamlswarm.observing.OBSERVERS`)
from `--out KIND=TARGET` and `--csv PREFIX`. Once a second `second(tick)` takes
one `Sample` of the stats (O(rows), in the ticking greenlet) and queues it for
each sink's thread; nothing there waits on a network or a disk. `close(result)`
takes the final sample (the requests after the last full second, exact
counters), drains the queues for at most `CLOSE_TIMEOUT_S`, then posts the
webhook.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from yamlswarm.export.pipe import Pipe
from yamlswarm.export.sample import Sample, Sampler, sample_of_result
from yamlswarm.export.webhook import Webhook

__all__ = ["CLOSE_TIMEOUT_S", "Exports", "exports_observer", "new_run_id"]

CLOSE_TIMEOUT_S = 10.0


class _Env(Protocol):  # what `yamlswarm.observing.ObserveEnv` gives a factory
    @property
    def plan(self) -> Any: ...
    @property
    def settings(self) -> Any: ...
    @property
    def err(self) -> TextIO: ...


def new_run_id() -> str:
    """A run's id in every exported series: UTC start time and a random suffix."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


class _Sink:
    """A deliver function behind its pipe, closed (files) once its thread is done."""

    def __init__(self, label: str, deliver: Callable[[list[Sample]], None], err: TextIO) -> None:
        self.deliver = deliver
        self.pipe = Pipe(label, deliver, err)

    def close(self) -> None:
        close = getattr(self.deliver, "close", None)
        if close is not None:
            close()


class Exports:
    """Every live export of a run, fed from one sample a second."""

    def __init__(
        self,
        sinks: list[tuple[str, Callable[[list[Sample]], None]]],
        webhooks: list[Webhook],
        err: TextIO,
        *,
        medians: bool = False,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._sinks = [_Sink(label, deliver, err) for label, deliver in sinks]
        self._webhooks = webhooks
        self._sampler = Sampler(medians=medians)
        self._stats: Any = None
        self._wall = wall

    def second(self, tick: Any) -> None:
        self._stats = tick.stats
        if self._sinks:
            self._put(self._sampler.sample(tick.stats, tick.users, self._wall(), tick.elapsed))

    def close(self, result: Any | None) -> None:
        if self._sinks:
            final = self._final(result)
            if final is not None:
                self._put(final)
            deadline = time.monotonic() + CLOSE_TIMEOUT_S
            for sink in self._sinks:
                sink.pipe.finish()
            for sink in self._sinks:
                if sink.pipe.wait(deadline - time.monotonic()):
                    sink.close()
        if result is not None:
            for webhook in self._webhooks:
                webhook.send(result)

    def _final(self, result: Any | None) -> Sample | None:
        if self._stats is not None:
            stats = self._stats
            elapsed = result.duration_s if result is not None else stats.clock() - stats.started
            return self._sampler.sample(self._stats, 0, self._wall(), elapsed, final=True)
        if result is not None:  # the run ended before its first second closed
            return sample_of_result(result, self._wall())
        return None

    def _put(self, sample: Sample) -> None:
        for sink in self._sinks:
            sink.pipe.put(sample)


def exports_observer(env: _Env) -> Exports | None:
    """The exports a run asked for (`--out`, `--csv`), or None. Opens files and checks
    dependencies now, so a problem is a usage error (exit 2) before any load."""
    settings = env.settings
    csv_prefix = settings.outputs.get("csv")
    if not settings.exports and csv_prefix is None:
        return None
    scenario, run_id = env.plan.name, new_run_id()
    sinks: list[tuple[str, Callable[[list[Sample]], None]]] = []
    webhooks = []
    for kind, target in settings.exports:
        if kind == "webhook":
            webhooks.append(Webhook(target, run_id, settings.outputs, env.err))
        else:
            sinks.append((f"{kind} {_shown(target)}", _deliverer(kind, target, scenario, run_id)))
    if csv_prefix is not None:
        from yamlswarm.export.files import CsvHistory

        sinks.append(("csv history", CsvHistory(csv_prefix, settings.csv_full_history)))
    if settings.exports:
        kinds = ", ".join(kind for kind, _ in settings.exports)
        print(f"yamlswarm: exporting to {kinds} (run_id {run_id})", file=env.err, flush=True)
    return Exports(sinks, webhooks, env.err, medians=csv_prefix is not None)


def _shown(target: str) -> str:
    from yamlswarm.export.provenance import masked_host

    return masked_host(target) or target


def _deliverer(kind: str, target: str, scenario: str, run_id: str) -> Any:
    if kind == "prometheus":
        from yamlswarm.export.remote_write import RemoteWrite

        return RemoteWrite(target, scenario, run_id)
    if kind == "influxdb":
        from yamlswarm.export.influx import InfluxWrite

        return InfluxWrite(target, scenario, run_id)
    if kind == "jsonl":
        from yamlswarm.export.files import JsonLines

        return JsonLines(target, scenario, run_id)
    raise ValueError(f"unknown export kind {kind!r}")  # parse_out admits no other
