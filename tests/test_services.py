"""Use cases over storage, on SQLite and PostgreSQL: what two processes sharing a database see."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models import Story
from bot.services import ChatRef, Services, TopicBook
from bot.storage.database import Database
from bot.storage.repository import Repository
from bot.topics.index import match_story

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
STORY = Story(
    key="guid:1",
    url="https://news.example.org/1",
    title="Pakistani and Afghan officials meet at Torkham",
    summary="Talks on the border crossing.",
    published_at=NOW,
    source="Desk",
)


def test_a_second_process_learns_and_forgets_topics(database: Database) -> None:
    first = Services(database, TopicBook(), admins=frozenset())
    second = Services(database, TopicBook(), admins=frozenset())
    second.load()
    assert first.subscribe(ChatRef(1), "Pakistan Afghanistan", NOW).error is None
    assert match_story(second.topics.index, STORY) == []  # not refreshed yet

    with database.session() as session:
        second.topics.refresh(Repository(session))
    assert len(match_story(second.topics.index, STORY)) == 1

    assert first.unsubscribe(ChatRef(1), "1").removed == "Pakistan Afghanistan"
    with database.session() as session:
        second.topics.refresh(Repository(session))
    assert match_story(second.topics.index, STORY) == []
    assert len(second.topics) == 0


def test_identical_topics_from_many_chats_are_one(database: Database) -> None:
    services = Services(database, TopicBook(), admins=frozenset())
    for chat in range(1, 6):
        spelled = "Pakistan Afghanistan" if chat % 2 else "afghanistan   PAKISTAN"
        assert services.subscribe(ChatRef(chat), spelled, NOW).error is None
    assert len(services.topics) == 1
    (match,) = match_story(services.topics.index, STORY)
    assert {hit.field for hit in match.hits} == {"title"}
    for chat in range(1, 5):
        services.unsubscribe(ChatRef(chat), "1")
    assert len(services.topics) == 1  # chat 5 still follows it
    services.unsubscribe(ChatRef(5), "1")
    assert len(services.topics) == 0


def test_unsubscribe_by_a_digit_that_is_not_ascii_is_a_clear_miss(database: Database) -> None:
    services = Services(database, TopicBook(), admins=frozenset())
    services.subscribe(ChatRef(1), "Kabul", NOW)
    result = services.unsubscribe(ChatRef(1), "²")
    assert result.removed is None and result.error is not None
    assert "No topic matches '²'" in result.error
