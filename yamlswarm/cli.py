"""The command line: a thin Click adapter over typed settings.

Every error becomes output and an exit code in exactly one place, `main()`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from yamlswarm import __version__
from yamlswarm.errors import Interrupted, ScenarioError, YamlswarmError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="yamlswarm")
def cli() -> None:
    """Load tests written as schema-validated YAML scenarios."""


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Output format; json is for editors and other tools.",
)
def validate(files: tuple[Path, ...], fmt: str) -> None:
    """Validate scenario FILES fully and report every error of every file."""
    from yamlswarm.validate import validate_files

    problems = validate_files(files)
    if fmt == "json":
        click.echo(json.dumps(
            {"valid": not problems, "files": len(files), "errors": [p.to_dict() for p in problems]},
            indent=2,
        ))
        if problems:
            sys.exit(ScenarioError.exit_code)
        return
    if problems:
        raise ScenarioError(problems)
    click.echo(f"{len(files)} file{'s' if len(files) != 1 else ''} valid")


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the schema to this file instead of standard output.")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of the scenario format (for editors)."""
    from yamlswarm.schema import schema_text

    text = schema_text()
    if output is None:
        click.echo(text, nl=False)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise click.UsageError(f"cannot write {output}: {exc.strerror}") from None
        click.echo(f"wrote {output}", err=True)


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
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(Interrupted.exit_code)
    sys.exit(0)
