"""Helpers of the web UI tests: a demo-API target that counts open connections, and a
`yamlswarm run --web` subprocess driven over HTTP as curl would."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.cli_helpers import REPO, cli_env, write_scenario
from tests.servers import free_port

# The bundled demo API (yamlswarm.demo) behind gevent's WSGI server, plus `GET /_connections`:
# how many TCP connections are open now and the demo app's request count.
TARGET_SCRIPT = r"""
from gevent import monkey
monkey.patch_all()
import json, socket, sys
from gevent.pywsgi import WSGIServer
from yamlswarm.demo.app import make_app

demo = make_app(latency=float(sys.argv[1]))
open_sockets = set()

def app(environ, start_response):
    if environ["PATH_INFO"] == "/_connections":
        body = json.dumps({"open": len(open_sockets), "requests": demo.total}).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body))),
                                  ("Connection", "close")])
        return [body]
    return demo(environ, start_response)

class Counting(WSGIServer):
    def handle(self, sock, address):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as yamlswarm.demo.server
        open_sockets.add(sock)
        try:
            super().handle(sock, address)
        finally:
            open_sockets.discard(sock)

server = Counting(("127.0.0.1", 0), app, log=None)
server.start()
print(f"http://127.0.0.1:{server.server_port}", flush=True)
server.serve_forever()
"""

SCENARIO = """
version: 1
name: webui
load: {users: 2, spawn_rate: 50}
users:
  - name: visitor
    wait: {constant: 100ms}
    flows:
      - name: look
        steps:
          - get: /health
          - get: /health?again=1
            name: products
thresholds:
  - "p95 < 2s"
"""


class Target:
    """The demo API in a subprocess on 127.0.0.1 (`.url`, `.connections()`, `.requests()`)."""

    def __init__(self, latency: float = 0.005) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", TARGET_SCRIPT, str(latency)],
            stdout=subprocess.PIPE,
            text=True,
            env=cli_env(),
            cwd=REPO,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url

    def _numbers(self) -> dict[str, int]:
        with urllib.request.urlopen(self.url + "/_connections", timeout=5) as reply:
            return json.loads(reply.read())

    def connections(self) -> int:
        """Open connections now, not counting the one asking."""
        return self._numbers()["open"] - 1

    def requests(self) -> int:
        return self._numbers()["requests"]

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)


class WebRun:
    """`yamlswarm run SCENARIO --web 127.0.0.1:PORT ...` in a subprocess, and HTTP to its UI."""

    def __init__(self, tmp_path: Path, host: str, *args: str, scenario: str = SCENARIO) -> None:
        path = write_scenario(tmp_path, scenario)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.json_path = tmp_path / "run-result.json"
        command = [sys.executable, "-m", "yamlswarm", "run", str(path), "--host", host]
        command += ["--web", f"127.0.0.1:{self.port}", "-q", "--json", str(self.json_path), *args]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
            cwd=REPO,
        )
        self.stderr_head = self._wait_for_ui()

    def _wait_for_ui(self) -> str:
        assert self.process.stderr is not None
        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("web UI on "):
                return "".join(seen)
        self.process.kill()
        raise AssertionError("the web UI did not come up:\n" + "".join(seen))

    def request(
        self,
        method: str,
        path: str,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) of one request to the UI."""
        data = None
        if fields is not None:
            data = urllib.parse.urlencode(fields).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=10) as reply:
                return reply.status, dict(reply.headers), reply.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def json(self, method: str, path: str, fields: dict[str, Any] | None = None, **kw: Any) -> Any:
        status, _, body = self.request(method, path, fields, **kw)
        assert status == 200, (status, body)
        return json.loads(body)

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        """Wait for the process to end: (exit code, stdout, the rest of stderr)."""
        out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, out, err

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=10)


def wait_until(predicate: Any, timeout: float = 20.0, step: float = 0.1) -> Any:
    """Poll `predicate()` until it returns something truthy; that value (AssertionError on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout}s: {predicate}")
        time.sleep(step)
