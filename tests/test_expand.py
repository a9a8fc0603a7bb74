"""Suggestions from the recent-story buffer: "also match" words and 👎 exclusions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.models import Story
from bot.topics.expand import (
    StoryBuffer,
    exclusion_for,
    related_terms,
    suggest_for_query,
    with_alternatives,
)
from bot.topics.index import TopicIndex
from bot.topics.query import QueryError, parse_query

WHEN = datetime(2025, 5, 28, tzinfo=UTC)
FIXTURE = Path(__file__).parent / "fixtures" / "topics" / "buffer.json"


@pytest.fixture(scope="module")
def buffer() -> list[Story]:
    """Thirty short stories: Afghanistan, an IPO, and unrelated news."""
    items = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return [
        Story(str(i), None, it["title"], it["summary"], WHEN, "Wire") for i, it in enumerate(items)
    ]


def test_related_terms_for_a_country(buffer: list[Story]) -> None:
    assert set(related_terms("Afghanistan", buffer, limit=3)) == {"kabul", "karzai", "taliban"}


def test_related_terms_leave_out_the_concept_itself_and_stopwords(buffer: list[Story]) -> None:
    found = related_terms("Afghanistan", buffer, limit=20)
    assert "afghan" not in found
    assert "afghanistan" not in found
    assert "the" not in found
    assert "said" not in found


def test_related_terms_for_ipo(buffer: list[Story]) -> None:
    found = related_terms("IPO", buffer, limit=5)
    assert {"offering", "debut", "auction"} <= set(found)
    assert "shares" not in found  # common in all business news, not a stand-in for an IPO


def test_related_terms_need_enough_evidence(buffer: list[Story]) -> None:
    assert related_terms("opium", buffer) == []  # one story: nothing over-represented thrice
    assert related_terms("", buffer) == []
    assert related_terms("Afghanistan", []) == []


def test_suggestions_for_a_query_leave_out_its_other_terms(buffer: list[Story]) -> None:
    query = parse_query("Afghanistan Karzai")
    found = suggest_for_query(query, buffer, limit=5)
    assert "karzai" not in found["afghanistan"]
    assert found["afghanistan"]
    # A word suggested for both terms is about their meeting, so neither list keeps it.
    assert not set(found["afghanistan"]) & set(found["karzai"])


def test_accepted_suggestions_become_part_of_the_query() -> None:
    query = parse_query("Afghanistan Pakistan")
    wider = with_alternatives(query, "Afghanistan", ["Kabul", "Taliban"])
    assert wider.canonical == "(afghanistan OR kabul OR taliban) pakistan"
    assert parse_query(wider.canonical) == wider
    index = TopicIndex()
    index.add(1, wider)
    item = Story("k", None, "Taliban fighters cross into Pakistani territory", "", WHEN, "Wire")
    assert [m.topic_id for m in index.match(item)] == [1]


def test_alternatives_keep_the_terms_scope() -> None:
    wider = with_alternatives(parse_query("title:ipo google"), "ipo", ["debut"])
    assert wider.canonical == "google (title:debut OR title:ipo)"


def test_alternatives_that_make_the_query_too_big_are_refused() -> None:
    query = parse_query("afghanistan")
    with pytest.raises(QueryError):
        with_alternatives(query, "afghanistan", [f"word{i}" for i in range(25)])


def test_exclusion_for_a_disliked_alert(buffer: list[Story]) -> None:
    disliked = Story("x", None, "Cricket: IPL star injured", "He will miss the IPL.", WHEN, "Wire")
    assert exclusion_for(parse_query("cricket"), disliked, [*buffer, disliked]) == "ipl"


def test_exclusion_never_suggests_the_topic_itself(buffer: list[Story]) -> None:
    disliked = buffer[0]  # "Karzai sworn in as Afghan president in Kabul"
    word = exclusion_for(parse_query("Afghanistan"), disliked, buffer)
    assert word not in ("afghan", "afghanistan", None)


def test_an_analysed_buffer_suggests_what_the_stories_do(buffer: list[Story]) -> None:
    analysed = StoryBuffer(buffer)
    for text in ("Afghanistan Pakistan", "Google IPO", "IPO -auction"):
        query = parse_query(text)
        # Reused for many queries, as one buffer serves every /subscribe until stories change.
        assert suggest_for_query(query, analysed) == suggest_for_query(query, buffer)
        assert suggest_for_query(query, analysed) == suggest_for_query(query, buffer)
    disliked = buffer[0]
    topic = parse_query("Afghanistan")
    assert exclusion_for(topic, disliked, analysed) == exclusion_for(topic, disliked, buffer)


def test_a_capitalised_term_is_not_suggested_for_another_term() -> None:
    titles = [f"Google IPO opens, day {n}" for n in range(5)]
    titles += [f"Google Android phone launch {n}" for n in range(4)]
    titles += [f"Council budget vote {n}" for n in range(10)]
    stories = [Story(str(n), None, t, "", WHEN, "Wire") for n, t in enumerate(titles)]
    found = suggest_for_query(parse_query("Google IPO"), stories, limit=10)
    assert "android" in found["google"]  # the buffer does offer words for Google...
    assert all(word.casefold() != "ipo" for word in found["google"])  # ...but not its IPO


def test_exclusion_is_never_a_number_or_ordinal() -> None:
    titles = [f"Tariffs rise for the 3rd month in a row, survey {n}" for n in range(3)]
    titles += ["Tariffs talks stall at the border", "Harbour reopens"]
    stories = [Story(str(n), None, t, "", WHEN, "Wire") for n, t in enumerate(titles)]
    word = exclusion_for(parse_query("tariffs"), stories[0], stories)
    assert word in ("month", "row", "survey")
