"""Templates: compiled once, typed single expressions, text otherwise, strict about undefined names."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError

from yamlswarm.templates import Template, TemplateCompileError, base_context, compile_value


def test_constants_cost_nothing():
    value = {"a": [1, "x"], "b": "plain"}
    assert compile_value(value) is value
    assert compile_value("no braces") == "no braces"


def test_single_expression_keeps_its_type():
    assert compile_value("{{ 5 }}").render({}) == 5
    assert compile_value(" {{ [1, 2] }} ").render({}) == [1, 2]
    assert compile_value("{{ x > 3 }}").render({"x": 4}) is True


def test_mixed_text_renders_to_a_string():
    template = compile_value("Bearer {{ token }}")
    assert template.render({"token": "abc"}) == "Bearer abc"
    assert template.names == frozenset({"token"})


def test_structures_render_every_template_inside():
    template = compile_value({"id": "{{ pid }}", "qty": 2, "tags": ["{{ tag }}", "x"]})
    assert isinstance(template, Template)
    assert template.render({"pid": 7, "tag": "t"}) == {"id": 7, "qty": 2, "tags": ["t", "x"]}
    assert template.names == {"pid", "tag"}


@pytest.mark.parametrize("text", ["{{ x }}", "a {{ x }}", "{{ x.y }}", "{{ x + 1 }}"])
def test_undefined_names_raise(text):
    with pytest.raises(UndefinedError):
        compile_value(text).render({})


@pytest.mark.parametrize("text", ["{{ x + }}", "{{ }}", "a {{ x", "{% if %}{{ x }}"])
def test_syntax_errors_are_reported(text):
    with pytest.raises(TemplateCompileError, match="does not compile"):
        compile_value(text)


def test_sandbox_blocks_private_attributes():
    from jinja2.exceptions import SecurityError

    with pytest.raises(SecurityError):
        compile_value("{{ x.__class__.__mro__ }}").render({"x": 1})


def test_base_context_offers_jinja_globals():
    ctx = base_context()
    assert compile_value("{{ range(3) | list }}").render(ctx) == [0, 1, 2]


class _Slotted:
    __slots__ = ("id", "items")

    def __init__(self) -> None:
        self.id = 7
        self.items = [1, 2]


_DOTTED = [
    "/x?user={{ user.id }}&i={{ iteration }}",
    "{{ user.id }}",
    "{{ user.items }}",
    "{{ d.a }}-{{ d['b'] }}-{{ d.items }}",  # Jinja: an attribute first, so `d.items` is the method
    "{{ d['nested'].x }}",
    "{{ n }}",
    "{{ missing }}",
    "a {{ missing }} b",
    "{{ missing.x }}",
    "{{ user.nope }}",
    "x{{ user.nope }}",
    "{{ d.__class__ }}",
    "{{ user._hidden }}",
    "{{ d['nested']['y'] }}",
]


@pytest.mark.parametrize("source", _DOTTED)
def test_dotted_names_render_as_jinja_renders_them(source):
    """Templates of text and dotted names skip Jinja's Context (a fast path): the value, or the
    error, is the one the Jinja template gives."""
    from yamlswarm.templates import _ENV, RenderContext, _direct_text

    ctx = {
        **base_context(),
        "user": _Slotted(),
        "iteration": 3,
        "n": None,
        "d": {"a": 1, "b": "two", "items": "shadowed", "nested": {"x": [1]}},
    }
    fast = compile_value(source)
    assert fast.render.__name__ in ("render_direct", "render_value")
    if fast.render.__name__ == "render_value":
        expected = _jinja_value(source, ctx)
    else:
        template = _ENV.from_string(source)
        assert _direct_text(_ENV.parse(source)) is not None

        def expected_text():
            return "".join(template.root_render_func(RenderContext(_ENV, ctx, None, {})))

        expected = _outcome(expected_text)
    assert _outcome(lambda: fast.render(ctx)) == expected


def _jinja_value(source, ctx):
    from yamlswarm.templates import _ENV, RenderContext

    expression = source.strip()[2:-2]
    template = _ENV.from_string("{% set result = " + expression + " %}")

    def value():
        context = RenderContext(_ENV, ctx, None, {})
        for _ in template.root_render_func(context):
            pass
        result = context.vars["result"]
        if isinstance(result, __import__("jinja2").Undefined):
            result._fail_with_undefined_error()
        return result

    return _outcome(value)


def _outcome(render):
    try:
        value = render()
    except Exception as exc:
        return type(exc).__name__, str(exc)
    return "ok", repr(value) if callable(value) else value
