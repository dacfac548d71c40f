"""Benchmark targets on loopback: nginx serving a small static JSON, or the demo API as a fallback."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
STATIC_JSON = {"id": 1, "name": "Classic Mug", "price": 12.99, "tags": ["kitchen", "gift"]}

_NGINX_CONF = """\
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_timeout 65;
    keepalive_requests 10000000;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen {host}:{port} backlog=4096;
        root {tmp}/www;
        location = /data.json {{ default_type application/json; }}
    }}
}}
"""


@dataclass
class Target:
    """A running target: its base URL, the path to GET, and the process to stop."""

    kind: str
    url: str
    path: str
    process: subprocess.Popen[bytes]
    workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.workdir is not None:
            self.workdir.cleanup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def find_nginx(install: bool) -> str | None:
    """The nginx binary; with `install`, try `apt-get install -y nginx` (as root) when missing."""
    found = shutil.which("nginx") or _existing("/usr/sbin/nginx")
    if found or not install or not shutil.which("apt-get"):
        return found
    print("nginx not found: trying `apt-get install -y nginx` ...", file=sys.stderr)
    result = subprocess.run(["apt-get", "install", "-y", "-q", "nginx"], check=False, capture_output=True,
                            env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    if result.returncode != 0:
        print("apt-get install nginx failed; falling back to the demo API", file=sys.stderr)
        return None
    return shutil.which("nginx") or _existing("/usr/sbin/nginx")


def _existing(path: str) -> str | None:
    return path if Path(path).exists() else None


def start_nginx(nginx: str, pin: list[str]) -> Target:
    workdir = tempfile.TemporaryDirectory(prefix="yamlswarm-bench-nginx-")
    tmp = Path(workdir.name)
    tmp.chmod(0o755)  # nginx workers drop root privileges and must read www/
    (tmp / "www").mkdir()
    (tmp / "www" / "data.json").write_text(json.dumps(STATIC_JSON))
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(tmp=tmp, host=HOST, port=port))
    command = [*pin, nginx, "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(conf),
               "-g", "daemon off;"]
    process = _spawn(command, tmp)
    target = Target("nginx", f"http://{HOST}:{port}", "/data.json", process, workdir)
    _wait_ready(target)
    return target


def start_demo(pin: list[str]) -> Target:
    workdir = tempfile.TemporaryDirectory(prefix="yamlswarm-bench-demo-")
    port = free_port()
    command = [*pin, sys.executable, "-m", "yamlswarm.demo.server", "--port", str(port),
               "--latency", "0"]
    process = _spawn(command, Path(workdir.name))
    target = Target("demo API", f"http://{HOST}:{port}", "/health", process, workdir)
    _wait_ready(target)
    return target


def _spawn(command: list[str], tmp: Path) -> subprocess.Popen[bytes]:
    with open(tmp / "stderr.log", "wb") as stderr:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)


def _wait_ready(target: Target, timeout: float = 15.0) -> None:
    """Poll the target until it answers 200 (bounded in time); raise if it died or never did."""
    port = int(target.url.rsplit(":", 1)[1])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if target.process.poll() is not None:
            err = _stderr_text(target)
            raise RuntimeError(f"{target.kind} exited with {target.process.returncode}: {err.strip()}")
        if _answers(port, target.path):
            return
        time.sleep(0.1)
    target.stop()
    raise RuntimeError(f"{target.kind} did not answer on {target.url} within {timeout:.0f}s")


def _stderr_text(target: Target) -> str:
    if target.workdir is None:
        return ""
    log = Path(target.workdir.name) / "stderr.log"
    return log.read_text(errors="replace")[-2000:] if log.exists() else ""


def _answers(port: int, path: str) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
