"""Worker processes on this machine: `run --processes N` and `worker --processes N`.

`run_local` is the distributed machinery on one machine: an in-process
master on a free loopback port, protected by a random one-run token, and N
worker processes. The token travels to the children in their environment,
never on a command line that `ps` shows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import gevent

from yamlswarm.distributed.auth import TOKEN_ENV, new_token
from yamlswarm.settings import RunSettings

if TYPE_CHECKING:
    from yamlswarm.distributed.master import Master

__all__ = ["resolve_processes", "run_local", "run_worker_processes", "spawn_workers"]


def resolve_processes(processes: int) -> int:
    """`-1` means one per core; anything else below 1 is a usage error."""
    from yamlswarm.errors import UsageError

    if processes == -1:
        return os.cpu_count() or 1
    if processes < 1:
        raise UsageError(
            f"--processes must be at least 1 (or -1 for one per core), not {processes}"
        )
    return processes


def spawn_workers(
    master: str, count: int, *, token: str | None, connect_timeout: float = 60.0, quiet: bool = True
) -> list[subprocess.Popen[bytes]]:
    """Start `count` worker processes joining `master`."""
    env = dict(os.environ)
    env.pop(TOKEN_ENV, None)
    if token is not None:
        env[TOKEN_ENV] = token
    command = [
        sys.executable,
        "-m",
        "yamlswarm",
        "worker",
        "--master",
        master,
        "--connect-timeout",
        str(connect_timeout),
    ]
    if quiet:
        command.append("--quiet")
    return [subprocess.Popen(command, env=env) for _ in range(count)]


def stop_processes(processes: list[subprocess.Popen[bytes]], timeout: float = 10.0) -> list[int]:
    """Wait for the processes (killing any still alive after `timeout`); their exit codes."""
    codes = []
    for proc in processes:
        try:
            codes.append(proc.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(proc.wait())
    return codes


def run_worker_processes(
    master: str,
    processes: int,
    *,
    token: str | None,
    connect_timeout: float,
    quiet: bool,
) -> int:
    """`worker --processes N`: N independent workers; the worst exit code wins."""
    count = resolve_processes(processes)
    _interrupt_with_cleanup()
    children = spawn_workers(
        master, count, token=token, connect_timeout=connect_timeout, quiet=quiet
    )
    try:
        codes = [proc.wait() for proc in children]
    except KeyboardInterrupt:
        for proc in children:
            proc.terminate()
        codes = stop_processes(children)
    return max(codes, key=lambda code: (code != 0, abs(code)))


def run_local(
    scenario: Path, settings: RunSettings, *, processes: int, out: TextIO, err: TextIO
) -> int:
    """`run --processes N`: an in-process master and N local worker processes."""
    from yamlswarm.distributed.bundle import make_bundle
    from yamlswarm.distributed.master import Master
    from yamlswarm.run import load_plan

    count = resolve_processes(processes)
    _interrupt_with_cleanup()
    plan = load_plan(scenario, settings)
    token = new_token()
    master = Master(
        plan,
        settings,
        make_bundle(plan),
        expect_workers=count,
        token=token,
        out=out,
        err=err,
        quiet_joins=True,
    )
    children: list[subprocess.Popen[bytes]] = []
    try:
        port = master.bind("127.0.0.1", 0)
        children = spawn_workers(f"127.0.0.1:{port}", count, token=token)
        watcher = gevent.spawn(_watch_children, master, children)
        try:
            return master.run()
        finally:
            watcher.kill(block=False)
    finally:
        master.close()
        for proc in children:
            if proc.poll() is None:
                proc.terminate()
        stop_processes(children, timeout=5.0)


def _watch_children(master: Master, children: list[subprocess.Popen[bytes]]) -> None:
    """A child that dies before the run starts would make the master wait for nothing."""
    while master.report is None:
        for proc in children:
            code = proc.poll()
            if code is not None and code != 0:
                master.fail(f"a worker process exited with code {code} before the run started")
                return
        gevent.sleep(0.2)


def _interrupt_with_cleanup() -> None:
    """Ctrl-C raises KeyboardInterrupt again (the entry point ends the process at once
    until a command takes the signals over), so that the `finally` blocks that stop the
    worker processes run."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
