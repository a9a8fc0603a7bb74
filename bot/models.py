"""Plain, frozen value types shared by every stage of the core.

Nothing here does I/O. Times are always timezone-aware UTC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

DEFAULT_POLL_INTERVAL = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed as the operator configured it (feeds.yaml or an admin command)."""

    url: str
    name: str
    tags: tuple[str, ...] = ()
    language: str | None = None
    interval: timedelta = DEFAULT_POLL_INTERVAL
    # True when the URL came from the operator's own configuration: such feeds may point
    # at private addresses. URLs from anywhere else are checked against SSRF.
    trusted: bool = True


@dataclass(frozen=True, slots=True)
class FeedState:
    """A stored feed with what the last fetches taught us."""

    id: int
    url: str
    name: str
    language: str | None
    interval: timedelta
    etag: str | None
    last_modified: str | None
    next_check_at: datetime | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    error_count: int
    enabled: bool
    trusted: bool
    tags: tuple[str, ...] = ()


class FetchStatus(enum.Enum):
    """What one HTTP fetch of a feed or page ended with."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one fetch; ``body`` is set only when ``status`` is OK."""

    status: FetchStatus
    url: str
    final_url: str | None = None
    http_status: int | None = None
    body: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    # From a 429/503 Retry-After header, so the scheduler can back off as asked.
    retry_after: timedelta | None = None
    # True when the server said the resource is gone for good (410).
    gone: bool = False


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One feed entry as the parser found it, before normalization (text may hold HTML)."""

    guid: str | None
    link: str | None
    title: str | None
    summary: str | None
    published: datetime | None
    updated: datetime | None
    author: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """The entries of one feed document, and the parse problem if the document was broken."""

    title: str | None
    link: str | None
    language: str | None
    entries: tuple[RawEntry, ...]
    # Set when the document could not be read as a feed at all (no entries recoverable).
    error: str | None = None
    # Set when feedparser reported a recoverable problem (entries may still be usable).
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class Story:
    """A normalized story, ready to be stored, clustered and matched."""

    key: str  # stable identity: guid, else canonical link, else hash of title and source
    url: str | None  # canonical link (no tracking parameters, no fragment)
    title: str  # plain text
    summary: str  # plain text, whitespace collapsed
    published_at: datetime  # aware UTC; never in the future
    source: str  # the feed's display name
    site: str | None = None  # host of the story's link, without "www."
    language: str | None = None
    feed_id: int | None = None


@dataclass(frozen=True, slots=True)
class StoredStory:
    """A story as stored: the story plus its row id, cluster and fetched text."""

    id: int
    cluster_id: int
    story: Story
    fetched_at: datetime
    article_text: str | None = None
    summary_long: str | None = None


@dataclass(frozen=True, slots=True)
class TermHit:
    """One query term that hit a story, and where."""

    term: str  # the term as the subscriber wrote it (or its expansion)
    matched: str  # the word or phrase found in the story
    field: str  # "title", "summary", "source", "lang"


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """A standing topic that matched a story, with why."""

    topic_id: int
    hits: tuple[TermHit, ...] = ()


class ChatKind(enum.Enum):
    """Telegram's chat types; they carry different sending budgets."""

    PRIVATE = "private"
    GROUP = "group"
    SUPERGROUP = "supergroup"
    CHANNEL = "channel"


@dataclass(frozen=True, slots=True)
class AlertSource:
    """One outlet that carried a story of the alert's cluster."""

    name: str
    url: str | None
    published_at: datetime


@dataclass(frozen=True, slots=True)
class Alert:
    """Everything a notifier needs to send one alert to one chat."""

    id: int  # outbox row id
    chat_id: int
    chat_kind: ChatKind
    story_id: int
    cluster_id: int
    title: str
    url: str | None
    source: str
    published_at: datetime
    summary: str
    topic: str  # the topic's text as the chat subscribed to it
    hits: tuple[TermHit, ...] = ()
    sources: tuple[AlertSource, ...] = ()
    thread_id: int | None = None
    attempts: int = 0


class OutcomeKind(enum.Enum):
    """How a delivery attempt ended, as the outbox needs to know it."""

    SENT = "sent"
    RETRY = "retry"  # transient: 5xx, timeout, network, 429
    CHAT_GONE = "chat_gone"  # blocked, kicked, chat not found: deactivate the chat
    CHAT_MIGRATED = "chat_migrated"  # group became a supergroup: move the chat
    FAILED = "failed"  # permanent for this alert (bad request that a retry cannot fix)


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """The result of one ``Notifier.deliver`` call."""

    kind: OutcomeKind
    message_id: int | None = None
    retry_after: timedelta | None = None  # set for 429 (Telegram's retry_after)
    rate_limited: bool = False  # True when Telegram answered 429
    new_chat_id: int | None = None  # set for CHAT_MIGRATED
    detail: str = ""
    extra: dict[str, str] = field(default_factory=dict)
