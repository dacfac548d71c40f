"""The `faker` object of templates: one cached Faker instance per process and locale.

Constructing a Faker takes about 0.1 s (and importing it 0.15 s), so
`make_faker` builds one per locale, lazily, and hands the same instance to
every user. With a seed the instance is re-seeded (`seed_instance`), so the
same seed gives the same sequence of fake values; without one it keeps
whatever state it has (random on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing Faker is slow: only when a scenario uses it
    from faker import Faker

__all__ = ["DEFAULT_LOCALE", "available_locales", "make_faker"]

DEFAULT_LOCALE = "en_US"

_INSTANCES: dict[str, Faker] = {}


def available_locales() -> tuple[str, ...]:
    """The locale names Faker knows (for validating `faker: {locale: ...}`)."""
    from faker.config import AVAILABLE_LOCALES

    return tuple(AVAILABLE_LOCALES)


def make_faker(locale: str | None = None, seed: int | None = None) -> Faker:
    """The process's Faker for `locale` (default en_US), re-seeded when `seed` is given.

    Raises ValueError for a locale Faker does not know.
    """
    key = (locale or DEFAULT_LOCALE).replace("-", "_")
    instance = _INSTANCES.get(key)
    if instance is None:
        instance = _INSTANCES[key] = _build(key)
    if seed is not None:
        instance.seed_instance(seed)
    return instance


def _build(locale: str) -> Faker:
    from faker import Faker

    if locale not in available_locales():
        raise ValueError(f"unknown faker locale {locale!r} (e.g. en_US, de_DE, fr_FR, ja_JP)")
    return Faker(locale)
