"""The cached, seedable Faker of yamlswarm.runtime.fake."""

from __future__ import annotations

import re

import pytest

from yamlswarm.runtime.fake import available_locales, make_faker
from yamlswarm.templates import compile_value

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")


def _emails(seed, count=20, locale=None):
    faker = make_faker(locale, seed)
    return [faker.email() for _ in range(count)]


def test_same_seed_same_emails():
    assert _emails(1234) == _emails(1234)


def test_different_seeds_differ():
    assert _emails(1) != _emails(2)


def test_emails_are_well_formed():
    assert all(EMAIL.match(email) for email in _emails(5, 200))


def test_one_instance_per_locale():
    assert make_faker("en_US") is make_faker(None)
    assert make_faker("de_DE", 1) is make_faker("de-DE")
    assert make_faker("de_DE") is not make_faker("en_US")


def test_locale_is_used():
    faker = make_faker("de_DE", 3)
    assert faker.current_country_code() == "DE"
    assert "de_DE" in available_locales()


def test_unknown_locale_is_a_value_error_on_first_use():
    faker = make_faker("xx_YY")  # lazy: a run that never uses faker does not fail
    with pytest.raises(ValueError, match="unknown faker locale 'xx_YY'"):
        faker.email()


def test_templates_can_call_faker_in_the_sandbox():
    faker = make_faker(None, 99)
    template = compile_value("{{ faker.email() }}")
    rendered = template.render({"faker": faker})
    assert EMAIL.match(rendered)
    make_faker(None, 99)
    assert template.render({"faker": faker}) == rendered
    number = compile_value("{{ faker.random_int(1, 5) }}").render({"faker": faker})
    assert isinstance(number, int) and 1 <= number <= 5
