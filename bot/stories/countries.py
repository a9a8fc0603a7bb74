"""Country names as the news writes them in several languages, from ISO 3166 (pycountry).

pycountry ships the ISO 3166-1 names (short, common and official) in English, and their
translations as gettext catalogues (domain "iso3166-1") inside the package, so nothing is
fetched at run time.

English demonyms ("German", "Ukrainians") and short names ("Russia") come from newsbot's own
country alias table (bot/topics/data/countries.tsv), whose country names are resolved to ISO
codes with pycountry.
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from collections.abc import Iterator
from importlib import resources

import pycountry

from bot.topics.aliases import parse_table

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


# Alias-table forms shorter than this are acronyms or clipped forms ("US", "UAE", "Lao"),
# which are also other words and names.
MIN_ALIAS_LETTERS = 4


def _fold(text: str) -> str:
    """Lower case without accents: "Côte" -> "cote"."""
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def alias_code(name: str) -> str | None:
    """The alpha-2 code of a country as the alias table names it, or None if it does not
    resolve to exactly one ISO 3166 country.

    An exact ISO name, code or official name resolves at once; otherwise a single fuzzy
    match counts only if one of its names contains the table's name at the start of a word
    ("Brunei" -> "Brunei Darussalam", "Russia" -> "Russian Federation"; but "Kosovo" is
    no name of Serbia, which pycountry's fuzzy search offers for it).
    """
    try:
        country = pycountry.countries.lookup(name)
    except LookupError:
        try:
            found = pycountry.countries.search_fuzzy(name)
        except LookupError:
            return None
        if len(found) != 1:
            return None
        country = found[0]
        word_start = re.compile(r"\b" + re.escape(_fold(name)))
        listed = (getattr(country, a, None) for a in ("name", "common_name", "official_name"))
        if not any(n and word_start.search(_fold(n)) for n in listed):
            return None
    code: str = country.alpha_2
    return code


def alias_names(*, capitals: bool = False) -> Iterator[tuple[str, str, int]]:
    """(form, alpha-2 code, level) for the English names of the alias table: each country's
    name (level 0) and level 1 forms (demonyms, short names) that are one capitalized word of
    at least ``MIN_ALIAS_LETTERS`` letters, and with ``capitals`` its level 2 forms (capitals,
    other names) of any length.

    A form given to two countries ("Dominican") is given for both: callers decide.
    """
    text = resources.files("bot.topics").joinpath("data", "countries.tsv").read_text("utf-8")
    for group in parse_table(text):
        code = alias_code(group.name)
        if code is None:
            continue
        for level, forms in enumerate(((group.name,), group.level1)):
            for form in forms:
                if " " not in form and len(form) >= MIN_ALIAS_LETTERS and form[0].isupper():
                    yield form, code, level
        if capitals:
            for form in group.level2:
                yield form, code, 2
