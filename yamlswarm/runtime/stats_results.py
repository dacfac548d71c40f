"""The error and check groups of a run's statistics, as the result reports them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from yamlswarm.result import CheckResult, ErrorResult

# how stats.py names a failed check: "check failed: <check>" (+ MESSAGE_SEPARATOR + message)
CHECK_PREFIX = "check failed: "
MESSAGE_SEPARATOR = " — "  # "check failed: <check> — <its message:, rendered>"
# Transactions time several steps; their failures are the failures of those steps, which the
# error table already shows, so they are left out of it.
TRANSACTION_METHODS = frozenset({"GROUP", "FLOW"})


def error_results(stats: Any, rows: Iterable[Any]) -> list[ErrorResult]:
    """The error groups of the rows (transaction rows left out), most frequent first."""
    out = []
    for row in rows:
        if row.method in TRANSACTION_METHODS:
            continue
        for error, (count, first, last, example) in row.errors.items():
            out.append(
                ErrorResult(
                    row.name,
                    row.method,
                    error,
                    count,
                    round(first - stats.started, 3),
                    round(last - stats.started, 3),
                    example,
                )
            )
    out.sort(key=lambda e: (-e.count, e.name, e.method, e.error))
    return out


def check_results(stats: Any) -> list[CheckResult]:
    """Every declared or failed check, with its failures and the first rendered messages."""
    failed: dict[tuple[str, str, str], int] = {}
    messages: dict[tuple[str, str, str], list[str]] = {}
    for row in stats.rows.values():
        for error, group in row.errors.items():
            if error.startswith(CHECK_PREFIX):
                check, _, message = error[len(CHECK_PREFIX) :].partition(MESSAGE_SEPARATOR)
                key = (row.name, row.method, check)
                failed[key] = failed.get(key, 0) + group[0]
                if message and len(messages.setdefault(key, [])) < 5:
                    messages[key].append(message)
    keys = sorted(stats.checks | failed.keys())
    return [
        CheckResult(n, m, d, failed.get((n, m, d), 0), messages.get((n, m, d), []))
        for n, m, d in keys
    ]
