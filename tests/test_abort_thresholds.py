"""Aborting thresholds (`abort: true, after:`) on a fake clock: when a run stops early, and why."""

from __future__ import annotations

import pytest

from tests.fakes import FakeRun, plan_from_yaml, respond


def _run(tmp_path, thresholds, latency_s=0.2, status=200):
    plan = plan_from_yaml(
        tmp_path,
        f"""
        load: {{users: 2, spawn_rate: 10, duration: 60s}}
        users:
          - name: u
            wait: {{constant: 0.5s}}
            flows: [{{name: f, steps: [{{get: /x, check: {{status: 200}}}}]}}]
        thresholds: {thresholds}
        """,
    )
    run = FakeRun(plan)

    def handler(request):
        run.clock.sleep(latency_s)
        return respond(request, status)

    run._handler = handler
    return run.run()


def _stopped_after(runner) -> float:
    return runner.stopped_at - runner.started_at


def test_a_failing_aborting_threshold_stops_the_run_once_its_after_has_passed(tmp_path):
    runner = _run(tmp_path, '[{expr: "p95 < 100ms", abort: true, after: 5s}]')
    assert runner.aborted == "p95 < 100ms"
    assert runner.stop_reason == "threshold failed: p95 < 100ms"
    assert _stopped_after(runner) == pytest.approx(5.0)  # the first tick at or after `after`
    assert runner.elapsed < 6  # the requests in flight then finished


def test_without_after_the_first_tick_aborts(tmp_path):
    runner = _run(tmp_path, '[{expr: "error_rate < 1%", abort: true}]', status=500)
    assert runner.aborted == "error_rate < 1%"
    assert _stopped_after(runner) == pytest.approx(1.0)


def test_a_passing_aborting_threshold_lets_the_run_finish(tmp_path):
    runner = _run(tmp_path, '[{expr: "p95 < 300ms", abort: true, after: 1s}]')
    assert runner.aborted is None
    assert runner.stop_reason == "duration reached"
    assert _stopped_after(runner) == pytest.approx(60.0)


def test_a_failing_threshold_without_abort_does_not_stop_the_run(tmp_path):
    runner = _run(tmp_path, '["p95 < 100ms"]')
    assert runner.aborted is None
    assert _stopped_after(runner) == pytest.approx(60.0)
