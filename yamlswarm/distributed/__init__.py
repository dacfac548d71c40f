"""Distributed mode: a master and workers over ZeroMQ (see docs/distributed.md).

Nothing is imported here, so importing the package neither pulls in gevent nor ZeroMQ;
the entry points are `master.run_master`, `worker.run_worker` and `local.run_local`.
"""

from __future__ import annotations

__all__: list[str] = []
