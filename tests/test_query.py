"""The topic query language as a subscriber meets it: what parses, what is refused, the echo."""

from __future__ import annotations

import pytest

from bot.topics.describe import describe
from bot.topics.query import And, Not, Or, Query, QueryError, Term, common_only, parse_query


def words(query: Query) -> set[tuple[str, ...]]:
    """The word tuples of the top-level terms of a query."""
    root = query.root
    kids = root.children if isinstance(root, (And, Or)) else (root,)
    return {k.words for k in kids if isinstance(k, Term)}


def test_words_are_anded() -> None:
    query = parse_query("Pakistan Afghanistan")
    assert isinstance(query.root, And)
    assert words(query) == {("pakistan",), ("afghanistan",)}


def test_quoted_phrase_is_one_term() -> None:
    query = parse_query('"prime minister" Pakistan')
    assert ("prime", "minister") in words(query)


def test_curly_quotes_from_phones_work_like_straight_ones() -> None:
    assert parse_query("\u201cprime minister\u201d") == parse_query('"prime minister"')


def test_or_binds_looser_than_and() -> None:
    query = parse_query("a b OR c")
    assert isinstance(query.root, Or)
    assert query.canonical == "(a b) OR c"


def test_pipe_is_or() -> None:
    assert parse_query("india | china") == parse_query("india OR china")


def test_lowercase_or_is_an_ordinary_word() -> None:
    assert isinstance(parse_query("india or china").root, And)


def test_exclusions_with_minus_and_not() -> None:
    query = parse_query('cricket -ipl NOT "world cup" -(india pakistan)')
    assert isinstance(query.root, And)
    negs = [c for c in query.root.children if isinstance(c, Not)]
    assert len(negs) == 3
    assert query.canonical == 'cricket -"world cup" -(india pakistan) -ipl'


def test_parentheses_group() -> None:
    query = parse_query("(india OR china) trade")
    assert query.canonical == "(china OR india) trade"


def test_field_scopes() -> None:
    query = parse_query("title:Pakistan source:dawn lang:EN")
    assert query.canonical == "title:pakistan lang:en source:dawn"


def test_field_applies_to_a_group() -> None:
    assert parse_query("title:(a OR b)") == parse_query("title:a OR title:b")


def test_exact_and_wide_modes() -> None:
    assert parse_query("=Pakistan ~Afghanistan").canonical == "=pakistan ~afghanistan"


def test_multiword_country_names_become_one_term() -> None:
    query = parse_query("United States China")
    assert words(query) == {("united", "states"), ("china",)}


def test_possessive_and_case_do_not_change_the_query() -> None:
    assert parse_query("PAKISTAN's") == parse_query("pakistan")


def test_two_letter_capitals_are_kept() -> None:
    assert parse_query("US").canonical == "US"
    assert parse_query("us").canonical == "us"
    assert parse_query("U.S.") == parse_query("US")


@pytest.mark.parametrize(
    "text",
    [
        "Pakistan Afghanistan",
        "a b OR c",
        '"prime minister" -cricket (x OR y)',
        'title:=Kabul ~Kyiv source:"al jazeera" lang:de',
        "NOT a b",
        "-(a OR b) c",
        '"OR" nato',
        "北京 Россия پاکستان पाकिस्तान",
    ],
)
def test_canonical_parses_back_to_the_same_query(text: str) -> None:
    query = parse_query(text)
    again = parse_query(query.canonical)
    assert again == query
    assert again.canonical == query.canonical


def test_order_spacing_and_case_share_one_canonical_key() -> None:
    one = parse_query("Pakistan   AFGHANISTAN (india | china)")
    two = parse_query("(China OR India) afghanistan pakistan")
    assert one == two
    assert one.canonical == two.canonical


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("", "empty query", 0),
        ("   ", "empty query", 0),
        ("(pakistan afghanistan))", "unexpected ')'", 22),
        ("pakistan (afghanistan", "unbalanced '('", 9),
        ('pakistan "afghan border', "unclosed quote", 9),
        ("pakistan OR", "nothing after 'OR'", 9),
        ("OR pakistan", "nothing before 'OR'", 0),
        ("pakistan NOT", "nothing after 'NOT'", 9),
        ("pakistan - kabul", "nothing after '-'", 9),
        ('pakistan ""', "empty phrase", 9),
        ("topic:pakistan", "unknown field 'topic'", 0),
        ("-pakistan", "a query needs at least one word to look for, not only exclusions", 0),
        ("NOT a -b", "a query needs at least one word to look for, not only exclusions", 0),
        ("a OR -b", "an OR alternative can't be only exclusions", 5),
        ("pakistan ()", "empty parentheses", 10),
    ],
)
def test_errors_say_what_and_where(text: str, message: str, position: int) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    assert caught.value.message == message
    assert caught.value.position == position
    assert str(caught.value) == f"{message} at position {position}"


def test_too_long_query_is_refused() -> None:
    with pytest.raises(QueryError) as caught:
        parse_query("a" * 201)
    assert caught.value.position == 200
    assert "too long" in caught.value.message


def test_too_many_terms_is_refused_at_the_21st() -> None:
    text = " ".join(f"w{i}" for i in range(21))
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    assert caught.value.position == text.index("w20")
    assert parse_query(" ".join(f"w{i}" for i in range(20)))


def test_echo_lists_demonyms() -> None:
    assert describe(parse_query("Pakistan Afghanistan")) == (
        "stories that mention Afghanistan (or Afghan, Afghans, Afghani) "
        "and Pakistan (or Pakistani, Pakistanis)"
    )


def test_echo_of_wide_exact_phrase_exclusion_and_scopes() -> None:
    text = describe(parse_query('~Ukraine =Kyiv "grain deal" -wheat source:reuters lang:en'))
    assert text == (
        'stories that mention "grain deal", exactly Kyiv and Ukraine (or Ukrainian, Ukrainians, '
        'Kyiv, Kiev), but not wheat, in language en, from source "reuters"'
    )


def test_echo_of_alternatives_and_title_scope() -> None:
    text = describe(parse_query("title:tariffs (china OR india)"))
    assert text == (
        "stories that mention (China (or Chinese, PRC) or India (or Indian, Indians)) "
        "and tariffs in the title"
    )


def test_echo_of_acronym_expansion() -> None:
    assert describe(parse_query("google ipo")) == (
        "stories that mention google and IPO (or initial public offering, initial public offerings)"
    )


def test_echo_of_source_only_topic() -> None:
    assert describe(parse_query("source:dawn")) == 'all stories, from source "dawn"'


@pytest.mark.parametrize(
    ("text", "common"),
    [
        ('"on the"', True),
        ("the OR new", True),
        ("the -cricket", True),
        ("lang:en", True),
        ("the OR Pakistan", True),  # one branch alone matches nearly everything
        ('"on the" Pakistan', False),
        ("US", False),  # a short capitalised word is matched as typed
        ("source:dawn", False),
        ("floods OR cyclone", False),
    ],
)
def test_common_words_alone_are_told_apart(text: str, common: bool) -> None:
    assert common_only(parse_query(text).root) is common
