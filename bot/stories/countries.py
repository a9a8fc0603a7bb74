"""Country names as the news writes them in several languages, from ISO 3166 (pycountry).

pycountry ships the ISO 3166-1 names (short, common and official) in English, and their
translations as gettext catalogues (domain "iso3166-1") inside the package, so nothing is
fetched at run time.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Iterator

import pycountry

# The languages whose names are read besides English (ISO 3166 names are English): the ones
# the feeds carry most.
LANGUAGES = ("es", "it", "fr", "de", "pt")
_DOMAIN = "iso3166-1"
_BRACKETS = re.compile(r"\s*\(([^)]*)\)")


def _variants(name: str) -> Iterator[str]:
    """The forms a listed name takes in running text.

    "Corea, República de" is written "Corea"; "Holy See (Vatican City State)" either
    "Holy See" or "Vatican City State".
    """
    for inner in _BRACKETS.findall(name):
        yield inner.strip()
    name = _BRACKETS.sub("", name).strip()
    yield name
    if "," in name:
        yield name.split(",", 1)[0].strip()


def country_names(languages: tuple[str, ...] = LANGUAGES) -> Iterator[tuple[str, str]]:
    """(name, alpha-2 code) for every name and short form of every country, in English and in
    ``languages`` (a language without a catalogue in pycountry is skipped).

    A short form may belong to two countries ("Korea", "Congo"): callers decide what to do
    with such names.
    """
    translations: list[gettext.NullTranslations] = [gettext.NullTranslations()]
    for language in languages:
        try:
            translations.append(
                gettext.translation(_DOMAIN, pycountry.LOCALES_DIR, languages=[language])
            )
        except FileNotFoundError:
            continue
    for country in pycountry.countries:
        code: str = country.alpha_2
        for attribute in ("name", "common_name", "official_name"):
            listed = getattr(country, attribute, None)
            if not listed:
                continue
            for translation in translations:
                for variant in _variants(translation.gettext(listed)):
                    if variant:
                        yield variant, code
