"""Running the tools under test: measured subprocesses (wall, CPU, peak memory), Locust's own venv, yamlswarm."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LOCUST_VENV = HERE / ".venv-locust"
LOCUST_PACKAGES = (
    "locust",
    "jmespath",
)  # jmespath: the Locust side of case (b) checks like yamlswarm does


@dataclass
class Measured:
    """One finished process: exit code, wall and CPU seconds, peak resident memory."""

    returncode: int
    wall_s: float
    cpu_s: float
    max_rss_mb: float


def run_measured(command: list[str], env: dict[str, str], timeout: float, log: Path) -> Measured:
    """Run `command` (output to `log`), killed after `timeout` s; CPU and max RSS come from wait4."""
    shown = command if len(command) < 20 else [*command[:19], f"... ({len(command) - 19} more)"]
    print(f"$ {' '.join(shown)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    with log.open("wb") as handle:
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        process.returncode,
        time.perf_counter() - start,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024.0,
    )


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


# ------------------------------------------------------------------ Locust


def locust_binary() -> Path:
    """Locust in its own virtualenv (benchmarks/.venv-locust), created on first use."""
    locust = LOCUST_VENV / "bin" / "locust"
    python = LOCUST_VENV / "bin" / "python"
    if not locust.exists():
        print(
            f"creating {LOCUST_VENV} and installing {', '.join(LOCUST_PACKAGES)} ...",
            file=sys.stderr,
        )
        subprocess.run([sys.executable, "-m", "venv", str(LOCUST_VENV)], check=True)
    missing = [
        p
        for p in LOCUST_PACKAGES
        if subprocess.run(
            [str(python), "-c", f"import {p}"], capture_output=True, check=False
        ).returncode
    ]
    if missing:
        subprocess.run([str(LOCUST_VENV / "bin" / "pip"), "install", "-q", *missing], check=True)
    return locust


def locust_version() -> str:
    out = subprocess.run(
        [str(locust_binary()), "--version"], capture_output=True, text=True, check=False
    )
    words = out.stdout.split()
    return words[1] if len(words) > 1 else "?"


def run_locust(
    locustfile: str,
    url: str,
    path: str,
    users: int,
    seconds: int,
    pin: list[str],
    tmp: Path,
    label: str,
    spawn_rate: float | None = None,
) -> dict[str, Any]:
    """Locust headless; figures from its CSV (aggregated row, and the per-second history)."""
    prefix = tmp / f"locust_{label}"
    for suffix in ("_stats.csv", "_stats_history.csv"):
        Path(f"{prefix}{suffix}").unlink(missing_ok=True)
    command = [
        *pin,
        str(locust_binary()),
        "-f",
        str(HERE / locustfile),
        "--headless",
        "-u",
        str(users),
        "-r",
        f"{spawn_rate or users:g}",
        "-t",
        f"{seconds}s",
        "--host",
        url,
        "--csv",
        str(prefix),
        "--csv-full-history",
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    log = tmp / f"locust_{label}.log"
    run = run_measured(command, {**os.environ, "BENCH_PATH": path}, seconds + 120, log)
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        return {"tool": "locust", "error": f"no stats (exit {run.returncode}): {_tail(log)}"}
    with stats.open(newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    result = {
        "tool": "locust (FastHttpUser)",
        "version": locust_version(),
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        "rps": float(row["Requests/s"]),
        "p50_ms": _number(row["50%"]),
        "p99_ms": _number(row["99%"]),
    }
    result.update(_resources(run, result["requests"]))
    result["history"] = _locust_history(Path(f"{prefix}_stats_history.csv"))
    return result


def _locust_history(path: Path) -> list[tuple[float, int]]:
    """(seconds since the first row, total requests so far) of the Aggregated rows."""
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        rows = [
            (int(r["Timestamp"]), int(r["Total Request Count"]))
            for r in csv.DictReader(handle)
            if r["Name"] == "Aggregated"
        ]
    return [(t - rows[0][0], n) for t, n in rows] if rows else []


# ------------------------------------------------------------------ yamlswarm


def yamlswarm_command() -> list[str]:
    """The console script next to this Python (what pre-commit runs), else `python -m yamlswarm`."""
    script = Path(sys.executable).with_name("yamlswarm")
    return [str(script)] if script.exists() else [sys.executable, "-m", "yamlswarm"]


def run_yamlswarm(
    scenario: Path,
    url: str,
    users: int,
    seconds: int,
    pin: list[str],
    tmp: Path,
    label: str,
    spawn_rate: float | None = None,
    web: bool = False,
    extra: tuple[str, ...] = (),
    tool: str | None = None,
) -> dict[str, Any]:
    """`yamlswarm run ... --json`; figures from the JSON result. `web`: with `--web` on a free
    loopback port and one client reading its event stream all along, as a browser would;
    `extra`: more options (e.g. `--out jsonl=FILE`), the row named `tool`."""
    out = tmp / f"yamlswarm_{label}.json"
    out.unlink(missing_ok=True)
    command = [
        *pin,
        *yamlswarm_command(),
        "run",
        str(scenario),
        "--host",
        url,
        "-u",
        str(users),
        "-r",
        f"{spawn_rate or users:g}",
        "-t",
        f"{seconds}s",
        "--json",
        str(out),
        "-q",
        *extra,
    ]
    log = tmp / f"yamlswarm_{label}.log"
    watcher = None
    if web:
        port = _free_port()
        command += ["--web", f"127.0.0.1:{port}", "--autostart", "--autoquit", "0"]
        watcher = threading.Thread(target=_watch_events, args=(port, seconds + 60), daemon=True)
        watcher.start()
    run = run_measured(command, dict(os.environ), seconds + 120, log)
    if not out.exists():
        return {
            "tool": tool or "yamlswarm",
            "error": f"no JSON result (exit {run.returncode}): {_tail(log)}",
        }
    data = json.loads(out.read_text())
    totals = data["totals"]
    latency = totals.get("latency_ms", {})
    result = {
        "tool": tool or ("yamlswarm-web" if web else "yamlswarm"),
        "version": version("yamlswarm"),
        "requests": totals["requests"],
        "failures": totals["failures"],
        "rps": float(totals["rps"]),
        "p50_ms": latency.get("p50"),
        "p99_ms": latency.get("p99"),
    }
    result.update(_resources(run, result["requests"]))
    result["timeline"] = [(row["t"], row["rps"], row["p50"]) for row in data.get("timeline", [])]
    return result


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _watch_events(port: int, seconds: float) -> None:
    """Read the web UI's event stream until the run ends (a browser watching the run)."""
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            stream = urllib.request.urlopen(f"http://127.0.0.1:{port}/events", timeout=5)
        except OSError:  # not listening yet
            time.sleep(0.1)
            continue
        try:
            while stream.read(4096):
                pass
        except Exception:  # the run ended and its server cut the stream
            pass
        return


def run_raw(
    url: str, path: str, users: int, seconds: int, pin: list[str], tmp: Path
) -> dict[str, Any]:
    """A calibration row: a bare geventhttpclient loop, what the HTTP library alone does on this core."""
    command = [
        *pin,
        sys.executable,
        str(HERE / "raw_geventhttpclient.py"),
        url,
        path,
        "-u",
        str(users),
        "-t",
        str(seconds),
    ]
    log = tmp / "raw.log"
    run = run_measured(command, dict(os.environ), seconds + 60, log)
    try:
        data = json.loads(log.read_text(errors="replace").strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"tool": "raw geventhttpclient", "error": f"no result (exit {run.returncode})"}
    result = {
        "tool": "raw geventhttpclient",
        "version": version("geventhttpclient"),
        "requests": data["requests"],
        "failures": data["failures"],
        "rps": data["rps"],
        "p50_ms": None,
        "p99_ms": None,
    }
    result.update(_resources(run, result["requests"]))
    return result


# ------------------------------------------------------------------ helpers


def _resources(run: Measured, requests: int) -> dict[str, Any]:
    """CPU seconds (start-up included), requests per CPU-second, peak RSS: figures that survive a busy machine."""
    return {
        "cpu_s": round(run.cpu_s, 2),
        "wall_s": round(run.wall_s, 2),
        "req_per_cpu_s": round(requests / run.cpu_s, 1) if run.cpu_s > 0 else None,
        "max_rss_mb": round(run.max_rss_mb, 1),
        "exit_code": run.returncode,
    }


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-600:].strip() if log.exists() else ""


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def has_taskset() -> bool:
    return shutil.which("taskset") is not None


# ------------------------------------------------------------------ live-export sinks

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


class PrometheusSink:
    """A local Prometheus with the remote-write receiver (Debian's `prometheus`), for the
    `--out prometheus=` cost; `url` is its write endpoint. Loopback only, stopped by `stop()`."""

    def __init__(self, tmp: Path) -> None:
        import socket
        import urllib.request

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        config = tmp / "prometheus.yml"
        config.write_text("global: {}\n")
        self.log = (tmp / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                PROMETHEUS,
                "--web.enable-remote-write-receiver",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--config.file={config}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        self.url = f"{base}/api/v1/write"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"{base}/-/ready", timeout=2).status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("prometheus did not become ready in 30 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()
