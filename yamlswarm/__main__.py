"""Entry point: monkey-patch gevent first (only for commands that make load), then run the CLI."""

from __future__ import annotations

import sys

# Commands that generate load or talk to other processes; everything else
# (validate, schema, report) stays free of gevent so it starts fast.
_NETWORK_COMMANDS = frozenset({"run", "demo", "master", "worker"})


def _command(argv: list[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def main() -> None:
    if _command(sys.argv[1:]) in _NETWORK_COMMANDS:
        from gevent import monkey

        monkey.patch_all()
    from yamlswarm.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
