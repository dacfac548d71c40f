"""benchmarks/bench_master.py runs as its docs say (a real master, simulated workers, loopback)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.cli_helpers import REPO, cli_env


def test_bench_master_runs_to_the_end(tmp_path):
    out = tmp_path / "bench.json"
    args = ["--workers", "2", "--seconds", "1", "--json", str(out)]
    run = subprocess.run(
        [sys.executable, "benchmarks/bench_master.py", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=cli_env(),
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(out.read_text())
    assert result["workers"] == 2 and result["master_exit_code"] == 0
