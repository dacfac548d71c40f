"""The Click options and parameter types of `run` and `master` (and the other commands).

Each option of `run` and `master` is also read from `YAMLSWARM_<OPTION>` and
from the config file (`yamlswarm.config`), through Click's `default_map`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import click

from yamlswarm.report.outputs import OUTPUTS
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


class OutSpec(click.ParamType):
    """KIND=TARGET for --out (`yamlswarm.export.spec`): a known kind and a valid target."""

    name = "KIND=TARGET"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        from yamlswarm.errors import UsageError
        from yamlswarm.export.spec import parse_out

        try:
            return parse_out(str(value))
        except (ValueError, UsageError) as exc:
            self.fail(str(exc), param, ctx)


ENV_PREFIX = "YAMLSWARM_"


class EnvOption(click.Option):
    """An option whose error names its `YAMLSWARM_` variable only when the value came from it
    (Click's own hint names the variable even for a value given on the command line)."""

    def get_error_hint(self, ctx: click.Context | None) -> str:
        hint = click.Parameter.get_error_hint(self, ctx)
        source = ctx.get_parameter_source(self.name) if ctx and self.name else None
        if source is click.core.ParameterSource.ENVIRONMENT:
            hint += f" (from the environment variable {self.envvar})"
        return hint


def env_option(*decls: str, **kw) -> Callable:
    """A `click.option` also read from `YAMLSWARM_<LONG NAME>` (as Locust's `LOCUST_HOST`).

    The variable has no command in its name, so `run` and `master` share it; --help shows it.
    """
    long = next(d for d in decls if d.startswith("--"))
    kw.setdefault("envvar", ENV_PREFIX + long[2:].replace("-", "_").upper())
    return click.option(*decls, cls=EnvOption, show_envvar=True, **kw)


class Names(click.ParamType):
    """Names separated by commas (`-T checkout,smoke`); with `multiple=True` also repeatable."""

    name = "NAME[,NAME...]"

    def convert(self, value, param, ctx):
        if isinstance(value, (tuple, list)):
            return tuple(value)
        names = tuple(n.strip() for n in str(value).split(",") if n.strip())
        if not names:
            self.fail(f"{value!r} names nothing", param, ctx)
        return names


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


def pop_outputs(options: dict) -> dict[str, Path]:
    """Pop the output options out of a command's parameters: kind -> target, in registry order."""
    given = {kind: options.pop(_OUTPUT_DEST + kind, None) for kind in OUTPUTS}
    return {kind: target for kind, target in given.items() if target is not None}


def combine(*options: Callable) -> Callable:
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


def _positive_rate(value: object) -> float:
    """A rate that starts something: finite and above 0 (`-r 0` would never start a user)."""
    rate = parse_rate(value)
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"{value!r} is not a finite rate above 0 (e.g. 10/s, 600/m)")
    return rate


INTERVAL = Parsed("duration", _interval)
RATE = Parsed("rate", _positive_rate)  # 10/s, 600/m, 1/h or a number per second


run_options = combine(  # the options `run` and `master` share (SPEC section 2)
    env_option("-H", "--host", help="Base URL; overrides the scenario's host."),
    env_option("-u", "--users", type=click.IntRange(min=1), help="Number of users (closed model)."),
    env_option("-r", "--spawn-rate", type=RATE, help="Users started per second."),
    env_option("-t", "--duration", type=INTERVAL, help="Run time, e.g. 30s, 5m, 1h30m."),
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
    env_option(
        "-T",
        "--tags",
        type=Names(),
        multiple=True,
        help="Run only the flows with one of these tags (comma-separated or repeated).",
    ),
    env_option(
        "-E",
        "--exclude-tags",
        type=Names(),
        multiple=True,
        help="Leave out the flows with one of these tags (comma-separated or repeated).",
    ),
    env_option(
        "--user-type",
        "user_types",
        multiple=True,
        metavar="NAME",
        help="Run only this user type (repeatable).",
    ),
    *output_options(from_env=True),
    env_option(
        "--csv-full-history",
        is_flag=True,
        help="With --csv: a row per request row and second in PREFIX_stats_history.csv too.",
    ),
    env_option(
        "--out",
        "exports",
        type=OutSpec(),
        multiple=True,
        help="Stream live numbers every second (repeatable): prometheus=URL (remote write), "
        "influxdb=URL, jsonl=FILE; webhook=URL posts a summary at the end.",
    ),
    env_option(
        "--stop-timeout",
        type=DURATION,
        default="10s",
        show_default=True,
        help="How long stopping users may take to finish their requests.",
    ),
    env_option(
        "--max-rows",
        type=click.IntRange(min=1),
        default=1000,
        show_default=True,
        help="Distinct stats rows at most; new names of a step past it share one overflow row.",
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
    env_option(
        "--web",
        is_flag=False,
        flag_value="127.0.0.1:8089",
        default=None,
        metavar="[HOST:PORT]",
        help="Serve the live web UI (default 127.0.0.1:8089); the run waits for Start there "
        "unless --autostart, and -t counts from Start.",
    ),
    env_option("--autostart", is_flag=True, help="With --web: start at once, without waiting."),
    env_option(
        "--autoquit",
        type=DURATION,
        metavar="SECONDS",
        help="With --web: quit this long after the run ends (default: stay up until Ctrl-C).",
    ),
)

WEB_TOKEN_HELP = (
    "The run token (or YAMLSWARM_TOKEN): required to serve --web beyond loopback; "
    "the page asks for it once."
)


TOKEN_HELP = (
    "Shared secret of the master and its workers (or YAMLSWARM_TOKEN); required to bind "
    "beyond loopback. Enforced by ZeroMQ CURVE keys derived from it."
)


master_options = combine(  # what `master` adds to the run options
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


def config_defaults(commands: dict[str, click.Command], directory: Path) -> dict | None:
    """Click's `default_map` for `commands` from the config file of `directory` (None: none).

    Keys and values are checked here, with the file's name in every message
    (UsageError, exit 2): an unknown key gets a did-you-mean, a bad value the
    option's own message.
    """
    from yamlswarm.config import find_config, option_key, resolve_keys
    from yamlswarm.errors import UsageError

    config = find_config(directory)
    if config is None:
        return None
    params = {
        option_key(opt): param
        for command in commands.values()
        for param in command.params
        if isinstance(param, click.Option)
        for opt in param.opts
        if opt.startswith("--") and opt not in ("--help", "--version")
    }
    values = resolve_keys(config, {key: param.name or key for key, param in params.items()})
    by_name = {param.name: (key, param) for key, param in params.items()}
    problems = []
    for name, value in list(values.items()):
        key, param = by_name[name]
        try:
            values[name] = _config_value(param, value)
            param.type_cast_value(click.Context(click.Command(key)), values[name])
        except (click.BadParameter, TypeError, ValueError) as exc:
            message = exc.message if isinstance(exc, click.BadParameter) else str(exc)
            problems.append(f"{config.label}: {key}: {message}")
    if problems:
        raise UsageError("\n".join(problems))
    return {name: dict(values) for name in commands}


def _config_value(param: click.Option, value: object) -> object:
    """A TOML value as the option takes it: `env` a table or list, other lists only if repeatable."""
    if isinstance(value, dict):
        if param.name != "env":
            raise ValueError(f"a table is only allowed for env, not {param.name!r}")
        return [f"{k}={v}" for k, v in value.items()]
    if isinstance(value, list):
        if not param.multiple:
            raise ValueError("takes one value, not a list")
        return [str(v) for v in value]
    if param.multiple:
        return [value]
    return value
