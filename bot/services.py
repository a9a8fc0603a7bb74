"""The use cases that the Telegram handlers and the command line call.

Each method opens one transaction, does one thing a person asked for, and returns a plain
result that the caller renders. Nothing here knows Telegram.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.models import Alert, ChatKind, StoredStory
from bot.refine import (
    Suggestion,
    concepts_of,
    exclusion,
    narrow,
    suggestions_for,
    suggestions_from_names,
    suggestions_in,
    widen,
)
from bot.storage.database import Database
from bot.storage.repository import FeedHealth, Repository, SubscriptionInfo
from bot.topics.describe import describe
from bot.topics.expand import StoryBuffer
from bot.topics.index import TopicIndex, match_story
from bot.topics.names import TopicNamer
from bot.topics.query import Query, QueryError, common_only, parse_query

logger = logging.getLogger(__name__)

MAX_TOPICS_PER_CHAT = 50
MAX_TOPIC_LENGTH = 200
PREVIEW_DAYS = 3
BUFFER_DAYS = 3  # the recent stories suggestions are computed from
BUFFER_LIMIT = 3000


@dataclass(frozen=True, slots=True)
class ChatRef:
    """The chat a request came from."""

    telegram_id: int
    kind: ChatKind = ChatKind.PRIVATE
    title: str | None = None


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    """What /subscribe did: ``error`` is set when nothing was stored."""

    query_text: str
    description: str = ""
    error: str | None = None
    already: bool = False
    topic_count: int = 0
    subscription_id: int | None = None
    suggestions: tuple[Suggestion, ...] = ()


@dataclass(frozen=True, slots=True)
class UnsubscribeResult:
    """What /unsubscribe did: ``removed`` is the topic's text, or ``error`` says why not."""

    removed: str | None = None
    error: str | None = None
    remaining: int = 0


@dataclass(frozen=True, slots=True)
class PreviewResult:
    """Stored stories of the last days that a query would have matched, newest first."""

    query_text: str
    description: str = ""
    error: str | None = None
    days: int = PREVIEW_DAYS
    total: int = 0
    stories: tuple[StoredStory, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()


@dataclass(frozen=True, slots=True)
class Exclusion:
    """After a 👎: the word that would leave stories like that one out of a topic."""

    subscription_id: int
    topic: str
    word: str


def check_new_topic(text: str) -> tuple[Query | None, str | None]:
    """``check_topic_text`` for a topic about to be followed: common words alone are refused."""
    query, error = check_topic_text(text)
    if query is not None and common_only(query.root):
        return None, (
            f"“{text}” is only common words, so it would match nearly every story. "
            "Add a word that names what you follow, e.g. /subscribe Pakistan elections"
        )
    return query, error


def check_topic_text(text: str) -> tuple[Query | None, str | None]:
    """Parse a topic as typed; return the query, or a message saying what is wrong and where."""
    text = " ".join(text.split())
    if not text:
        return None, "Tell me what to watch for, e.g. /subscribe Pakistan Afghanistan"
    if len(text) > MAX_TOPIC_LENGTH:
        return None, (
            f"That topic is {len(text)} characters long; the limit is {MAX_TOPIC_LENGTH}. "
            "Try fewer or shorter words."
        )
    try:
        return parse_query(text), None
    except QueryError as exc:
        return None, f"I could not read that topic: {exc}"


class TopicBook:
    """The in-memory topic index, kept equal to the topics table."""

    def __init__(self) -> None:
        self.index = TopicIndex()
        self._loaded: dict[int, str] = {}  # topic id -> canonical query text
        self._fingerprint: tuple[int, int] | None = None
        # Counts changes to the indexed topics, so other stages can tell when to catch up.
        self.version = 0

    def refresh(self, repo: Repository) -> None:
        """Add topics created and drop topics deleted since the last refresh (other processes)."""
        fingerprint = repo.topics_fingerprint()
        if fingerprint == self._fingerprint:
            return  # nothing changed: skip reading every topic
        self._fingerprint = fingerprint
        stored = dict(repo.topics())
        for topic_id in self._loaded.keys() - stored.keys():
            self.forget(topic_id)
        for topic_id, canonical in stored.items():
            if topic_id in self._loaded:
                continue
            try:
                self.learn(topic_id, parse_query(canonical))
            except QueryError:
                logger.warning("stored topic no longer parses topic_id=%s", topic_id)

    def learn(self, topic_id: int, query: Query) -> None:
        """Index a topic."""
        if topic_id not in self._loaded:
            self.index.add(topic_id, query)
            self._loaded[topic_id] = query.canonical
            self.version += 1

    def forget(self, topic_id: int) -> None:
        """Drop a topic from the index."""
        if topic_id in self._loaded:
            self.index.remove(topic_id)
            del self._loaded[topic_id]
            self.version += 1

    def known(self) -> dict[int, str]:
        """The indexed topics: topic id -> canonical query text."""
        return dict(self._loaded)

    def __len__(self) -> int:
        return len(self._loaded)


class Services:
    """Use cases over one database and one topic index."""

    def __init__(
        self,
        database: Database,
        topics: TopicBook,
        *,
        admins: frozenset[int],
        namer: TopicNamer | None = None,
    ) -> None:
        self.database = database
        self.topics = topics
        self.admins = admins
        self.namer = namer
        # The last recent-story buffer analysed for suggestions, by its story ids.
        self._buffer_cache: tuple[tuple[int, ...], StoryBuffer] | None = None
        self._buffer_lock = threading.Lock()

    def load(self) -> None:
        """Fill the topic index from storage (at start)."""
        with self.database.session() as session:
            self.topics.refresh(Repository(session))

    def is_admin(self, user_id: int | None) -> bool:
        """True when the user is one of the operator's admins (NEWSBOT_ADMINS)."""
        return user_id is not None and user_id in self.admins

    def register_chat(self, chat: ChatRef, now: datetime) -> None:
        """Remember a chat that talked to the bot."""
        with self.database.session() as session:
            Repository(session).upsert_chat(chat.telegram_id, chat.kind, chat.title, now)

    def subscribe(self, chat: ChatRef, text: str, now: datetime) -> SubscribeResult:
        """Subscribe a chat to a topic, after checking the text and the chat's limit."""
        text = " ".join(text.split())
        query, error = check_new_topic(text)
        if query is None:
            return SubscribeResult(text, error=error)
        with self.database.session() as session:
            repo = Repository(session)
            info = repo.upsert_chat(chat.telegram_id, chat.kind, chat.title, now)
            current = repo.subscriptions(info.id)
            existing = repo.find_topic(query.canonical)
            if existing is not None and any(sub.topic_id == existing for sub in current):
                return SubscribeResult(
                    text, describe(query), already=True, topic_count=len(current)
                )
            if len(current) >= MAX_TOPICS_PER_CHAT:
                return SubscribeResult(
                    text,
                    error=(
                        f"This chat already follows {MAX_TOPICS_PER_CHAT} topics, the most it can. "
                        "Remove one with /unsubscribe first."
                    ),
                )
            topic_id, created = repo.topic_id_for(query.canonical, now)
            sub = repo.add_subscription(info.id, topic_id, text, now)
            buffer = self._buffer(repo, now)
        self.topics.learn(topic_id, query)
        logger.info(
            "subscribed chat_id=%s topic_id=%s new_topic=%s", chat.telegram_id, topic_id, created
        )
        return SubscribeResult(
            text,
            describe(query),
            topic_count=len(current) + 1,
            subscription_id=sub.id,
            suggestions=tuple(suggestions_for(query, buffer)),
        )

    async def other_names(
        self, query_text: str, *, offered: Sequence[Suggestion] = ()
    ) -> tuple[Suggestion, ...]:
        """Other names the language model proposes for a topic's terms, not yet ``offered``.

        Empty without a model, or when it fails: the subscription stands either way.
        """
        if self.namer is None:
            return ()
        try:
            query = parse_query(query_text)
        except QueryError:
            return ()
        proposed = await self.namer.propose(query_text, concepts_of(query))
        shown = {(s.term_key, w.casefold()) for s in offered for w in s.words}
        found = []
        for item in suggestions_from_names(query, proposed):
            words = tuple(w for w in item.words if (item.term_key, w.casefold()) not in shown)
            if words:
                found.append(Suggestion(item.term_key, item.term, words))
        return tuple(found)

    def _buffer(self, repo: Repository, now: datetime) -> StoryBuffer:
        recent = repo.recent_stories(now - timedelta(days=BUFFER_DAYS), limit=BUFFER_LIMIT)
        return self._analysed(recent)

    def _analysed(self, recent: Sequence[StoredStory]) -> StoryBuffer:
        """The recent stories analysed, reused while they stay the same stories."""
        ids = tuple(item.id for item in recent)
        with self._buffer_lock:
            cached = self._buffer_cache
            if cached is not None and cached[0] == ids:
                return cached[1]
        buffer = StoryBuffer(item.story for item in recent)
        with self._buffer_lock:
            self._buffer_cache = (ids, buffer)
        return buffer

    def widen_topic(
        self, chat: ChatRef, subscription_id: int, term_key: str, word: str, now: datetime
    ) -> SubscribeResult:
        """Accept a suggestion: the topic also matches ``word`` for the term named ``term_key``."""
        return self._rewrite(chat, subscription_id, lambda text: widen(text, term_key, word), now)

    def narrow_topic(
        self, chat: ChatRef, subscription_id: int, word: str, now: datetime
    ) -> SubscribeResult:
        """Accept an exclusion: the topic leaves out stories that mention ``word``."""
        return self._rewrite(chat, subscription_id, lambda text: narrow(text, word), now)

    def _rewrite(
        self,
        chat: ChatRef,
        subscription_id: int,
        change: Callable[[str], str],
        now: datetime,
    ) -> SubscribeResult:
        """Replace a subscription's topic text by ``change(text)``, keeping the index in step."""
        with self.database.session() as session:
            repo = Repository(session)
            info = repo.find_chat(chat.telegram_id)
            sub = repo.subscription(info.id, subscription_id) if info is not None else None
            if info is None or sub is None:
                return SubscribeResult("", error="That topic is no longer followed here.")
            try:
                new_text = change(sub.query_text)
            except QueryError as exc:
                return SubscribeResult(
                    sub.query_text, error=f"I could not change that topic: {exc}"
                )
            query, error = check_new_topic(new_text)
            if query is None:
                return SubscribeResult(new_text, error=error)
            others = [s for s in repo.subscriptions(info.id) if s.id != sub.id]
            existing = repo.find_topic(query.canonical)
            if existing is not None and any(s.topic_id == existing for s in others):
                return SubscribeResult(new_text, describe(query), already=True)
            topic_id, _ = repo.topic_id_for(query.canonical, now)
            orphan = repo.retarget_subscription(sub.id, topic_id, new_text)
        self.topics.learn(topic_id, query)
        if orphan is not None:
            self.topics.forget(orphan)
        return SubscribeResult(
            new_text,
            describe(query),
            topic_count=len(others) + 1,
            subscription_id=subscription_id,
        )

    def like_alert(self, chat_id: int, alert_id: int, now: datetime) -> SubscribeResult | None:
        """After a 👍 on an alert: the topic's suggested words that this story also uses."""
        with self.database.session() as session:
            repo = Repository(session)
            found = _alert_subscription(repo, chat_id, alert_id)
            if found is None:
                return None
            alert, sub = found
            buffer = self._buffer(repo, now)
        query, _ = check_topic_text(sub.query_text)
        if query is None:
            return None
        picked = suggestions_in(query, f"{alert.title} {alert.summary}", buffer)
        return SubscribeResult(sub.query_text, subscription_id=sub.id, suggestions=tuple(picked))

    def dislike_alert(self, chat_id: int, alert_id: int, now: datetime) -> Exclusion | None:
        """After a 👎 on an alert: propose a word whose exclusion would have kept it away."""
        with self.database.session() as session:
            repo = Repository(session)
            found = _alert_subscription(repo, chat_id, alert_id)
            stored = repo.get_story(found[0].story_id) if found is not None else None
            if found is None or stored is None:
                return None
            sub = found[1]
            buffer = self._buffer(repo, now)
        try:
            word = exclusion(sub.query_text, stored.story, buffer)
        except QueryError:
            return None
        return Exclusion(sub.id, sub.query_text, word) if word else None

    def list_topics(self, chat: ChatRef) -> list[SubscriptionInfo]:
        """A chat's topics, in the order /topics numbers them."""
        with self.database.session() as session:
            repo = Repository(session)
            info = repo.find_chat(chat.telegram_id)
            return repo.subscriptions(info.id) if info is not None else []

    def unsubscribe(self, chat: ChatRef, ref: str) -> UnsubscribeResult:
        """Remove one of a chat's topics, named by its number in /topics or by its text."""
        ref = " ".join(ref.split())
        if not ref:
            return UnsubscribeResult(
                error="Which topic? Send /topics to see them, then /unsubscribe 2 "
                "or /unsubscribe TOPIC"
            )
        with self.database.session() as session:
            repo = Repository(session)
            info = repo.find_chat(chat.telegram_id)
            subs = repo.subscriptions(info.id) if info is not None else []
            target = _find_subscription(subs, ref)
            if target is None:
                if not subs:
                    return UnsubscribeResult(error="This chat follows no topics yet.")
                return UnsubscribeResult(
                    error=f"No topic matches {ref!r}. Send /topics to see the list "
                    "and its numbers.",
                    remaining=len(subs),
                )
            orphan = repo.remove_subscription(target.id)
        if orphan is not None:
            self.topics.forget(orphan)
        return UnsubscribeResult(removed=target.query_text, remaining=len(subs) - 1)

    def preview(
        self, text: str, now: datetime, *, days: int = PREVIEW_DAYS, limit: int = 10
    ) -> PreviewResult:
        """Run a topic over the stored stories of the last ``days`` days."""
        query, error = check_topic_text(text)
        if query is None:
            return PreviewResult(text, error=error, days=days)
        index = TopicIndex()
        index.add(0, query)
        with self.database.session() as session:
            stored = Repository(session).recent_stories(now - timedelta(days=days))
        hits: list[StoredStory] = []
        seen_clusters: set[int] = set()
        for item in stored:
            # One line per event: the newest story of each cluster stands for it.
            if item.cluster_id not in seen_clusters and match_story(index, item.story):
                seen_clusters.add(item.cluster_id)
                hits.append(item)
        buffer = self._analysed(stored[:BUFFER_LIMIT])
        return PreviewResult(
            text,
            describe(query),
            suggestions=tuple(suggestions_for(query, buffer)),
            days=days,
            total=len(hits),
            stories=tuple(hits[:limit]),
        )

    def alert_for(self, chat_id: int, alert_id: int) -> Alert | None:
        """An alert sent to this chat (for the buttons under it)."""
        with self.database.session() as session:
            return Repository(session).alert_for_chat(chat_id, alert_id)

    def longer_summary(self, alert: Alert) -> str:
        """The longer summary behind an alert's "More" button (the feed text when none)."""
        with self.database.session() as session:
            stored = Repository(session).get_story(alert.story_id)
        if stored is None:
            return alert.summary
        return stored.summary_long or stored.story.summary or alert.summary

    def mute_alert_topic(self, chat_id: int, alert_id: int) -> str | None:
        """Mute the subscription an alert came from; returns the topic's text."""
        with self.database.session() as session:
            repo = Repository(session)
            found = _alert_subscription(repo, chat_id, alert_id)
            if found is None:
                return None
            sub = found[1]
            repo.set_muted(sub.id, True)
            return sub.query_text

    def feed_health(self) -> list[FeedHealth]:
        """Every feed with its last success and error, for admins."""
        with self.database.session() as session:
            return Repository(session).feed_health()


def _alert_subscription(
    repo: Repository, chat_id: int, alert_id: int
) -> tuple[Alert, SubscriptionInfo] | None:
    """An alert sent to this chat and the chat's subscription it came from, if both exist."""
    alert = repo.alert_for_chat(chat_id, alert_id)
    info = repo.find_chat(chat_id)
    sub_id = repo.alert_subscription(alert_id) if alert is not None else None
    sub = repo.subscription(info.id, sub_id) if info is not None and sub_id else None
    return (alert, sub) if alert is not None and sub is not None else None


def _find_subscription(subs: Sequence[SubscriptionInfo], ref: str) -> SubscriptionInfo | None:
    if ref.isascii() and ref.isdigit():
        number = int(ref)
        return subs[number - 1] if 1 <= number <= len(subs) else None
    wanted = ref.casefold()
    for sub in subs:
        if sub.query_text.casefold() == wanted:
            return sub
    query, _ = check_topic_text(ref)
    if query is None:
        return None
    for sub in subs:
        other, _ = check_topic_text(sub.query_text)
        if other is not None and other.canonical == query.canonical:
            return sub
    return None
