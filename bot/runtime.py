"""The composition root of the core: settings -> database -> services -> pipeline."""

from __future__ import annotations

import functools
import gc
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import Settings, SettingsError, load_feeds
from bot.delivery.worker import DeliveryWorker
from bot.embedding import (
    BUILT_IN_CLUSTER_MODEL,
    Embedder,
    SemanticUnavailableError,
    StaticEmbedder,
    load_embedder,
)
from bot.feeds.fetch import Fetcher, FetchPolicy
from bot.llm import ChatClient
from bot.pipeline import Pipeline
from bot.ports import Notifier
from bot.services import Services, TopicBook
from bot.storage.database import Database
from bot.storage.outbox import SqlOutbox
from bot.stories.enrich import StoryEnricher
from bot.stories.llm import LlmSummarizer
from bot.topics.names import LlmTopicNamer
from bot.topics.semantic import SemanticConfig, SemanticMatcher

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a running newsbot process holds, minus the messenger."""

    settings: Settings
    database: Database
    services: Services
    pipeline: Pipeline
    fetcher: Fetcher
    outbox: SqlOutbox
    llm: ChatClient | None = None  # the optional language model, shared by its uses

    @classmethod
    def start(
        cls,
        settings: Settings,
        *,
        now: datetime | None = None,
        embedder: Embedder | None = None,
        cluster_embedder: Embedder | None = None,
    ) -> Runtime:
        """Open and upgrade the database, load the feed list and the topic index.

        With ``NEWSBOT_SEMANTIC`` on, ``embedder`` (default: the semantic extra's model) finds
        near misses; a missing extra is a SettingsError that names the fix. ``cluster_embedder``
        (default: the static model ``NEWSBOT_CLUSTER_MODEL`` names, the built-in one unless it
        is off) lets clustering compare stories by meaning.
        """
        feeds = load_feeds(settings.feeds_path)
        semantic = semantic_matcher(settings, embedder) if settings.semantic else None
        if cluster_embedder is None and settings.cluster_model is not None:
            cluster_embedder = static_cluster_embedder(settings.cluster_model)
        if cluster_embedder is not None:
            logger.info("clustering compares stories by meaning too (%s)", cluster_embedder.name)
        database = Database(settings.database_url)
        database.upgrade()
        fetcher = Fetcher(FetchPolicy(allow_private=settings.allow_private_feeds))
        topics = TopicBook()
        chat = None
        if settings.llm_base_url and settings.llm_model:
            chat = ChatClient(settings.llm_base_url, settings.llm_model, settings.llm_api_key)
        namer = LlmTopicNamer(chat) if chat is not None else None
        services = Services(database, topics, admins=settings.admins, namer=namer)
        services.load()
        enricher = None
        if settings.article_wait_seconds > 0:
            llm = LlmSummarizer(chat) if chat is not None else None
            wait = timedelta(seconds=settings.article_wait_seconds)
            enricher = StoryEnricher(fetcher, llm=llm, hold=wait)
        pipeline = Pipeline(
            database,
            fetcher,
            topics,
            enricher=enricher,
            semantic=semantic,
            cluster_embedder=cluster_embedder,
        )
        pipeline.sync_feeds(feeds, now or datetime.now(UTC))
        # The topic index lives as long as the process and, at a million topics, is millions
        # of objects: a full garbage collection walking them stalls the event loop for seconds
        # (0.2 s at 100,000 topics). What start-up built is moved out of the collector's sight.
        gc.collect()
        gc.freeze()
        return cls(settings, database, services, pipeline, fetcher, SqlOutbox(database), chat)

    def delivery_worker(self, notifier: Notifier) -> DeliveryWorker:
        """A worker that drains the outbox through ``notifier``."""
        worker_id = f"{socket.gethostname()}:{os.getpid()}"
        lease = timedelta(seconds=self.settings.delivery_lease_seconds)
        return DeliveryWorker(self.outbox, notifier, worker_id=worker_id, lease=lease)

    async def aclose(self) -> None:
        """Close network clients and database connections."""
        if self.llm is not None:
            await self.llm.aclose()
        await self.fetcher.aclose()
        self.database.dispose()


@functools.lru_cache(maxsize=4)
def static_cluster_embedder(path: Path) -> StaticEmbedder:
    """The static model clustering uses (NEWSBOT_CLUSTER_MODEL, by default the built-in one),
    read once per process; SettingsError when it cannot load."""
    try:
        return StaticEmbedder(path)
    except SemanticUnavailableError as exc:
        built_in = path == BUILT_IN_CLUSTER_MODEL
        which = "the built-in clustering model" if built_in else f"NEWSBOT_CLUSTER_MODEL={path}"
        raise SettingsError(
            f"{which} cannot be used: {exc}. Set NEWSBOT_CLUSTER_MODEL=off to cluster by "
            "shared words alone."
        ) from exc


def semantic_matcher(settings: Settings, embedder: Embedder | None = None) -> SemanticMatcher:
    """The semantic stage NEWSBOT_SEMANTIC asks for; SettingsError when it cannot load."""
    if embedder is None:
        try:
            embedder = load_embedder()
        except SemanticUnavailableError as exc:
            message = f"NEWSBOT_SEMANTIC is on, but {exc}"
            if "pip install" not in message:
                message += '; reinstall it with pip install "newsbot[semantic]"'
            raise SettingsError(message + " (or set NEWSBOT_SEMANTIC=0)") from exc
    config = SemanticConfig(
        concept_threshold=settings.semantic_threshold,
        topic_threshold=settings.semantic_topic_threshold,
        neighbour_threshold=settings.semantic_neighbour_threshold,
    )
    return SemanticMatcher(embedder, config)
