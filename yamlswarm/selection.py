"""Picking what runs: `-T/--tags`, `-E/--exclude-tags` and `--user-type`, applied to a plan.

As in Locust, a flow has its own `tags:` and those of its user type; with
`--tags` only flows having one of them run, with `--exclude-tags` flows having
one of those do not; `--user-type` keeps the named user types. User types left
without flows are dropped. The runtime only ever sees the smaller plan.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from yamlswarm import plan as p
from yamlswarm.errors import UsageError

__all__ = ["Selection", "select"]


@dataclass(frozen=True)
class Selection:
    """What the command line picked; empty tuples pick everything."""

    tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    user_types: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, tags: Iterable[str], exclude_tags: Iterable[str], user_types: Iterable[str]
    ) -> Selection:
        return cls(_unique(tags), _unique(exclude_tags), _unique(user_types))

    def __bool__(self) -> bool:
        return bool(self.tags or self.exclude_tags or self.user_types)

    def describe(self) -> str:
        """`tags checkout, smoke; not slow; user types shopper` for the banner."""
        parts = []
        if self.tags:
            parts.append("tags " + ", ".join(self.tags))
        if self.exclude_tags:
            parts.append("not " + ", ".join(self.exclude_tags))
        if self.user_types:
            parts.append("user types " + ", ".join(self.user_types))
        return "; ".join(parts)

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "tags": list(self.tags),
            "exclude_tags": list(self.exclude_tags),
            "user_types": list(self.user_types),
        }


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(n) for n in names))


def select(plan: p.Plan, selection: Selection) -> p.Plan:
    """The plan with only the selected flows and user types; UsageError (exit 2) when a name is
    unknown or nothing is left to run."""
    if not selection:
        return plan
    _check_names(plan, selection)
    users = []
    for user in plan.users:
        if selection.user_types and user.name not in selection.user_types:
            continue
        flows = tuple(f for f in user.flows if _wanted({*f.tags, *user.tags}, selection))
        if flows:
            users.append(dataclasses.replace(user, flows=flows))
    if not users:
        raise UsageError(f"the selection ({selection.describe()}) leaves no flow to run")
    return dataclasses.replace(plan, users=tuple(users))


def _wanted(tags: set[str], selection: Selection) -> bool:
    if selection.tags and not tags.intersection(selection.tags):
        return False
    return not tags.intersection(selection.exclude_tags)


def _check_names(plan: p.Plan, selection: Selection) -> None:
    known_tags = sorted(
        {t for u in plan.users for t in (*u.tags, *(x for f in u.flows for x in f.tags))}
    )
    problems = [
        _unknown("tag", name, option, known_tags)
        for option, names in (
            ("--tags", selection.tags),
            ("--exclude-tags", selection.exclude_tags),
        )
        for name in names
        if name not in known_tags
    ]
    user_names = [u.name for u in plan.users]
    problems += [
        _unknown("user type", name, "--user-type", user_names)
        for name in selection.user_types
        if name not in user_names
    ]
    if problems:
        raise UsageError("\n".join(problems))


def _unknown(what: str, name: str, option: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listed = f"its {what}s: {', '.join(known)}" if known else f"it has no {what}s"
    return f"{option}: the scenario has no {what} {name!r}{hint}; {listed}"
