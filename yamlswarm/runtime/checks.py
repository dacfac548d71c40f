"""Response checks: a request step's `check:` compiled once into a fast `Checker`.

`build_checker(checks)` compiles JMESPath expressions and regexes up front;
`checker(response, ctx)` is None when every check passes, else a short,
stable failure name (never the varying actual value, so error groups stay
few), e.g. `check failed: status 200`, `check failed: max_latency 500ms`.
`checker.failure(response, ctx)` gives `(name, detail)` where `detail` is the
actual value, for error examples and `--trace`.

Rules:
- a response with `error` set (no response arrived) fails as that error name;
- without a `status` check, a status >= 400 fails as `HTTP <status>`;
- checks run in the order status, jmespath, body_contains, body_matches,
  header, max_latency, and the first failure is reported;
- JMESPath ops: `eq`/`ne` (a bool never equals a number), `gt ge lt le`
  (numbers with numbers, strings with strings, anything else fails),
  `in` (result in value), `contains` (value in result), `matches`
  (a regex search on the result: a string as is, other values as JSON; a
  missing result fails), `exists` (result is not None, or is None for
  `exists: false`); a type mismatch makes the check fail, never raise;
- a body that is not JSON fails a jmespath check as
  `check failed: jmespath EXPR (body is not JSON)`, one nested too deep as
  `... (response JSON nested deeper than 256 levels)`;
- regexes (`body_matches`, `matches`) are searched within a time limit
  (`runtime.bounded`); running past it fails the check as
  `check failed: body_matches PATTERN (regex timed out after 100ms)`;
- values that are templates are rendered with `ctx` on each call; a template
  that fails to render fails its check (`... (template error: ...)`).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from typing import Any

from jinja2 import Undefined, UndefinedError
from jmespath.exceptions import JMESPathError, JMESPathTypeError

from yamlswarm import plan
from yamlswarm.runtime.bounded import (
    JsonTooDeep,
    RegexError,
    RegexTimeout,
    compile_regex,
    response_json,
    search,
)
from yamlswarm.runtime.http.response import Response
from yamlswarm.runtime.jmes import compile_jmespath
from yamlswarm.runtime.values import as_text
from yamlswarm.templates import Template, renderer

MESSAGE_SEPARATOR = " — "  # as `runtime.stats.MESSAGE_SEPARATOR`

__all__ = ["Checker", "build_checker"]

PREFIX = "check failed: "
_BODY_HEAD = 200

Failure = tuple[str, "str | None"]  # (stable name, actual value or None)
_Test = Callable[[Response, dict], "Failure | None"]


class Checker:
    """All checks of one request step; call it with a response and the user context."""

    __slots__ = ("_tests", "descriptions")

    def __init__(self, tests: list[_Test], descriptions: tuple[str, ...]) -> None:
        self._tests = tuple(tests)
        self.descriptions = descriptions  # one per declared check, text after "check failed: "

    def __call__(self, response: Response, ctx: dict) -> str | None:
        """None when every check passes, else the stable failure name."""
        if response.error is not None:
            return response.error
        for test in self._tests:
            failed = test(response, ctx)
            if failed is not None:
                return failed[0]
        return None

    def failure(self, response: Response, ctx: dict) -> Failure | None:
        """Like calling the checker, but returns `(name, actual)` on failure."""
        if response.error is not None:
            return response.error, None
        for test in self._tests:
            failed = test(response, ctx)
            if failed is not None:
                return failed
        return None


def build_checker(checks: plan.Checks) -> Checker:
    """Compile `checks` once per request step (regexes and JMESPath included)."""
    built: list[tuple[_Test, str | None]] = []
    block = checks.message
    if checks.status is not None:
        built.append(_told(_status(checks.status), block, checks.status.describe()))
    else:
        built.append((_default_status, None))
    built.extend(_told(_jmespath(c), c.message or block, c.value) for c in checks.jmespath)
    if checks.body_contains is not None:
        contains = checks.body_contains
        built.append(_told(_body_contains(contains), block, contains))
    if checks.body_matches:
        matches = checks.body_matches
        built.append(_told(_body_matches(matches), block, matches))
    built.extend(_told(_header(check), block, check.value) for check in checks.headers)
    if checks.max_latency is not None:
        limit = checks.max_latency
        built.append(_told(_max_latency(limit), block, _format_ms(limit)))
    descriptions = tuple(desc for _, desc in built if desc is not None)
    return Checker([test for test, _ in built], descriptions)


def _told(built: tuple[_Test, str], message: Any, expected: Any) -> tuple[_Test, str]:
    """A check whose failure reads `check failed: <check> — <message>` (`message:` rendered
    with the user's variables, `actual` and `expected`); without a message, the check as is."""
    test, desc = built
    if message is None:
        return built
    render = renderer(message)
    expected_of = _resolver(expected)
    head = PREFIX + desc + MESSAGE_SEPARATOR

    def told(response: Response, ctx: dict) -> Failure | None:
        failed = test(response, ctx)
        if failed is None or not failed[0].startswith(PREFIX):
            return failed  # passed, or no response at all (a transport error keeps its name)
        actual = failed[1]
        try:
            wanted = expected_of(ctx)
        except Exception:  # the check itself reported its template error
            wanted = expected.source if isinstance(expected, Template) else expected
        try:
            text = as_text(render({**ctx, "actual": actual, "expected": wanted}))
        except Exception as exc:  # a message that does not render: the reason, not a crash
            text = f"(message template error: {exc})"
        return head + text, actual

    return told, desc


# ---------------------------------------------------------------- helpers


def _quote(text: Any) -> str:
    """A value as it appears in a failure name: strings quoted as written, others as JSON."""
    if isinstance(text, Template):
        text = text.source
    if isinstance(text, str):
        return f"'{text}'"
    return _as_json(text)


def _as_json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError):
        return str(value)


def _resolver(value: Any) -> Callable[[dict], Any]:
    """A function giving the value for one context: constant, or rendered template."""
    if isinstance(value, Template):
        return _strict(value.render)

    def constant(ctx: dict) -> Any:
        return value

    return constant


def _strict(render: Callable[[dict], Any]) -> Callable[[dict], Any]:
    """`render`, raising UndefinedError where a lone `{{ name }}` gives an Undefined."""

    def value(ctx: dict) -> Any:
        result = render(ctx)
        if isinstance(result, Undefined):
            str(result)  # StrictUndefined raises here with the undefined name
            raise UndefinedError("undefined value")
        return result

    return value


def _template_failure(name: str, exc: Exception) -> Failure:
    return f"{name} (template error: {exc})", None


def _format_ms(seconds: float) -> str:
    return f"{seconds * 1000:g}ms"


# ---------------------------------------------------------------- status


def _default_status(response: Response, ctx: dict) -> Failure | None:
    status = response.status
    if status >= 400:
        return f"HTTP {status}", response.body[:_BODY_HEAD].decode("utf-8", "replace")
    return None


def _status(check: plan.StatusCheck) -> tuple[_Test, str]:
    desc = f"status {check.describe()}"
    name = PREFIX + desc
    codes, classes = check.codes, check.classes

    def test(response: Response, ctx: dict) -> Failure | None:
        status = response.status
        if status in codes or status // 100 in classes:
            return None
        return name, str(status)

    return test, desc


# ---------------------------------------------------------------- jmespath


def _strict_eq(result: Any, expected: Any) -> bool:
    if isinstance(result, bool) is not isinstance(expected, bool):
        return False
    return bool(result == expected)


_NUMBERS = frozenset({int, float})


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def test(result: Any, expected: Any) -> bool:
        # exact types: JSON gives int/float/str, and a bool (type bool) is not a number here
        kind, other = type(result), type(expected)
        if (kind in _NUMBERS and other in _NUMBERS) or (kind is str and other is str):
            return compare(result, expected)
        return False

    return test


def _contained(item: Any, container: Any) -> bool:
    try:
        return item in container
    except TypeError:
        return False


def _matches(result: Any, pattern: Any) -> bool:
    if result is None:
        return False
    text = result if isinstance(result, str) else _as_json(result)
    return search(pattern, text) is not None  # may raise RegexTimeout


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _strict_eq,
    "ne": lambda result, expected: not _strict_eq(result, expected),
    "gt": _ordered(operator.gt),
    "ge": _ordered(operator.ge),
    "lt": _ordered(operator.lt),
    "le": _ordered(operator.le),
    "in": _contained,
    "contains": lambda result, expected: _contained(expected, result),
    "matches": _matches,
    "exists": lambda result, expected: (result is not None) is bool(expected),
}


def _jmespath(check: plan.JmesCheck) -> tuple[_Test, str]:
    compare = _OPS[check.op]
    find = compile_jmespath(check.expr)
    value = check.value
    if check.op == "matches" and isinstance(value, str):
        value = compile_regex(value)
    render = _strict(value.render) if isinstance(value, Template) else None
    desc = f"jmespath {check.expr} {check.op} {_quote(check.value)}"
    name = PREFIX + desc
    not_json = f"{PREFIX}jmespath {check.expr} (body is not JSON)"

    def test(response: Response, ctx: dict) -> Failure | None:
        try:
            data = response_json(response)
        except JsonTooDeep as exc:
            return f"{PREFIX}jmespath {check.expr} ({exc})", None
        except ValueError:
            return not_json, response.body[:_BODY_HEAD].decode("utf-8", "replace")
        try:
            result = find(data)
        except JMESPathTypeError:
            return f"{name} (invalid type)", None
        except JMESPathError as exc:
            return f"{name} ({type(exc).__name__})", None
        wanted = value
        if render is not None:
            try:
                wanted = render(ctx)
            except Exception as exc:  # a template error is the check's failure
                return _template_failure(name, exc)
        try:
            passed = compare(result, wanted)
        except RegexTimeout as exc:
            return f"{name} ({exc})", None
        except (TypeError, ValueError, RegexError):
            passed = False
        return None if passed else (name, _as_json(result))

    return test, desc


# ---------------------------------------------------------------- body


def _body_contains(value: Any) -> tuple[_Test, str]:
    desc = f"body_contains {_quote(value)}"
    name = PREFIX + desc
    if isinstance(value, Template):
        render = _strict(value.render)

        def templated(response: Response, ctx: dict) -> Failure | None:
            try:
                needle = str(render(ctx)).encode("utf-8")
            except Exception as exc:  # a template error is the check's failure
                return _template_failure(name, exc)
            return None if needle in response.body else (name, None)

        return templated, desc
    constant = str(value).encode("utf-8")

    def test(response: Response, ctx: dict) -> Failure | None:
        return None if constant in response.body else (name, None)

    return test, desc


def _body_matches(pattern: str) -> tuple[_Test, str]:
    regex = compile_regex(pattern)
    desc = f"body_matches {_quote(pattern)}"
    name = PREFIX + desc

    def test(response: Response, ctx: dict) -> Failure | None:
        try:
            found = search(regex, response.text)
        except RegexTimeout as exc:
            return f"{name} ({exc})", None
        if found is not None:
            return None
        return name, response.body[:_BODY_HEAD].decode("utf-8", "replace")

    return test, desc


# ---------------------------------------------------------------- headers and latency


def _header(check: plan.HeaderCheck) -> tuple[_Test, str]:
    shown = check.value.source if isinstance(check.value, Template) else check.value
    desc = f"header {check.name} {check.op} {shown}"
    name = PREFIX + desc
    header = check.name
    value = check.value
    if check.op == "matches" and isinstance(value, str):
        value = compile_regex(value)
    expected = _resolver(value)
    compare = _HEADER_OPS[check.op]

    def test(response: Response, ctx: dict) -> Failure | None:
        actual = response.headers.get(header)
        if actual is None:
            return name, "(missing)"
        try:
            wanted = expected(ctx)
        except Exception as exc:  # a template error is the check's failure
            return _template_failure(name, exc)
        try:
            passed = compare(actual, wanted)
        except RegexTimeout as exc:
            return f"{name} ({exc})", None
        except RegexError:  # a rendered pattern that is not a regex
            passed = False
        return None if passed else (name, actual)

    return test, desc


_HEADER_OPS: dict[str, Callable[[str, Any], bool]] = {
    "eq": lambda actual, wanted: actual == str(wanted),
    "contains": lambda actual, wanted: str(wanted) in actual,
    "matches": _matches,
}


def _max_latency(limit: float) -> tuple[_Test, str]:
    desc = f"max_latency {_format_ms(limit)}"
    name = PREFIX + desc

    def test(response: Response, ctx: dict) -> Failure | None:
        elapsed = response.elapsed
        return None if elapsed <= limit else (name, _format_ms(round(elapsed, 4)))

    return test, desc
