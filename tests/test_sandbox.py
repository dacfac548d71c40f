"""The template sandbox: known Jinja2 escapes fail safely, and every render is bounded.

A payload may fail at compile time (TemplateCompileError: a validation error), or
at render time with an error the runtime counts (SecurityError, UndefinedError,
TemplateLimitError); it must never reach the interpreter. A canary in place of
`os.system` / `os.popen` / `subprocess.Popen` proves nothing ran.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import ChainMap

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from tests.cli_helpers import run_json, write_scenario, yamlswarm
from yamlswarm.runtime.data import Row
from yamlswarm.runtime.fake import make_faker
from yamlswarm.runtime.user import UserInfo
from yamlswarm.sandbox import MAX_LOOP_ITERATIONS, MAX_RENDER_SECONDS, MAX_SIZE
from yamlswarm.templates import (
    TemplateCompileError,
    TemplateLimitError,
    base_context,
    compile_value,
)

REFUSED = (TemplateCompileError, SecurityError, UndefinedError, TemplateLimitError)


@pytest.fixture
def canary(monkeypatch):
    """Calls that would mean a template reached the interpreter."""
    calls: list[object] = []

    def record(*args, **kwargs):
        calls.append(args)
        return 0

    monkeypatch.setattr(os, "system", record)
    monkeypatch.setattr(os, "popen", record)
    monkeypatch.setattr(subprocess, "Popen", record)
    yield calls
    assert calls == [], "a template reached the interpreter"


def _context() -> dict:
    ctx = base_context()
    ctx.update(
        faker=make_faker(None, 7),
        env=ChainMap({"TOKEN": "t"}, {}),
        user=UserInfo(1, "shopper"),
        data={"accounts": Row(username="ann", password="secret")},
        iteration=0,
        items=[3, 1, 2],
    )
    return ctx


def _render(text: str):
    return compile_value(text).render(_context())


# ---------------------------------------------------------------- known escapes

ESCAPES = [
    # the classic walks from a literal to object.__subclasses__() and on to os
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ ''.__class__.mro() }}",
    "{{ range(3).__iter__ }}",
    # |attr and escaped names
    "{{ ()|attr('__class__') }}",
    "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ lipsum|attr('__globals__') }}",
    "{{ [faker]|map(attribute='__class__')|first }}",
    "{{ faker.email|attr('__self__') }}",
    # format-string attacks
    "{{ '{0.__class__}'.format(1) }}",
    "{{ '{0.__class__.__base__.__subclasses__}'.format(1) }}",
    "{{ '{0.email.__self__}'.format(faker) }}",
    "{{ '{0.__init__.__globals__}'.format(cycler) }}",
    "{{ '{0[__class__]}'.format(faker) }}",
    "{{ ''.format_map({}) }}",
    "{{ '%s' % faker.__class__ }}",
    # functions' globals, code, closures; the globals of Jinja's helpers
    "{{ lipsum.__globals__['os'].system('id') }}",
    "{{ lipsum.__code__ }}",
    "{{ cycler.__init__.__globals__.os.system('id') }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ cycler(1, 2).next.__func__.__globals__ }}",
    "{{ cycler(1, 2).__class__ }}",
    "{{ namespace(a=1).__class__ }}",
    "{{ range.__self__ }}",
    "{{ dict.__self__ }}",
    "{{ ''.join.__self__ }}",
    "{% macro m() %}x{% endmacro %}{{ m._func.__globals__ }}",
    "{% macro m() %}x{% endmacro %}{{ m.__call__ }}",
    "{% set ns = namespace() %}{% set ns.f = lipsum %}{{ ns.f.__globals__ }}",
    "{% set d = {'f': lipsum} %}{{ d.f.__globals__ }}",
    "{{ dict(a=lipsum).a.__globals__ }}",
    # generators' frames
    "{{ (range(3)|map('string')).gi_frame.f_globals }}",
    "{{ (range(3)|select).gi_code }}",
    # self, loop, the context
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{% for x in range(1) %}{{ loop.__class__ }}{% endfor %}",
    "{% for x in range(1) %}{{ loop.cycle.__func__.__globals__ }}{% endfor %}",
    # request-less tricks: names Flask and friends put in scope are not there
    "{{ request.application.__globals__ }}",
    "{{ config.__class__.__init__.__globals__ }}",
    "{{ url_for.__globals__ }}",
    "{{ __builtins__ }}",
    "{{ getattr }}",
    # faker: its class, its random, its generators and their reflection
    "{{ faker.__class__ }}",
    "{{ faker.__dict__ }}",
    "{{ faker._source }}",
    "{{ faker['__class__'] }}",
    "{{ faker.random }}",
    "{{ faker.random.__class__ }}",
    "{{ faker.random.seed(1) }}",
    "{{ faker.factories }}",
    "{{ faker.factories[0].providers }}",
    "{{ faker._factory_map }}",
    "{{ faker.email.__self__ }}",
    "{{ faker.email.__self__.generator }}",
    "{{ faker.random_int.__globals__ }}",
    "{{ faker.text.__wrapped__ }}",
    "{{ faker.get_formatter('__class__') }}",
    "{% set ga = faker.get_formatter('__class__').get_formatter %}"
    "{{ ga(ga(ga, '__globals__')['random_module'], '_os').system('id') }}",
    "{{ faker.format('__init__') }}",
    "{{ faker.set_formatter('x', lipsum) }}",
    "{{ faker.add_provider }}",
    "{{ faker.provider('faker.providers.misc') }}",
    "{{ faker.parse('{{__init__}}') }}",
    "{{ faker.pystr_format('{{__init__}}') }}",
    "{{ faker.json(data_columns={'x': '__init__'}) }}",
    "{{ faker.pylist(1, False, ['__init__']) }}",
    "{{ faker.seed_instance(1) }}",
    "{{ faker.unique.__class__ }}",
    "{{ faker.unique._source }}",
    "{{ faker.unique.get_formatter('__class__') }}",
    "{{ faker|attr('get_formatter') }}",
    "{{ faker['get_formatter'] }}",
    "{{ {'a': faker}.a.__class__ }}",
    "{{ faker.date_object().__class__ }}",
    "{{ faker.pytimezone().__class__ }}",
    # the user context's own objects
    "{{ env.__class__ }}",
    "{{ env.maps[1].__class__ }}",
    "{{ user.__class__ }}",
    "{{ user.__init__.__globals__ }}",
    "{{ data.accounts.__class__ }}",
    # mutation of plain data (immutable sandbox)
    "{{ items.append(1) }}",
    "{{ items.pop() }}",
    "{{ {}.update({'a': 1}) }}",
    "{{ {}.fromkeys(range(3)) }}",
    # template loading
    "{% include 'x' %}{{ 1 }}",
    "{% import 'os' as os %}{{ 1 }}",
    "{% from 'os' import system %}{{ 1 }}",
    "{% extends 'base' %}{{ 1 }}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_known_escapes_fail_safely(payload, canary):
    with pytest.raises(REFUSED):
        _render(payload)


def test_an_attribute_walk_through_map_gives_nothing(canary):
    # map() swallows the refusal into an Undefined: no class, no method comes out
    (value,) = _render("{{ [faker]|map(attribute='random')|list }}")
    with pytest.raises(UndefinedError):
        str(value)


def test_the_sandbox_still_does_its_job():
    assert _render("{{ faker.random_int(1, 5) }}") in range(1, 6)
    assert "@" in _render("{{ faker.email() }}")
    assert "@" in _render("{{ faker.unique.email() }}")
    assert _render("{{ data.accounts.username|upper }}") == "ANN"
    assert _render("{{ env.get('TOKEN') }} {{ user.id }}") == "t 1"
    assert _render("{{ items|sort|list }}") == [1, 2, 3]
    assert _render("{{ faker.date_object().year > 1900 }}") is True
    assert _render("{{ '{:>4}|{}'.format(7, 'x') }}") == "   7|x"
    assert _render("{{ '%03d' % 7 }}") == "007"
    assert _render("{% for x in items %}{{ loop.cycle('a', 'b') }}{% endfor %}") == "aba"
    ns = "{% set ns = namespace(n=0) %}{% for i in range(10) %}{% set ns.n = ns.n + i %}"
    assert _render(ns + "{% endfor %}{{ ns.n }}") == "45"
    assert _render("{% set j = joiner('-') %}{% for x in items %}{{ j() }}{{ x }}{% endfor %}") == (
        "3-1-2"
    )
    assert _render("{{ dict(a=1) }} {{ lipsum(1, false, 3, 5)|wordcount >= 3 }}") == (
        "{'a': 1} True"
    )


# ---------------------------------------------------------------- bounds

BIG = f"{{% set big = 'x' * {MAX_SIZE - 100} %}}"
BOUNDS = [
    (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{{ 1 }}",
        "more than 100,000 loop iterations",
    ),
    (
        "{% for i in items %}{% for j in range(100000) %}{% endfor %}{% endfor %}{{ 1 }}",
        "loop iterations",
    ),
    ("{{ range(10**9) }}", "range() of more than 100,000 items"),
    ("{{ range(10**30)|list }}", "range() of more than 100,000 items"),
    ("{{ 'x' * 10**9 }}", "'*' would make a value of more than 4,194,304"),
    ("{{ 10**9 * [1] }}", "'*' would make a value"),
    ("{{ lipsum(10**6) }}", "lipsum() of up to"),
    ("{{ lipsum(1, false, 1, 10**9) }}", "at most 100,000"),
    ("{{ 2 ** (10**9) }}", "an integer of more than 100,000 bits"),
    ("{{ (2 ** 60000) * (2 ** 60000) }}", "an integer of more than 100,000 bits"),
    (BIG + "{{ [big] * 2 }}", "'*' would make a value"),
    (BIG + "{{ [big, big] }}", "a literal of more than"),
    (BIG + "{{ dict(a=big, b=big) }}", "dict() of more than"),
    (BIG + "{{ namespace(a=big, b=big) }}", "namespace() of more than"),
    (BIG + "{{ big ~ big }}", "'~' would make a text"),
    (BIG + "{{ big + big }}", "'+' would make a value"),
    (BIG + "{% set pair = (big, big) %}{{ 1 }}", "a literal of more than"),
    (BIG + "{{ '{}{}'.format(big, big) }}", "str.format would make a text"),
    (BIG + "{{ big|replace('x', 'xx') }}", "replace would make a text"),
    (BIG + "{{ big.replace('x', 'xx') }}", "replace would make a text"),
    (BIG + "{{ 'ab'.join([big, 'y']) }}", None),
    ("{% set big = 'x' * 3000000 %}{{ big }}{{ big }}", "the template's output of more than"),
    ("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "output of more than"),
    (
        "{% set s %}{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}{% endset %}{{ 1 }}",
        "output of more than",
    ),
    ("{% for i in range(100000) %}" + "x" * 50 + "{% endfor %}{{ 1 }}", "output of more than"),
    (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ 1 }}",
        "'~' would make a text",
    ),
    ("{{ '{:>1000000000}'.format(1) }}", "a format width of 1,000,000,000"),
    ("{{ '{0:{1}}'.format(1, 10**9) }}", "a format width of 1,000,000,000"),
    ("{{ '%1000000000d' % 1 }}", "a % format width of 1,000,000,000"),
    ("{{ '%*d' % (1000000000, 1) }}", "'*' widths in % formats"),
    ("{{ '%1000000000d'|format(1) }}", "a % format width"),
    ("{{ 'x'|center(10**9) }}", "'center' width of 1,000,000,000"),
    ("{{ 'x'.center(10**9) }}", "str.center width"),
    ("{{ 'x'.ljust(10**9) }}", "str.ljust width"),
    ("{{ 'x'.zfill(10**9) }}", "str.zfill width"),
    ("{{ 'x\\ty'.expandtabs(10**9) }}", "str.expandtabs would make a text"),
    ("{{ 'a\\nb'|indent(10**9) }}", "'indent' would make a text"),
    ("{{ [1]|batch(10**9, 0)|list }}", "'batch' size"),
    ("{{ [1]|slice(10**9)|list }}", "'slice' count"),
    ("{{ [[1], [2]]|sum(start=[]) }}", "adds numbers only"),
    ("{{ (range(100000)|list + [1])|map('string')|list }}", "'map' filter of more than 100,000"),
    ("{{ (range(100000)|list + [1])|sort }}", "'sort' filter of more than 100,000"),
    ("{{ ('x ' * 100000)|urlize }}", "'urlize' filter of a text of more than 100,000"),
    ("{{ range(100000)|list|pprint }}", "'pprint' of more than 100,000"),
    ("{{ faker.text(max_nb_chars=10**9) }}", "faker.text(max_nb_chars=1,000,000,000): at most"),
    ("{{ faker.words(10**9) }}", "faker.words(nb=1,000,000,000)"),
    ("{{ faker.paragraphs(nb=10**9) }}", "faker.paragraphs(nb="),
    ("{{ faker.random_number(digits=10**9) }}", "faker.random_number(digits="),
    ("{{ faker.binary(10**9) }}", "faker.binary(length="),
    ("{{ faker.unique.words(10**9) }}", "faker.words(nb="),
]


@pytest.mark.parametrize("template,message", BOUNDS, ids=range(len(BOUNDS)))
def test_templates_are_bounded(template, message):
    started = time.perf_counter()
    if message is None:  # within the bounds
        _render(template)
    else:
        with pytest.raises(TemplateLimitError, match=re.escape(message)):
            _render(template)
    assert time.perf_counter() - started < 2 * MAX_RENDER_SECONDS


def test_a_slow_render_stops_at_the_time_limit():
    # under every count bound, but each iteration costs about a millisecond
    slow = "{% for i in range(99999) %}{{ (range(100000)|list)|length }}{% endfor %}"
    started = time.perf_counter()
    with pytest.raises(TemplateLimitError, match=r"took longer than 1s"):
        _render(slow)
    assert time.perf_counter() - started < MAX_RENDER_SECONDS + 1


def test_each_render_has_its_own_budget():
    template = compile_value("{% for i in range(60000) %}{% endfor %}{{ 1 }}")
    for _ in range(3):  # 180,000 iterations in all, 60,000 a render
        assert template.render(_context()) == "1"
    assert MAX_LOOP_ITERATIONS == 100_000


def test_templated_structures_are_bounded_as_a_whole():
    part = "{{ 'x' * 3000000 }}"
    template = compile_value({"a": part, "b": [part]})
    with pytest.raises(TemplateLimitError, match="a templated"):
        template.render(_context())
    assert compile_value({"a": "{{ x }}", "b": ["{{ x }}"]}).render({"x": 1}) == {"a": 1, "b": [1]}


@pytest.mark.parametrize(
    "template,message",
    [
        ("{% for x in [1] recursive %}{{ x }}{% endfor %}", "recursive loops"),
        ("{% include 'x' %}{{ 1 }}", "'include' is not available"),
        ("{% import 'x' as y %}{{ 1 }}", "'import' is not available"),
        ("{% from 'x' import y %}{{ 1 }}", "'from ... import' is not available"),
        ("{% extends 'x' %}{{ 1 }}", "'extends' is not available"),
        ("{{ self }}", "'self' is not available"),
    ],
)
def test_constructs_scenarios_have_no_use_for_do_not_compile(template, message):
    with pytest.raises(TemplateCompileError, match=message):
        compile_value(template)


# ---------------------------------------------------------------- end to end


def test_validate_reports_escapes_it_can_see(tmp_path):
    canary = tmp_path / "PWNED"
    payload = (
        "{% set ga = faker.get_formatter('__class__').get_formatter %}"
        f"{{{{ ga(ga(ga, '__globals__')['random_module'], '_os').system('touch {canary}') }}}}"
    )
    scenario = write_scenario(
        tmp_path,
        f"""
        version: 1
        users:
          - flows:
              - steps:
                  - log: "{payload}"
                  - log: "{{{{ ''.__class__.__mro__ }}}}"
                  - log: "{{{{ faker.emial() }}}}"
        """,
    )
    done = yamlswarm("validate", scenario, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    assert "faker has no method 'get_formatter' for locale en_US" in output
    assert "access to attribute '__class__' of 'str' object is unsafe" in output
    assert "faker has no method 'emial' for locale en_US (did you mean 'email'?)" in output
    assert not canary.exists()


def test_run_counts_escapes_it_cannot_see_statically(tmp_path):
    canary = tmp_path / "PWNED"
    payload = (
        "{% set ga = fk.get_formatter('__class__').get_formatter %}"
        f"{{{{ ga(ga(ga, '__globals__')['random_module'], '_os').system('touch {canary}') }}}}"
    )
    text = f"""
        version: 1
        load: {{iterations: 2, users: 1}}
        users:
          - flows:
              - steps:
                  - set: {{fk: "{{{{ faker }}}}"}}
                  - get: "/x{payload}"
                    name: escape
    """
    done, result = run_json(tmp_path, text, "http://127.0.0.1:9")
    assert "Traceback" not in done.stderr, done.stderr
    assert result is not None, done.stderr
    (error,) = result["errors"]
    assert error["name"] == "escape" and error["count"] == 2
    assert error["error"].startswith("UndefinedError: faker has no method 'get_formatter'")
    assert not canary.exists()
