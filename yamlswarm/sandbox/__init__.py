"""The template sandbox: what a template may touch, and how much one render may do.

`Sandbox` is Jinja2's immutable sandbox made stricter, so a scenario without hooks
cannot reach the interpreter (the defences are layered; each stops the known escapes):

- no name starting with `_`; no attribute at all of a class, function, method,
  module, code object, frame or generator; and no class, module, function, code
  object or frame as the value of an attribute or an item - so no walk to
  `__globals__`, `__subclasses__`, `__self__` or a module, whatever the route
  (`x.y`, `x['y']`, `|attr`, `|map(attribute=)`, `"{0.y}".format(x)`);
- methods only of plain data (text, numbers, lists, mappings, sets, dates, Decimal,
  UUID; never a mutating one) and of Jinja's loop helpers; other objects (the
  user's `data` rows, `user`) show their data attributes only;
- objects of a `SafeProxy` subclass (the `faker` of templates, see
  yamlswarm/safe_faker.py) decide themselves which attributes they expose;
- the globals (`range`, `dict`, `lipsum`, `cycler`, `joiner`, `namespace`) are
  plain functions with bounds, never classes.

Every render is bounded; past a bound it raises `TemplateLimitError` naming it:

- `MAX_LOOP_ITERATIONS` `{% for %}` iterations in one render (all loops together),
  `MAX_RANGE` items in a `range()`, `MAX_FILTER_ITEMS` items into a filter that
  does Python work per item (`map`, `sort`, `join`, ...);
- `MAX_SIZE` characters or items in any text or collection a template builds:
  `*`, `+`, `%`, `~`, list and dict literals, `str` methods, filters, the output;
  integers of at most `MAX_INT_BITS` bits from `*` and `**`;
- `MAX_RENDER_SECONDS` of time, checked every 64 loop iterations and at every call
  (outside loops and calls a template does finitely many bounded steps).

The modules: `bounds` (the limits, sizes, operators, globals), `filters` (filters
with bounds, and the checks templates are wrapped in), `environment` (`Sandbox`,
what may be touched, and `bound_template`).

`bound_template(ast)` rewrites a parsed template to apply the bounds (loops,
`~`, literals, output) and refuses what scenario templates have no use for
(`include`, `import`, `extends`, recursive loops, `self`).
"""

from __future__ import annotations

from yamlswarm.sandbox.bounds import (
    IMPURE_GLOBALS,
    MAX_FILTER_ITEMS,
    MAX_INT_BITS,
    MAX_LIPSUM_WORDS,
    MAX_LOOP_ITERATIONS,
    MAX_RANGE,
    MAX_RENDER_SECONDS,
    MAX_SIZE,
    RenderContext,
    TemplateLimitError,
    TemplateNotAllowed,
    check_size,
    size_of,
)
from yamlswarm.sandbox.environment import (
    PLAIN_DATA,
    SafeProxy,
    Sandbox,
    bound_template,
    passes_through,
    plain_output,
)

__all__ = [
    "IMPURE_GLOBALS",
    "MAX_FILTER_ITEMS",
    "MAX_INT_BITS",
    "MAX_LIPSUM_WORDS",
    "MAX_LOOP_ITERATIONS",
    "MAX_RANGE",
    "MAX_RENDER_SECONDS",
    "MAX_SIZE",
    "PLAIN_DATA",
    "RenderContext",
    "SafeProxy",
    "Sandbox",
    "TemplateLimitError",
    "TemplateNotAllowed",
    "bound_template",
    "check_size",
    "passes_through",
    "plain_output",
    "size_of",
]
