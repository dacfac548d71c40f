"""Tests of yamlswarm.result: the JSON keys of SPEC section 6 and the round trip."""

from __future__ import annotations

import json

import pytest

from yamlswarm.errors import UsageError
from yamlswarm.plan import ArrivalLoad, ClosedLoad, IterationsLoad, Phase, Stage, StagesLoad
from yamlswarm.result import RunResult, ThresholdResult, describe_model
from yamlswarm.runtime.stats import Stats

SPEC_KEYS = {
    "yamlswarm_version",
    "scenario",
    "started_at",
    "duration_s",
    "model",
    "iterations",
    "dropped",
    "totals",
    "requests",
    "errors",
    "thresholds",
    "timeline",
}
LATENCY_KEYS = ["min", "mean", "p50", "p90", "p95", "p99", "p99_9", "max"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _result(open_model: bool = False) -> RunResult:
    clock = FakeClock()
    stats = Stats(clock=clock)
    row = stats.row("/api/items", "GET")
    service = 0.004 if open_model else None
    for ms in (5, 7, 9):
        row.success(ms / 1000, service_s=service)
    row.failure(0.2, "HTTP 500", service_s=service, example="boom")
    stats.register_check("/api/items", "GET", "status 200")
    stats.iteration_done()
    clock.now += 1
    stats.tick(users=2)
    return stats.snapshot(
        scenario="shop",
        model=describe_model(ClosedLoad(2, 1.0, 60.0)),
        thresholds=[
            ThresholdResult("p95 < 500ms", True, 200.0),
            ThresholdResult("error_rate < 1%", False, 0.25),
        ],
        exit_code=1,
    )


def test_json_keys_are_the_spec_keys():
    data = json.loads(json.dumps(_result().to_dict()))
    assert set(data) >= SPEC_KEYS
    # metrics: SPEC section 9 (custom metrics, {} when the scenario declares none)
    extra = {"checks", "interrupted", "aborted", "exit_code", "metrics", "iterations_interrupted"}
    assert set(data) - SPEC_KEYS == extra
    assert set(data["totals"]) <= {
        "requests",
        "failures",
        "rps",
        "latency_ms",
        "failures_latency_ms",
        "size_bytes",
    }
    assert data["totals"]["size_bytes"] == {"total": 0, "mean": 0.0}
    assert list(data["totals"]["latency_ms"]) == LATENCY_KEYS
    (row,) = data["requests"]
    assert set(row) <= {
        "name",
        "method",
        "requests",
        "failures",
        "rps",
        "latency_ms",
        "failures_latency_ms",
        "size_bytes",
    }
    (error,) = data["errors"]
    assert {"name", "method", "error", "count"} <= set(error)
    assert set(data["thresholds"][1]) == {"expr", "passed", "value"}
    assert set(data["timeline"][0]) == {"t", "users", "rps", "failures_per_s", "p50", "p95", "p99"}
    assert data["checks"] == [
        {"name": "/api/items", "method": "GET", "check": "status 200", "failures": 0}
    ]
    assert data["started_at"] == "2023-11-14T22:13:20.000Z"
    assert (data["model"]["kind"], data["exit_code"], data["interrupted"]) == ("closed", 1, False)


def test_service_time_appears_only_in_the_open_model():
    assert "service_ms" not in _result().to_dict()["totals"]
    data = _result(open_model=True).to_dict()
    assert data["totals"]["service_ms"]["p50"] == 4.0
    assert data["requests"][0]["service_ms"]["max"] == 4.0


@pytest.mark.parametrize("open_model", [False, True])
def test_round_trip_through_json(open_model):
    result = _result(open_model)
    again = RunResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
    assert not again.passed


@pytest.mark.parametrize(
    "data,message",
    [
        ([], "expected a JSON object"),
        ({"scenario": "x"}, "missing key"),
        ({**_result().to_dict(), "totals": "nope"}, "not a valid"),
    ],
)
def test_from_dict_rejects_what_is_not_a_result(data, message):
    with pytest.raises(UsageError, match=message):
        RunResult.from_dict(data, source="old.json")


def test_describe_model_for_every_load():
    assert describe_model(ClosedLoad(10, 2.0, None), iterations_cap=50) == {
        "kind": "closed",
        "users": 10,
        "spawn_rate": 2.0,
        "duration_s": None,
        "iterations_cap": 50,
    }
    assert describe_model(StagesLoad((Stage(30.0, 5), Stage(10.0, 0, 1.0)))) == {
        "kind": "stages",
        "stages": [
            {"duration_s": 30.0, "users": 5, "spawn_rate": None},
            {"duration_s": 10.0, "users": 0, "spawn_rate": 1.0},
        ],
    }
    assert describe_model(ArrivalLoad((Phase(60.0, 10.0, 50.0),), 200)) == {
        "kind": "open",
        "phases": [{"duration_s": 60.0, "rate": 10.0, "ramp_to": 50.0}],
        "max_users": 200,
    }
    assert describe_model(IterationsLoad(100, 4)) == {
        "kind": "iterations",
        "iterations": 100,
        "users": 4,
    }
