"""Templates that read only the globals (`range`, `lipsum`, ...): validate and run agree."""

from __future__ import annotations

import pytest

from tests.test_compiler import compile_text, problems
from yamlswarm.templates import Template

BODY = """
variables:
  numbers: "{{ range(3) | list }}"
  words: "{{ lipsum(1, false, 3, 5) }}"
users:
  - flows:
      - steps:
          - set: {x: "{{ range(2) | list }}", text: "{{ lipsum(1, false, 3, 5) }}"}
          - get: "/items/{{ range(4) | list | length }}"
          - log: "{{ dict(a=1) }} {{ numbers }}"
"""


@pytest.mark.parametrize("render_variables", [True, False], ids=["run", "validate"])
def test_globals_in_constant_templates_compile_in_both_modes(tmp_path, render_variables):
    plan = compile_text(tmp_path, BODY, render_variables=render_variables)
    step = plan.users[0].flows[0].steps
    if render_variables:  # run: pure constants fold, impure ones (lipsum) stay templates
        assert plan.variables["numbers"] == [0, 1, 2]
        assert isinstance(plan.variables["words"], str) and plan.variables["words"]
        assignments = dict(step[0].assignments)
        assert assignments["x"] == [0, 1]
        assert isinstance(assignments["text"], Template)
        assert step[1].url == "/items/4"


@pytest.mark.parametrize("render_variables", [True, False], ids=["run", "validate"])
def test_a_constant_past_a_bound_is_the_same_error_in_both_modes(tmp_path, render_variables):
    body = BODY.replace("range(2)", "range(10**9)").replace(
        'lipsum(1, false, 3, 5) }}"}', 'lipsum(10**6) }}"}'
    )
    assert problems(tmp_path, body, render_variables=render_variables) == [
        (
            "users[0].flows[0].steps[0].set.x",
            "cannot render template: range() of more than 100,000 items",
        ),
        (
            "users[0].flows[0].steps[0].set.text",
            "cannot render template: lipsum() of up to 100,000,000 words (n * max): at most 100,000",
        ),
    ]


def test_an_escape_in_a_constant_template_is_a_validation_error(tmp_path):
    body = "users:\n  - flows:\n      - steps:\n          - log: \"{{ ''.__class__ }}\"\n"
    assert problems(tmp_path, body, render_variables=False) == [
        (
            "users[0].flows[0].steps[0].log",
            "cannot render template: access to attribute '__class__' of 'str' object is unsafe.",
        ),
    ]


@pytest.mark.parametrize("render_variables", [True, False], ids=["run", "validate"])
def test_a_constant_template_s_value_is_checked_in_both_modes(tmp_path, render_variables):
    body = (
        "metrics: {n: counter}\n"
        "users:\n  - flows:\n      - steps:\n"
        "          - metric: {name: n, add: \"{{ 'abc' }}\"}\n"
        '          - metric: {name: n, add: "{{ 2 + 3 }}"}\n'
    )
    assert problems(tmp_path, body, render_variables=render_variables) == [
        ("users[0].flows[0].steps[0].metric.add", "metric 'n' (counter): 'abc' is not a number"),
    ]
