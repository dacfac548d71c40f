"""`GET /metrics` of the web UI: the live numbers in Prometheus' exposition format.

The same series as `--out prometheus=URL` (yamlswarm.export.series), for a Prometheus
that scrapes instead of receiving remote writes. Each scrape's latency gauges cover
the time since the previous scrape (one `Sampler` per UI).
"""

from __future__ import annotations

from yamlswarm.errors import UsageError
from yamlswarm.web.app import EXTRA_ROUTES, HTTPError, Reply, Request

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics(request: Request) -> Reply:
    from yamlswarm.export.exposition import exposition
    from yamlswarm.export.observer import new_run_id
    from yamlswarm.export.sample import Sampler

    app, board = request.app, request.app.board
    state = app.scrape or (app.scrape.setdefault("sampler", Sampler()) and app.scrape)
    state.setdefault("run", new_run_id())
    stats = board.stats
    if stats is None:  # before the first second: nothing measured yet
        return Reply(200, b"", content_type=CONTENT_TYPE)
    try:
        text = exposition(
            stats, board.steering.active_users(), board.plan.name, state["run"], state["sampler"]
        )
    except UsageError as exc:  # prometheus-client is not installed
        raise HTTPError(501, str(exc)) from None
    return Reply(200, text, content_type=CONTENT_TYPE)


def mount() -> None:
    """Serve `GET /metrics` (unless something else already mounted that path)."""
    EXTRA_ROUTES.setdefault("/metrics", metrics)
