"""When to poll each feed next: pure functions of the feed, the last result and ``now``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.models import FeedState, FetchResult, FetchStatus

MAX_BACKOFF = timedelta(hours=24)
GONE_RECHECK = timedelta(days=30)
JITTER = 0.10
# 2**20 intervals is far past the cap already; bounding the exponent avoids huge numbers.
_MAX_EXPONENT = 20


def due_feeds(feeds: Sequence[FeedState], now: datetime) -> list[FeedState]:
    """Enabled feeds due at ``now``, never-checked first, then most overdue first."""
    due = [f for f in feeds if f.enabled and (f.next_check_at is None or f.next_check_at <= now)]
    return sorted(
        due,
        key=lambda f: (f.next_check_at is not None, f.next_check_at or now, f.id),
    )


def next_check_at(feed: FeedState, result: FetchResult, now: datetime) -> datetime:
    """When to poll ``feed`` again after ``result``.

    ``feed`` is the feed as stored before this fetch: its ``error_count`` counts the failures
    before this one, so the first failure waits two intervals, the next four, and so on.
    """
    if result.gone:
        return now + GONE_RECHECK
    if result.status is not FetchStatus.ERROR:
        return now + feed.interval
    failures = min(feed.error_count + 1, _MAX_EXPONENT)
    backoff = min(feed.interval * (1 << failures), MAX_BACKOFF)
    delay = min(backoff * _jitter_factor(feed.id), MAX_BACKOFF)
    if result.retry_after is not None and result.retry_after > delay:
        delay = result.retry_after
    return now + delay


def _jitter_factor(feed_id: int) -> float:
    """A factor in [0.9, 1.1), fixed per feed so that failing feeds do not retry in step."""
    digest = hashlib.sha256(str(feed_id).encode()).digest()
    unit = int.from_bytes(digest[:8], "big") / 2**64
    return 1.0 - JITTER + 2 * JITTER * unit
