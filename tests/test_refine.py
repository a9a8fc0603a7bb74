"""Accepting a suggested word rewrites the topic text the subscriber reads in /topics."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.models import Story
from bot.refine import free_terms, suggestions_for, term_key, widen
from bot.topics.query import QueryError, parse_query


def accept(text: str, term: str, word: str) -> str:
    """The topic text after tapping ``+ word`` offered for ``term``."""
    found = next(t for t in free_terms(parse_query(text)) if " ".join(t.words) == term)
    return widen(text, term_key(found), word)


CASES = [
    ("Pakistan Afghanistan -cricket", "afghanistan", "kabul"),
    ("Olympics doping", "doping", "drug test"),
    # A second name joins the term's group instead of nesting a new one.
    ("(Olympics OR athens) doping", "olympics", "greece"),
    ("(athens OR Olympics) doping", "olympics", "greece"),
    ("Olympics OR athens doping", "athens", "greece"),
]
EXPECTED = [
    "Pakistan (Afghanistan OR kabul) -cricket",
    'Olympics (doping OR "drug test")',
    "(Olympics OR greece OR athens) doping",
    "(athens OR Olympics OR greece) doping",
    "Olympics OR (athens OR greece) doping",
]


@pytest.mark.parametrize(("case", "expected"), list(zip(CASES, EXPECTED, strict=True)))
def test_accepted_word_keeps_the_subscribers_spelling(
    case: tuple[str, str, str], expected: str
) -> None:
    text, term, word = case
    result = accept(text, term, word)
    assert result == expected
    wider = parse_query(result)
    assert wider.canonical != parse_query(text).canonical  # the topic really changed


def test_a_term_written_twice_falls_back_to_the_canonical_form() -> None:
    result = accept("(Olympics OR athens) (Olympics OR relay)", "olympics", "greece")
    assert result.count("greece") == 2  # both places widen, so the text shows both


def test_buttons_of_one_offer_widen_their_own_terms_in_any_order() -> None:
    offered = {" ".join(t.words): term_key(t) for t in free_terms(parse_query("Olympics doping"))}
    text = widen("Olympics doping", offered["olympics"], "paralympics")
    text = widen(text, offered["doping"], "drug test")
    assert text == '(Olympics OR paralympics) (doping OR "drug test")'


def test_a_button_for_a_term_the_topic_no_longer_has_is_refused() -> None:
    [gone] = free_terms(parse_query("cricket"))
    with pytest.raises(QueryError, match="no longer fits"):
        widen("Pakistan Afghanistan", term_key(gone), "kabul")


def test_an_offered_word_fits_a_buttons_64_bytes_however_it_is_written() -> None:
    when = datetime(2026, 11, 26, tzinfo=UTC)
    hindi = "अफ़ग़ानिस्तानी"  # 14 characters, 42 bytes in UTF-8
    about = [f"Afghanistan {hindi} Kabul {n}" for n in range(6)]  # both words stand out
    other = [f"Cricket board meets in Lahore on day {n}" for n in range(6)]
    buffer = [
        Story(f"k{n}", None, title, "", when, "Desk", "desk.example")
        for n, title in enumerate(about + other)
    ]
    [offer] = suggestions_for(parse_query("Afghanistan"), buffer)
    assert "kabul" in offer.words
    assert hindi.casefold() not in offer.words
    assert all(len(w.encode()) <= 30 for w in offer.words)
