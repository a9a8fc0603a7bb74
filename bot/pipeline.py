"""One poll tick: due feeds, fetch, parse, normalize, store new, cluster, match, outbox."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bot.embedding import Embedder
from bot.feeds.fetch import Fetcher
from bot.feeds.normalize import normalize_feed
from bot.feeds.parse import parse_feed
from bot.feeds.schedule import due_feeds, next_check_at
from bot.models import (
    FeedSpec,
    FeedState,
    FetchResult,
    FetchStatus,
    StoredStory,
    Story,
    TopicMatch,
)
from bot.services import TopicBook
from bot.storage.database import Database
from bot.storage.repository import Repository
from bot.stories.cluster import StoryClusterer
from bot.stories.enrich import StoryEnricher
from bot.topics.index import match_story
from bot.topics.semantic import Plan, SemanticMatcher

logger = logging.getLogger(__name__)

CLUSTER_WINDOW = timedelta(hours=48)


def utc_now() -> datetime:
    """The current time, aware UTC (the one place the pipeline reads the clock)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class MatchedAlert:
    """An alert the tick queued: for whom and about what."""

    chat_id: int
    topic: str
    title: str
    story_id: int


@dataclass(frozen=True, slots=True)
class _Unsettled:
    """A new story whose near misses by meaning are still to be found."""

    feed_id: int
    story_id: int
    cluster_id: int
    story: Story
    plan: Plan  # what the words decided; meaning settles the rest


@dataclass(frozen=True, slots=True)
class FeedReport:
    """What one feed's poll found."""

    feed: str
    status: str  # "ok", "not modified", or the error
    new_stories: tuple[str, ...] = ()
    alerts: tuple[MatchedAlert, ...] = ()
    first_poll: bool = False


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one tick did, feed by feed."""

    feeds: tuple[FeedReport, ...] = field(default=())

    @property
    def alert_count(self) -> int:
        """How many alerts the tick queued."""
        return sum(len(f.alerts) for f in self.feeds)


class Pipeline:
    """Runs poll ticks; one bad feed or story never stops the rest of a tick."""

    def __init__(
        self,
        database: Database,
        fetcher: Fetcher,
        topics: TopicBook,
        *,
        enricher: StoryEnricher | None = None,
        concurrency: int = 8,
        on_alerts: Callable[[], None] | None = None,
        semantic: SemanticMatcher | None = None,
        cluster_embedder: Embedder | None = None,
    ) -> None:
        self.database = database
        self.fetcher = fetcher
        self.topics = topics
        # With an embedder, the clusterer also compares stories by meaning (see
        # bot.stories.cluster): weak word matches must be confirmed.
        self.cluster_embedder = cluster_embedder
        self.clusterer = self._new_clusterer()
        self._clusterer_loaded = False
        self.enricher = enricher
        self.concurrency = concurrency
        self.on_alerts = on_alerts
        self._lock = asyncio.Lock()
        # Semantic near misses (NEWSBOT_SEMANTIC): the stage, its view of the topics table,
        # and the stories of the running tick that it still has to look at.
        self.semantic = semantic
        self._semantic_version: int | None = None  # the TopicBook version it last saw
        self._unsettled: list[_Unsettled] = []

    def sync_feeds(self, specs: Sequence[FeedSpec], now: datetime) -> list[FeedState]:
        """Store the operator's feed list (new feeds are due at once)."""
        with self.database.session() as session:
            return Repository(session).sync_feeds(specs, now)

    def make_all_due(self) -> None:
        """Make every enabled feed due now (``newsbot poll --all``)."""
        with self.database.session() as session:
            Repository(session).make_feeds_due()

    def _new_clusterer(self) -> StoryClusterer:
        return StoryClusterer(window=CLUSTER_WINDOW, embedder=self.cluster_embedder)

    def _load_clusterer(self, now: datetime) -> None:
        if self._clusterer_loaded:
            return
        with self.database.session() as session:
            recent = Repository(session).recent_stories(now - CLUSTER_WINDOW, limit=20000)
        fresh = self._new_clusterer()
        fresh.load((s.id, s.cluster_id, s.story) for s in reversed(recent))
        self.clusterer = fresh
        self._clusterer_loaded = True

    async def tick(self, now: datetime | None = None) -> TickReport:
        """Poll every due feed once; ticks never overlap."""
        async with self._lock:
            now = now or utc_now()
            with self.database.session() as session:
                repo = Repository(session)
                feeds = due_feeds(repo.feed_states(), now)
                self.topics.refresh(repo)
            if self.semantic is not None:
                self._refresh_semantic(self.semantic)
            if not feeds:
                return TickReport()
            self._load_clusterer(now)
            results = await self._fetch_all(feeds)
            reports = []
            for feed, result in zip(feeds, results, strict=True):
                unsettled = len(self._unsettled)
                try:
                    reports.append(self._ingest(feed, result, now))
                except Exception as exc:  # one feed's bad data must not stop the tick
                    logger.exception("feed ingest failed feed_id=%s", feed.id)
                    del self._unsettled[unsettled:]  # those stories were rolled back
                    # The rolled-back stories may sit in the clusterer: rebuild it from storage.
                    self._clusterer_loaded = False
                    self._load_clusterer(now)
                    reports.append(
                        self._record_failure(feed, result, f"internal error: {exc}", now)
                    )
            report = TickReport(tuple(reports))
            if self.semantic is not None and self._unsettled:
                report = await self._match_by_meaning(self.semantic, feeds, report, now)
            if report.alert_count:
                await self._enrich_and_release(report, now)
                if self.on_alerts is not None:
                    self.on_alerts()
            return report

    def _refresh_semantic(self, semantic: SemanticMatcher) -> None:
        """Give the semantic stage the topics the index gained or lost since the last tick."""
        if self.topics.version != self._semantic_version:
            self._semantic_version = self.topics.version
            semantic.sync(self.topics.known())

    async def _match_by_meaning(
        self,
        semantic: SemanticMatcher,
        feeds: Sequence[FeedState],
        report: TickReport,
        now: datetime,
    ) -> TickReport:
        """Queue alerts for the tick's near misses; embedding runs off the event loop."""
        unsettled, self._unsettled = self._unsettled, []
        try:
            found = await asyncio.to_thread(semantic.decide, [u.plan for u in unsettled])
        except Exception:  # meaning is an extra: the words' alerts go out regardless
            logger.exception("semantic matching failed stories=%s", len(unsettled))
            return report
        extra: dict[int, list[MatchedAlert]] = {}
        with self.database.session() as session:
            repo = Repository(session)
            for item, matches in zip(unsettled, found, strict=True):
                if matches:
                    queued = self._enqueue(
                        repo, item.story, item.story_id, item.cluster_id, matches, now
                    )
                    extra.setdefault(item.feed_id, []).extend(queued)
        if not extra:
            return report
        # One report per due feed, in the same order.
        return TickReport(
            tuple(
                replace(r, alerts=r.alerts + tuple(extra.get(f.id, ())))
                for f, r in zip(feeds, report.feeds, strict=True)
            )
        )

    async def _enrich_and_release(self, report: TickReport, now: datetime) -> None:
        """Summarize the matched stories' articles, then let their held alerts go."""
        story_ids = sorted({a.story_id for f in report.feeds for a in f.alerts})
        if self.enricher is not None:
            with self.database.session() as session:
                repo = Repository(session)
                stored = [s for s in (repo.get_story(i) for i in story_ids) if s is not None]
            if stored:
                await self._enrich_all(self.enricher, stored)
        with self.database.session() as session:
            Repository(session).release_held_alerts(story_ids, now)

    async def _enrich_all(self, enricher: StoryEnricher, stored: list[StoredStory]) -> None:
        """Enrich stories concurrently until the alerts' wait runs out; late ones are dropped."""
        gate = asyncio.Semaphore(self.concurrency)

        async def enrich_one(item: StoredStory) -> None:
            async with gate:
                found = await enricher.enrich(item.story)
            with self.database.session() as session:
                Repository(session).set_article(
                    item.id,
                    text=found.article_text,
                    summary_short=found.summary_short,
                    summary_long=found.summary_long,
                )

        tasks = [asyncio.ensure_future(enrich_one(item)) for item in stored]
        done, late = await asyncio.wait(tasks, timeout=enricher.hold.total_seconds())
        for task in late:  # past the deadline: those alerts go with the feed's text
            task.cancel()
        for task in done:
            if task.exception() is not None:
                logger.error("enrichment failed", exc_info=task.exception())

    async def _fetch_all(self, feeds: Sequence[FeedState]) -> list[FetchResult]:
        gate = asyncio.Semaphore(self.concurrency)

        async def fetch(feed: FeedState) -> FetchResult:
            async with gate:
                return await self.fetcher.fetch(
                    feed.url,
                    etag=feed.etag,
                    last_modified=feed.last_modified,
                    trusted=feed.trusted,
                )

        return list(await asyncio.gather(*(fetch(feed) for feed in feeds)))

    def _record_failure(
        self, feed: FeedState, result: FetchResult, error: str, now: datetime
    ) -> FeedReport:
        failed = FetchResult(FetchStatus.ERROR, feed.url, error=error, gone=result.gone)
        with self.database.session() as session:
            Repository(session).record_fetch(
                feed.id,
                failed,
                error=error,
                next_check_at=next_check_at(feed, failed, now),
                new_stories=0,
                now=now,
            )
        logger.warning("feed failed feed_id=%s error=%s", feed.id, error)
        return FeedReport(feed.name, error)

    def _ingest(self, feed: FeedState, result: FetchResult, now: datetime) -> FeedReport:
        if result.status is FetchStatus.ERROR:
            return self._record_failure(feed, result, result.error or "fetch failed", now)
        stories: list[Story] = []
        if result.status is FetchStatus.OK and result.body is not None:
            parsed = parse_feed(
                result.body, url=result.final_url or feed.url, content_type=result.content_type
            )
            if parsed.error is not None:
                return self._record_failure(feed, result, parsed.error, now)
            stories = normalize_feed(
                parsed,
                feed_url=result.final_url or feed.url,
                source=feed.name,
                feed_id=feed.id,
                language=feed.language,
                now=now,
            )
        first_poll = feed.last_success_at is None
        new_titles: list[str] = []
        alerts: list[MatchedAlert] = []
        with self.database.session() as session:
            repo = Repository(session)
            known = repo.known_keys(feed.id, (s.key for s in stories))
            # Oldest first, so a cluster's first story is the earliest one.
            for story in sorted(stories, key=lambda s: s.published_at):
                if story.key in known:
                    continue
                known.add(story.key)
                new_titles.append(story.title)
                alerts.extend(self._store_story(repo, feed, story, now, alert=not first_poll))
            repo.record_fetch(
                feed.id,
                result,
                error=None,
                next_check_at=next_check_at(feed, result, now),
                new_stories=len(new_titles),
                now=now,
            )
        status = "not modified" if result.status is FetchStatus.NOT_MODIFIED else "ok"
        logger.info(
            "feed polled feed_id=%s status=%s new=%s alerts=%s first_poll=%s",
            feed.id,
            status,
            len(new_titles),
            len(alerts),
            first_poll,
        )
        return FeedReport(feed.name, status, tuple(new_titles), tuple(alerts), first_poll)

    def _store_story(
        self, repo: Repository, feed: FeedState, story: Story, now: datetime, *, alert: bool
    ) -> list[MatchedAlert]:
        story_id = repo.add_story(feed.id, story, now)
        cluster_id = repo.duplicate_cluster(story, exclude_id=story_id)
        if cluster_id is None:
            cluster_id = self.clusterer.assign(story_id, story, now)
            # The story may bridge clusters stored earlier: they become one event.
            for absorbed, into in self.clusterer.take_merges():
                repo.merge_clusters(absorbed, into)
        repo.set_cluster(story_id, cluster_id)
        if not alert:
            return []
        found = match_story(self.topics.index, story)
        if self.semantic is not None:  # the words' part now; meaning after the feeds, off-loop
            try:
                plan = self.semantic.plan(story, {m.topic_id for m in found})
            except Exception:  # as in match_story: one odd story must not stop the feed
                logger.exception("semantic plan failed story_key=%s", story.key)
            else:
                if plan.needed:
                    unsettled = _Unsettled(feed.id, story_id, cluster_id, story, plan)
                    self._unsettled.append(unsettled)
        return self._enqueue(repo, story, story_id, cluster_id, found, now)

    def _enqueue(
        self,
        repo: Repository,
        story: Story,
        story_id: int,
        cluster_id: int,
        found: list[TopicMatch],
        now: datetime,
    ) -> list[MatchedAlert]:
        """Queue one alert per subscribed chat of the matched topics (one per chat and event)."""
        matches = {m.topic_id: m for m in found}
        queued: list[MatchedAlert] = []
        for recipient in repo.recipients(list(matches)):
            if repo.enqueue_alert(
                chat_id=recipient.chat_id,
                story_id=story_id,
                cluster_id=cluster_id,
                subscription_id=recipient.subscription_id,
                topic_text=recipient.query_text,
                hits=matches[recipient.topic_id].hits,
                now=now,
                due_at=now + self.enricher.hold if self.enricher is not None else now,
            ):
                queued.append(
                    MatchedAlert(recipient.telegram_id, recipient.query_text, story.title, story_id)
                )
        return queued
