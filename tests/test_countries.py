"""Country names from ISO 3166 and its translations, as shipped with pycountry."""

from __future__ import annotations

from bot.stories.countries import country_names


def test_translated_names_load_from_the_installed_package() -> None:
    names = set(country_names())
    assert ("Germany", "DE") in names
    for name in ("Alemania", "Germania", "Allemagne", "Deutschland", "Alemanha"):
        assert (name, "DE") in names
    for name in ("United States", "Estados Unidos", "Stati Uniti", "États-Unis"):
        assert (name, "US") in names


def test_short_forms_of_listed_names_are_given() -> None:
    names = set(country_names())
    # "Korea, Republic of" is written "Korea"; "Holy See (Vatican City State)" either way.
    assert ("Korea", "KR") in names
    assert ("Korea", "KP") in names
    assert ("Holy See", "VA") in names
    assert ("Vatican City State", "VA") in names


def test_only_the_asked_languages_are_read() -> None:
    names = {name for name, _ in country_names(("it",))}
    assert "Germania" in names
    assert "Alemania" not in names
    assert "Germany" in names
