"""`--csv PREFIX` writes Locust's files with Locust's columns, read here as a script written
for Locust's CSV reads them (csv.DictReader, `row["Request Count"]`, int and float parsing),
after a real run against the demo API; the counts agree with what the server received."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.cli_helpers import write_scenario, yamlswarm
from tests.test_html import sample_result
from yamlswarm.report.files import STATS_CSV_HEADER, write_csv
from yamlswarm.result import STEP_METHODS, RowResult

LOCUST_STATS = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
    "50%",
    "66%",
    "75%",
    "80%",
    "90%",
    "95%",
    "98%",
    "99%",
    "99.9%",
    "99.99%",
    "100%",
]
LOCUST_HISTORY = [
    "Timestamp",
    "User Count",
    "Type",
    "Name",
    "Requests/s",
    "Failures/s",
    *LOCUST_STATS[11:],
    "Total Request Count",
    "Total Failure Count",
    "Total Median Response Time",
    "Total Average Response Time",
    "Total Min Response Time",
    "Total Max Response Time",
    "Total Average Content Size",
]

SCENARIO = """
version: 1
name: csv-shop
load: {users: 4, spawn_rate: 20, duration: 3s}
users:
  - name: shopper
    flows:
      - name: browse
        steps:
          - get: /health
          - group:
              name: look
              steps:
                - get: /health?from=group
                  name: /health [group]
          - think: 20ms
"""


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or ()), list(reader)


def _run(tmp_path: Path, demo_api, *extra: str) -> tuple[Path, dict]:
    scenario = write_scenario(tmp_path, SCENARIO)
    prefix = tmp_path / "out" / "run"
    demo_api.reset()
    result_path = tmp_path / "result.json"
    run = yamlswarm(
        "run", scenario, "-H", demo_api.url, "-q", "--csv", prefix, "--json", result_path, *extra
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    return prefix, json.loads(result_path.read_text())


def test_a_locust_csv_script_reads_the_files(tmp_path, demo_api):
    prefix, result = _run(tmp_path, demo_api)
    server = demo_api.stats()

    columns, stats = _read(Path(f"{prefix}_stats.csv"))
    assert columns[: len(LOCUST_STATS)] == LOCUST_STATS
    assert columns == STATS_CSV_HEADER  # yamlswarm's own columns come after Locust's
    aggregated = next(r for r in stats if r["Name"] == "Aggregated")
    rows = [r for r in stats if r["Name"] != "Aggregated"]
    assert aggregated["Type"] == ""
    assert {r["Type"] for r in rows} == {"GET"}  # no FLOW or GROUP row among the requests
    total = int(aggregated["Request Count"])
    assert total == sum(int(r["Request Count"]) for r in rows) == result["totals"]["requests"]
    assert total == server["requests"]  # what the demo API counted
    assert {r["Name"] for r in rows} == {"/health", "/health [group]"}
    assert server["by_route"] == {"GET /health": total}
    for row in stats:
        assert float(row["Requests/s"]) > 0 and float(row["Average Response Time"]) > 0
        assert float(row["Min Response Time"]) <= float(row["Max Response Time"])
        percentiles = [int(row[c]) for c in LOCUST_STATS[11:]]
        assert percentiles == sorted(percentiles)
        assert int(row["Median Response Time"]) == int(row["50%"])
        assert int(row["Failure Count"]) == 0 and float(row["Failures/s"]) == 0.0
        assert int(row["100%"]) == round(float(row["Max Response Time"]))

    _, transactions = _read(Path(f"{prefix}_transactions.csv"))
    assert {(r["Type"], r["Name"]) for r in transactions} == {("FLOW", "browse"), ("GROUP", "look")}
    assert all(int(r["Request Count"]) > 0 for r in transactions)

    columns, history = _read(Path(f"{prefix}_stats_history.csv"))
    assert columns[: len(LOCUST_HISTORY)] == LOCUST_HISTORY
    assert history and {r["Name"] for r in history} == {"Aggregated"}  # no --csv-full-history
    stamps = [int(r["Timestamp"]) for r in history]
    assert stamps == sorted(stamps) and stamps[0] > 1_600_000_000  # epoch seconds
    counts = [int(r["Total Request Count"]) for r in history]
    assert counts == sorted(counts) and counts[-1] == total  # the last row is the final count
    assert max(int(r["User Count"]) for r in history) == 4

    columns, failures = _read(Path(f"{prefix}_failures.csv"))
    assert columns[:4] == ["Method", "Name", "Error", "Occurrences"] and failures == []
    columns, _ = _read(Path(f"{prefix}_exceptions.csv"))
    assert columns == ["Count", "Message", "Traceback", "Nodes"]


def test_full_history_has_a_row_per_request_row_each_second(tmp_path, demo_api):
    prefix, result = _run(tmp_path, demo_api, "--csv-full-history")
    _, history = _read(Path(f"{prefix}_stats_history.csv"))
    assert {r["Name"] for r in history} == {"Aggregated", "/health", "/health [group]"}
    final = {}
    for row in history:
        final[row["Name"]] = int(row["Total Request Count"])
    by_name = {r["name"]: r["requests"] for r in result["requests"] if r["method"] == "GET"}
    assert {k: v for k, v in final.items() if k != "Aggregated"} == by_name
    # seconds with requests carry that second's percentiles, in order
    busy = [r for r in history if float(r["Requests/s"]) > 0]
    assert busy and all(int(r["50%"]) <= int(r["99%"]) <= int(r["100%"]) for r in busy)


def test_failures_csv_counts_occurrences(tmp_path, demo_api):
    text = SCENARIO.replace("- think: 20ms", "- get: /nowhere\n          - think: 20ms")
    scenario = write_scenario(tmp_path, text)
    prefix = tmp_path / "f"
    demo_api.reset()
    run = yamlswarm("run", scenario, "-H", demo_api.url, "-q", "--csv", prefix, "-t", "2s")
    assert run.returncode == 0, run.stderr
    _, failures = _read(Path(f"{prefix}_failures.csv"))
    (row,) = failures
    assert (row["Method"], row["Name"]) == ("GET", "/nowhere")
    assert row["Error"] == "HTTP 404"
    assert int(row["Occurrences"]) == demo_api.stats()["by_status"]["404"]
    assert row["First Seen"] <= row["Last Seen"]


def test_csv_full_history_needs_csv(tmp_path):
    scenario = write_scenario(tmp_path, SCENARIO)
    run = yamlswarm("run", scenario, "-H", "http://127.0.0.1:9", "--csv-full-history")
    assert run.returncode == 2
    assert "--csv-full-history needs --csv PREFIX" in run.stderr
    assert "Traceback" not in run.stderr


def test_every_step_row_goes_to_transactions_not_stats(tmp_path):
    """The stats rows add up to Aggregated: no step row (FLOW ... METRIC) among them."""
    result = sample_result(20)
    result.requests += [RowResult(f"a {m.lower()} step", m, 3, 3) for m in sorted(STEP_METHODS)]
    write_csv(result, tmp_path / "run")
    _, stats = _read(tmp_path / "run_stats.csv")
    _, transactions = _read(tmp_path / "run_transactions.csv")
    assert not {r["Type"] for r in stats} & STEP_METHODS
    assert {r["Type"] for r in transactions} >= STEP_METHODS
    rows = [r for r in stats if r["Name"] != "Aggregated"]
    assert sum(int(r["Request Count"]) for r in rows) == result.totals.requests
