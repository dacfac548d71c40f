"""Durations and rates in a scenario: NaN, infinity and meaningless zeros are located errors."""

from __future__ import annotations

import pytest

from tests.cli_helpers import write_scenario, yamlswarm
from tests.test_compiler import compile_text, problems

USER = "users:\n  - flows:\n      - steps:\n          - get: /x\n"


@pytest.mark.parametrize(
    "load,path,message",
    [
        ("{users: 1, duration: .nan}", "load.duration", "nan is not a finite number"),
        ("{users: 1, duration: .inf}", "load.duration", "inf is not a finite number"),
        ("{users: 1, duration: 0}", "load.duration", "must be above 0"),
        ("{users: 1, spawn_rate: 0}", "load.spawn_rate", "a spawn rate of 0"),
        ("{users: 1, spawn_rate: .nan}", "load.spawn_rate", "not a finite number"),
        ("{stages: [{duration: .nan, users: 1}]}", "load.stages[0].duration", "finite"),
        ("{stages: [{duration: 1s, users: 1, spawn_rate: 0}]}", "load.stages[0].spawn_rate", "0"),
        ("{arrival: [{duration: 1m, rate: .inf}]}", "load.arrival[0].rate", "finite"),
        ("{arrival: [{duration: 1m, rate: 0}]}", "load.arrival", "start no iterations"),
    ],
)
def test_load_numbers(tmp_path, load, path, message):
    found = problems(tmp_path, f"load: {load}\n" + USER)
    assert [(where, msg) for where, msg in found if message in msg] == [
        (where, msg) for where, msg in found
    ]
    assert [where for where, _ in found] == [path]


def test_an_arrival_pause_between_phases_is_fine(tmp_path):
    plan = compile_text(
        tmp_path,
        "load: {arrival: [{duration: 5s, rate: 2/s}, {duration: 5s, rate: 0}, "
        "{duration: 5s, rate: 0, ramp_to: 4/s}]}\n" + USER,
    )
    assert [phase.rate for phase in plan.load.phases] == [2.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "head,step,path",
    [
        ("defaults: {timeout: 0}\n", "", "defaults.timeout"),
        ("defaults: {timeout: .nan}\n", "", "defaults.timeout"),
        ("", "            timeout: 0s\n", "users[0].flows[0].steps[0].timeout"),
        (
            "",
            "            check: {max_latency: 0}\n",
            "users[0].flows[0].steps[0].check.max_latency",
        ),
    ],
)
def test_timeouts_must_be_finite_and_above_zero(tmp_path, head, step, path):
    assert [where for where, _ in problems(tmp_path, head + USER + step)] == [path]


def test_waits(tmp_path):
    body = (
        "users:\n  - wait: {throughput: 0/s}\n    flows:\n      - steps:\n"
        "          - think: .nan\n          - think: 0\n"
    )
    assert sorted(problems(tmp_path, body)) == [
        (
            "users[0].flows[0].steps[0].think",
            "nan is not a finite number; expected a duration "
            "such as 500ms, 30s, 5m, 1h, 1m30s or a number of seconds",
        ),
        (
            "users[0].wait.throughput",
            "must be above 0: a throughput of 0 iterations/s would never start an iteration",
        ),
    ]


@pytest.mark.parametrize(
    "option,value",
    [
        ("-t", "nan"),
        ("-t", "inf"),
        ("-t", "0"),
        ("-r", "nan"),
        ("-r", "0x"),
        ("-r", "0"),
        ("-r", "0/s"),
    ],
)
def test_cli_refuses_non_finite_values(tmp_path, option, value):
    scenario = write_scenario(tmp_path, "version: 1\nload: {users: 1}\n" + USER)
    done = yamlswarm("run", scenario, option, value, "-H", "http://127.0.0.1:9", timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"'{value}' is not" in done.stderr
