"""The command line: a thin Click adapter over typed settings.

Every error becomes output and an exit code in exactly one place, `main()`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from yamlswarm import __version__
from yamlswarm.cli_options import (
    DURATION,
    TOKEN_HELP,
    WEB_TOKEN_HELP,
    combine,
    config_defaults,
    env_option,
    master_options,
    output_options,
    pop_outputs,
    run_options,
)
from yamlswarm.errors import Interrupted, ScenarioError, YamlswarmError
from yamlswarm.export.provenance import masked_command
from yamlswarm.report.terminal import can_colour, can_redraw
from yamlswarm.settings import RunSettings

CONFIGURED = ("run", "master")  # the commands the config file gives defaults to


def _settings(**kw) -> RunSettings:
    _check_web(kw)
    env = dict(kw.pop("env", ()) or ())
    for name in ("tags", "exclude_tags"):  # -T a,b -T c: one tuple per use
        kw[name] = tuple(tag for group in kw.get(name) or () for tag in group)
    kw["user_types"] = tuple(kw.get("user_types") or ())
    outputs = pop_outputs(kw)
    kw["exports"] = tuple(kw.get("exports") or ())
    if kw.get("csv_full_history") and "csv" not in outputs:
        raise click.UsageError("--csv-full-history needs --csv PREFIX")
    return RunSettings(
        command=tuple(masked_command(["yamlswarm", *sys.argv[1:]])),
        env=env,
        outputs=outputs,
        interactive=can_redraw(sys.stdout),  # TERM=dumb: a status line, no in-place redraw
        colour=can_colour(sys.stdout),  # NO_COLOR or TERM=dumb: no colours
        **kw,
    )


def _check_web(kw: dict) -> None:
    """--autostart and --autoquit only mean something with --web."""
    if kw.get("web"):
        return
    for name in ("autostart", "autoquit"):
        if kw.get(name) not in (None, False):
            raise click.UsageError(f"--{name} applies only with --web")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="yamlswarm")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Load tests written as schema-validated YAML scenarios."""
    if ctx.invoked_subcommand in CONFIGURED:  # option defaults from yamlswarm.toml / pyproject
        commands = {name: cli.commands[name] for name in CONFIGURED}
        ctx.default_map = config_defaults(commands, Path.cwd())


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
    from yamlswarm.report.files import open_for_write
    from yamlswarm.scenario.schema import schema_text

    text = schema_text()
    if output is None:
        click.echo(text, nl=False)
    else:
        with open_for_write(output) as stream:  # atomic; an OS error is a UsageError (exit 2)
            stream.write(text)
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
@env_option("--token", "web_token", metavar="T", help=WEB_TOKEN_HELP)
def run(scenario: Path, processes: int | None, **options) -> None:
    """Validate, compile and run SCENARIO; print live progress and the final table."""
    options["web_token"] = options.get("web_token") or None
    settings = _settings(**options)
    if settings.web:
        _no_trace(settings, "--web")
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

    settings = _settings(web_token=token or None, **options)  # the token also guards --web
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
@combine(*output_options("json", "html"))
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
@combine(*output_options("html"))
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
        report_command(result, pop_outputs(outputs), compare_path, fail_on_regression, sys.stdout)
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
        click.echo("Interrupted.", err=True)
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
