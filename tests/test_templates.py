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
