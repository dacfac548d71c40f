"""The `faker` object of templates: one lazily built, seedable Faker proxy per process and locale.

Constructing a Faker takes about 0.1 s (and importing it 0.15 s), so `make_faker`
hands every user the same `SafeFaker` (yamlswarm/safe_faker.py) for a locale, which
builds its Faker on first use. With a seed the instance is re-seeded
(`seed_instance`), so the same seed gives the same sequence of fake values; without
one it keeps whatever state it has (random on first use). Templates see only the
proxy's allow-list of provider methods, never Faker itself.
"""

from __future__ import annotations

from yamlswarm.safe_faker import DEFAULT_LOCALE, SafeFaker, available_locales, reseed
from yamlswarm.safe_faker import normal_locale as _normal

__all__ = ["DEFAULT_LOCALE", "available_locales", "make_faker"]

_PROXIES: dict[str, SafeFaker] = {}


def make_faker(locale: str | None = None, seed: int | None = None) -> SafeFaker:
    """The process's faker for `locale` (default en_US), re-seeded when `seed` is given.

    An unknown locale raises ValueError when the faker is first used.
    """
    key = _normal(locale)
    proxy = _PROXIES.get(key)
    if proxy is None:
        proxy = _PROXIES[key] = SafeFaker(key, seed)
    elif seed is not None:
        reseed(proxy, seed)
    return proxy
