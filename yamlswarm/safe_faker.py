"""The `faker` of templates: Faker's provider methods that return plain data, behind a proxy.

A raw Faker lets a template reach the interpreter (`faker.get_formatter(...)` gives
any attribute of the generator, and from there its module's globals). `SafeFaker`
shows a template only the public methods of Faker's providers (`email`, `name`,
`random_int`, ...), minus those that call other formatters by a name or format the
caller gives, or build archives and images (`DENIED`); arguments that set how much
to make (`nb`, `length`, `max_nb_chars`, ...) are at most `MAX_AMOUNT`.

The proxy is lazy: Faker is imported and built (about 0.25 s) on first use, so a
run that never uses it pays nothing, and an unknown locale is an error of the
template that uses it. `method_problem` tells the compiler whether `faker.NAME`
exists without building a Faker for the default locale (`_EN_US_METHODS`).
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable
from typing import Any

from yamlswarm.sandbox import SafeProxy, TemplateLimitError

__all__ = [
    "DEFAULT_LOCALE",
    "DENIED",
    "MAX_AMOUNT",
    "SafeFaker",
    "available_locales",
    "faker_instance",
    "method_names",
    "method_problem",
    "reseed",
]

DEFAULT_LOCALE = "en_US"
MAX_AMOUNT = 100_000

DENIED = frozenset(
    {
        # call other formatters by a name, or format a string, that the caller gives
        "pystr_format",
        "json",
        "json_bytes",
        "csv",
        "tsv",
        "psv",
        "dsv",
        "fixed_width",
        "xml",
        "pyiterable",
        "pylist",
        "pyset",
        "pytuple",
        "pydict",
        "pystruct",
        "pyobject",
        "enum",
        # archives, images and unbounded series
        "tar",
        "zip",
        "image",
        "time_series",
    }
)
# parameters that say how much to make (words, characters, digits, elements, ...)
AMOUNTS = frozenset(
    {
        "nb",
        "nb_words",
        "nb_sentences",
        "nb_texts",
        "nb_elements",
        "max_nb_chars",
        "max_chars",
        "min_chars",
        "length",
        "digits",
        "left_digits",
        "right_digits",
        "count",
        "num_rows",
        "num_files",
        "depth",
        "levels",
    }
)

_INSTANCES: dict[str, Any] = {}


def normal_locale(locale: str | None) -> str:
    return (locale or DEFAULT_LOCALE).replace("-", "_")


def available_locales() -> tuple[str, ...]:
    """The locale names Faker knows."""
    from faker.config import AVAILABLE_LOCALES

    return tuple(AVAILABLE_LOCALES)


def faker_instance(locale: str | None = None) -> Any:
    """The process's Faker for `locale` (built once); ValueError for a locale Faker lacks."""
    key = normal_locale(locale)
    instance = _INSTANCES.get(key)
    if instance is None:
        if key not in available_locales():
            raise ValueError(f"unknown faker locale {key!r} (e.g. en_US, de_DE, fr_FR, ja_JP)")
        from faker import Faker

        instance = _INSTANCES[key] = Faker(key)
    return instance


def provider_methods(faker: Any) -> frozenset[str]:
    """Every public method defined by the providers of a (one-locale) Faker."""
    names: set[str] = set()
    for provider in faker.factories[0].providers:
        for klass in type(provider).__mro__:
            if klass is not object:
                names.update(
                    name
                    for name, value in vars(klass).items()
                    if not name.startswith("_") and inspect.isfunction(value)
                )
    return frozenset(names)


@functools.cache
def method_names(locale: str | None = None) -> frozenset[str]:
    """The methods `faker.NAME` may call for `locale` (builds that locale's Faker)."""
    return provider_methods(faker_instance(locale)) - DENIED


def method_problem(name: str, locale: str | None = None) -> str | None:
    """Why `faker.NAME` cannot be used with `locale` (None: it can); ValueError: bad locale."""
    if normal_locale(locale) == DEFAULT_LOCALE and name in _EN_US_METHODS and name not in DENIED:
        return None  # known without importing Faker (validate runs in pre-commit)
    if name in ("unique",):
        return None
    allowed = method_names(locale)
    if name in allowed:
        return None
    return _unknown(name, allowed, locale)


def _unknown(name: str, allowed: frozenset[str], locale: str | None) -> str:
    if name in DENIED:
        return f"faker.{name} is not available in templates (it can run other code)"
    close = difflib.get_close_matches(name, sorted(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"faker has no method {name!r} for locale {normal_locale(locale)}{hint}"


class SafeFaker(SafeProxy):
    """`faker` in templates: one locale's allowed provider methods, with bounded amounts."""

    __slots__ = ("__dict__", "_locale", "_names", "_seed", "_source")

    def __init__(self, locale: str | None = None, seed: int | None = None) -> None:
        self._locale = normal_locale(locale)
        self._seed = seed
        self._source: Any = None  # the Faker (or its `unique` proxy), built on first use
        self._names: frozenset[str] = frozenset()

    def _build(self) -> Any:
        if self._source is None:
            instance = faker_instance(self._locale)
            if self._seed is not None:
                instance.seed_instance(self._seed)
            self._names = method_names(self._locale)
            self._source = instance
        return self._source

    def __getattr__(self, name: str) -> Any:  # only for names not cached yet
        if name.startswith("_"):
            raise AttributeError(name)
        source = self._build()
        if name == "unique" and not isinstance(self, _UniqueFaker):
            method: Any = _UniqueFaker(self)
        elif name not in self._names:
            raise AttributeError(_unknown(name, self._names, self._locale))
        else:
            method = _bounded(getattr(source, name), name)
        self.__dict__[name] = method  # later lookups skip __getattr__
        return method

    def __repr__(self) -> str:
        return f"<faker {self._locale}>"


class _UniqueFaker(SafeFaker):
    """`faker.unique`: the same methods, never repeating a value (`faker.unique.clear()`)."""

    __slots__ = ()

    def __init__(self, parent: SafeFaker) -> None:
        super().__init__(parent._locale)
        self._names = parent._names | {"clear"}
        self._source = parent._build().unique


def reseed(faker: SafeFaker, seed: int) -> None:
    """Seed the Faker behind `faker` (now, or when it is built)."""
    if faker._source is None:
        faker._seed = seed
    else:
        faker_instance(faker._locale).seed_instance(seed)


def _bounded(method: Callable[..., Any], name: str) -> Callable[..., Any]:
    """`method`, refusing amounts (`nb=`, `length=`, ...) over MAX_AMOUNT."""
    amounts = _amount_parameters(method)
    if not amounts:
        return method

    def bounded(*args: Any, **kwargs: Any) -> Any:
        for position, parameter in amounts:
            value = args[position] if position < len(args) else kwargs.get(parameter)
            if isinstance(value, int) and value > MAX_AMOUNT:
                raise TemplateLimitError(
                    f"faker.{name}({parameter}={value:,}): at most {MAX_AMOUNT:,}"
                )
        return method(*args, **kwargs)

    return bounded


def _amount_parameters(method: Callable[..., Any]) -> tuple[tuple[int, str], ...]:
    try:
        parameters = list(inspect.signature(method).parameters)
    except (TypeError, ValueError):
        return ()
    return tuple((i, name) for i, name in enumerate(parameters) if name in AMOUNTS)


# The provider methods of en_US (Faker 40), so validation need not import Faker; the
# allow-list itself is always computed from the installed Faker (tests/test_safe_faker.py
# checks the two agree; after a Faker upgrade, print `provider_methods(Faker("en_US"))`).
_EN_US_WORDS = """
    aba address administrative_unit am_pm android_platform_token ascii_company_email ascii_email
    ascii_free_email ascii_safe_email bank bank_country basic_phone_number bban binary boolean
    bothify bs building_number catch_phrase century chrome city city_prefix city_suffix color
    color_hsl color_hsv color_name color_rgb color_rgb_float company company_email
    company_suffix coordinate country country_calling_code country_code credit_card_expire
    credit_card_full credit_card_number credit_card_provider credit_card_security_code
    cryptocurrency cryptocurrency_code cryptocurrency_name csv currency currency_code
    currency_name currency_symbol current_country current_country_code date date_between
    date_between_dates date_object date_of_birth date_this_century date_this_decade
    date_this_month date_this_year date_time date_time_ad date_time_between
    date_time_between_dates date_time_this_century date_time_this_decade date_time_this_month
    date_time_this_year day_of_month day_of_week dga doi domain_name domain_word dsv ean ean13
    ean8 ein email emoji enum file_extension file_name file_path firefox first_name
    first_name_female first_name_male first_name_nonbinary fixed_width free_email
    free_email_domain future_date future_datetime get_words_list hex_color hexify hostname
    http_method http_status_code iana_id iban image image_url internet_explorer invalid_ssn
    ios_platform_token ipv4 ipv4_network_class ipv4_private ipv4_public ipv6 isbn10 isbn13
    iso8601 itin job job_female job_male json json_bytes language_code language_name last_name
    last_name_female last_name_male last_name_nonbinary latitude latlng lexify license_plate
    linux_platform_token linux_processor local_latlng locale localized_ean localized_ean13
    localized_ean8 location_on_land longitude mac_address mac_platform_token mac_processor md5
    military_apo military_dpo military_ship military_state mime_type month month_name msisdn
    name name_female name_male name_nonbinary nic_handle nic_handles null_boolean numerify opera
    paragraph paragraphs passport_dates passport_dob passport_full passport_gender
    passport_number passport_owner password past_date past_datetime phone_number port_number
    postalcode postalcode_in_state postalcode_plus4 postcode postcode_in_state prefix
    prefix_female prefix_male prefix_nonbinary pricetag profile psv pybool pydecimal pydict
    pyfloat pyint pyiterable pylist pyobject pyset pystr pystr_format pystruct pytimezone
    pytuple random_choices random_digit random_digit_above_two random_digit_not_null
    random_digit_not_null_or_empty random_digit_or_empty random_element random_elements
    random_int random_letter random_letters random_lowercase_letter random_number random_sample
    random_uppercase_letter randomize_nb_elements rgb_color rgb_css_color ripe_id safari
    safe_color_name safe_domain_name safe_email safe_hex_color sbn9 secondary_address sentence
    sentences sha1 sha256 simple_profile slug ssn state state_abbr street_address street_name
    street_suffix suffix suffix_female suffix_male suffix_nonbinary swift swift11 swift8 tar
    text texts time time_delta time_object time_series timezone tld tsv unix_device
    unix_partition unix_time upc_a upc_e uri uri_extension uri_page uri_path url user_agent
    user_name uuid1 uuid4 uuid7 vin windows_platform_token word words xml year zip zipcode
    zipcode_in_state zipcode_plus4
"""
_EN_US_METHODS = frozenset(_EN_US_WORDS.split())
