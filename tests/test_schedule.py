"""Which feeds are due, and when a feed is polled again after success, failure or 410."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.feeds.schedule import GONE_RECHECK, MAX_BACKOFF, due_feeds, next_check_at
from bot.models import FeedState, FetchResult, FetchStatus

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
TEN_MIN = timedelta(minutes=10)


def feed(
    feed_id: int = 1,
    *,
    next_check: datetime | None = None,
    enabled: bool = True,
    error_count: int = 0,
) -> FeedState:
    return FeedState(
        id=feed_id,
        url=f"https://feeds.example/{feed_id}.xml",
        name=f"Feed {feed_id}",
        language=None,
        interval=TEN_MIN,
        etag=None,
        last_modified=None,
        next_check_at=next_check,
        last_polled_at=None,
        last_success_at=None,
        last_error=None,
        error_count=error_count,
        enabled=enabled,
        trusted=True,
    )


OK = FetchResult(status=FetchStatus.OK, url="u", http_status=200, body=b"")
NOT_MODIFIED = FetchResult(status=FetchStatus.NOT_MODIFIED, url="u", http_status=304)
FAILED = FetchResult(status=FetchStatus.ERROR, url="u", error="HTTP 500", http_status=500)


def test_due_feeds_order_and_filter() -> None:
    feeds = [
        feed(1, next_check=NOW - timedelta(minutes=1)),
        feed(2, next_check=NOW + timedelta(minutes=1)),  # not yet
        feed(3, next_check=None),  # never checked
        feed(4, next_check=NOW - timedelta(hours=2)),
        feed(5, next_check=None, enabled=False),
        feed(6, next_check=NOW),  # exactly due
    ]
    assert [f.id for f in due_feeds(feeds, NOW)] == [3, 4, 1, 6]


def test_success_and_not_modified_wait_one_interval() -> None:
    assert next_check_at(feed(error_count=3), OK, NOW) == NOW + TEN_MIN
    assert next_check_at(feed(), NOT_MODIFIED, NOW) == NOW + TEN_MIN


def test_errors_back_off_exponentially_with_bounded_jitter() -> None:
    delays = [next_check_at(feed(7, error_count=n), FAILED, NOW) - NOW for n in range(4)]
    for n, delay in enumerate(delays):
        base = TEN_MIN * 2 ** (n + 1)
        assert base * 0.9 <= delay <= base * 1.1
    assert delays == sorted(delays)


def test_backoff_is_capped_at_a_day() -> None:
    for n in (7, 8, 30, 10_000):
        delay = next_check_at(feed(2, error_count=n), FAILED, NOW) - NOW
        assert MAX_BACKOFF * 0.9 <= delay <= MAX_BACKOFF


def test_jitter_is_deterministic_per_feed_and_differs_between_feeds() -> None:
    first = next_check_at(feed(11, error_count=2), FAILED, NOW)
    assert next_check_at(feed(11, error_count=2), FAILED, NOW) == first
    others = {next_check_at(feed(i, error_count=2), FAILED, NOW) for i in range(1, 21)}
    assert len(others) > 10


def test_longer_retry_after_is_honoured_shorter_is_not() -> None:
    slow_down = replace(FAILED, http_status=429, retry_after=timedelta(hours=3))
    assert next_check_at(feed(error_count=0), slow_down, NOW) == NOW + timedelta(hours=3)
    short = replace(FAILED, http_status=503, retry_after=timedelta(seconds=5))
    assert next_check_at(feed(error_count=0), short, NOW) - NOW >= TEN_MIN * 2 * 0.9


def test_gone_is_rechecked_only_after_a_month() -> None:
    gone = replace(FAILED, http_status=410, gone=True)
    assert next_check_at(feed(), gone, NOW) == NOW + GONE_RECHECK
