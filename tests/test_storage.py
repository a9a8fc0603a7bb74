"""Storage on SQLite and PostgreSQL: feeds, stories, subscriptions and the outbox's guarantees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.models import (
    ChatKind,
    DeliveryOutcome,
    FeedSpec,
    FetchResult,
    FetchStatus,
    OutcomeKind,
    Story,
    TermHit,
)
from bot.storage.database import Database
from bot.storage.outbox import SqlOutbox
from bot.storage.repository import Repository
from bot.storage.schema import OutboxRow

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)


def story(
    key: str,
    title: str = "Pakistan and Afghanistan agree",
    url: str | None = None,
    source: str = "Example",
) -> Story:
    return Story(
        key=key,
        url=url or f"https://news.example.org/{key}",
        title=title,
        summary="Summary.",
        published_at=NOW - timedelta(hours=1),
        source=source,
        site="news.example.org",
        language="en",
    )


def seed(db: Database, chats: int = 1) -> tuple[int, list[int], int]:
    """One feed, one story (its own cluster), ``chats`` chats subscribed to one topic."""
    with db.session() as s:
        repo = Repository(s)
        (feed,) = repo.sync_feeds([FeedSpec("https://feeds.example.org/a.xml", "A")], NOW)
        story_id = repo.add_story(feed.id, story("guid:1"), NOW)
        repo.set_cluster(story_id, story_id)
        topic_id, _ = repo.topic_id_for("afghanistan pakistan", NOW)
        chat_rows = []
        for n in range(chats):
            chat = repo.upsert_chat(100 + n, ChatKind.PRIVATE, None, NOW)
            sub = repo.add_subscription(chat.id, topic_id, "Pakistan Afghanistan", NOW)
            repo.enqueue_alert(
                chat_id=chat.id,
                story_id=story_id,
                cluster_id=story_id,
                subscription_id=sub.id,
                topic_text=sub.query_text,
                hits=(TermHit("Pakistan", "pakistan", "title"),),
                now=NOW,
            )
            chat_rows.append(chat.id)
    return feed.id, chat_rows, story_id


def test_feed_sync_adds_updates_and_disables(database: Database) -> None:
    with database.session() as s:
        repo = Repository(s)
        repo.sync_feeds(
            [FeedSpec("https://a.example/x", "A"), FeedSpec("https://b.example/y", "B")], NOW
        )
        states = repo.sync_feeds([FeedSpec("https://a.example/x", "A renamed")], NOW)
    assert [f.name for f in states] == ["A renamed"]
    with database.session() as s:
        everything = Repository(s).feed_states(enabled_only=False)
    assert {f.name: f.enabled for f in everything} == {"A renamed": True, "B": False}


def test_fetch_state_round_trips_with_aware_times(database: Database) -> None:
    with database.session() as s:
        repo = Repository(s)
        (feed,) = repo.sync_feeds([FeedSpec("https://a.example/x", "A")], NOW)
        ok = FetchResult(FetchStatus.OK, feed.url, etag='"e1"', last_modified="Wed, 25 Nov 2026")
        repo.record_fetch(
            feed.id,
            ok,
            error=None,
            next_check_at=NOW + timedelta(minutes=10),
            new_stories=3,
            now=NOW,
        )
    with database.session() as s:
        (state,) = Repository(s).feed_states()
    assert state.etag == '"e1"' and state.last_success_at == NOW
    assert state.next_check_at is not None and state.next_check_at.tzinfo is not None
    with database.session() as s:
        bad = FetchResult(FetchStatus.ERROR, state.url, error="HTTP 410", gone=True)
        Repository(s).record_fetch(
            state.id, bad, error="HTTP 410", next_check_at=NOW, new_stories=0, now=NOW
        )
    with database.session() as s:
        (health,) = Repository(s).feed_health()
    assert health.state.last_error == "HTTP 410" and not health.state.enabled
    assert health.story_count == 3 and health.state.etag == '"e1"'


def test_known_keys_and_duplicate_clusters(database: Database) -> None:
    with database.session() as s:
        repo = Repository(s)
        a, b = repo.sync_feeds(
            [FeedSpec("https://a.example/x", "A"), FeedSpec("https://b.example/y", "B")], NOW
        )
        first = repo.add_story(a.id, story("guid:x", url="https://n.example/1", source="A"), NOW)
        repo.set_cluster(first, first)
        assert repo.known_keys(a.id, ["guid:x", "guid:y"]) == {"guid:x"}
        assert repo.known_keys(b.id, ["guid:x"]) == set()
        same_link = story("url:https://n.example/1", url="https://n.example/1", source="B")
        second = repo.add_story(b.id, same_link, NOW)
        assert repo.duplicate_cluster(same_link, exclude_id=second) == first
        other = story("guid:z", url="https://n.example/2")
        third = repo.add_story(b.id, other, NOW)
        assert repo.duplicate_cluster(other, exclude_id=third) is None
        repo.set_cluster(second, first)
        assert [src.name for src in repo.cluster_sources(first)] == ["A", "B"]


def test_one_alert_per_chat_and_cluster(database: Database) -> None:
    _, (chat,), story_id = seed(database)
    with database.session() as s:
        again = Repository(s).enqueue_alert(
            chat_id=chat,
            story_id=story_id,
            cluster_id=story_id,
            subscription_id=1,
            topic_text="Pakistan",
            hits=(),
            now=NOW,
        )
        assert again is False
        assert Repository(s).outbox_counts() == {"pending": 1}


def test_merged_clusters_share_sources_and_alert_a_chat_once(database: Database) -> None:
    feed_id, (both_halves, _), kept = seed(database, chats=2)
    earlier = NOW - timedelta(hours=1)

    def alert(repo: Repository, chat: int, cluster: int, when: datetime = NOW) -> bool:
        return repo.enqueue_alert(
            chat_id=chat,
            story_id=kept,
            cluster_id=cluster,
            subscription_id=repo.subscriptions(both_halves)[0].id,
            topic_text="Pakistan",
            hits=(),
            now=when,
        )

    with database.session() as s:
        repo = Repository(s)
        absorbed = repo.add_story(feed_id, story("guid:2", source="Other"), NOW)
        repo.set_cluster(absorbed, absorbed)
        one_half = repo.upsert_chat(300, ChatKind.PRIVATE, None, NOW).id
        sent_first = repo.upsert_chat(500, ChatKind.PRIVATE, None, NOW).id
        assert alert(repo, sent_first, absorbed, earlier)
        assert alert(repo, both_halves, absorbed)  # both halves waiting to be sent
        assert alert(repo, one_half, absorbed)
    outbox = SqlOutbox(database)
    [sent] = outbox.claim_due(earlier, limit=10, worker="w1", lease=LEASE)
    outbox.record_outcome(sent.id, DeliveryOutcome(OutcomeKind.SENT, message_id=7), earlier)
    with database.session() as s:
        repo = Repository(s)
        assert alert(repo, sent_first, kept)  # the second half is queued before the merge
        repo.merge_clusters(absorbed, kept)
    with database.session() as s:
        repo = Repository(s)
        assert [src.name for src in repo.cluster_sources(kept)] == ["Example", "Other"]
        assert repo.cluster_sources(absorbed) == []
        # A chat alerted about the absorbed half is not alerted about the event again.
        assert not alert(repo, one_half, kept)
        newcomer = repo.upsert_chat(400, ChatKind.PRIVATE, None, NOW).id
        assert alert(repo, newcomer, kept)
        # One alert a chat about the event: the waiting duplicate of each chat is dropped.
        assert repo.outbox_counts() == {"pending": 4, "sent": 1, "dropped": 2}
        dropped = s.scalars(select(OutboxRow).where(OutboxRow.status == "dropped")).all()
        assert {(r.chat_id, r.cluster_id, r.outcome) for r in dropped} == {
            (both_halves, absorbed, "same_event"),
            (sent_first, kept, "same_event"),
        }
        # Every alert about the event, the one left on the absorbed half too, lists its sources.
        for row_id in s.scalars(select(OutboxRow.id)):
            found = repo.alert(row_id)
            assert found is not None
            assert found.cluster_id == kept
            assert [x.name for x in found.sources] == ["Example", "Other"]


def test_claim_lease_and_sent_is_final(database: Database) -> None:
    seed(database, chats=3)
    outbox = SqlOutbox(database)
    claimed = outbox.claim_due(NOW, limit=10, worker="w1", lease=LEASE)
    assert sorted(a.chat_id for a in claimed) == [100, 101, 102]
    assert claimed[0].title == "Pakistan and Afghanistan agree"
    assert claimed[0].hits == (TermHit("Pakistan", "pakistan", "title"),)
    # Leased alerts are not claimable again until the lease runs out.
    assert outbox.claim_due(NOW + timedelta(seconds=5), limit=10, worker="w2", lease=LEASE) == []
    outbox.record_outcome(claimed[0].id, DeliveryOutcome(OutcomeKind.SENT, message_id=9), NOW)
    # The worker died with two alerts leased: after the lease they come back, the sent one never.
    later = NOW + LEASE + timedelta(seconds=1)
    reclaimed = outbox.claim_due(later, limit=10, worker="w2", lease=LEASE)
    assert sorted(a.id for a in reclaimed) == sorted(a.id for a in claimed[1:])


def test_outcomes_retry_release_gone_and_migrated(database: Database) -> None:
    seed(database, chats=3)
    outbox = SqlOutbox(database)
    a, b, c = outbox.claim_due(NOW, limit=10, worker="w", lease=LEASE)
    retry_at = NOW + timedelta(seconds=30)
    outbox.record_outcome(
        a.id, DeliveryOutcome(OutcomeKind.RETRY, detail="HTTP 502"), NOW, retry_at=retry_at
    )
    outbox.release(b.id, not_before=NOW + timedelta(seconds=5))
    outbox.record_outcome(c.id, DeliveryOutcome(OutcomeKind.CHAT_GONE, detail="blocked"), NOW)
    assert outbox.claim_due(NOW + timedelta(seconds=1), limit=10, worker="w", lease=LEASE) == []
    (released,) = outbox.claim_due(NOW + timedelta(seconds=6), limit=10, worker="w", lease=LEASE)
    assert released.id == b.id and released.attempts == 0
    outbox.record_outcome(
        b.id, DeliveryOutcome(OutcomeKind.CHAT_MIGRATED, new_chat_id=-100555), NOW
    )
    (moved,) = outbox.claim_due(NOW + timedelta(seconds=7), limit=10, worker="w", lease=LEASE)
    assert moved.chat_id == -100555 and moved.chat_kind is ChatKind.SUPERGROUP
    (retried,) = outbox.claim_due(retry_at, limit=10, worker="w", lease=LEASE)
    assert retried.id == a.id and retried.attempts == 1
    outbox.record_outcome(a.id, DeliveryOutcome(OutcomeKind.RETRY), retry_at, retry_at=None)
    with database.session() as s:
        repo = Repository(s)
        assert repo.find_chat(102) is not None and not repo.find_chat(102).active  # type: ignore[union-attr]
        assert repo.outbox_counts() == {"failed": 2, "sending": 1}


def test_unsubscribing_the_last_chat_drops_the_topic(database: Database) -> None:
    with database.session() as s:
        repo = Repository(s)
        one = repo.upsert_chat(1, ChatKind.PRIVATE, None, NOW)
        two = repo.upsert_chat(2, ChatKind.GROUP, "Group", NOW)
        topic_id, created = repo.topic_id_for("pakistan", NOW)
        assert created and repo.topic_id_for("pakistan", NOW) == (topic_id, False)
        sub1 = repo.add_subscription(one.id, topic_id, "Pakistan", NOW)
        sub2 = repo.add_subscription(two.id, topic_id, "pakistan", NOW)
        assert [r.chat_id for r in repo.recipients([topic_id])] == [one.id, two.id]
        assert repo.remove_subscription(sub1.id) is None
        assert repo.remove_subscription(sub2.id) == topic_id
        assert repo.topics() == []
