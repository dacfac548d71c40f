"""docs/observability.md works when followed literally: its shell blocks, run by bash as a user
would paste them (with free ports instead of 8080, 9090 and 8086, a shorter run, and a
temporary directory instead of /tmp/yamlswarm-prom), start the real servers, export, and the
queries of the page find the run's numbers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import REPO, cli_env
from tests.servers import free_port
from tests.test_export_backends import INFLUXD, PROMETHEUS, influxdb  # noqa: F401 (a fixture)

DOC = REPO / "docs" / "observability.md"


def _sh_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def _block(starting: str) -> str:
    return next(b for b in _sh_blocks() if b.lstrip().startswith(starting))


def _run_bash(script: str, tmp_path: Path, replace: dict[str, str]) -> subprocess.CompletedProcess:
    for old, new in replace.items():
        script = script.replace(old, new)
    env = cli_env()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # what the user started in the background is stopped when the script ends
    wrapped = "set -e\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script
    return subprocess.run(
        ["bash", "-c", wrapped],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _ports() -> dict[str, str]:
    return {"8080": str(free_port()), "9090": str(free_port()), "-t 30s": "-t 4s"}


def _need(*tools: str) -> None:
    for tool in tools:
        if not (shutil.which(tool) or Path(tool).exists()):
            pytest.skip(f"{tool} is not installed")


def test_the_prometheus_section_works_as_written(tmp_path):
    _need(PROMETHEUS, "curl")
    replace = {**_ports(), "/tmp/yamlswarm-prom": str(tmp_path / "prom")}
    script = "\n".join(
        [
            _block("python -m yamlswarm.demo.server"),
            _block("mkdir -p /tmp/yamlswarm-prom"),
            _block("curl -s 'http://127.0.0.1:9090/api/v1/query'"),
        ]
    )
    run = _run_bash(script, tmp_path, replace)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    decoder, text = json.JSONDecoder(), run.stdout
    answers = []  # curl prints no newline after its JSON: the two answers share a line
    for start in (m.start() for m in re.finditer(r'\{"status"', text)):
        answers.append(decoder.raw_decode(text, start)[0])
    assert len(answers) == 2, run.stdout
    by_row, total = (a["data"]["result"] for a in answers)
    assert {r["metric"]["name"] for r in by_row} >= {"/login", "/api/v1/products"}
    table = re.search(r"^Aggregated\s+(\d+)", run.stdout, flags=re.M)
    assert table, run.stdout
    assert float(total[0]["value"][1]) == int(table.group(1))  # the final table's requests


def test_the_influxdb_section_works_as_written(tmp_path, influxdb):  # noqa: F811
    _need("curl")
    replace = {**_ports(), "8086": influxdb.rsplit(":", 1)[1]}
    script = "\n".join(
        [
            _block("python -m yamlswarm.demo.server"),
            "sleep 2",
            _block("curl -s -XPOST 'http://127.0.0.1:8086/query'"),
        ]
    )
    run = _run_bash(script, tmp_path, replace)
    assert run.returncode == 0, run.stdout + run.stderr
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    series = answer["results"][0]["series"]
    requests = sum(s["values"][0][1] for s in series)
    table = re.search(r"^Aggregated\s+(\d+)", run.stdout, flags=re.M)
    assert table and requests == int(table.group(1)), run.stdout
