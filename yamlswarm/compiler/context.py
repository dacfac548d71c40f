"""The compiler's working state: collected problems, sources, and checked, folded values.

Every compile function receives one `Context`. It never raises for a user
mistake: it records a located `Problem` and returns a harmless stand-in, so
one compilation reports every mistake of a scenario at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jmespath
from jinja2 import Environment, TemplateSyntaxError, UndefinedError, nodes
from jinja2 import meta as jinja_meta
from jmespath.exceptions import JMESPathError

from yamlswarm.errors import Problem, format_path
from yamlswarm.plan import Source
from yamlswarm.runtime.bounded import RegexError, compile_regex
from yamlswarm.safe_faker import method_problem
from yamlswarm.sandbox import IMPURE_GLOBALS
from yamlswarm.scenario.loader import Document
from yamlswarm.templates import (
    Template,
    TemplateCompileError,
    base_context,
    compile_string,
    compile_value,
)
from yamlswarm.units import parse_duration, parse_rate

JsonPath = tuple[Any, ...]
BUILTIN_NAMES = frozenset({"data", "faker", "env", "user", "iteration"})

_PARSER = Environment()  # parsing only: finds the names a template reads

# Durations and rates that make no sense as 0, by the key that holds them (wherever it is).
_ABOVE_ZERO = {
    "timeout": "a timeout of 0 would fail every request",
    "max_latency": "a max_latency of 0 would fail every request",
    "spawn_rate": "a spawn rate of 0 would never start a user",
    "throughput": "a throughput of 0 iterations/s would never start an iteration",
}


@dataclass(frozen=True)
class Refs:
    """What one template string reads: free names, called names, `data.FEED[.COL]`, `env.KEY`,
    and the methods of `faker` (and `faker.unique`) it names."""

    names: frozenset[str]
    calls: frozenset[str]
    data: tuple[tuple[str, str | None], ...]
    env: frozenset[str]
    faker: frozenset[str] = frozenset()


@lru_cache(maxsize=4096)
def template_refs(source: str) -> Refs:
    """The references of a template string that already compiled."""
    try:
        ast = _PARSER.parse(source)
    except TemplateSyntaxError:
        return Refs(frozenset(), frozenset(), (), frozenset())
    calls = {
        node.node.name for node in ast.find_all(nodes.Call) if isinstance(node.node, nodes.Name)
    }
    data: list[tuple[str, str | None]] = []
    env: set[str] = set()
    faker: set[str] = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        key = _member(node)
        if key is None:
            continue
        base = getattr(node, "node", None)
        if isinstance(base, nodes.Name) and base.name == "data":
            data.append((key, None))
        elif isinstance(base, nodes.Name) and base.name == "env":
            env.add(key)
        elif _is_faker(base):
            faker.add(key)
        else:
            feed = _data_feed(base)
            if feed is not None:
                data.append((feed, key))
    names = frozenset(jinja_meta.find_undeclared_variables(ast))
    return Refs(names, frozenset(calls), tuple(data), frozenset(env), frozenset(faker))


def _is_faker(node: nodes.Node | None) -> bool:
    """`faker` or `faker.unique`: what `faker.METHOD` hangs from."""
    if _member(node) == "unique":
        node = getattr(node, "node", None)
    return isinstance(node, nodes.Name) and node.name == "faker"


def _member(node: nodes.Node | None) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return node.arg.value if isinstance(node.arg.value, str) else None
    return None


def _data_feed(node: nodes.Node | None) -> str | None:
    inner = getattr(node, "node", None)
    if node is not None and isinstance(inner, nodes.Name) and inner.name == "data":
        return _member(node)
    return None


def suggest(word: str, choices: Any) -> str:
    """` (did you mean 'x'?)` for a close match, else ''."""
    close = difflib.get_close_matches(word, sorted(str(c) for c in choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def iter_strings(value: Any, path: JsonPath) -> Iterator[tuple[JsonPath, str, bool]]:
    """Every string inside a value with its path; the flag marks a mapping key."""
    if isinstance(value, str):
        yield path, value, False
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str):
                yield (*path, key), key, True
            yield from iter_strings(item, (*path, key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from iter_strings(item, (*path, index))


class Context:
    """Problems found so far, plus what templates may refer to."""

    def __init__(self, doc: Document, *, env: Mapping[str, str], render_variables: bool) -> None:
        self.doc = doc
        self.env = env
        self.render_variables = render_variables
        self.problems: list[Problem] = []
        self.scope: frozenset[str] = BUILTIN_NAMES  # names valid in step templates
        self.lenient_calls = False  # hook template functions unknown: accept unknown calls
        self.feeds: dict[str, tuple[str, ...] | None] = {}  # None: columns unknown
        self.fold_names: frozenset[str] = frozenset({"env"})
        self.fold_context: dict[str, Any] = {"env": env}
        self._faker_locale: tuple[str | None, bool] | None = None  # (locale, known), read once

    # ------------------------------------------------------------ basics

    def error(self, path: JsonPath, message: str, *, key: bool = False) -> None:
        self.problems.append(self.doc.problem(path, message, key=key))

    def source(self, path: JsonPath) -> Source:
        line, column = self.doc.source_map.locate(path)
        return Source(self.doc.file, line, column, format_path(tuple(path)))

    def mapping(self, path: JsonPath, raw: Any) -> dict[Any, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            self.error(path, f"expected a mapping, got {_kind(raw)}")
            return {}
        return dict(raw)

    def sequence(self, path: JsonPath, raw: Any) -> list[Any]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.error(path, f"expected a list, got {_kind(raw)}")
            return []
        return raw

    # ------------------------------------------------------------ scalars

    def duration(self, path: JsonPath, raw: Any, default: float | None = None) -> float | None:
        if raw is None:
            return default
        try:
            return self._above_zero(path, parse_duration(raw))
        except ValueError as exc:
            self.error(path, str(exc))
            return default

    def seconds(self, path: JsonPath, raw: Any, default: float) -> float:
        """A duration that always has a value (the default when absent or invalid)."""
        value = self.duration(path, raw, default)
        return default if value is None else value

    def rate(self, path: JsonPath, raw: Any, default: float | None = None) -> float | None:
        if raw is None:
            return default
        try:
            return self._above_zero(path, parse_rate(raw))
        except ValueError as exc:
            self.error(path, str(exc))
            return default

    @staticmethod
    def _above_zero(path: JsonPath, value: float) -> float:
        """`value`, or ValueError where the key holding it must not be 0 (see _ABOVE_ZERO)."""
        reason = _ABOVE_ZERO.get(path[-1]) if path and value == 0 else None
        if reason is not None:
            raise ValueError(f"must be above 0: {reason}")
        return value

    def integer(self, path: JsonPath, raw: Any, default: int, minimum: int = 0) -> int:
        if raw is None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
            self.error(path, f"expected an integer >= {minimum}, got {raw!r}")
            return default
        return raw

    def regex(self, path: JsonPath, pattern: Any) -> str:
        if not isinstance(pattern, str):
            self.error(path, f"expected a regular expression, got {_kind(pattern)}")
            return ""
        try:
            compile_regex(pattern)  # the runtime's engine, so validate agrees with run
        except RegexError as exc:
            self.error(path, f"invalid regular expression {pattern!r}: {exc}")
        return pattern

    def jmespath(self, path: JsonPath, expr: Any) -> str:
        if not isinstance(expr, str):
            self.error(path, f"expected a JMESPath expression, got {_kind(expr)}")
            return ""
        try:
            jmespath.compile(expr)
        except JMESPathError as exc:
            self.error(path, f"invalid JMESPath expression {expr!r}: {_one_line(exc)}")
        return expr

    # ------------------------------------------------------------ templated values

    def value(self, path: JsonPath, raw: Any, scope: frozenset[str] | None = None) -> Any:
        """Compile `raw` (any value holding `{{ }}` strings), check its names, fold constants."""
        count = len(self.problems)
        folded: dict[JsonPath, Any] = {}
        for where, text, is_key in iter_strings(raw, path):
            if "{{" not in text:
                continue
            try:
                template = compile_string(text)
            except TemplateCompileError as exc:
                self.error(where, str(exc))
                continue
            refs = template_refs(text)
            self._check_refs(where, refs, self.scope if scope is None else scope)
            if not is_key and len(self.problems) == count:
                self._fold(where, template, refs, folded)
        if len(self.problems) != count:
            return raw
        if folded:
            raw = _replace(raw, path, folded)
        return compile_value(raw)

    def _check_refs(self, path: JsonPath, refs: Refs, scope: frozenset[str]) -> None:
        for name in sorted(refs.names - scope):
            if self.lenient_calls and name in refs.calls:
                continue
            self.error(path, f"undefined name {name!r} in template{suggest(name, scope)}")
        if "data" in scope:
            unknown: set[str] = set()
            for feed, column in refs.data:
                if feed not in unknown and not self._check_data(path, feed, column):
                    unknown.add(feed)
        if refs.faker and "faker" in scope:
            self._check_faker(path, refs.faker)

    def _check_faker(self, path: JsonPath, methods: frozenset[str]) -> None:
        """`faker.NAME` must be a method the template faker offers for the scenario's locale."""
        locale, known = self._locale()
        if not known:
            return
        for name in sorted(methods):
            problem = method_problem(name, locale)
            if problem is not None:
                self.error(path, problem)

    def _locale(self) -> tuple[str | None, bool]:
        """The scenario's `faker.locale` and whether Faker knows it (reported once if not)."""
        if self._faker_locale is None:
            section = self.doc.data.get("faker") if isinstance(self.doc.data, dict) else None
            locale = section.get("locale") if isinstance(section, dict) else None
            locale = locale if isinstance(locale, str) else None
            try:
                method_problem("email", locale)
            except ValueError as exc:
                self.error(("faker", "locale"), str(exc))
                self._faker_locale = (locale, False)
            else:
                self._faker_locale = (locale, True)
        return self._faker_locale

    def _check_data(self, path: JsonPath, feed: str, column: str | None) -> bool:
        """Report `data.FEED[.COLUMN]` that names no declared feed or column; False: no feed."""
        if feed not in self.feeds:
            declared = ", ".join(self.feeds) or "none"
            self.error(path, f"unknown data feed {feed!r} (declared: {declared})")
            return False
        columns = self.feeds[feed]
        if column is not None and columns is not None and column not in columns:
            self.error(
                path,
                f"data feed {feed!r} has no column {column!r} (columns: {', '.join(columns)})",
            )
        return True

    def _fold(self, path: JsonPath, template: Any, refs: Refs, folded: dict) -> None:
        """Render now what needs nothing of a user: fold it (run), or just check it (validate).

        A template that reads no names (or only the globals: `range`, ...) is a constant in
        both modes, folded alike, so `validate` checks its value as `run` does; one calling
        an impure global (`lipsum`, `cycler`, ...) is rendered to check it, never folded.
        """
        if not isinstance(template, Template):
            return
        constant = not refs.names and not refs.env
        pure = not refs.calls & IMPURE_GLOBALS
        if pure and (constant or (self.render_variables and refs.names <= self.fold_names)):
            ok, value = self.render(path, template, {**base_context(), **self.fold_context})
            if ok and not (isinstance(value, str) and "{{" in value):
                folded[path] = value
        elif constant:
            self.render(path, template, base_context())

    def render(self, path: JsonPath, template: Template, context: dict) -> tuple[bool, Any]:
        """Render a template now (folding, variables); a failure is a located problem."""
        try:
            return True, template.render(context)
        except Exception as exc:
            self.error(path, self._render_error(template, exc))
            return False, None

    def _render_error(self, template: Template, exc: Exception) -> str:
        missing = sorted(
            key
            for _, text, _ in iter_strings(template.source, ())
            if "{{" in text
            for key in template_refs(text).env
            if key not in self.env
        )
        if missing and isinstance(exc, UndefinedError):
            return f"environment variable {missing[0]!r} is not set (pass -e {missing[0]}=VALUE)"
        return f"cannot render template: {exc}"


def _replace(raw: Any, path: JsonPath, folded: dict[JsonPath, Any]) -> Any:
    """A copy of `raw` with the strings at the folded paths replaced by their values."""
    if path in folded and isinstance(raw, str):
        return folded[path]
    if isinstance(raw, Mapping):
        return {key: _replace(item, (*path, key), folded) for key, item in raw.items()}
    if isinstance(raw, list):
        return [_replace(item, (*path, i), folded) for i, item in enumerate(raw)]
    return raw


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__ if value is not None else "nothing"
    )


def _one_line(exc: JMESPathError) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for tail in (", for expression:", ":"):
        first = first.removesuffix(tail)
    return first
