"""The CLI's other commands as a user runs them: --trace, report (re-render, compare), demo, overrides."""

from __future__ import annotations

import json

from tests.cli_helpers import write_scenario, yamlswarm
from tests.servers import CountingServer

JOURNEY = """
version: 1
load: {users: 3, spawn_rate: 10, duration: 1m}
users:
  - flows:
      - steps:
          - get: "/set-cookie?name=session&value=s3cr3t-cookie"
            name: cookie
            extract:
              session: {cookie: session}
          - post: /echo
            headers: {Authorization: "Bearer tok-123456"}
            json: {session: "{{ session }}"}
            check: {status: 200}
          - get: "/echo?missing={{ later }}"
            name: broken
          - get: /echo
            name: never extracts
            extract:
              later: {jmespath: no.such.key}
"""


def test_trace_prints_each_exchange_masked_with_one_user(tmp_path):
    scenario = write_scenario(tmp_path, JOURNEY)
    with CountingServer() as server:
        run = yamlswarm("run", scenario, "--host", server.url, "--trace", "2")
        requests = server.total
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert requests == 6  # one user, two iterations of three requests; the broken one is never sent
    assert sum(line.startswith("POST ") for line in out.splitlines()) == 2
    assert "> Authorization: Bearer ****" in out  # sent headers are shown, credentials masked
    assert "> Authorization: Bearer tok-123456" not in out
    assert "> User-Agent: yamlswarm/" in out and "< Content-Length: " in out
    assert "session = 's3cr3t-cookie'" in out  # extracted values are shown...
    assert "Set-Cookie: session=s3cr3t-cookie" not in out  # ...but cookie headers are masked
    assert "'later' is undefined" in out  # the failing template is traced too
    assert "thresholds are not evaluated" not in out  # the scenario has none


def test_report_rerenders_and_compares(tmp_path):
    scenario = write_scenario(
        tmp_path,
        """
        version: 1
        load: {iterations: 20, users: 2}
        users:
          - flows:
              - steps:
                  - get: /echo
    """,
    )
    base, new = tmp_path / "base.json", tmp_path / "new.json"
    with CountingServer() as server:
        assert (
            yamlswarm("run", scenario, "--host", server.url, "--json", base, "-q").returncode == 0
        )
    rerender = yamlswarm("report", base, "--html", tmp_path / "r.html")
    assert rerender.returncode == 0, rerender.stderr
    assert "Aggregated" in rerender.stdout and (tmp_path / "r.html").stat().st_size > 1000
    # a slower copy of the same run: p95 doubled
    data = json.loads(base.read_text())
    for row in [data["totals"], *data["requests"]]:
        row["latency_ms"] = {k: v * 3 for k, v in row["latency_ms"].items()}
    new.write_text(json.dumps(data))
    same = yamlswarm("report", base, "--compare", base, "--fail-on-regression", "5")
    assert same.returncode == 0, same.stderr
    worse = yamlswarm("report", new, "--compare", base, "--fail-on-regression", "5")
    assert worse.returncode == 1
    assert "/echo" in worse.stdout and "+200" in worse.stdout
    broken = yamlswarm("report", tmp_path / "missing.json")
    assert broken.returncode == 2 and "Traceback" not in broken.stderr


def test_users_override_on_an_open_model_is_a_clear_usage_error(tmp_path):
    scenario = write_scenario(
        tmp_path,
        """
        version: 1
        load:
          arrival: [{duration: 10s, rate: 5/s}]
          max_users: 10
        users:
          - flows:
              - steps:
                  - get: /echo
    """,
    )
    run = yamlswarm("run", scenario, "--host", "http://127.0.0.1:9", "-u", "5")
    assert run.returncode == 2
    assert "--users applies to a closed or iterations model" in run.stderr


def test_overrides_show_in_the_result_model(tmp_path):
    scenario = write_scenario(
        tmp_path,
        """
        version: 1
        load: {users: 10, spawn_rate: 1, duration: 1h}
        users:
          - wait: {constant: 100ms}
            flows:
              - steps:
                  - get: /echo
    """,
    )
    out = tmp_path / "r.json"
    with CountingServer() as server:
        run = yamlswarm(
            "run",
            scenario,
            "--host",
            server.url,
            "-u",
            "2",
            "-r",
            "20",
            "-t",
            "1s",
            "--json",
            out,
            "-q",
        )
    assert run.returncode == 0, run.stderr
    result = json.loads(out.read_text())
    model = result["model"]
    assert model["kind"] == "closed" and model["users"] == 2 and model["duration_s"] == 1
    assert result["duration_s"] < 5  # not the scenario's hour
    assert max(row["users"] for row in result["timeline"]) == 2


def test_demo_runs_and_writes_html(tmp_path):
    html = tmp_path / "demo.html"
    run = yamlswarm("demo", "-t", "3s", "-q", "--html", html, "--json", tmp_path / "demo.json")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "demo API listening on http://127.0.0.1:" in run.stdout
    assert "Aggregated" in run.stdout
    result = json.loads((tmp_path / "demo.json").read_text())
    assert result["totals"]["requests"] > 20 and result["totals"]["failures"] == 0
    assert "<svg" in html.read_text()


def test_version_and_help():
    version = yamlswarm("--version")
    assert version.returncode == 0 and "yamlswarm, version" in version.stdout
    for command in ("run", "validate", "schema", "demo", "report"):
        helped = yamlswarm(command, "--help")
        assert helped.returncode == 0 and "Usage:" in helped.stdout
