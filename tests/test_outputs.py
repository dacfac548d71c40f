"""The output registry (yamlswarm.report.outputs) agrees with the CLI, the docs and the writers."""

from __future__ import annotations

import io
import re
from pathlib import Path

import click
import pytest

from tests.cli_helpers import REPO
from yamlswarm.cli import cli
from yamlswarm.report.outputs import OUTPUTS, requested, write_outputs
from yamlswarm.result import RunResult
from yamlswarm.settings import RunSettings

# Which commands write which outputs: run and master every format of the registry.
EVERY = frozenset(OUTPUTS)
COMMAND_OUTPUTS = {
    "run": EVERY,
    "master": EVERY,
    "demo": frozenset({"json", "html"}),
    "report": frozenset({"html"}),
    "validate": frozenset(),
    "schema": frozenset(),
    "worker": frozenset(),
}
OUTPUT_OPTIONS = {fmt.option: fmt for fmt in OUTPUTS.values()}


def _result() -> RunResult:
    return RunResult("0.1.0", "shop", "2025-03-14T09:00:00.000Z", 1.0, {"kind": "closed"})


def test_registry_entries_are_complete():
    for kind, fmt in OUTPUTS.items():
        assert fmt.kind == kind
        assert fmt.option == f"--{kind}"
        assert fmt.target in ("file", "prefix")
        assert fmt.metavar and fmt.help
        assert callable(fmt.load_writer()), fmt.writer


def test_every_command_offers_the_outputs_it_should():
    assert set(cli.commands) == set(COMMAND_OUTPUTS), "a new command: say which outputs it writes"
    for name, command in cli.commands.items():
        offered = {}
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt in OUTPUT_OPTIONS:
                    offered[OUTPUT_OPTIONS[opt].kind] = param
        assert set(offered) == COMMAND_OUTPUTS[name], name
        for kind, param in offered.items():
            fmt = OUTPUTS[kind]
            assert isinstance(param, click.Option)
            assert param.opts == [fmt.option] and not param.secondary_opts, (name, kind)
            assert param.name == f"output_{kind}", (name, kind)  # the CLI made it from the entry
            assert (param.metavar, param.help) == (fmt.metavar, fmt.help), (name, kind)


def test_help_shows_each_output_option_as_the_registry_says():
    for name, kinds in COMMAND_OUTPUTS.items():
        context = click.Context(cli.commands[name], info_name=name)
        text = " ".join(cli.commands[name].get_help(context).split())
        for kind in kinds:
            fmt = OUTPUTS[kind]
            assert f"{fmt.option} {fmt.metavar} {fmt.help}" in text, (name, kind)


def _doc(path: str) -> str:
    return (REPO / path).read_text(encoding="utf-8")


def test_docs_name_every_output_option():
    readme, reports, distributed = (
        _doc("README.md"),
        _doc("docs/reports.md"),
        _doc("docs/distributed.md"),
    )
    table = set(re.findall(r"^\| `(--[a-z-]+) ([A-Z]+)` \|", reports, flags=re.MULTILINE))
    assert table == {(fmt.option, fmt.placeholder) for fmt in OUTPUTS.values()}
    for fmt in OUTPUTS.values():
        assert f"`{fmt.option} {fmt.placeholder}`" in readme, fmt.option  # the options of `run`
        assert f"`{fmt.option}`" in distributed, fmt.option  # what the master writes
        section = re.search(rf"^## {fmt.kind}$", reports, flags=re.MULTILINE | re.IGNORECASE)
        assert section, f"docs/reports.md has no section on {fmt.option}"


def test_settings_from_the_cli_hold_outputs_by_kind(tmp_path: Path):
    from yamlswarm.cli import _settings

    settings = _settings(output_json=None, output_csv=tmp_path / "run", output_junit=Path("j.xml"))
    assert settings.outputs == {"csv": tmp_path / "run", "junit": Path("j.xml")}
    assert list(settings.outputs) == ["csv", "junit"]  # registry order
    assert RunSettings().outputs == {}


def test_outputs_are_written_in_registry_order_and_one_failure_does_not_stop_the_others(
    tmp_path: Path,
):
    blocked = tmp_path / "dir"
    blocked.mkdir()
    outputs = {"junit": tmp_path / "j.xml", "json": blocked, "csv": tmp_path / "out" / "run"}
    err = io.StringIO()
    assert write_outputs(_result(), outputs, err) is False
    lines = err.getvalue().splitlines()
    assert lines[0].startswith(f"error: cannot write {blocked}")
    assert lines[1] == (
        f"wrote csv: {tmp_path}/out/run_stats.csv, {tmp_path}/out/run_failures.csv, "
        f"{tmp_path}/out/run_exceptions.csv, {tmp_path}/out/run_transactions.csv"
    )
    assert lines[2] == f"wrote junit: {tmp_path / 'j.xml'}"
    assert (tmp_path / "j.xml").exists() and (tmp_path / "out" / "run_transactions.csv").exists()
    assert write_outputs(_result(), {"json": tmp_path / "r.json"}, io.StringIO()) is True


def test_an_unknown_output_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown output kind"):
        list(requested({"no-such-format": Path("x")}))
