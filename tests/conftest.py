"""Shared fixtures: the bundled demo API as a real server process on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.cli_helpers import REPO, cli_env


class DemoAPI:
    def __init__(self, process: subprocess.Popen, url: str) -> None:
        self.process = process
        self.url = url

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/_stats", timeout=5) as response:
            return json.load(response)

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/_reset", method="POST", data=b"")
        urllib.request.urlopen(request, timeout=5).close()


@pytest.fixture(scope="session")
def demo_api():
    """The demo API (no added latency) in its own process, for the whole test session."""
    process = subprocess.Popen(
        [sys.executable, "-m", "yamlswarm.demo.server", "--port", "0", "--latency", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=REPO,
    )
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise RuntimeError(f"demo API did not start: {line!r} {process.stderr.read()}")
    url = line.strip().rsplit(" ", 1)[-1]
    deadline = time.monotonic() + 10
    api = DemoAPI(process, url)
    while True:
        try:
            api.stats()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield api
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
