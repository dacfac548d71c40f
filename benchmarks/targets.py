"""Benchmark targets on loopback: nginx serving a small static JSON (or the demo API), and a latency probe."""

from __future__ import annotations

import json
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, median

HOST = "127.0.0.1"
STATIC_JSON = {"id": 1, "name": "Classic Mug", "price": 12.99, "tags": ["kitchen", "gift"]}
WANTED_FILES = 65536  # 10,000 users = 10,000 sockets in the tool and 10,000 in nginx
NGINX_CONNECTIONS = 20000

_NGINX_CONF = """\
{main_extra}
worker_processes 1;
worker_rlimit_nofile {files};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections {connections}; }}
http {{
    {access_log}
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
        {locations}
    }}
}}
"""


@dataclass
class Target:
    """A running target: its base URL, the path to GET, and the process to stop."""

    kind: str
    url: str
    path: str  # nginx: a small JSON document {"id": 1, "name": ...}; the demo API: /health (text)
    process: subprocess.Popen[bytes]
    workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def stop(self, keep: tuple[str, ...] = ()) -> dict[str, str]:
        """Stop the target; returns the text of the files named in `keep` (e.g. its access log)
        from its working directory, read after it stopped and before the directory goes."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        kept: dict[str, str] = {}
        if self.workdir is not None:
            for name in keep:
                path = Path(self.workdir.name) / name
                kept[name] = path.read_text() if path.exists() else ""
            self.workdir.cleanup()
        return kept


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def raise_file_limit(wanted: int = WANTED_FILES) -> int:
    """Raise this process's open-files limit (children inherit it); returns the soft limit now in force."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for new_hard in (max(hard, wanted), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, new_hard), new_hard))
            break
        except (ValueError, OSError):  # raising the hard limit needs root
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def find_nginx(install: bool) -> str | None:
    """The nginx binary; with `install`, try `apt-get install -y nginx` (as root) when missing."""
    return find_binary("nginx", "nginx", install)


def find_binary(binary: str, package: str, install: bool) -> str | None:
    """`binary` on PATH or in /usr/sbin; with `install`, `apt-get install -y PACKAGE` first when missing."""
    found = shutil.which(binary) or _existing(f"/usr/sbin/{binary}")
    if found or not install or not shutil.which("apt-get"):
        return found
    if not apt_install(package):
        return None
    return shutil.which(binary) or _existing(f"/usr/sbin/{binary}")


def find_file(path: str, package: str, install: bool) -> str | None:
    """A file a Debian package provides (e.g. an nginx module); installed first when missing."""
    if Path(path).exists() or (install and shutil.which("apt-get") and apt_install(package)):
        return _existing(path)
    return None


def apt_install(package: str) -> bool:
    print(f"trying `apt-get install -y {package}` ...", file=sys.stderr)
    result = subprocess.run(
        ["apt-get", "install", "-y", "-q", package],
        check=False,
        capture_output=True,
        env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    if result.returncode != 0:
        print(f"apt-get install {package} failed", file=sys.stderr)
        return False
    return True


def _existing(path: str) -> str | None:
    return path if Path(path).exists() else None


def start_nginx(
    nginx: str,
    pin: list[str],
    *,
    main_extra: str = "",
    access_log: str = "access_log off;",
    locations: str = "",
) -> Target:
    """nginx serving /data.json; the keywords add config (a module, an access log, locations)."""
    workdir = tempfile.TemporaryDirectory(prefix="yamlswarm-bench-nginx-")
    tmp = Path(workdir.name)
    tmp.chmod(0o755)  # nginx workers drop root privileges and must read www/
    (tmp / "www").mkdir()
    (tmp / "www" / "data.json").write_text(json.dumps(STATIC_JSON))
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(
        _NGINX_CONF.format(
            tmp=tmp,
            host=HOST,
            port=port,
            files=WANTED_FILES,
            connections=NGINX_CONNECTIONS,
            main_extra=main_extra,
            access_log=access_log.format(tmp=tmp),
            locations=locations,
        )
    )
    command = [
        *pin,
        nginx,
        "-p",
        str(tmp),
        "-e",
        str(tmp / "error.log"),
        "-c",
        str(conf),
        "-g",
        "daemon off;",
    ]
    process = _spawn(command, tmp)
    target = Target("nginx", f"http://{HOST}:{port}", "/data.json", process, workdir)
    _wait_ready(target)
    return target


def start_demo(pin: list[str]) -> Target:
    workdir = tempfile.TemporaryDirectory(prefix="yamlswarm-bench-demo-")
    port = free_port()
    command = [
        *pin,
        sys.executable,
        "-m",
        "yamlswarm.demo.server",
        "--port",
        str(port),
        "--latency",
        "0",
    ]
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
            raise RuntimeError(
                f"{target.kind} exited with {target.process.returncode}: {err.strip()}"
            )
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
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
            )
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


# ------------------------------------------------------------------ the target's true latency


def probe_latency(target: Target, count: int = 2000, seconds: float = 10.0) -> dict[str, float]:
    """Latency of sequential GETs on one keep-alive connection (a raw socket, no load): the floor a tool can report."""
    port = int(target.url.rsplit(":", 1)[1])
    request = f"GET {target.path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    samples: list[float] = []
    deadline = time.monotonic() + seconds
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _exchange(sock, request)  # warm-up
        while len(samples) < count and time.monotonic() < deadline:
            start = time.perf_counter()
            _exchange(sock, request)
            samples.append((time.perf_counter() - start) * 1000.0)
    samples.sort()
    return {
        "requests": len(samples),
        "p50_ms": round(median(samples), 3),
        "mean_ms": round(mean(samples), 3),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 3),
        "min_ms": round(samples[0], 3),
    }


def _exchange(sock: socket.socket, request: bytes) -> None:
    """One request; read exactly one response (headers, then Content-Length bytes of body)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += _recv(sock)


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("the target closed the connection")
    return chunk


def wrk_latency(target: Target, wrk: str, seconds: int = 5) -> dict[str, float] | None:
    """`wrk -t1 -c1 --latency`: p50 and mean of one connection, the reference "true latency"."""
    command = [wrk, "-t1", "-c1", f"-d{seconds}s", "--latency", target.url + target.path]
    try:
        output = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=seconds + 30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found: dict[str, float] = {}
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in ("50%", "99%"):
            found[f"p{words[0][:-1]}_ms"] = _wrk_ms(words[1])
        elif len(words) >= 2 and words[0] == "Latency" and words[1][:1].isdigit():
            found["mean_ms"] = _wrk_ms(words[1])
        elif len(words) >= 2 and words[0] == "Requests/sec:":
            found["rps"] = float(words[1])
    return found or None


def _wrk_ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return round(float(text[: -len(unit)]) * factor, 4)
    return float(text)
