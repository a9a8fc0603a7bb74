"""Accepting a suggested word rewrites the topic text the subscriber reads in /topics."""

from __future__ import annotations

import pytest

from bot.refine import free_terms, widen
from bot.topics.query import parse_query


def accept(text: str, term: str, word: str) -> str:
    """The topic text after tapping ``+ word`` offered for ``term``."""
    terms = [" ".join(t.words) for t in free_terms(parse_query(text))]
    return widen(text, terms.index(term), word)


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
