"""Article text and summaries for matched stories: fetch the page, extract, summarize.

Runs after a tick queued alerts, with a deadline, so an alert is never held back long: the
outbox holds a new alert for at most ``hold`` and enrichment releases it as soon as it is done
(or failed). When anything fails the alert carries the feed's own description.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.feeds.fetch import Fetcher
from bot.models import FetchStatus, Story
from bot.stories.extract import extract_article
from bot.stories.llm import LlmSummarizer
from bot.stories.summarize import cut_at_sentence, summarize

logger = logging.getLogger(__name__)

SHORT_BUDGET = 300
LONG_BUDGET = 1200
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"


@dataclass(frozen=True, slots=True)
class Enrichment:
    """What enrichment found for one story; ``article_text`` None means the feed text was used."""

    article_text: str | None
    summary_short: str
    summary_long: str


class StoryEnricher:
    """Fetches a story's article (untrusted URL: private addresses refused) and summarizes it."""

    def __init__(
        self,
        fetcher: Fetcher,
        *,
        llm: LlmSummarizer | None = None,
        hold: timedelta = timedelta(seconds=20),
    ) -> None:
        self.fetcher = fetcher
        self.llm = llm
        self.hold = hold

    async def enrich(self, story: Story) -> Enrichment:
        """Article text and short/long summaries; falls back to the feed's description."""
        text = await self._article_text(story)
        source = text or story.summary
        short = summarize(source, budget=SHORT_BUDGET, title=story.title, language=story.language)
        long = summarize(source, budget=LONG_BUDGET, title=story.title, language=story.language)
        if self.llm is not None and source:
            answer = await self.llm.summarize(
                title=story.title, text=source, language=story.language, budget=SHORT_BUDGET
            )
            if answer:
                short = answer
        return Enrichment(
            article_text=text,
            summary_short=short or cut_at_sentence(story.summary, SHORT_BUDGET),
            summary_long=long or story.summary,
        )

    async def _article_text(self, story: Story) -> str | None:
        if not story.url:
            return None
        result = await self.fetcher.fetch(story.url, trusted=False, accept=PAGE_ACCEPT)
        if result.status is not FetchStatus.OK or result.body is None:
            logger.info("article not fetched url_host=%s error=%s", story.site, result.error)
            return None
        try:
            return await asyncio.to_thread(extract_article, result.body, url=result.final_url)
        except Exception:  # a page that breaks the extractor must not break the alert
            logger.exception("article extraction failed url_host=%s", story.site)
            return None
