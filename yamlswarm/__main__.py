"""Entry point: monkey-patch gevent first (only for commands that make load), then run the CLI."""

from __future__ import annotations

import os
import signal
import sys

# Commands that generate load or talk to other processes; everything else
# (validate, schema, report) stays free of gevent so it starts fast.
_NETWORK_COMMANDS = frozenset({"run", "demo", "master", "worker"})


def _command(argv: list[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def _interrupted(signum: int, frame: object) -> None:
    """Ctrl-C or SIGTERM before a run (or a master, a worker) takes the signals over:
    nothing has run, nothing is to be written; end at once, without a traceback."""
    os.write(2, b"Interrupted.\n")
    os._exit(130)


def main() -> None:
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)
    if _command(sys.argv[1:]) in _NETWORK_COMMANDS:
        from gevent import monkey

        monkey.patch_all()
    from yamlswarm.cli import main as cli_main

    try:
        cli_main()
    except SystemExit as done:
        _end(done)
        raise


def _end(done: SystemExit) -> None:
    """Threads that hook code left running must not keep the process alive: name them, exit."""
    from yamlswarm.runtime.hook_threads import exit_now, stragglers

    left = stragglers()
    if left:
        exit_now(done.code, left)


if __name__ == "__main__":
    main()
