"""Response extraction: a request step's `extract:` compiled once into an `Extractor`.

`build_extractor(extracts)` asks the extractor table (`yamlswarm.extractors`)
for one getter per extraction, compiling JMESPath expressions and regexes up
front (None when there is nothing to extract). `extractor(response, variables)` sets
`variables[var]` for every extraction that succeeds and returns the stable
error names of those that fail, e.g.
`extract product_id: jmespath products[0].id matched nothing`.

Kinds: `jmespath` (on `response.json()`; a None result is "matched nothing",
any other value, even 0 or "", is a match; a body nested deeper than 256
levels is an error), `regex` (a search on `response.text` within a time limit,
`group` 0 = whole match; a group that did not take part is "no match"; running
past the limit is `extract VAR: regex 'PATTERN' (regex timed out after 100ms)`), `header` (`response.headers.get`), `cookie` (the cookies set by
THIS response), `status` (always succeeds).

A failure with a `default` stores the default (a templated default is
rendered with `variables` as the context) and is not an error. A failure
without one is an error and REMOVES `var` from `variables` if an earlier
iteration had set it: the SPEC says the variable "stays unset", and a stale
value silently reused would hide the failure.
"""

from __future__ import annotations

from jinja2 import Undefined, UndefinedError

from yamlswarm import plan
from yamlswarm.extractors import BY_NAME, ExtractFailed, Getter
from yamlswarm.runtime.http.response import Response
from yamlswarm.templates import Template

__all__ = ["Extractor", "build_extractor"]


class Extractor:
    """All extractions of one request step."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[plan.Extract, Getter]]) -> None:
        self._items = tuple(items)

    def __call__(self, response: Response, variables: dict) -> list[str]:
        """Store each extracted value in `variables`; return the error names of failures."""
        errors: list[str] = []
        for extract, getter in self._items:
            try:
                variables[extract.var] = getter(response)
            except ExtractFailed as failed:
                error = _fall_back(extract, variables, failed.args[0])
                if error is not None:
                    errors.append(error)
        return errors


def build_extractor(extracts: tuple[plan.Extract, ...]) -> Extractor | None:
    """Compile a step's extractions once; None when the step extracts nothing."""
    if not extracts:
        return None
    return Extractor([(extract, BY_NAME[extract.kind].getter(extract)) for extract in extracts])


def _fall_back(extract: plan.Extract, variables: dict, error: str) -> str | None:
    """Store the default, or unset the variable and return the error name."""
    if extract.has_default:
        default = extract.default
        if not isinstance(default, Template):
            variables[extract.var] = default
            return None
        try:
            value = default.render(variables)
            if isinstance(value, Undefined):
                str(value)  # StrictUndefined raises here with the undefined name
                raise UndefinedError("undefined value")
            variables[extract.var] = value
            return None
        except Exception as exc:  # a template error is the extraction's failure
            error = f"extract {extract.var}: default (template error: {exc})"
    variables.pop(extract.var, None)
    return error
