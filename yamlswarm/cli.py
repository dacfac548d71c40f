"""The command line: a thin Click adapter over typed settings.

Every error becomes output and an exit code in exactly one place, `main()`.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import click

from yamlswarm import __version__
from yamlswarm.errors import Interrupted, ScenarioError, YamlswarmError
from yamlswarm.report.outputs import OUTPUTS
from yamlswarm.settings import RunSettings
from yamlswarm.units import parse_duration, parse_rate


class Parsed(click.ParamType):
    """A value read by one of `yamlswarm.units`' parsers; its ValueError becomes Click's message."""

    def __init__(self, name: str, parse: Callable[[object], float]) -> None:
        self.name = name
        self._parse = parse

    def convert(self, value, param, ctx):
        try:
            return self._parse(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class KeyValue(click.ParamType):
    """KEY=VALUE for -e/--env."""

    name = "KEY=VALUE"

    def convert(self, value, param, ctx):
        key, sep, val = value.partition("=")
        if not sep or not key:
            self.fail(f"{value!r} is not KEY=VALUE", param, ctx)
        return key, val


ENV_PREFIX = "YAMLSWARM_"


def env_option(*decls: str, **kw) -> Callable:
    """A `click.option` also read from `YAMLSWARM_<LONG NAME>` (as Locust's `LOCUST_HOST`).

    The variable has no command in its name, so `run` and `master` share it; --help shows it.
    """
    long = next(d for d in decls if d.startswith("--"))
    kw.setdefault("envvar", ENV_PREFIX + long[2:].replace("-", "_").upper())
    return click.option(*decls, show_envvar=True, **kw)


_OUTPUT_DEST = "output_"  # the parameter of `--json` is `output_json`, and so on


def output_options(*kinds: str, from_env: bool = False) -> list[Callable]:
    """Options writing the outputs of `yamlswarm.report.outputs` (every one, or just `kinds`);
    `from_env`: also read from `YAMLSWARM_JSON` and so on (the options of `run` and `master`)."""
    formats = [OUTPUTS[kind] for kind in kinds] if kinds else list(OUTPUTS.values())
    option = env_option if from_env else click.option
    return [
        option(
            fmt.option,
            _OUTPUT_DEST + fmt.kind,
            type=click.Path(dir_okay=False, path_type=Path),
            metavar=fmt.metavar,
            help=fmt.help,
        )
        for fmt in formats
    ]


def _outputs(options: dict) -> dict[str, Path]:
    """Pop the output options out of a command's parameters: kind -> target, in registry order."""
    given = {kind: options.pop(_OUTPUT_DEST + kind, None) for kind in OUTPUTS}
    return {kind: target for kind, target in given.items() if target is not None}


def _options(*options: Callable) -> Callable:
    """One decorator applying `options` in order (the first is shown first in --help)."""

    def decorate(command):
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


DURATION = Parsed("duration", parse_duration)  # 500ms, 30s, 5m, 1h, 1m30s or seconds


def _interval(value: object) -> float:
    """A duration that can pace a loop: finite and above 0 (`0` would spin, `nan` hang)."""
    seconds = parse_duration(value)
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{value!r} is not a finite duration above 0 (e.g. 500ms, 2s)")
    return seconds


INTERVAL = Parsed("duration", _interval)
RATE = Parsed("rate", parse_rate)  # 10/s, 600/m, 1/h or a number per second


run_options = _options(  # the options `run` and `master` share (SPEC section 2)
    env_option("-H", "--host", help="Base URL; overrides the scenario's host."),
    env_option("-u", "--users", type=click.IntRange(min=1), help="Number of users (closed model)."),
    env_option("-r", "--spawn-rate", type=RATE, help="Users started per second."),
    env_option("-t", "--duration", type=DURATION, help="Run time, e.g. 30s, 5m, 1h30m."),
    env_option(
        "--iterations",
        type=click.IntRange(min=1),
        help="Stop after N flow iterations in total.",
    ),
    env_option(
        "-e",
        "--env",
        "env",
        type=KeyValue(),
        multiple=True,
        help="A value for {{ env.KEY }} (repeatable); real environment variables are the fallback.",
    ),
    env_option("--seed", type=int, help="Seed for Faker and every random choice."),
    *output_options(from_env=True),
    env_option(
        "--stop-timeout",
        type=DURATION,
        default="10s",
        show_default=True,
        help="How long stopping users may take to finish their requests.",
    ),
    env_option(
        "--trace",
        type=click.IntRange(min=1),
        is_flag=False,
        flag_value=1,
        default=None,
        metavar="[N]",
        help="Debug: one user runs N iterations (default 1); print every request and response.",
    ),
    env_option("-q", "--quiet", is_flag=True, help="No live progress, only the final table."),
    env_option(
        "--exit-code-on-error",
        type=click.IntRange(0, 255),
        metavar="N",
        help="Exit N when any request failed and every threshold passed (default: 0).",
    ),
)


def _settings(**kw) -> RunSettings:
    env = dict(kw.pop("env", ()) or ())
    outputs = _outputs(kw)
    return RunSettings(env=env, outputs=outputs, interactive=sys.stdout.isatty(), **kw)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="yamlswarm")
def cli() -> None:
    """Load tests written as schema-validated YAML scenarios."""


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format; json is for editors and other tools.",
)
def validate(files: tuple[Path, ...], fmt: str) -> None:
    """Validate scenario FILES fully and report every error of every file."""
    from yamlswarm.scenario.validate import validate_files

    problems = validate_files(files)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "valid": not problems,
                    "files": len(files),
                    "errors": [p.to_dict() for p in problems],
                },
                indent=2,
            )
        )
        if problems:
            sys.exit(ScenarioError.exit_code)
        return
    if problems:
        raise ScenarioError(problems)
    click.echo(f"{len(files)} file{'s' if len(files) != 1 else ''} valid")


@cli.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the schema to this file instead of standard output.",
)
def schema(output: Path | None) -> None:
    """Print the JSON Schema of the scenario format (for editors)."""
    from yamlswarm.scenario.schema import schema_text

    text = schema_text()
    if output is None:
        click.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise click.UsageError(f"cannot write {output}: {exc.strerror}") from None
        click.echo(f"wrote {output}", err=True)


@cli.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@run_options
@env_option(
    "--processes",
    type=int,
    metavar="N",
    help="Run N local worker processes under an in-process master (-1: one per core).",
)
def run(scenario: Path, processes: int | None, **options) -> None:
    """Validate, compile and run SCENARIO; print live progress and the final table."""
    settings = _settings(**options)
    if processes is not None:
        _check_processes(processes)
        _no_trace(settings, "--processes")
        from yamlswarm.distributed.local import run_local

        sys.exit(run_local(scenario, settings, processes=processes, out=sys.stdout, err=sys.stderr))
    from yamlswarm.run import run_scenario

    sys.exit(run_scenario(scenario, settings))


def _check_processes(processes: int) -> None:
    if processes == 0 or processes < -1:
        raise click.BadParameter(
            "must be a positive number, or -1 for one per core", param_hint="--processes"
        )


def _no_trace(settings: RunSettings, where: str) -> None:
    if settings.trace:
        raise click.UsageError(f"--trace runs one local user; it cannot be combined with {where}")


TOKEN_HELP = (
    "Shared secret of the master and its workers (or YAMLSWARM_TOKEN); required to bind "
    "beyond loopback. Enforced by ZeroMQ CURVE keys derived from it."
)


master_options = _options(  # what `master` adds to the run options
    env_option(
        "--expect-workers",
        type=click.IntRange(min=1),
        required=True,
        metavar="N",
        help="Start when N workers have joined.",
    ),
    env_option(
        "--bind",
        default="127.0.0.1:5557",
        show_default=True,
        metavar="HOST:PORT",
        help="Where workers connect.",
    ),
    env_option("--token", help=TOKEN_HELP),
    env_option(
        "--expect-timeout",
        type=DURATION,
        default="60s",
        show_default=True,
        help="How long to wait for the workers; too few is exit 3.",
    ),
    env_option(
        "--heartbeat",
        type=INTERVAL,
        default="1s",
        show_default=True,
        help="Heartbeat interval, both ways.",
    ),
    env_option(
        "--heartbeat-timeout",
        type=INTERVAL,
        default="10s",
        show_default=True,
        help="A worker silent this long is reported lost (longer than --heartbeat).",
    ),
)


@cli.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@run_options
@master_options
def master(
    scenario: Path,
    expect_workers: int,
    bind: str,
    token: str | None,
    expect_timeout: float,
    heartbeat: float,
    heartbeat_timeout: float,
    **options,
) -> None:
    """Coordinate a distributed run of SCENARIO across workers."""
    from yamlswarm.distributed.master import run_master

    settings = _settings(**options)
    _no_trace(settings, "master")
    sys.exit(
        run_master(
            scenario,
            settings,
            expect_workers=expect_workers,
            bind=bind,
            token=token,
            expect_timeout=expect_timeout,
            heartbeat=heartbeat,
            heartbeat_timeout=heartbeat_timeout,
            out=sys.stdout,
            err=sys.stderr,
        )
    )


@cli.command()
@click.option(
    "--master", "master_address", required=True, metavar="HOST:PORT", help="The master to join."
)
@click.option(
    "--processes",
    type=int,
    default=1,
    show_default=True,
    metavar="N",
    help="Worker processes on this machine (-1: one per core).",
)
@env_option("--token", help=TOKEN_HELP)
@click.option(
    "--connect-timeout",
    type=DURATION,
    default="60s",
    show_default=True,
    help="How long to try to reach and authenticate with the master.",
)
@click.option("-q", "--quiet", is_flag=True, help="Less output.")
def worker(
    master_address: str, processes: int, token: str | None, connect_timeout: float, quiet: bool
) -> None:
    """Join a master, receive the scenario bundle and generate load."""
    from yamlswarm.distributed.worker import run_worker

    _check_processes(processes)
    sys.exit(
        run_worker(
            master_address,
            processes=processes,
            token=token,
            connect_timeout=connect_timeout,
            quiet=quiet,
            out=sys.stdout,
            err=sys.stderr,
        )
    )


@cli.command()
@click.option(
    "-t",
    "--duration",
    type=DURATION,
    default="15s",
    show_default=True,
    help="How long the demo runs.",
)
@click.option("-q", "--quiet", is_flag=True, help="No live progress, only the final table.")
@_options(*output_options("json", "html"))
def demo(duration: float, quiet: bool, **outputs: Path | None) -> None:
    """Start the bundled demo API on a free loopback port and run the example scenario against it."""
    from yamlswarm.demo import scenario_path
    from yamlswarm.demo.server import start_demo_server
    from yamlswarm.run import run_scenario

    server = start_demo_server()
    click.echo(f"demo API listening on {server.url}")
    try:
        code = run_scenario(
            scenario_path(),
            _settings(host=server.url, duration=duration, quiet=quiet, **outputs),
        )
    finally:
        server.stop()
    sys.exit(code)


@cli.command()
@click.argument("result", type=click.Path(path_type=Path))
@_options(*output_options("html"))
@click.option(
    "--compare",
    "compare_path",
    type=click.Path(path_type=Path),
    help="A baseline result to compare RESULT with, row by row.",
)
@click.option(
    "--fail-on-regression",
    type=float,
    metavar="PCT",
    help="With --compare: exit 1 when rps, p50, p95, p99 or the error rate got worse "
    "by more than PCT percent.",
)
def report(
    result: Path,
    compare_path: Path | None,
    fail_on_regression: float | None,
    **outputs: Path | None,
) -> None:
    """Re-render a saved RESULT.json (table, --html), or compare it with a baseline."""
    from yamlswarm.report.compare import report_command

    sys.exit(
        report_command(result, _outputs(outputs), compare_path, fail_on_regression, sys.stdout)
    )


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; the one place where errors become messages and exit codes."""
    try:
        cli.main(args=argv, prog_name="yamlswarm", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(Interrupted.exit_code)
    except YamlswarmError as exc:
        click.echo(exc.render(), err=True)
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(Interrupted.exit_code)
    sys.exit(0)
