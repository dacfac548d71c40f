"""Wording of jsonschema errors as located Problems a user can act on.

One small handler per schema keyword (`_HANDLERS`); each knows the part of the
format it failed in (the schema's `$defs` name, found by identity) and writes a
precise message. `oneOf`/`anyOf` noise never reaches the user: "exactly one of"
rules get one tailored sentence, and errors of steps whose kind is unclear are
dropped in favour of that sentence. What is said about a step kind's own `$defs`
comes from the kind's `Hints` in the step-kind registry (`yamlswarm.kinds`); the
kinds and extractors themselves from the registries.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from yamlswarm.errors import Problem
from yamlswarm.extractors import BY_NAME as EXTRACTORS
from yamlswarm.kinds import KINDS, STEP_KEYS
from yamlswarm.scenario.loader import Document
from yamlswarm.units import DURATION_HELP, RATE_HELP

__all__ = ["describe", "translate"]

_TYPE_NOUNS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}
# What a value of each `$defs` entry (and the root) is, for "expected ... (got ...)".
_DEF_NOUNS = {
    "scenario": "a mapping of scenario keys (version, users, ...)",
    "duration": "a duration such as 30s",
    "rate": "a rate such as 10/s",
    "text": "a string",
    "identifier": "a name (letters, digits and _)",
    "scalar": "a string, number or boolean",
    "steps": "a list of steps",
    "step": "a step (a mapping such as {get: /path})",
    "between": "two durations [low, high]",
    "basic_auth": "[user, password]",
    "wait": "a mapping with one of between, constant, pacing, throughput",
    "user": "a user type (a mapping with flows)",
    "flow": "a flow (a mapping with steps)",
    "check": "a mapping of checks (status, jmespath, ...)",
    "extract": "a mapping of variable names to extractors",
    "extractor": f"a mapping with one of {', '.join(EXTRACTORS)}",
    "jmespath_check": "a mapping {expr, <comparison>: value}",
    "header_check": "a header value, {contains: text} or {matches: regex}",
    "threshold": "a threshold such as 'p95 < 500ms' or {expr: ...}",
    "file": "a file path or {path: ...}",
    "load": "a mapping describing the load model",
    "feed": "a mapping {csv: FILE, ...}",
    "metric_declaration": "counter, gauge, rate, trend or {kind, description}",
    **{name: noun for kind in KINDS for name, noun in kind.hints.nouns.items()},
}
# Who needs "exactly one of" the keys of a oneOf made of single `required`s.
_ONE_OF_SUBJECTS = {
    "step": "a step",
    "wait": "a wait",
    "extractor": "an extractor",
    "jmespath_check": "a JMESPath check",
    **{name: who for kind in KINDS for name, who in kind.hints.subjects.items()},
}
_STATUS_HELP = "is not a valid status: use a code (200), a list of codes, or a class like '2xx'"
_NAME_HELP = "is not a valid name: use letters, digits and _ (not starting with a digit)"
_METRIC_NAME_HELP = (
    "is not a valid metric name: use lower-case letters, digits and _ (not starting with a digit)"
)
# What a mismatch of a step kind's `pattern` means, e.g. an HTTP method.
_PATTERN_HELP = {pattern: text for kind in KINDS for pattern, text in kind.hints.patterns.items()}
# `$defs` of step kinds whose bad pattern or bound is a bad duration (think).
_DURATION_DEFS = frozenset(name for kind in KINDS for name in kind.hints.durations)
# `$defs` of step kinds with their own words for "too few items or keys" (set).
_SIZE_MESSAGES = {name: text for kind in KINDS for name, text in kind.hints.sizes.items()}
# The `$defs` of steps whose settings live inside the kind's mapping: (kind key, *settings).
_LONG_FORM_KEYS = {
    kind.step_def(key): (key, *settings)
    for kind in KINDS
    for key, settings in kind.hints.inside.items()
}


def _selectors() -> dict[str, frozenset[str]]:
    """`$defs` name of a step -> the kind keys that select it (request_step: get, post, ...)."""
    out: dict[str, set[str]] = {}
    for kind in KINDS:
        for key in kind.keys:
            out.setdefault(kind.step_def(key), set()).add(key)
    return {name: frozenset(keys) for name, keys in out.items()}


_SELECTORS = _selectors()
_BODY_KEYS = frozenset({"json", "body", "form", "files"})

Error = Any  # jsonschema.ValidationError (imported lazily: it is slow to import)
Path_ = tuple[Any, ...]


def translate(doc: Document, errors: Iterable[Error], def_names: dict[int, str]) -> list[Problem]:
    """Problems for jsonschema `errors` of `doc`; `def_names` maps id() of a `$defs` entry to its name."""
    context = _Context(doc, def_names)
    problems: list[Problem] = []
    for error in errors:
        if not _is_noise(error, context):
            problems.extend(context.translate(error))
    return problems


def _is_noise(error: Error, context: _Context) -> bool:
    """Errors that only echo a better message: branch complaints inside a step of unclear kind,
    and "exactly one of" complaints about something that is not even a mapping."""
    if error.validator == "oneOf" and not isinstance(error.instance, dict):
        return True
    if error.validator in ("additionalProperties", "required", "not", "dependentRequired"):
        return tuple(error.absolute_path) in context.unclear_steps
    return False


# ---------------------------------------------------------------- words


def describe(value: Any) -> str:
    """A short description of a value for "(got ...)"."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _quote(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    match = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return match[0] if match else None


def _keys_hint(word: str, allowed: list[str]) -> str:
    close = _did_you_mean(word, allowed)
    if close:
        return f"did you mean {close!r}?"
    return "known keys: " + ", ".join(allowed) if allowed else "no keys are allowed here"


# ---------------------------------------------------------------- translation


class _Context:
    """Turns one jsonschema error into Problems; knows the document and the `$defs` names."""

    def __init__(self, doc: Document, names: dict[int, str]) -> None:
        self.doc = doc
        self.names = names
        self.conflicts: set[tuple[Path_, frozenset[str]]] = set()
        self.unclear_steps = _unclear_steps(doc.data)

    def def_name(self, error: Error) -> str | None:
        return self.names.get(id(error.schema))

    def at(self, error: Error, message: str, *extra: Any, key: bool = False) -> Problem:
        if not extra and "propertyNames" in error.relative_schema_path:
            extra, key = (error.instance,), True  # a bad key name: point at the key itself
        return self.doc.problem((*error.absolute_path, *extra), message, key=key)

    def translate(self, error: Error) -> list[Problem]:
        special = _DEF_MESSAGES.get(self.def_name(error) or "")
        if special and error.validator not in ("additionalProperties", "required"):
            return [self.at(error, special(error.instance))]
        handler = _HANDLERS.get(error.validator, _fallback)
        return list(handler(self, error))


def _unclear_steps(data: Any) -> set[Path_]:
    """Paths of step mappings with no kind key or several (their branch errors are noise)."""
    found: set[Path_] = set()

    def walk(value: Any, path: Path_, is_step: bool) -> None:
        if isinstance(value, dict):
            kinds = _STEP_KINDS | _scoped_keys(path)
            if is_step and sum(k in kinds for k in value) != 1:
                found.add(path)
            for key, item in value.items():
                if key in _STEP_LISTS and isinstance(item, list):
                    for i, step in enumerate(item):
                        walk(step, (*path, key, i), True)
                else:
                    walk(item, (*path, key), False)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, (*path, i), False)

    try:
        walk(data, (), False)
    except RecursionError:
        pass
    return found


_STEP_KINDS = frozenset(STEP_KEYS)
# Keys of steps valid only in one kind's nested lists (websocket: send, receive, close),
# by the path of those lists inside a step.
_SCOPED = {
    nested: kind.hints.step_keys for kind in KINDS for nested in kind.nested if kind.hints.step_keys
}
_SCOPED_HOMES = {key: ".".join(nested) for nested, keys in _SCOPED.items() for key in keys}


def _scoped_keys(path: Path_) -> frozenset[str]:
    """The extra step keys valid at `path`, the path of a step (empty outside such lists)."""
    for nested, keys in _SCOPED.items():
        if tuple(path[-len(nested) - 1 : -1]) == nested:
            return keys
    return frozenset()


# Keys that hold a list of steps: a flow's and a user's, and those of kinds with nested steps.
_STEP_LISTS = frozenset(
    {"steps", "on_start", "on_stop", *(path[-1] for kind in KINDS for path in kind.nested)}
)


def _duration_message(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return f"{value!r} is negative; expected {DURATION_HELP}"
    if isinstance(value, str):
        return f"{value!r} is not {DURATION_HELP}"
    return f"expected {DURATION_HELP} (got {describe(value)})"


def _rate_message(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        return f"{value!r} is negative; expected {RATE_HELP}"
    if isinstance(value, str):
        return f"{value!r} is not {RATE_HELP}"
    return f"expected {RATE_HELP} (got {describe(value)})"


def _status_message(value: Any) -> str:
    shown = _quote(value) if isinstance(value, (str, int, float)) else describe(value)
    return f"{shown} {_STATUS_HELP}"


def _name_message(value: Any) -> str:
    if isinstance(value, str):
        return f"{_quote(value)} {_NAME_HELP}"
    return f"expected a name (got {describe(value)})"


def _metric_name_message(value: Any) -> str:
    if isinstance(value, str):
        return f"{_quote(value)} {_METRIC_NAME_HELP}"
    return f"expected a metric name (got {describe(value)})"


# Parts of the format whose every error is best said by one tailored sentence.
_DEF_MESSAGES: dict[str, Callable[[Any], str]] = {
    "duration": _duration_message,
    "rate": _rate_message,
    "status": _status_message,
    "identifier": _name_message,
    "metric_name": _metric_name_message,
}


def _unknown_keys(ctx: _Context, error: Error) -> Iterator[Problem]:
    schema = error.schema
    allowed = list(schema.get("properties", {}))
    patterns = list(schema.get("patternProperties", {}))
    selectors = _SELECTORS.get(ctx.def_name(error) or "", frozenset())
    allowed = [k for k in allowed if k not in selectors or k in error.instance]
    for key in error.instance:
        if key in schema.get("properties", {}) or any(re.search(p, key) for p in patterns):
            continue
        inside = _LONG_FORM_KEYS.get(ctx.def_name(error) or "", ())
        if key in inside:
            message = (
                f"{key!r} belongs inside {inside[0]!r}: the long form keeps every setting there"
            )
        else:
            message = f"{key!r} is not a known key ({_keys_hint(key, allowed)})"
        yield ctx.at(error, message, key, key=True)


def _missing(ctx: _Context, error: Error) -> Iterator[Problem]:
    for key in error.validator_value:
        if key not in error.instance:
            yield ctx.at(error, f"missing required key {key!r}")


def _wrong_type(ctx: _Context, error: Error) -> Iterator[Problem]:
    noun = _DEF_NOUNS.get(ctx.def_name(error) or "")
    if noun is None:
        types = error.validator_value
        types = [types] if isinstance(types, str) else list(types)
        noun = _either([_TYPE_NOUNS.get(t, t) for t in types])
    yield ctx.at(error, f"expected {noun} (got {describe(error.instance)})")


def _exactly_one(ctx: _Context, error: Error) -> Iterator[Problem]:
    branches = error.validator_value
    keys = [
        b["required"][0] for b in branches if list(b) == ["required"] and len(b["required"]) == 1
    ]
    if len(keys) != len(branches):
        yield from _fallback(ctx, error)
        return
    subject = _ONE_OF_SUBJECTS.get(ctx.def_name(error) or "", "this mapping")
    present = [k for k in keys if k in error.instance]
    strict = error.schema.get("additionalProperties") is False
    unknown = [str(k) for k in error.instance if k not in error.schema.get("properties", {})]
    if not present and strict and unknown:
        return  # the unknown-key message (with its "did you mean") says it better
    if present:
        found = ", ".join(present)
    elif error.instance and not strict:
        found = ", ".join(map(str, error.instance))
        misplaced = [k for k in error.instance if k in _SCOPED_HOMES]
        choices = (
            [*keys, *_scoped_keys(tuple(error.absolute_path))] if subject == "a step" else keys
        )
        close = [m for m in (_did_you_mean(k, choices) for k in error.instance) if m]
        if misplaced and misplaced[0] not in choices:
            key = misplaced[0]
            found += f"; {key!r} is only valid inside {_SCOPED_HOMES[key]}"
        elif close:
            found += f"; did you mean {close[0]!r}?"
    else:
        found = "none"
    yield ctx.at(error, f"{subject} needs exactly one of {', '.join(keys)} (found: {found})")


def _conflict(ctx: _Context, error: Error) -> Iterator[Problem]:
    """`dependentSchemas: {a: {not: {required: [b]}}}` (or `not: {anyOf: [...]}`): a and b exclude each other."""
    schema_path = list(error.relative_schema_path)
    if len(schema_path) < 3 or schema_path[-3] != "dependentSchemas":
        yield from _fallback(ctx, error)
        return
    trigger = schema_path[-2]
    rule = error.validator_value
    others = [b["required"][0] for b in rule.get("anyOf", [rule]) if "required" in b]
    path = tuple(error.absolute_path)
    positions = ctx.doc.source_map.keys
    for other in (k for k in others if k in error.instance):
        pair = frozenset({trigger, other})
        if (path, pair) in ctx.conflicts:
            continue
        ctx.conflicts.add((path, pair))
        first, second = sorted(pair, key=lambda k: positions.get((*path, k), (0, 0)))
        why = " (a request has one body: json, body, form or files)" if pair <= _BODY_KEYS else ""
        yield ctx.at(error, f"{second!r} cannot be combined with {first!r}{why}", second, key=True)


def _dependency(ctx: _Context, error: Error) -> Iterator[Problem]:
    for key, needs in error.validator_value.items():
        if key in error.instance:
            for need in needs:
                if need not in error.instance:
                    yield ctx.at(
                        error, f"{key!r} only applies together with {need!r}", key, key=True
                    )


def _bad_pattern(ctx: _Context, error: Error) -> Iterator[Problem]:
    help_text = _PATTERN_HELP.get(error.schema.get("pattern", ""))
    if ctx.def_name(error) in _DURATION_DEFS:
        yield ctx.at(error, _duration_message(error.instance))
    elif help_text is not None:
        yield ctx.at(error, f"{_quote(error.instance)} {help_text}")
    else:
        yield ctx.at(error, f"{_quote(error.instance)} does not match {error.validator_value}")


def _bad_enum(ctx: _Context, error: Error) -> Iterator[Problem]:
    choices = [str(c) for c in error.validator_value]
    close = _did_you_mean(error.instance, choices) if isinstance(error.instance, str) else None
    hint = f" (did you mean {close!r}?)" if close else ""
    yield ctx.at(error, f"{_quote(error.instance)} is not one of {', '.join(choices)}{hint}")


def _bad_const(ctx: _Context, error: Error) -> Iterator[Problem]:
    path = tuple(error.absolute_path)
    if path == ("version",):
        yield ctx.at(
            error, f"unsupported version {describe(error.instance)}: this yamlswarm reads version 1"
        )
    else:
        yield ctx.at(
            error, f"expected {describe(error.validator_value)} (got {describe(error.instance)})"
        )


def _bound(ctx: _Context, error: Error) -> Iterator[Problem]:
    if ctx.def_name(error) in _DURATION_DEFS:
        yield ctx.at(error, _duration_message(error.instance))
        return
    words = {
        "minimum": "of at least",
        "maximum": "of at most",
        "exclusiveMinimum": "greater than",
        "exclusiveMaximum": "less than",
    }[error.validator]
    noun = "an integer" if "integer" in str(error.schema.get("type")) else "a number"
    yield ctx.at(
        error, f"expected {noun} {words} {error.validator_value} (got {describe(error.instance)})"
    )


def _size(ctx: _Context, error: Error) -> Iterator[Problem]:
    name = ctx.def_name(error) or ""
    value = error.instance
    if name in ("between", "basic_auth"):
        yield ctx.at(
            error,
            f"expected {_DEF_NOUNS[name]} (got {len(value)} item{'s' if len(value) != 1 else ''})",
        )
    elif name == "steps":
        yield ctx.at(error, "expected at least one step (got an empty list)")
    elif name in _SIZE_MESSAGES:
        yield ctx.at(error, _SIZE_MESSAGES[name])
    elif name == "header_check":
        yield ctx.at(error, "expected exactly one of contains, matches")
    elif error.validator == "minItems":
        yield ctx.at(
            error,
            f"expected a list of at least {error.validator_value} item(s) (got an empty list)",
        )
    else:
        yield from _fallback(ctx, error)


def _fallback(ctx: _Context, error: Error) -> Iterator[Problem]:
    if error.context:  # an anyOf/oneOf we did not design for: say the most relevant branch
        from jsonschema.exceptions import best_match

        yield from ctx.translate(best_match(error.context))
        return
    yield ctx.at(error, error.message)


_HANDLERS: dict[str | None, Callable[[_Context, Error], Iterable[Problem]]] = {
    "additionalProperties": _unknown_keys,
    "required": _missing,
    "type": _wrong_type,
    "oneOf": _exactly_one,
    "not": _conflict,
    "dependentRequired": _dependency,
    "pattern": _bad_pattern,
    "enum": _bad_enum,
    "const": _bad_const,
    "minimum": _bound,
    "maximum": _bound,
    "exclusiveMinimum": _bound,
    "exclusiveMaximum": _bound,
    "minItems": _size,
    "maxItems": _size,
    "minProperties": _size,
    "maxProperties": _size,
}
