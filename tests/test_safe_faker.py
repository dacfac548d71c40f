"""The faker of templates: an allow-list of Faker's provider methods behind a lazy proxy."""

from __future__ import annotations

import inspect

import pytest
from jinja2.exceptions import UndefinedError

from tests.test_compiler import compile_text, problems
from yamlswarm import safe_faker
from yamlswarm.runtime.fake import make_faker
from yamlswarm.safe_faker import (
    DENIED,
    MAX_AMOUNT,
    SafeFaker,
    faker_instance,
    method_names,
    method_problem,
    provider_methods,
)
from yamlswarm.sandbox import TemplateLimitError
from yamlswarm.templates import compile_value

FLOW = "users:\n  - flows:\n      - steps:\n"


def test_the_static_en_us_list_matches_the_installed_faker():
    # validation uses the static list so it need not import Faker; if this fails after a
    # Faker upgrade, regenerate _EN_US_WORDS from provider_methods(Faker("en_US"))
    assert provider_methods(faker_instance("en_US")) == safe_faker._EN_US_METHODS


def test_allowed_methods_are_public_provider_methods_minus_the_denied():
    names = method_names("en_US")
    assert {"email", "name", "random_int", "text", "uuid4", "date_time"} <= names
    assert not names & DENIED
    assert not {n for n in names if n.startswith("_")}
    for generator_method in ("format", "parse", "get_formatter", "set_formatter", "seed_instance"):
        assert generator_method not in names
    assert "random" not in names and "factories" not in names


def test_denied_methods_are_the_reflective_ones():
    # every denied method either formats names/strings it is given or builds archives/images
    for name in ("pystr_format", "json", "dsv", "pylist", "pystruct", "pyobject", "enum"):
        assert name in DENIED
    source = inspect.getsource(type(faker_instance().factories[0]).parse)
    assert "format" in source  # what pystr_format and friends hand the caller's text to


def test_the_proxy_is_lazy_and_seedable():
    proxy = SafeFaker("en_US", seed=5)
    assert proxy._source is None  # nothing built yet
    first = [proxy.email(), proxy.random_int(1, 1000)]
    again = make_faker("en_US", 5)
    assert [again.email(), again.random_int(1, 1000)] == first
    make_faker("en_US", 5)
    assert [again.email(), again.random_int(1, 1000)] == first


def test_unknown_methods_say_what_was_meant():
    with pytest.raises(AttributeError, match=r"faker has no method 'emial' .*did you mean 'email'"):
        make_faker().emial  # noqa: B018
    with pytest.raises(AttributeError, match="not available in templates"):
        make_faker().pystr_format  # noqa: B018
    with pytest.raises(UndefinedError, match="did you mean 'email'"):
        compile_value("{{ faker.emial() }}").render({"faker": make_faker()})


def test_unique_values():
    faker = make_faker(None, 3)
    values = {faker.unique.random_int(1, 50) for _ in range(50)}
    assert values == set(range(1, 51))
    faker.unique.clear()
    assert 1 <= faker.unique.random_int(1, 50) <= 50


def test_amounts_are_bounded():
    faker = make_faker()
    assert len(faker.words(5)) == 5
    with pytest.raises(
        TemplateLimitError, match=rf"faker.words\(nb=1,000,000\): at most {MAX_AMOUNT:,}"
    ):
        faker.words(1_000_000)
    with pytest.raises(TemplateLimitError, match="max_nb_chars"):
        faker.text(max_nb_chars=10**7)


def test_method_problem_without_importing_faker_for_known_en_us_names(monkeypatch):
    def no_faker(locale=None):
        raise AssertionError("Faker built for a name the static list knows")

    monkeypatch.setattr(safe_faker, "method_names", no_faker)
    assert method_problem("email") is None
    assert method_problem("random_int", "en-US") is None


def test_locale_specific_methods():
    assert method_problem("prefecture", "ja_JP") is None
    assert "no method 'prefecture' for locale en_US" in method_problem("prefecture")
    with pytest.raises(ValueError, match="unknown faker locale 'xx_YY'"):
        method_problem("email", "xx_YY")


# ---------------------------------------------------------------- validation


def test_unknown_faker_methods_are_validation_errors(tmp_path):
    body = FLOW + (
        '          - log: "{{ faker.emial() }} {{ faker.unique.nmae() }} {{ faker.random }}"\n'
        '          - log: "{{ faker.email() }} {{ faker.unique.name() }}"\n'
    )
    assert problems(tmp_path, body) == [
        (
            "users[0].flows[0].steps[0].log",
            "faker has no method 'emial' for locale en_US (did you mean 'email'?)",
        ),
        (
            "users[0].flows[0].steps[0].log",
            "faker has no method 'nmae' for locale en_US (did you mean 'name'?)",
        ),
        (
            "users[0].flows[0].steps[0].log",
            "faker has no method 'random' for locale en_US (did you mean 'random_int'?)",
        ),
    ]


def test_an_unknown_locale_is_reported_once_where_it_is_written(tmp_path):
    body = (
        "faker: {locale: xx_YY}\n"
        + FLOW
        + ('          - log: "{{ faker.email() }}"\n          - log: "{{ faker.name() }}"\n')
    )
    assert problems(tmp_path, body) == [
        ("faker.locale", "unknown faker locale 'xx_YY' (e.g. en_US, de_DE, fr_FR, ja_JP)")
    ]


def test_the_locale_of_the_scenario_is_used(tmp_path):
    body = "faker: {locale: ja_JP}\n" + FLOW + '          - log: "{{ faker.prefecture() }}"\n'
    assert problems(tmp_path, body.replace("ja_JP", "en_US"))[0][1].startswith(
        "faker has no method 'prefecture' for locale en_US"
    )
    compile_text(tmp_path, body)  # valid for ja_JP
