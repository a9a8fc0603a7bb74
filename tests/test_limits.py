"""Telegram's sending budgets: what the rate limits allow, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.delivery.limits import Budgets, RateLimits
from bot.models import ChatKind

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
PRIVATE = ChatKind.PRIVATE
# Budgets whose global rate never binds, to look at one chat's budget alone.
NO_GLOBAL = Budgets(global_per_s=1_000_000.0, global_burst=1000)
# Extra wait when a chat's own budget binds, against network jitter.
MARGIN = Budgets().chat_margin


def seconds(s: float) -> timedelta:
    return timedelta(seconds=s)


def send_when_ready(limits: RateLimits, chat_id: int, kind: ChatKind, now: datetime) -> datetime:
    """Send one message at the earliest allowed time from ``now``; returns that time."""
    at = limits.ready_at(chat_id, kind, now)
    limits.take(chat_id, kind, at)
    return at


def test_private_chat_allows_a_burst_of_three_then_one_per_second() -> None:
    limits = RateLimits(NO_GLOBAL)
    times = []
    now = T0
    for _ in range(6):
        now = send_when_ready(limits, 1, PRIVATE, now)
        times.append(now)
    assert times[:3] == [T0, T0, T0]
    # The margin delays each send a little but does not accumulate.
    assert times[3:] == [T0 + seconds(n) + MARGIN for n in (1, 2, 3)]


def test_private_chat_burst_refills_after_idle() -> None:
    limits = RateLimits(NO_GLOBAL)
    for _ in range(3):
        limits.take(1, PRIVATE, T0)
    assert limits.ready_at(1, PRIVATE, T0) == T0 + seconds(1) + MARGIN
    later = T0 + seconds(10)
    assert limits.ready_at(1, PRIVATE, later) == later


def test_group_gets_at_most_twenty_per_minute() -> None:
    # Loosen the per-chat rate so only the group budget binds.
    limits = RateLimits(
        Budgets(chat_per_s=1000.0, chat_burst=1000, global_per_s=1e6, global_burst=1000)
    )
    times = []
    now = T0
    for _ in range(25):
        now = send_when_ready(limits, -100, ChatKind.SUPERGROUP, now)
        times.append(now)
    assert times[:20] == [T0] * 20
    assert times[20] == T0 + timedelta(minutes=1) + MARGIN
    # Any one-minute window holds at most 20 sends.
    for start in times:
        window = [t for t in times if start <= t < start + timedelta(minutes=1)]
        assert len(window) <= 20


def test_group_budget_applies_to_channels_but_not_private_chats() -> None:
    limits = RateLimits(
        Budgets(chat_per_s=1000.0, chat_burst=1000, global_per_s=1e6, global_burst=1000)
    )
    for _ in range(20):
        limits.take(-1, ChatKind.CHANNEL, T0)
        limits.take(2, PRIVATE, T0)
    assert limits.ready_at(-1, ChatKind.CHANNEL, T0) == T0 + timedelta(minutes=1) + MARGIN
    assert limits.ready_at(2, PRIVATE, T0) == T0


def test_whole_bot_sends_at_most_thirty_per_second() -> None:
    limits = RateLimits()
    now = T0
    times = []
    for chat_id in range(1, 91):  # 90 distinct chats: only the global budget binds
        now = send_when_ready(limits, chat_id, PRIVATE, now)
        times.append(now)
    assert times[-1] - times[0] >= seconds(89 / 30)
    for start in times:
        window = [t for t in times if start <= t < start + seconds(1)]
        assert len(window) <= 30
    # ... and not much slower than that.
    assert times[-1] - times[0] < seconds(89 / 28.5)


def test_429_delays_that_chat_by_exactly_retry_after() -> None:
    limits = RateLimits()
    limits.take(1, PRIVATE, T0)
    limits.penalize(1, seconds(17), T0)
    assert limits.ready_at(1, PRIVATE, T0) == T0 + seconds(17)
    assert limits.ready_at(1, PRIVATE, T0 + seconds(17)) == T0 + seconds(17)


def test_429_for_one_chat_leaves_other_chats_alone() -> None:
    limits = RateLimits()
    limits.penalize(1, seconds(60), T0)
    later = T0 + seconds(5)
    assert limits.ready_at(2, PRIVATE, later) == later
    assert limits.ready_at(1, PRIVATE, later) == T0 + seconds(60)


def test_429s_from_several_chats_pause_everything() -> None:
    limits = RateLimits()
    limits.penalize(1, seconds(5), T0)
    limits.penalize(2, seconds(5), T0 + seconds(0.2))
    assert limits.ready_at(99, PRIVATE, T0 + seconds(0.3)) == T0 + seconds(0.3)
    limits.penalize(3, seconds(5), T0 + seconds(0.4))
    assert limits.ready_at(99, PRIVATE, T0 + seconds(0.5)) == T0 + seconds(5.4)
    assert limits.ready_at(99, PRIVATE, T0 + seconds(5.4)) == T0 + seconds(5.4)


def test_429s_spread_out_in_time_do_not_pause_everything() -> None:
    limits = RateLimits()
    for i, chat_id in enumerate((1, 2, 3)):
        limits.penalize(chat_id, seconds(5), T0 + seconds(2 * i))
    now = T0 + seconds(4.5)
    assert limits.ready_at(99, PRIVATE, now) == now


def test_repeated_429s_from_one_chat_do_not_pause_everything() -> None:
    limits = RateLimits()
    for i in range(5):
        limits.penalize(1, seconds(5), T0 + seconds(0.1 * i))
    now = T0 + seconds(0.5)
    assert limits.ready_at(2, PRIVATE, now) == now


def test_idle_chats_are_forgotten() -> None:
    limits = RateLimits()
    for chat_id in range(1000):
        limits.take(chat_id, PRIVATE, T0 + timedelta(milliseconds=40 * chat_id))
    assert limits.tracked_chats < 1000
    much_later = T0 + timedelta(hours=1)
    limits.take(5000, PRIVATE, much_later)
    assert limits.tracked_chats == 1
    # Forgetting changed nothing: an old chat is as free as a new one.
    a_second_on = much_later + seconds(1)
    assert limits.ready_at(3, PRIVATE, a_second_on) == a_second_on


def test_a_sender_that_wakes_a_little_late_keeps_the_full_rate() -> None:
    limits = RateLimits()
    late = timedelta(milliseconds=10)
    now = T0
    first = None
    for chat_id in range(1, 291):
        now = limits.ready_at(chat_id, PRIVATE, now) + late
        limits.take(chat_id, PRIVATE, now)
        first = first or now
    assert first is not None
    rate = 289 / (now - first).total_seconds()
    assert rate > 28.5
