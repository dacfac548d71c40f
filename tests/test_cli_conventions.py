"""Locust's CLI conventions: --exit-code-on-error, YAMLSWARM_* variables, config files."""

from __future__ import annotations

import pytest

from tests.cli_helpers import run_json, yamlswarm
from tests.servers import CountingServer

SOME_FAIL = """
version: 1
name: some-fail
load: {iterations: 4, users: 1}
thresholds:
  - p99 < 10s
users:
  - flows:
      - steps:
          - get: /echo
          - get: /status/500
"""

NONE_FAIL = SOME_FAIL.replace("/status/500", "/echo?again=1")


@pytest.mark.parametrize("extra", [(), ("--processes", "1")], ids=["local", "master"])
def test_exit_code_on_error_when_a_request_failed(tmp_path, extra):
    with CountingServer() as server:
        run, result = run_json(tmp_path, SOME_FAIL, server.url, "--exit-code-on-error", "7", *extra)
        assert server.count("/status/500") == 4
    assert run.returncode == 7, run.stderr
    assert result is not None
    assert result["exit_code"] == 7
    assert result["totals"]["failures"] == 4


def test_exit_code_on_error_default_is_unchanged(tmp_path):
    with CountingServer() as server:
        run, _ = run_json(tmp_path, SOME_FAIL, server.url)
    assert run.returncode == 0, run.stderr


def test_exit_code_on_error_without_failures_is_0(tmp_path):
    with CountingServer() as server:
        run, _ = run_json(tmp_path, NONE_FAIL, server.url, "--exit-code-on-error", "7")
    assert run.returncode == 0, run.stderr


def test_a_failed_threshold_still_exits_1(tmp_path):
    text = SOME_FAIL.replace("p99 < 10s", "error_rate < 1%")
    with CountingServer() as server:
        run, _ = run_json(tmp_path, text, server.url, "--exit-code-on-error", "7")
    assert run.returncode == 1, run.stderr


def test_exit_code_on_error_is_checked(tmp_path):
    run = yamlswarm("run", tmp_path / "x.yaml", "--exit-code-on-error", "300")
    assert run.returncode == 2
    assert "--exit-code-on-error" in run.stderr
    assert "--exit-code-on-error" in yamlswarm("master", "--help").stdout
