"""The delivery worker: claims due alerts from the outbox and sends them within Telegram's budgets.

One round (``run_once``) claims a batch, splits it into one lane per chat (sent one at a time,
in claim order, so a chat never sees its alerts reordered), and starts sends as the rate limits
allow, up to ``concurrency`` at once. Every outcome is recorded as soon as the notifier returns,
which is what keeps delivery exactly-once on the normal path (see docs/DELIVERY.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.delivery.limits import RateLimits
from bot.models import Alert, DeliveryOutcome, OutcomeKind
from bot.ports import Notifier, OutboxStore

logger = logging.getLogger(__name__)

BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_CAP = timedelta(minutes=10)


def utc_now() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


def retry_delay(attempts: int) -> timedelta:
    """Backoff before the next try of an alert already tried ``attempts`` times: 5s, 10s, 20s..."""
    # Cap the exponent first so a huge attempt count cannot overflow the multiplication.
    factor: int = 2 ** min(max(attempts, 0), 16)
    return min(BACKOFF_BASE * factor, BACKOFF_CAP)


@dataclass
class _Lane:
    """The claimed alerts of one chat, sent strictly one after another."""

    chat_id: int
    alerts: deque[tuple[int, Alert]] = field(default_factory=deque)  # (claim position, alert)
    busy: bool = False

    @property
    def head_position(self) -> int:
        """Claim position of the next alert, which orders lanes for the global budget."""
        return self.alerts[0][0]


class DeliveryWorker:
    """Moves alerts from an ``OutboxStore`` to a ``Notifier`` within the rate limits."""

    def __init__(
        self,
        store: OutboxStore,
        notifier: Notifier,
        *,
        limits: RateLimits | None = None,
        worker_id: str,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 100,
        concurrency: int = 8,
        max_attempts: int = 8,
        clock: Callable[[], datetime] = utc_now,
        horizon: timedelta = timedelta(seconds=3),
        linger: timedelta = timedelta(milliseconds=250),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.limits = limits if limits is not None else RateLimits()
        self.worker_id = worker_id
        self.lease = lease
        self.batch = batch
        self.concurrency = max(1, concurrency)
        self.max_attempts = max(1, max_attempts)
        self.clock = clock
        # Alerts whose chat cannot take them within this horizon go back to the outbox
        # rather than hold a slot of this round.
        self.horizon = horizon
        # When only waiting chats are left in a round, waiting longer than this ends the round:
        # they go back to the outbox and the next claim brings work that can go now.
        self.linger = linger
        self._sleep = sleep
        # A send that outlives half the lease is abandoned (recorded RETRY) so the round ends
        # before another worker may claim the same alerts.
        self._send_timeout = lease.total_seconds() / 2
        self._wake = asyncio.Event()
        self._prefetch: asyncio.Task[tuple[datetime, list[Alert]]] | None = None

    def wake(self) -> None:
        """Nudge a sleeping ``run`` loop to claim now (e.g. right after enqueueing)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event, *, idle_sleep: float = 1.0) -> None:
        """Run rounds until ``stop`` is set; when idle, sleep ``idle_sleep`` s or until woken."""
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:
                # run_once guards its own steps; this is the last line so the loop never dies.
                logger.exception("delivery round failed worker=%s", self.worker_id)
                handled = 0
            if handled == 0 and not stop.is_set():
                await self._idle(stop, idle_sleep)
        await self._release_prefetched()

    async def run_once(self) -> int:
        """Claim one batch of due alerts and deliver, record or release each; returns the count."""
        if self._prefetch is not None:
            prefetch, self._prefetch = self._prefetch, None
            start, claimed = await prefetch
        else:
            start, claimed = await self._claim()
        if not claimed:
            return 0
        # Stop starting sends well before the lease lapses: past it, another worker may hold
        # the same alerts and a send here would duplicate theirs.
        deadline = start + self.lease / 2
        lanes = self._lanes(claimed)
        # A full batch means more is probably due: claim the next one while this one is sent.
        await self._drain(lanes, deadline, prefetch=len(claimed) >= self.batch)
        return len(claimed)

    async def _claim(self) -> tuple[datetime, list[Alert]]:
        """Lease the next batch in a thread, so sends already under way are not held up."""
        start = self.clock()
        try:
            claimed = await asyncio.to_thread(
                self.store.claim_due,
                start,
                limit=self.batch,
                worker=self.worker_id,
                lease=self.lease,
            )
        except Exception:
            logger.exception("claim failed worker=%s", self.worker_id)
            return start, []
        return start, claimed

    async def _release_prefetched(self) -> None:
        """On stop, give back a batch claimed ahead so it need not wait for its lease to lapse."""
        if self._prefetch is None:
            return
        prefetch, self._prefetch = self._prefetch, None
        _, claimed = await prefetch
        now = self.clock()
        for alert in claimed:
            try:
                self.store.release(alert.id, not_before=now)
            except Exception:
                logger.exception("release failed alert_id=%s chat_id=%s", alert.id, alert.chat_id)

    def _half_done(self, lanes: dict[int, _Lane]) -> bool:
        """True once at most half a batch is left to start in this round."""
        return sum(len(lane.alerts) for lane in lanes.values()) <= self.batch // 2

    @staticmethod
    def _lanes(claimed: list[Alert]) -> dict[int, _Lane]:
        """Split a claimed batch into per-chat lanes, keeping claim order within each."""
        lanes: dict[int, _Lane] = {}
        for position, alert in enumerate(claimed):
            lane = lanes.setdefault(alert.chat_id, _Lane(alert.chat_id))
            lane.alerts.append((position, alert))
        return lanes

    async def _drain(self, lanes: dict[int, _Lane], deadline: datetime, *, prefetch: bool) -> None:
        """Send every lane's alerts as budgets allow; give back what cannot go soon."""
        in_flight: dict[asyncio.Task[None], _Lane] = {}
        try:
            while True:
                now = self.clock()
                next_ready = self._start_ready(lanes, in_flight, now, deadline)
                if prefetch and self._prefetch is None and self._half_done(lanes):
                    self._prefetch = asyncio.create_task(self._claim())
                    prefetch = False
                if not in_flight and next_ready is not None and next_ready - now > self.linger:
                    self._release_waiting(lanes, now)
                if not in_flight and not any(lane.alerts for lane in lanes.values()):
                    return
                await self._wait(in_flight, next_ready, now)
        finally:
            # Only reached with tasks left when this round is cancelled (a stopping worker):
            # their leases lapse and another round picks the alerts up.
            for task in in_flight:
                task.cancel()

    def _start_ready(
        self,
        lanes: dict[int, _Lane],
        in_flight: dict[asyncio.Task[None], _Lane],
        now: datetime,
        deadline: datetime,
    ) -> datetime | None:
        """Start sends for lanes whose chat is ready; returns when the next lane will be."""
        next_ready: datetime | None = None
        waiting = [lane for lane in lanes.values() if lane.alerts and not lane.busy]
        for lane in sorted(waiting, key=lambda lane: lane.head_position):
            alert = lane.alerts[0][1]
            ready = self.limits.ready_at(alert.chat_id, alert.chat_kind, now)
            if now >= deadline:
                self._release_lane(lane, not_before=now)
            elif ready - now > self.horizon:
                self._release_lane(lane, not_before=ready)
            elif ready <= now and len(in_flight) < self.concurrency:
                lane.alerts.popleft()
                lane.busy = True
                self.limits.take(alert.chat_id, alert.chat_kind, now)
                task = asyncio.create_task(self._deliver(alert, lane))
                in_flight[task] = lane
            elif ready > now:
                next_ready = ready if next_ready is None else min(next_ready, ready)
        return next_ready

    async def _wait(
        self,
        in_flight: dict[asyncio.Task[None], _Lane],
        next_ready: datetime | None,
        now: datetime,
    ) -> None:
        """Wait until a send finishes or the next lane becomes ready, whichever comes first."""
        waiters: set[asyncio.Future[None]] = set(in_flight)
        timer: asyncio.Task[None] | None = None
        if next_ready is not None and len(in_flight) < self.concurrency:
            delay = max((next_ready - now).total_seconds(), 0.0)
            timer = asyncio.create_task(self._sleep_for(delay))
            waiters.add(timer)
        if not waiters:
            return
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in [task for task in in_flight if task.done()]:
            del in_flight[task]
        if timer is not None and not timer.done():
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    async def _sleep_for(self, seconds: float) -> None:
        """Sleep through the injected sleeper (a fake one in tests)."""
        await self._sleep(seconds)

    async def _deliver(self, alert: Alert, lane: _Lane) -> None:
        """Send one alert, record the outcome at once, and settle the rest of its lane."""
        try:
            outcome = await self._attempt(alert)
            now = self.clock()
            retry_at = self._retry_at(alert, outcome, now)
            await self._record(alert, outcome, now, retry_at)
            await self._after_outcome(lane, outcome, now, retry_at)
        finally:
            lane.busy = False

    async def _attempt(self, alert: Alert) -> DeliveryOutcome:
        """Call the notifier; anything it raises becomes a RETRY so the loop carries on."""
        try:
            async with asyncio.timeout(self._send_timeout):
                return await self.notifier.deliver(alert)
        except TimeoutError:
            logger.warning(
                "notifier timed out alert_id=%s chat_id=%s timeout_s=%s",
                alert.id,
                alert.chat_id,
                self._send_timeout,
            )
            return DeliveryOutcome(OutcomeKind.RETRY, detail="notifier timed out")
        except Exception as exc:
            logger.exception(
                "notifier raised alert_id=%s chat_id=%s error=%s",
                alert.id,
                alert.chat_id,
                type(exc).__name__,
            )
            detail = f"notifier raised {type(exc).__name__}"
            return DeliveryOutcome(OutcomeKind.RETRY, detail=detail)

    def _retry_at(self, alert: Alert, outcome: DeliveryOutcome, now: datetime) -> datetime | None:
        """When a RETRY should be tried again; None gives it up (attempts exhausted)."""
        if outcome.kind is not OutcomeKind.RETRY:
            return None
        if alert.attempts + 1 >= self.max_attempts:
            logger.warning(
                "giving up alert_id=%s chat_id=%s attempts=%s detail=%s",
                alert.id,
                alert.chat_id,
                alert.attempts + 1,
                outcome.detail,
            )
            return None
        if outcome.retry_after is not None:
            # Telegram said exactly how long to wait; waiting longer only delays the news.
            return now + outcome.retry_after
        return now + retry_delay(alert.attempts)

    async def _record(
        self, alert: Alert, outcome: DeliveryOutcome, now: datetime, retry_at: datetime | None
    ) -> None:
        """Store the outcome; a store failure is logged and the lease will bring it back."""
        try:
            # In a thread: a store waiting on a lock (SQLite during a claim) must not stall
            # the sends of other chats.
            await asyncio.to_thread(
                self.store.record_outcome, alert.id, outcome, now, retry_at=retry_at
            )
        except Exception:
            logger.exception(
                "recording outcome failed alert_id=%s chat_id=%s outcome=%s",
                alert.id,
                alert.chat_id,
                outcome.kind.value,
            )
            return
        log = logger.info if outcome.kind is OutcomeKind.SENT else logger.warning
        log(
            "delivery alert_id=%s chat_id=%s outcome=%s detail=%s",
            alert.id,
            alert.chat_id,
            outcome.kind.value,
            outcome.detail,
        )

    async def _after_outcome(
        self, lane: _Lane, outcome: DeliveryOutcome, now: datetime, retry_at: datetime | None
    ) -> None:
        """Apply what one outcome means for the chat's remaining alerts in this round."""
        kind = outcome.kind
        if kind is OutcomeKind.RETRY:
            later = retry_at if retry_at is not None else now + retry_delay(0)
            if outcome.rate_limited and outcome.retry_after is not None:
                self.limits.penalize(lane.chat_id, outcome.retry_after, now)
            else:
                # Later alerts of this chat, in this batch or the next, wait for the retry.
                self.limits.hold(lane.chat_id, later)
            self._release_lane(lane, not_before=later)
        elif kind is OutcomeKind.CHAT_MIGRATED:
            # The store moved the chat; the alerts come back under the new chat id.
            self._release_lane(lane, not_before=now)
        elif kind is OutcomeKind.CHAT_GONE:
            # The chat blocked us or vanished: its other alerts cannot be delivered either.
            while lane.alerts:
                _, alert = lane.alerts.popleft()
                await self._record(alert, outcome, now, None)

    def _release_waiting(self, lanes: dict[int, _Lane], now: datetime) -> None:
        """Give back every lane still holding alerts, each due when its chat is ready."""
        for lane in lanes.values():
            if lane.alerts and not lane.busy:
                alert = lane.alerts[0][1]
                ready = self.limits.ready_at(alert.chat_id, alert.chat_kind, now)
                self._release_lane(lane, not_before=ready)

    def _release_lane(self, lane: _Lane, *, not_before: datetime) -> None:
        """Give every remaining alert of a lane back to the outbox, due at ``not_before``."""
        while lane.alerts:
            _, alert = lane.alerts.popleft()
            try:
                self.store.release(alert.id, not_before=not_before)
            except Exception:
                logger.exception("release failed alert_id=%s chat_id=%s", alert.id, alert.chat_id)

    async def _idle(self, stop: asyncio.Event, idle_sleep: float) -> None:
        """Sleep until woken, stopped, or ``idle_sleep`` seconds pass."""
        stop_wait = asyncio.create_task(stop.wait())
        wake_wait = asyncio.create_task(self._wake.wait())
        try:
            await asyncio.wait(
                {stop_wait, wake_wait}, timeout=idle_sleep, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (stop_wait, wake_wait):
                task.cancel()
            self._wake.clear()
