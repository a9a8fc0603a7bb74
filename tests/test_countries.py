"""Country names from ISO 3166 and its translations, as shipped with pycountry."""

from __future__ import annotations

from bot.stories.countries import alias_code, alias_names, country_names


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


def test_english_demonyms_and_short_names_come_from_the_alias_table() -> None:
    names = set(alias_names())
    assert ("German", "DE", 1) in names
    assert ("Ukrainians", "UA", 1) in names
    assert ("Russia", "RU", 0) in names
    # Acronyms and clipped forms are left out; capitals only when asked for.
    assert not any(form in ("US", "UK", "UAE") for form, _, _ in names)
    assert not any(form == "Berlin" for form, _, _ in names)
    assert ("Berlin", "DE", 2) in set(alias_names(capitals=True))


def test_alias_table_names_resolve_to_one_iso_country_or_none() -> None:
    assert alias_code("Germany") == "DE"
    assert alias_code("Brunei") == "BN"  # "Brunei Darussalam" in ISO 3166
    assert alias_code("Russia") == "RU"  # "Russian Federation"
    assert alias_code("Kosovo") is None  # fuzzy search offers Serbia
