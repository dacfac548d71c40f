"""The JSON Schema of the scenario format (draft 2020-12): a base file plus the registries' parts.

`scenario.schema.json` (package data) holds everything but the steps and the
extractors; `schema()` adds the `step` dispatcher and each step kind's `$defs`
from the step-kind registry (`yamlswarm.kinds`), and the `extractor` definition
from the extractor table (`yamlswarm.extractors`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from yamlswarm.extractors import COMMON_PROPERTIES, EXTRACTORS, ExtractorKind
from yamlswarm.kinds import KINDS, StepKind

__all__ = ["SCHEMA_FILE", "is_valid", "schema", "schema_text"]

SCHEMA_FILE = Path(__file__).with_name("scenario.schema.json")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The scenario schema as a dict (cached and shared: do not mutate it)."""
    root = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    defs: dict[str, Any] = {}
    for name, sub in root["$defs"].items():
        defs[name] = sub
        if name == "extract":
            defs["extractor"] = _extractor_def(EXTRACTORS)
        elif name == "steps":
            defs.update(_step_defs(KINDS))
    root["$defs"] = defs
    return json.loads(json.dumps(root))  # plain JSON: no tuples, no dict shared by two places


def _step_defs(kinds: Iterable[StepKind]) -> dict[str, Any]:
    """`step` (exactly one kind key, then that kind's own schema) and every kind's `$defs`."""
    keys = [(key, text, kind.step_def(key)) for kind in kinds for key, text in kind.keys.items()]
    names = ", ".join(key for key, _, _ in keys)
    step = {
        "type": "object",
        "description": f"One step: a mapping with exactly one kind key ({names}).",
        "properties": {key: {"description": text} for key, text, _ in keys},
        "oneOf": [{"required": [key]} for key, _, _ in keys],
        "allOf": [
            {"if": {"type": "object", "required": [key]}, "then": {"$ref": f"#/$defs/{target}"}}
            for key, _, target in keys
        ],
    }
    defs: dict[str, Any] = {"step": step}
    for kind in kinds:
        defs.update(kind.schema)
    return defs


def _extractor_def(extractors: Iterable[ExtractorKind]) -> dict[str, Any]:
    """`extractor`: exactly one of the table's sources, plus the keys every extractor may add."""
    extractors = list(extractors)
    names = [e.name for e in extractors]
    properties: dict[str, Any] = {}
    requires: dict[str, Any] = {}
    for extractor in extractors:
        properties.update(extractor.properties)
        requires.update(extractor.requires)
    out: dict[str, Any] = {
        "type": "object",
        "description": f"Exactly one of {', '.join(names)}; optional default.",
        "properties": {**properties, **COMMON_PROPERTIES},
        "oneOf": [{"required": [name]} for name in names],
    }
    if requires:
        out["dependentRequired"] = requires
    out["additionalProperties"] = False
    return out


def schema_text() -> str:
    """The schema as pretty-printed JSON ending in a newline (`yamlswarm schema`)."""
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- fast validity check
#
# `jsonschema` takes ~120 ms to import, a quarter of the budget of `yamlswarm validate`
# in pre-commit. Most files are valid, so `is_valid` answers "is this document valid?"
# with a small interpreter of the keywords this schema uses; only an invalid document
# pays for jsonschema, which then words every error. Tests check both agree.

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples"}
)


def is_valid(data: Any) -> bool:
    """True when `data` satisfies the scenario schema (same verdict as jsonschema)."""
    root = schema()
    return _valid(root, data, root)


def _valid(sub: Any, value: Any, root: dict[str, Any]) -> bool:
    if sub is True or sub is False:
        return sub
    for keyword, argument in sub.items():
        check = _KEYWORDS.get(keyword)
        if check is None:
            if keyword in _ANNOTATIONS or keyword in ("then", "else"):
                continue
            raise NotImplementedError(f"is_valid does not know the keyword {keyword!r}")
        if not check(argument, value, root, sub):
            return False
    return True


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return name == "number" or isinstance(value, int) or value.is_integer()


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _kw_type(arg: Any, value: Any, root: Any, sub: Any) -> bool:
    return any(_is_type(value, t) for t in ([arg] if isinstance(arg, str) else arg))


def _kw_properties(arg: Any, value: Any, root: Any, sub: Any) -> bool:
    if not isinstance(value, dict):
        return True
    return all(_valid(s, value[k], root) for k, s in arg.items() if k in value)


def _kw_pattern_properties(arg: Any, value: Any, root: Any, sub: Any) -> bool:
    if not isinstance(value, dict):
        return True
    return all(
        _valid(s, v, root) for p, s in arg.items() for k, v in value.items() if re.search(p, k)
    )


def _kw_additional(arg: Any, value: Any, root: Any, sub: Any) -> bool:
    if not isinstance(value, dict):
        return True
    known, patterns = sub.get("properties", {}), sub.get("patternProperties", {})
    extra = (
        v for k, v in value.items() if k not in known and not any(re.search(p, k) for p in patterns)
    )
    return all(_valid(arg, v, root) for v in extra)


def _kw_items(arg: Any, value: Any, root: Any, sub: Any) -> bool:
    return not isinstance(value, list) or all(_valid(arg, v, root) for v in value)


def _kw_if(arg: Any, value: Any, root: Any, sub: Any) -> bool:
    branch = sub.get("then", True) if _valid(arg, value, root) else sub.get("else", True)
    return _valid(branch, value, root)


def _kw_ref(arg: str, value: Any, root: Any, sub: Any) -> bool:
    if not arg.startswith("#/$defs/"):
        raise NotImplementedError(f"is_valid only follows local $defs references, not {arg!r}")
    return _valid(root["$defs"][arg[len("#/$defs/") :]], value, root)


def _on(kind: type | tuple[type, ...], test: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    """A keyword that only applies to values of `kind`."""

    def check(arg: Any, value: Any, root: Any, sub: Any) -> bool:
        if not isinstance(value, kind) or (kind is not dict and isinstance(value, bool)):
            return True
        return test(arg, value)

    return check


_KEYWORDS: dict[str, Callable[..., bool]] = {
    "type": _kw_type,
    "properties": _kw_properties,
    "patternProperties": _kw_pattern_properties,
    "additionalProperties": _kw_additional,
    "items": _kw_items,
    "propertyNames": lambda arg, value, root, sub: (
        not isinstance(value, dict) or all(_valid(arg, k, root) for k in value)
    ),
    "if": _kw_if,
    "$ref": _kw_ref,
    "required": _on(dict, lambda arg, v: all(k in v for k in arg)),
    "minProperties": _on(dict, lambda arg, v: len(v) >= arg),
    "maxProperties": _on(dict, lambda arg, v: len(v) <= arg),
    "dependentRequired": _on(
        dict, lambda arg, v: all(n in v for k, needs in arg.items() if k in v for n in needs)
    ),
    "minItems": _on(list, lambda arg, v: len(v) >= arg),
    "maxItems": _on(list, lambda arg, v: len(v) <= arg),
    "pattern": _on(str, lambda arg, v: re.search(arg, v) is not None),
    "minimum": _on((int, float), lambda arg, v: v >= arg),
    "maximum": _on((int, float), lambda arg, v: v <= arg),
    "exclusiveMinimum": _on((int, float), lambda arg, v: v > arg),
    "exclusiveMaximum": _on((int, float), lambda arg, v: v < arg),
    "enum": lambda arg, value, root, sub: any(_equal(value, e) for e in arg),
    "const": lambda arg, value, root, sub: _equal(value, arg),
    "allOf": lambda arg, value, root, sub: all(_valid(s, value, root) for s in arg),
    "anyOf": lambda arg, value, root, sub: any(_valid(s, value, root) for s in arg),
    "oneOf": lambda arg, value, root, sub: sum(_valid(s, value, root) for s in arg) == 1,
    "not": lambda arg, value, root, sub: not _valid(arg, value, root),
    "dependentSchemas": lambda arg, value, root, sub: (
        not isinstance(value, dict)
        or all(_valid(s, value, root) for k, s in arg.items() if k in value)
    ),
}
