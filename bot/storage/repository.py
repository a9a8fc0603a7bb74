"""Every query newsbot makes lives here: feeds, stories, chats, subscriptions and the outbox."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.models import (
    Alert,
    AlertSource,
    ChatKind,
    FeedSpec,
    FeedState,
    FetchResult,
    FetchStatus,
    StoredStory,
    Story,
    TermHit,
)
from bot.storage.schema import ChatRow, FeedRow, OutboxRow, StoryRow, SubscriptionRow, TopicRow
from bot.stories.summarize import cut_at_sentence

MAX_SOURCES = 10
ALERT_SUMMARY_CHARS = 300


@dataclass(frozen=True, slots=True)
class ChatInfo:
    """A stored chat."""

    id: int
    telegram_id: int
    kind: ChatKind
    title: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class SubscriptionInfo:
    """One of a chat's subscriptions, as listed to the chat."""

    id: int
    topic_id: int
    query_text: str
    muted: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Recipient:
    """A chat subscribed to a matched topic."""

    chat_id: int  # chats.id
    telegram_id: int
    subscription_id: int
    topic_id: int
    query_text: str


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """A feed's state for admins: when it last worked and what went wrong."""

    state: FeedState
    story_count: int


def _feed_state(row: FeedRow) -> FeedState:
    return FeedState(
        id=row.id,
        url=row.url,
        name=row.name,
        language=row.language,
        interval=timedelta(seconds=row.interval_s),
        etag=row.etag,
        last_modified=row.last_modified,
        next_check_at=row.next_check_at,
        last_polled_at=row.last_polled_at,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        error_count=row.error_count,
        enabled=row.enabled,
        trusted=row.trusted,
        tags=tuple(t for t in row.tags.split(",") if t),
    )


def _story(row: StoryRow) -> Story:
    return Story(
        key=row.key,
        url=row.url,
        title=row.title,
        summary=row.summary,
        published_at=row.published_at,
        source=row.source,
        site=row.site,
        language=row.language,
        feed_id=row.feed_id,
    )


def stored_story(row: StoryRow) -> StoredStory:
    """Turn a story row into the core's value type."""
    return StoredStory(
        id=row.id,
        cluster_id=row.cluster_id if row.cluster_id is not None else row.id,
        story=_story(row),
        fetched_at=row.fetched_at,
        article_text=row.article_text,
        summary_long=row.summary_long,
    )


def hits_to_json(hits: Sequence[TermHit]) -> str:
    """Serialize why-it-matched for the outbox row."""
    return json.dumps([[h.term, h.matched, h.field] for h in hits], ensure_ascii=False)


def hits_from_json(raw: str) -> tuple[TermHit, ...]:
    """Read why-it-matched back; a damaged value reads as no hits rather than failing."""
    try:
        data = json.loads(raw)
        return tuple(TermHit(str(t), str(m), str(f)) for t, m, f in data)
    except (ValueError, TypeError):
        return ()


class Repository:
    """Queries over one open session (one transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- feeds ---------------------------------------------------------------------------

    def sync_feeds(self, specs: Sequence[FeedSpec], now: datetime) -> list[FeedState]:
        """Make the stored feed list match the operator's: add, update, and disable the rest."""
        rows = {row.url: row for row in self.session.scalars(select(FeedRow))}
        wanted = {spec.url for spec in specs}
        for spec in specs:
            row = rows.get(spec.url)
            if row is None:
                row = FeedRow(url=spec.url, created_at=now, error_count=0, story_count=0)
                self.session.add(row)
            row.name = spec.name
            row.language = spec.language
            row.tags = ",".join(spec.tags)
            row.interval_s = int(spec.interval.total_seconds())
            row.trusted = spec.trusted
            row.enabled = True
        for url, row in rows.items():
            if url not in wanted and row.trusted:
                row.enabled = False
        self.session.flush()
        return self.feed_states()

    def make_feeds_due(self) -> None:
        """Clear every feed's next check so the next tick polls them all."""
        self.session.execute(update(FeedRow).values(next_check_at=None))

    def feed_states(self, *, enabled_only: bool = True) -> list[FeedState]:
        """All (enabled) feeds with their fetch state."""
        query = select(FeedRow).order_by(FeedRow.id)
        if enabled_only:
            query = query.where(FeedRow.enabled.is_(True))
        return [_feed_state(row) for row in self.session.scalars(query)]

    def feed_health(self) -> list[FeedHealth]:
        """Every feed with its story count, for the admins' /feeds."""
        rows = self.session.scalars(select(FeedRow).order_by(FeedRow.name))
        return [FeedHealth(_feed_state(row), row.story_count) for row in rows]

    def record_fetch(
        self,
        feed_id: int,
        result: FetchResult,
        *,
        error: str | None,
        next_check_at: datetime,
        new_stories: int,
        now: datetime,
    ) -> None:
        """Store what one poll of a feed ended with (validators, error, next check)."""
        row = self.session.get_one(FeedRow, feed_id)
        row.last_polled_at = now
        row.next_check_at = next_check_at
        if error is None:
            row.last_success_at = now
            row.last_error = None
            row.error_count = 0
            if result.status is FetchStatus.OK:
                row.etag = result.etag
                row.last_modified = result.last_modified
        else:
            row.last_error = error[:500]
            row.error_count += 1
            if result.gone:
                row.enabled = False
        row.story_count += new_stories

    # -- stories -------------------------------------------------------------------------

    def known_keys(self, feed_id: int, keys: Iterable[str]) -> set[str]:
        """The keys among ``keys`` already stored for this feed."""
        wanted = list(set(keys))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = select(StoryRow.key).where(StoryRow.feed_id == feed_id, StoryRow.key.in_(chunk))
            found.update(self.session.scalars(query))
        return found

    def add_story(self, feed_id: int, story: Story, now: datetime) -> int:
        """Insert a new story and return its id; its cluster is set by ``set_cluster``."""
        row = StoryRow(
            feed_id=feed_id,
            key=story.key,
            url=story.url,
            title=story.title,
            summary=story.summary,
            source=story.source,
            site=story.site,
            language=story.language,
            published_at=story.published_at,
            fetched_at=now,
        )
        self.session.add(row)
        self.session.flush()
        return row.id

    def duplicate_cluster(self, story: Story, *, exclude_id: int) -> int | None:
        """The cluster of an already stored story with the same canonical link or guid."""
        conditions = []
        if story.url:
            conditions.append(StoryRow.url == story.url)
        if story.key.startswith("guid:"):
            conditions.append(StoryRow.key == story.key)
        if not conditions:
            return None
        query = (
            select(StoryRow.cluster_id)
            .where(or_(*conditions), StoryRow.id != exclude_id)
            .order_by(StoryRow.id)
            .limit(1)
        )
        return self.session.scalars(query).first()

    def set_cluster(self, story_id: int, cluster_id: int) -> None:
        """Put a story into a cluster (its own id for a new event)."""
        self.session.execute(
            update(StoryRow).where(StoryRow.id == story_id).values(cluster_id=cluster_id)
        )

    def merge_clusters(self, absorbed: int, into: int) -> None:
        """Fold cluster ``absorbed`` into ``into``: its stories, and the alerts about it.

        A chat's alert moves with the stories, so a later report of the event is not alerted
        again. A chat with an alert about each cluster gets one alert about the event: an alert
        not sent yet is dropped (outcome ``same_event``) when the other one was sent, is being
        sent, or is also waiting. Two alerts already sent both stay on record.
        """
        if absorbed == into:
            return
        self.session.execute(
            update(StoryRow).where(StoryRow.cluster_id == absorbed).values(cluster_id=into)
        )
        pending = OutboxRow.status == "pending"
        dropped = {"status": "dropped", "outcome": "same_event"}
        on_kept = select(OutboxRow.chat_id).where(OutboxRow.cluster_id == into)
        self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.cluster_id == absorbed, pending, OutboxRow.chat_id.in_(on_kept))
            .values(**dropped)
        )
        delivered = select(OutboxRow.chat_id).where(
            OutboxRow.cluster_id == absorbed, OutboxRow.status.in_(("sent", "sending"))
        )
        self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.cluster_id == into, pending, OutboxRow.chat_id.in_(delivered))
            .values(**dropped)
        )
        self.session.execute(
            update(OutboxRow)
            .where(OutboxRow.cluster_id == absorbed, OutboxRow.chat_id.not_in(on_kept))
            .values(cluster_id=into)
        )

    def set_article(
        self,
        story_id: int,
        *,
        text: str | None,
        summary_short: str | None,
        summary_long: str | None,
    ) -> None:
        """Cache a story's fetched article text and its summaries."""
        self.session.execute(
            update(StoryRow)
            .where(StoryRow.id == story_id)
            .values(article_text=text, summary_short=summary_short, summary_long=summary_long)
        )

    def get_story(self, story_id: int) -> StoredStory | None:
        """One stored story by id."""
        row = self.session.get(StoryRow, story_id)
        return stored_story(row) if row is not None else None

    def recent_stories(self, since: datetime, *, limit: int = 5000) -> list[StoredStory]:
        """Stories published since ``since``, newest first."""
        query = (
            select(StoryRow)
            .where(StoryRow.published_at >= since)
            .order_by(StoryRow.published_at.desc(), StoryRow.id.desc())
            .limit(limit)
        )
        return [stored_story(row) for row in self.session.scalars(query)]

    def cluster_sources(self, cluster_id: int) -> list[AlertSource]:
        """The outlets that carried a cluster's stories, first publication first."""
        return self.clusters_sources([cluster_id]).get(cluster_id, [])

    def clusters_sources(self, cluster_ids: Iterable[int]) -> dict[int, list[AlertSource]]:
        """``cluster_sources`` for many clusters in one query (one outlet once per cluster)."""
        wanted = list(set(cluster_ids))
        found: dict[int, list[AlertSource]] = {}
        seen: set[tuple[int, str]] = set()
        for start in range(0, len(wanted), 500):
            query = (
                select(StoryRow)
                .where(StoryRow.cluster_id.in_(wanted[start : start + 500]))
                .order_by(StoryRow.cluster_id, StoryRow.published_at, StoryRow.id)
            )
            for row in self.session.scalars(query):
                cluster = row.cluster_id if row.cluster_id is not None else row.id
                sources = found.setdefault(cluster, [])
                if (cluster, row.source) in seen or len(sources) >= MAX_SOURCES:
                    continue
                seen.add((cluster, row.source))
                sources.append(AlertSource(row.source, row.url, row.published_at))
        return found

    # -- chats and subscriptions ----------------------------------------------------------

    def upsert_chat(
        self, telegram_id: int, kind: ChatKind, title: str | None, now: datetime
    ) -> ChatInfo:
        """Remember a chat (again active when it talks to us after being gone)."""
        row = self.session.scalars(
            select(ChatRow).where(ChatRow.telegram_id == telegram_id)
        ).first()
        if row is None:
            row = ChatRow(telegram_id=telegram_id, created_at=now)
            self.session.add(row)
        row.kind = kind.value
        row.title = title[:255] if title else None
        row.active = True
        row.inactive_reason = None
        self.session.flush()
        return ChatInfo(row.id, row.telegram_id, kind, row.title, row.active)

    def find_chat(self, telegram_id: int) -> ChatInfo | None:
        """A stored chat by its Telegram id."""
        row = self.session.scalars(
            select(ChatRow).where(ChatRow.telegram_id == telegram_id)
        ).first()
        if row is None:
            return None
        return ChatInfo(row.id, row.telegram_id, ChatKind(row.kind), row.title, row.active)

    def subscriptions(self, chat_id: int) -> list[SubscriptionInfo]:
        """A chat's subscriptions, oldest first (the order /topics numbers them in)."""
        query = (
            select(SubscriptionRow)
            .where(SubscriptionRow.chat_id == chat_id)
            .order_by(SubscriptionRow.created_at, SubscriptionRow.id)
        )
        return [
            SubscriptionInfo(row.id, row.topic_id, row.query_text, row.muted, row.created_at)
            for row in self.session.scalars(query)
        ]

    def find_topic(self, canonical: str) -> int | None:
        """The id of the topic with this canonical query, if any chat follows it."""
        return self.session.scalars(
            select(TopicRow.id).where(TopicRow.canonical == canonical)
        ).first()

    def topic_id_for(self, canonical: str, now: datetime) -> tuple[int, bool]:
        """The topic row for a canonical query, created when new; returns (id, created)."""
        found = self.find_topic(canonical)
        if found is not None:
            return found, False
        row = TopicRow(canonical=canonical, created_at=now)
        self.session.add(row)
        self.session.flush()
        return row.id, True

    def add_subscription(
        self, chat_id: int, topic_id: int, query_text: str, now: datetime
    ) -> SubscriptionInfo:
        """Subscribe a chat to a topic (the caller checked it is not subscribed yet)."""
        row = SubscriptionRow(
            chat_id=chat_id, topic_id=topic_id, query_text=query_text, muted=False, created_at=now
        )
        self.session.add(row)
        self.session.flush()
        return SubscriptionInfo(row.id, row.topic_id, row.query_text, row.muted, row.created_at)

    def remove_subscription(self, subscription_id: int) -> int | None:
        """Delete a subscription; returns its topic id when no chat follows that topic any more."""
        row = self.session.get(SubscriptionRow, subscription_id)
        if row is None:
            return None
        topic_id = row.topic_id
        self.session.delete(row)
        self.session.flush()
        remaining = self.session.scalar(
            select(func.count())
            .select_from(SubscriptionRow)
            .where(SubscriptionRow.topic_id == topic_id)
        )
        if remaining:
            return None
        self.session.execute(delete(TopicRow).where(TopicRow.id == topic_id))
        return topic_id

    def subscription(self, chat_id: int, subscription_id: int) -> SubscriptionInfo | None:
        """One of a chat's subscriptions by id (None when it is another chat's or gone)."""
        row = self.session.get(SubscriptionRow, subscription_id)
        if row is None or row.chat_id != chat_id:
            return None
        return SubscriptionInfo(row.id, row.topic_id, row.query_text, row.muted, row.created_at)

    def alert_subscription(self, alert_id: int) -> int | None:
        """The subscription an alert was sent for."""
        return self.session.scalar(
            select(OutboxRow.subscription_id).where(OutboxRow.id == alert_id)
        )

    def retarget_subscription(
        self, subscription_id: int, topic_id: int, query_text: str
    ) -> int | None:
        """Point a subscription at another topic; returns the old topic's id if now unfollowed."""
        row = self.session.get_one(SubscriptionRow, subscription_id)
        old = row.topic_id
        row.topic_id = topic_id
        row.query_text = query_text
        self.session.flush()
        if old == topic_id:
            return None
        remaining = self.session.scalar(
            select(func.count()).select_from(SubscriptionRow).where(SubscriptionRow.topic_id == old)
        )
        if remaining:
            return None
        self.session.execute(delete(TopicRow).where(TopicRow.id == old))
        return old

    def set_muted(self, subscription_id: int, muted: bool) -> None:
        """Mute or unmute one subscription."""
        self.session.execute(
            update(SubscriptionRow).where(SubscriptionRow.id == subscription_id).values(muted=muted)
        )

    def topics_fingerprint(self) -> tuple[int, int]:
        """(count, sum of ids) of the topics table: changes whenever a topic comes or goes."""
        count, total = self.session.execute(
            select(func.count(TopicRow.id), func.coalesce(func.sum(TopicRow.id), 0))
        ).one()
        return int(count), int(total)

    def topics(self) -> list[tuple[int, str]]:
        """Every standing topic as (id, canonical query)."""
        return [
            (r.id, r.canonical)
            for r in self.session.execute(select(TopicRow.id, TopicRow.canonical))
        ]

    def recipients(self, topic_ids: Sequence[int]) -> list[Recipient]:
        """Active, unmuted chats subscribed to any of ``topic_ids``."""
        if not topic_ids:
            return []
        query = (
            select(SubscriptionRow, ChatRow.telegram_id)
            .join(ChatRow, ChatRow.id == SubscriptionRow.chat_id)
            .where(
                SubscriptionRow.topic_id.in_(list(topic_ids)),
                SubscriptionRow.muted.is_(False),
                ChatRow.active.is_(True),
            )
            .order_by(SubscriptionRow.id)
        )
        return [
            Recipient(row.chat_id, telegram_id, row.id, row.topic_id, row.query_text)
            for row, telegram_id in self.session.execute(query)
        ]

    # -- outbox --------------------------------------------------------------------------

    def enqueue_alert(
        self,
        *,
        chat_id: int,
        story_id: int,
        cluster_id: int,
        subscription_id: int,
        topic_text: str,
        hits: Sequence[TermHit],
        now: datetime,
        due_at: datetime | None = None,
    ) -> bool:
        """Queue an alert unless this chat already has one for this cluster; True when queued."""
        values = {
            "chat_id": chat_id,
            "story_id": story_id,
            "cluster_id": cluster_id,
            "subscription_id": subscription_id,
            "topic_text": topic_text,
            "why": hits_to_json(hits),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": due_at or now,
            "created_at": now,
        }
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(OutboxRow)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["chat_id", "cluster_id"])
            .returning(OutboxRow.id)
        )
        return self.session.execute(statement).scalar() is not None

    def alert(self, alert_id: int) -> Alert | None:
        """The alert an outbox row stands for, with its story and sources."""
        row = self.session.get(OutboxRow, alert_id)
        if row is None:
            return None
        return self._alerts([row])[0]

    def alert_for_chat(self, telegram_chat_id: int, alert_id: int) -> Alert | None:
        """An alert by id, only if it was addressed to that chat (no peeking across chats)."""
        found = self.alert(alert_id)
        return found if found is not None and found.chat_id == telegram_chat_id else None

    def _alerts(self, rows: Sequence[OutboxRow]) -> list[Alert]:
        chats = {
            c.id: c
            for c in self.session.scalars(
                select(ChatRow).where(ChatRow.id.in_({r.chat_id for r in rows}))
            )
        }
        stories = {
            s.id: s
            for s in self.session.scalars(
                select(StoryRow).where(StoryRow.id.in_({r.story_id for r in rows}))
            )
        }
        # The event is the story's cluster now: clusters merge after an alert is queued.
        event = {s.id: s.cluster_id if s.cluster_id is not None else s.id for s in stories.values()}
        sources = self.clusters_sources(event.values())
        alerts = []
        for row in rows:
            chat = chats[row.chat_id]
            story = stories[row.story_id]
            alerts.append(
                Alert(
                    id=row.id,
                    chat_id=chat.telegram_id,
                    chat_kind=ChatKind(chat.kind),
                    story_id=story.id,
                    cluster_id=event[story.id],
                    title=story.title,
                    url=story.url,
                    source=story.source,
                    published_at=story.published_at,
                    summary=story.summary_short
                    or cut_at_sentence(story.summary, ALERT_SUMMARY_CHARS),
                    topic=row.topic_text,
                    hits=hits_from_json(row.why),
                    sources=tuple(sources.get(event[story.id], ())),
                    attempts=row.attempts,
                )
            )
        return alerts

    def release_held_alerts(self, story_ids: Sequence[int], now: datetime) -> None:
        """Make pending alerts about these stories due now (their summaries are ready)."""
        if story_ids:
            self.session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.story_id.in_(list(story_ids)),
                    OutboxRow.status == "pending",
                    OutboxRow.next_attempt_at > now,
                    OutboxRow.attempts == 0,
                )
                .values(next_attempt_at=now)
            )

    def outbox_counts(self) -> dict[str, int]:
        """How many alerts are in each state."""
        rows = self.session.execute(
            select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
        )
        return {status: count for status, count in rows}
