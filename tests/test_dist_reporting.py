"""The master's report of a distributed run (ClusterReport), without sockets or workers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.cli_helpers import write_scenario
from yamlswarm.distributed.messages import ProtocolError
from yamlswarm.distributed.reporting import (
    ClusterReport,
    WorkerOutcome,
    cluster_summary,
    lost_summary,
)
from yamlswarm.run import load_plan
from yamlswarm.runtime.stats import Stats
from yamlswarm.settings import RunSettings

SCENARIO = """
version: 1
host: http://127.0.0.1:9
load: {iterations: 4, users: 2}
users:
  - flows:
      - steps:
          - get: /x
thresholds: THRESHOLDS
"""


def _report(
    tmp_path: Path, thresholds: str = "[]", settings: RunSettings | None = None
) -> tuple[ClusterReport, io.StringIO, io.StringIO]:
    path = write_scenario(tmp_path, SCENARIO.replace("THRESHOLDS", thresholds))
    settings = settings or RunSettings()
    out, err = io.StringIO(), io.StringIO()
    return ClusterReport(load_plan(path, settings), settings, out=out, err=err), out, err


OK = WorkerOutcome("w1", "host-1")
LOST = WorkerOutcome("w2", "host-2", "no heartbeat for 10s")


def test_lost_workers_are_summarised_for_the_table_and_the_result():
    assert lost_summary([OK]) == ""
    assert lost_summary([OK, LOST]) == "lost workers: w2 (no heartbeat for 10s)"
    assert cluster_summary([OK, LOST]) == {
        "workers": 2,
        "lost_workers": [{"worker": "w2", "name": "host-2", "reason": "no heartbeat for 10s"}],
    }


def test_a_bad_report_is_a_protocol_error_and_nothing_of_it_is_merged(tmp_path: Path):
    report, _, _ = _report(tmp_path)
    with pytest.raises(ProtocolError, match="a stats export of version 'nonsense'"):
        report.merge("w1", {"version": "nonsense"})
    worker = Stats()
    worker.row("/x", "GET").success(0.01)
    worker.iteration_done()
    data = worker.export()
    data["rows"].append({"name": "/y", "method": "GET", "failures": "many"})
    with pytest.raises(ProtocolError, match="failures is 'many', not a count"):
        report.merge("w1", data)
    assert report.stats.iterations == 0 and not report.stats.rows  # the good row was not merged
    report.merge("w1", Stats().export())


def test_a_failed_aborting_threshold_stops_the_workers_once(tmp_path: Path):
    report, _, _ = _report(tmp_path, '[{expr: "rps > 100", abort: true}]')
    stopped: list[str] = []
    report.tick(2, stopped.append)
    report.tick(2, stopped.append)
    assert stopped == ["threshold failed: rps > 100"]
    assert report.aborted == "rps > 100"


def test_finish_writes_the_cluster_and_every_worker_lost_is_exit_3(tmp_path: Path):
    target = tmp_path / "r.json"
    report, out, err = _report(tmp_path, settings=RunSettings(outputs={"json": target}))
    assert report.finish([WorkerOutcome("w1", "host-1", "failed")], hook_ctx=None) == 3
    assert out.getvalue().rstrip().endswith("lost workers: w1 (failed)")
    assert "error: every worker was lost" in err.getvalue()
    assert json.loads(target.read_text())["cluster"]["lost_workers"][0]["reason"] == "failed"


def test_finish_keeps_the_run_exit_code_while_a_worker_is_left(tmp_path: Path):
    report, out, _ = _report(tmp_path, '["rps > 100"]')
    assert report.finish([OK, LOST], hook_ctx=None) == 1  # the threshold failed
    assert "lost workers: w2" in out.getvalue()
    report, _, err = _report(tmp_path)
    assert report.finish([OK], hook_ctx=None) == 0
    assert "lost" not in err.getvalue()
