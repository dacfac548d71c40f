"""docs/web-ui.md works as written: its curl examples, run one by one against a real run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.cli_helpers import REPO
from tests.web_helpers import Target, WebRun

DOC = REPO / "docs" / "web-ui.md"


def _curl_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    block = next(b for b in blocks if "/swarm" in b)
    return [line for line in block.splitlines() if line.startswith("curl ")]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_curl_examples_work_literally(tmp_path):
    lines = _curl_lines()
    assert len(lines) >= 8 and lines[-1].endswith("/stop")
    target = Target()
    run = WebRun(tmp_path, target.url, "--autoquit", "0")
    try:
        outputs = []
        for line in lines:  # the documented port, swapped for this test's free one
            command = line.replace("127.0.0.1:8089", f"127.0.0.1:{run.port}")
            done = subprocess.run(
                command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=30
            )
            assert done.returncode == 0, (line, done.stderr)
            assert '"success": false' not in done.stdout, (line, done.stdout)
            outputs.append(done.stdout)
            if "user_count=10" in line:
                _wait_for_requests(run)
        assert json.loads(outputs[0])["state"] == "ready"
        assert json.loads(outputs[1])["message"] == "Swarming started"
        assert json.loads(outputs[2])["user_count"] == 50
        assert json.loads(outputs[3])["totals"]["requests"] > 0
        assert json.loads((tmp_path / "result.json").read_text())["scenario"] == "webui"
        assert (tmp_path / "stats.csv").read_text().startswith("Type,Name,Request Count,")
        assert "<svg" in (tmp_path / "report.html").read_text()
        assert outputs[-2] == "ok"
        assert json.loads(outputs[-1]) == {"success": True, "message": "Test stopped"}
        assert run.finish()[0] == 0
    finally:
        run.kill()
        target.stop()


def _wait_for_requests(run: WebRun) -> None:
    from tests.web_helpers import wait_until

    wait_until(lambda: run.json("GET", "/stats/requests")["total_rps"] > 0)
