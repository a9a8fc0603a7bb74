"""The delivery worker against an in-memory outbox and a notifier scripting Telegram's answers."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.delivery.limits import Budgets, RateLimits
from bot.delivery.worker import DeliveryWorker
from bot.models import Alert, ChatKind, DeliveryOutcome, OutcomeKind
from bot.ports import Notifier, OutboxStore
from tests.fakes.memory_outbox import MemoryOutbox, RowStatus

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SENT = DeliveryOutcome(OutcomeKind.SENT, message_id=1)


def no_global_limit() -> RateLimits:
    """Limits whose global rate never binds, so the fake clock stands still between chats."""
    return RateLimits(Budgets(global_per_s=1_000_000.0, global_burst=1000))


class FakeClock:
    """A clock that only moves when told to (or when the worker sleeps on it)."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)


@dataclass(frozen=True)
class Call:
    alert_id: int
    chat_id: int
    at: datetime


Script = Callable[[Alert], DeliveryOutcome]


class ScriptedNotifier(Notifier):
    """Answers each alert from a script (default: SENT); records every call."""

    def __init__(self, clock: FakeClock, script: Script | None = None) -> None:
        self.clock = clock
        self.script = script or (lambda alert: SENT)
        self.calls: list[Call] = []
        self.in_flight: dict[int, int] = defaultdict(int)
        self.max_in_flight_per_chat = 0

    async def deliver(self, alert: Alert) -> DeliveryOutcome:
        self.calls.append(Call(alert.id, alert.chat_id, self.clock()))
        self.in_flight[alert.chat_id] += 1
        self.max_in_flight_per_chat = max(
            self.max_in_flight_per_chat, self.in_flight[alert.chat_id]
        )
        try:
            # Let other sends interleave, as real network calls would.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            return self.script(alert)
        finally:
            self.in_flight[alert.chat_id] -= 1

    def sent_to(self, chat_id: int) -> list[int]:
        return [call.alert_id for call in self.calls if call.chat_id == chat_id]


def make_alert(chat_id: int, kind: ChatKind = ChatKind.PRIVATE, title: str = "News") -> Alert:
    return Alert(
        id=0,
        chat_id=chat_id,
        chat_kind=kind,
        story_id=1,
        cluster_id=1,
        title=title,
        url="https://example.org/story",
        source="Example",
        published_at=T0,
        summary="Something happened.",
        topic="Pakistan Afghanistan",
    )


def make_worker(
    store: OutboxStore,
    notifier: Notifier,
    clock: FakeClock,
    *,
    worker_id: str = "w1",
    limits: RateLimits | None = None,
    concurrency: int = 8,
    max_attempts: int = 8,
) -> DeliveryWorker:
    return DeliveryWorker(
        store,
        notifier,
        limits=limits,
        worker_id=worker_id,
        clock=clock,
        sleep=clock.sleep,
        concurrency=concurrency,
        max_attempts=max_attempts,
    )


def enqueue(
    store: MemoryOutbox, chat_ids: list[int], kind: ChatKind = ChatKind.PRIVATE
) -> list[int]:
    return [store.add(make_alert(chat_id, kind), due_at=T0).id for chat_id in chat_ids]


async def test_every_due_alert_is_sent_once_and_marked_sent() -> None:
    clock, store = FakeClock(), MemoryOutbox()
    ids = enqueue(store, [1, 2, 3, 4, 5])
    notifier = ScriptedNotifier(clock)
    handled = await make_worker(store, notifier, clock).run_once()
    assert handled == 5
    assert sorted(call.alert_id for call in notifier.calls) == ids
    assert store.ids_with(RowStatus.SENT) == ids
    assert await make_worker(store, notifier, clock).run_once() == 0
    assert len(notifier.calls) == 5


async def test_each_outcome_is_recorded_as_the_outbox_expects() -> None:
    clock, store = FakeClock(), MemoryOutbox()
    sent, retry, gone, migrated, failed = enqueue(store, [1, 2, 3, 4, 5])
    answers = {
        1: SENT,
        2: DeliveryOutcome(OutcomeKind.RETRY, detail="502 Bad Gateway"),
        3: DeliveryOutcome(OutcomeKind.CHAT_GONE, detail="bot was blocked by the user"),
        4: DeliveryOutcome(OutcomeKind.CHAT_MIGRATED, new_chat_id=-1004),
        5: DeliveryOutcome(OutcomeKind.FAILED, detail="message is too long"),
    }
    notifier = ScriptedNotifier(clock, lambda alert: answers[alert.chat_id])
    await make_worker(store, notifier, clock, limits=no_global_limit()).run_once()
    assert store.status(sent) is RowStatus.SENT
    assert store.status(retry) is RowStatus.PENDING
    assert store.rows[retry].attempts == 1
    assert store.rows[retry].due_at == T0 + timedelta(seconds=5)
    assert store.status(gone) is RowStatus.FAILED
    assert 3 in store.inactive_chats
    assert store.status(migrated) is RowStatus.PENDING
    assert store.rows[migrated].alert.chat_id == -1004
    assert store.status(failed) is RowStatus.FAILED


async def test_migrated_alert_is_delivered_to_the_new_chat_next_round() -> None:
    clock, store = FakeClock(), MemoryOutbox()
    (alert_id,) = enqueue(store, [7], ChatKind.GROUP)

    def answer(alert: Alert) -> DeliveryOutcome:
        if alert.chat_id == 7:
            return DeliveryOutcome(OutcomeKind.CHAT_MIGRATED, new_chat_id=-1007)
        return SENT

    notifier = ScriptedNotifier(clock, answer)
    worker = make_worker(store, notifier, clock)
    await worker.run_once()
    await worker.run_once()
    assert [call.chat_id for call in notifier.calls] == [7, -1007]
    assert store.status(alert_id) is RowStatus.SENT


async def test_retries_back_off_exponentially_then_give_up() -> None:
    clock, store = FakeClock(), MemoryOutbox()
    (alert_id,) = enqueue(store, [1])
    notifier = ScriptedNotifier(clock, lambda alert: DeliveryOutcome(OutcomeKind.RETRY))
    worker = make_worker(store, notifier, clock, max_attempts=4)
    delays = []
    for _ in range(4):
        before = clock()
        assert await worker.run_once() == 1
        row = store.rows[alert_id]
        if row.status is RowStatus.PENDING:
            delays.append(row.due_at - before)
            clock.now = row.due_at
    assert delays == [timedelta(seconds=s) for s in (5, 10, 20)]
    assert store.status(alert_id) is RowStatus.FAILED
    assert len(notifier.calls) == 4


async def test_alerts_to_one_chat_go_in_order_and_never_two_at_once() -> None:
    clock, store = FakeClock(), MemoryOutbox()
    ids = enqueue(store, [1, 2, 1, 2, 1, 3, 1, 2, 1])
    notifier = ScriptedNotifier(clock)
    # A loose per-chat budget so the whole batch goes in one round.
    limits = RateLimits(Budgets(chat_per_s=100.0, chat_burst=10))
    await make_worker(store, notifier, clock, limits=limits, concurrency=4).run_once()
    assert notifier.sent_to(1) == [ids[i] for i in (0, 2, 4, 6, 8)]
    assert notifier.sent_to(2) == [ids[i] for i in (1, 3, 7)]
    assert notifier.max_in_flight_per_chat == 1
    assert store.ids_with(RowStatus.SENT) == ids


async def test_private_chat_gets_a_burst_of_three_then_one_alert_a_second() -> None:
    clock, store = FakeClock(), MemoryOutbox()
    ids = enqueue(store, [1] * 5)
    notifier = ScriptedNotifier(clock)
    worker = make_worker(store, notifier, clock, limits=no_global_limit())
    for _ in range(20):
        await worker.run_once()
        clock.advance(0.25)
    assert notifier.sent_to(1) == ids
    offsets = [(call.at - T0).total_seconds() for call in notifier.calls]
    assert offsets[:3] == [0.0, 0.0, 0.0]
    assert offsets[3] >= 1.0
    assert offsets[4] - offsets[3] >= 1.0


async def test_429_for_one_chat_does_not_delay_the_others() -> None:
    clock, store = FakeClock(), MemoryOutbox()
    ids = enqueue(store, [1, 2, 1, 3, 4])
    throttled = DeliveryOutcome(
        OutcomeKind.RETRY, retry_after=timedelta(seconds=30), rate_limited=True
    )
    notifier = ScriptedNotifier(clock, lambda alert: throttled if alert.chat_id == 1 else SENT)
    await make_worker(store, notifier, clock, limits=no_global_limit()).run_once()
    assert notifier.sent_to(1) == [ids[0]]  # the chat's second alert is held back
    assert [store.status(i) for i in (ids[1], ids[3], ids[4])] == [RowStatus.SENT] * 3
    assert clock() == T0  # nobody waited
    # The throttled alert waits exactly retry_after; its follower waits behind it.
    assert store.rows[ids[0]].due_at == T0 + timedelta(seconds=30)
    assert store.status(ids[2]) is RowStatus.PENDING
    assert store.rows[ids[2]].due_at >= store.rows[ids[0]].due_at


async def test_chat_held_by_a_long_429_is_released_without_holding_the_round() -> None:
    clock, store = FakeClock(), MemoryOutbox()
    limits = RateLimits()
    limits.penalize(1, timedelta(minutes=5), T0)
    ids = enqueue(store, [1, 2])
    notifier = ScriptedNotifier(clock)
    await make_worker(store, notifier, clock, limits=limits).run_once()
    assert notifier.sent_to(1) == []
    assert store.status(ids[0]) is RowStatus.PENDING
    assert store.rows[ids[0]].due_at == T0 + timedelta(minutes=5)
    assert store.rows[ids[0]].attempts == 0
    assert store.status(ids[1]) is RowStatus.SENT
    assert clock() - T0 < timedelta(seconds=5)


async def test_group_over_its_minute_budget_is_given_back_for_later() -> None:
    clock, store = FakeClock(), MemoryOutbox()
    ids = enqueue(store, [-100] * 25, ChatKind.SUPERGROUP)
    notifier = ScriptedNotifier(clock)
    limits = RateLimits(Budgets(chat_per_s=100.0, chat_burst=20))
    worker = make_worker(store, notifier, clock, limits=limits)
    await worker.run_once()
    assert store.ids_with(RowStatus.SENT) == ids[:20]
    assert store.ids_with(RowStatus.PENDING) == ids[20:]
    clock.now = T0 + timedelta(minutes=1, seconds=1)
    await worker.run_once()
    assert store.ids_with(RowStatus.SENT) == ids
    assert notifier.sent_to(-100) == ids


async def test_notifier_that_raises_is_recorded_as_retry_and_others_still_go() -> None:
    clock, store = FakeClock(), MemoryOutbox()
    ids = enqueue(store, [1, 2, 3])

    def answer(alert: Alert) -> DeliveryOutcome:
        if alert.chat_id == 2:
            raise ConnectionResetError("connection reset by peer")
        return SENT

    notifier = ScriptedNotifier(clock, answer)
    assert await make_worker(store, notifier, clock).run_once() == 3
    assert store.status(ids[0]) is RowStatus.SENT
    assert store.status(ids[2]) is RowStatus.SENT
    assert store.status(ids[1]) is RowStatus.PENDING
    assert store.rows[ids[1]].attempts == 1


class FlakyStore(OutboxStore):
    """An outbox whose claims fail the first ``failures`` times, like a dropped DB connection."""

    def __init__(self, inner: MemoryOutbox, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def claim_due(self, now: datetime, *, limit: int, worker: str, lease: timedelta) -> list[Alert]:
        if self.failures > 0:
            self.failures -= 1
            raise OSError("database connection lost")
        return self.inner.claim_due(now, limit=limit, worker=worker, lease=lease)

    def release(self, alert_id: int, *, not_before: datetime) -> None:
        self.inner.release(alert_id, not_before=not_before)

    def record_outcome(
        self,
        alert_id: int,
        outcome: DeliveryOutcome,
        now: datetime,
        *,
        retry_at: datetime | None = None,
    ) -> None:
        if outcome.kind is OutcomeKind.SENT and self.failures < 0:
            self.failures += 1
            raise OSError("database connection lost")
        self.inner.record_outcome(alert_id, outcome, now, retry_at=retry_at)


async def test_run_loop_survives_a_failing_store_and_a_raising_notifier() -> None:
    clock, inner = FakeClock(), MemoryOutbox()
    ids = enqueue(inner, [1, 2])
    store = FlakyStore(inner, failures=2)

    def answer(alert: Alert) -> DeliveryOutcome:
        if alert.chat_id == 2:
            raise RuntimeError("boom")
        return SENT

    notifier = ScriptedNotifier(clock, answer)
    worker = make_worker(store, notifier, clock)
    stop = asyncio.Event()
    loop_task = asyncio.create_task(worker.run(stop, idle_sleep=0.001))
    for _ in range(2000):
        if inner.status(ids[0]) is RowStatus.SENT and len(notifier.sent_to(2)) >= 2:
            break
        clock.advance(1)
        await asyncio.sleep(0.001)
    stop.set()
    worker.wake()
    await asyncio.wait_for(loop_task, timeout=5)
    assert inner.status(ids[0]) is RowStatus.SENT
    # The raising chat was retried by later rounds of the same loop.
    assert len(notifier.sent_to(2)) >= 2
    assert inner.rows[ids[1]].attempts >= 2


async def test_failed_mark_after_send_brings_the_alert_back_after_the_lease() -> None:
    clock, inner = FakeClock(), MemoryOutbox()
    (alert_id,) = enqueue(inner, [1])
    store = FlakyStore(inner, failures=-1)  # the first SENT mark fails
    notifier = ScriptedNotifier(clock)
    worker = make_worker(store, notifier, clock)
    await worker.run_once()
    assert inner.status(alert_id) is RowStatus.CLAIMED
    clock.advance(121)
    await worker.run_once()
    # The documented at-least-once window: the message went twice, and is now marked.
    assert notifier.sent_to(1) == [alert_id, alert_id]
    assert inner.status(alert_id) is RowStatus.SENT


async def test_alerts_of_a_worker_that_died_mid_batch_are_delivered_by_another() -> None:
    clock, store = FakeClock(), MemoryOutbox()
    ids = enqueue(store, [1, 2, 3, 4])
    hang = asyncio.Event()
    called = asyncio.Event()

    class HangingNotifier(Notifier):
        """Delivers the first alert, then hangs forever on the second."""

        def __init__(self) -> None:
            self.delivered: list[int] = []

        async def deliver(self, alert: Alert) -> DeliveryOutcome:
            if self.delivered:
                called.set()
                await hang.wait()
            self.delivered.append(alert.id)
            return SENT

    dying = make_worker(store, HangingNotifier(), clock, worker_id="dying", concurrency=1)
    crashed = asyncio.create_task(dying.run_once())
    await asyncio.wait_for(called.wait(), timeout=5)
    crashed.cancel()  # the worker process dies mid-batch
    assert store.ids_with(RowStatus.SENT) == ids[:1]

    survivor = ScriptedNotifier(clock)
    other = make_worker(store, survivor, clock, worker_id="survivor")
    assert await other.run_once() == 0  # leases still held by the dead worker
    clock.advance(121)
    assert await other.run_once() == 3
    assert store.ids_with(RowStatus.SENT) == ids
    assert sorted(call.alert_id for call in survivor.calls) == ids[1:]


async def test_wake_cuts_the_idle_sleep_short() -> None:
    clock, store = FakeClock(), MemoryOutbox()
    notifier = ScriptedNotifier(clock)
    worker = make_worker(store, notifier, clock)
    stop = asyncio.Event()
    loop_task = asyncio.create_task(worker.run(stop, idle_sleep=60))
    await asyncio.sleep(0.01)
    (alert_id,) = enqueue(store, [1])
    worker.wake()
    for _ in range(500):
        if store.status(alert_id) is RowStatus.SENT:
            break
        await asyncio.sleep(0.001)
    stop.set()
    worker.wake()
    await asyncio.wait_for(loop_task, timeout=5)
    assert store.status(alert_id) is RowStatus.SENT


async def test_round_ends_rather_than_wait_on_a_chat_that_is_not_ready() -> None:
    clock, store = FakeClock(), MemoryOutbox()
    ids = enqueue(store, [1, 1, 1, 1, 1, 2])
    notifier = ScriptedNotifier(clock)
    await make_worker(store, notifier, clock, limits=no_global_limit()).run_once()
    assert clock() == T0  # the round did not sleep on chat 1's budget
    assert store.ids_with(RowStatus.SENT) == [*ids[:3], ids[5]]
    assert store.ids_with(RowStatus.PENDING) == ids[3:5]
    # Due when the chat's budget allows (plus the small margin against network jitter).
    assert store.rows[ids[3]].due_at == T0 + timedelta(seconds=1) + Budgets().chat_margin
    assert store.rows[ids[3]].attempts == 0


async def test_a_retried_alert_stays_ahead_of_its_chats_later_alerts() -> None:
    clock, store = FakeClock(), MemoryOutbox()
    first, second = enqueue(store, [1, 1])
    failures = [DeliveryOutcome(OutcomeKind.RETRY, detail="502 Bad Gateway")]
    notifier = ScriptedNotifier(clock, lambda alert: failures.pop() if failures else SENT)
    # One alert per batch, so the later alert arrives in a batch of its own.
    worker = DeliveryWorker(
        store, notifier, worker_id="w1", batch=1, clock=clock, sleep=clock.sleep
    )
    for _ in range(30):
        await worker.run_once()
        clock.advance(1)
    assert notifier.sent_to(1) == [first, first, second]
    assert store.ids_with(RowStatus.SENT) == [first, second]


async def test_stopping_gives_back_a_batch_claimed_ahead() -> None:
    clock, store = FakeClock(), MemoryOutbox()
    ids = enqueue(store, list(range(1, 13)))
    stop = asyncio.Event()

    def answer(alert: Alert) -> DeliveryOutcome:
        stop.set()  # stop as soon as the first round is under way
        clock.advance(1)
        return SENT

    notifier = ScriptedNotifier(clock, answer)
    worker = DeliveryWorker(
        store,
        notifier,
        limits=no_global_limit(),
        worker_id="w1",
        batch=4,
        clock=clock,
        sleep=clock.sleep,
    )
    await asyncio.wait_for(worker.run(stop, idle_sleep=0.01), timeout=5)
    assert store.ids_with(RowStatus.CLAIMED) == []
    assert store.ids_with(RowStatus.SENT) == ids[:4]
    # What was claimed ahead is due again at once, for this or another worker.
    assert store.ids_with(RowStatus.PENDING) == ids[4:]
    assert all(store.rows[i].due_at <= clock() for i in ids[4:])
    # The next batch had been claimed during the first round, and was handed back on stop.
    assert all(store.rows[i].due_at > T0 for i in ids[4:8])


async def test_full_batches_follow_one_another_until_the_outbox_is_empty() -> None:
    clock, store = FakeClock(), MemoryOutbox()
    ids = enqueue(store, list(range(1, 24)))
    notifier = ScriptedNotifier(clock)
    worker = DeliveryWorker(
        store, notifier, worker_id="w1", batch=5, clock=clock, sleep=clock.sleep
    )
    handled = [await worker.run_once() for _ in range(6)]
    assert handled == [5, 5, 5, 5, 3, 0]
    assert store.ids_with(RowStatus.SENT) == ids
    assert sorted(call.alert_id for call in notifier.calls) == ids
