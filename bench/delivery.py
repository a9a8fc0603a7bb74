"""Delivery benchmark: one alert fanned out to many chats, plus a burst to a few groups.

Everything runs on this machine: a loopback Bot API that enforces Telegram's budgets (answering
429 with retry_after when they are exceeded), a real ``telegram.Bot`` pointed at it, the
``TelegramNotifier``, the ``DeliveryWorker`` and an outbox (in memory, or SQLite).

    python -m bench.delivery --chats 2000
    python -m bench.delivery --chats 10000 --store sqlite --db /tmp/newsbot-bench.sqlite3

Prints messages/s sustained, the share of the 30 msg/s budget, 429s received, lost and
duplicated messages, and the total time. Goals: >= 95% of 30 msg/s, < 1% of requests
answered 429, nothing lost, nothing duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from telegram import Bot
from telegram.request import HTTPXRequest

from bot.delivery.limits import Budgets, RateLimits
from bot.delivery.worker import DeliveryWorker
from bot.models import Alert, ChatKind, DeliveryOutcome, FeedSpec, OutcomeKind, Story
from bot.ports import Notifier, OutboxStore
from handlers.emulator import BotApiEmulator
from handlers.sender import TelegramNotifier
from tests.fakes.memory_outbox import MemoryOutbox, RowStatus
from tests.fakes.telegram_server import FakeTelegramServer

TELEGRAM_BUDGET = 30.0
TOKEN = "123456:bench-token-not-a-real-one-000000"
FIRST_PRIVATE_CHAT = 100_000
FIRST_GROUP_CHAT = -5_000


@dataclass(frozen=True)
class Workload:
    """Who gets what: one fan-out alert per private chat, and a burst to a few groups."""

    private_chats: list[int]
    group_chats: list[int]
    group_alerts: int


@dataclass
class MeasuringNotifier(Notifier):
    """Wraps the real notifier and notes when each send finished and how."""

    inner: Notifier
    sent_at: dict[int, float] = field(default_factory=dict)  # alert id -> monotonic time
    outcomes: Counter[str] = field(default_factory=Counter)

    async def deliver(self, alert: Alert) -> DeliveryOutcome:
        """Deliver through the wrapped notifier and record the outcome."""
        outcome = await self.inner.deliver(alert)
        self.outcomes["429" if outcome.rate_limited else outcome.kind.value] += 1
        if outcome.kind is OutcomeKind.SENT:
            self.sent_at[alert.id] = time.monotonic()
        return outcome


def make_alert(chat_id: int, kind: ChatKind, title: str, now: datetime) -> Alert:
    """An alert as the matcher would produce it (ids are assigned by the outbox)."""
    return Alert(
        id=0,
        chat_id=chat_id,
        chat_kind=kind,
        story_id=1,
        cluster_id=1,
        title=title,
        url="https://news.example.org/story",
        source="Example News",
        published_at=now - timedelta(minutes=3),
        summary="Officials from both countries met to discuss the border crossing.",
        topic="Pakistan Afghanistan",
    )


def fill_memory(store: MemoryOutbox, work: Workload, now: datetime) -> dict[int, int]:
    """Enqueue the workload in memory; returns alert id -> chat id."""
    expected: dict[int, int] = {}
    for i in range(work.group_alerts):
        chat = work.group_chats[i % len(work.group_chats)]
        alert = store.add(make_alert(chat, ChatKind.GROUP, f"Burst {i:03d}", now), due_at=now)
        expected[alert.id] = chat
    for chat in work.private_chats:
        alert = store.add(make_alert(chat, ChatKind.PRIVATE, "Border talks", now), due_at=now)
        expected[alert.id] = chat
    return expected


Unfinished = Callable[[], int]


def memory_store(work: Workload, now: datetime) -> tuple[OutboxStore, dict[int, int], Unfinished]:
    """An in-memory outbox holding the workload; returns it, id -> chat, and a pending count."""
    store = MemoryOutbox()
    expected = fill_memory(store, work, now)

    def unfinished() -> int:
        return sum(
            1 for row in store.rows.values() if row.status in (RowStatus.PENDING, RowStatus.CLAIMED)
        )

    return store, expected, unfinished


def sqlite_store(
    path: Path, work: Workload, now: datetime
) -> tuple[OutboxStore, dict[int, int], Unfinished]:
    """A fresh SQLite database holding the workload; returns it, id -> chat, and a pending count."""
    from sqlalchemy import select

    from bot.storage.database import Database
    from bot.storage.outbox import SqlOutbox
    from bot.storage.repository import Repository
    from bot.storage.schema import ChatRow, OutboxRow

    path.unlink(missing_ok=True)
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    with database.session() as session:
        repo = Repository(session)
        (feed,) = repo.sync_feeds([FeedSpec(url="https://news.example.org/rss", name="Ex")], now)
        topic_id, _ = repo.topic_id_for("pakistan afghanistan", now)

        def story(title: str, key: str) -> int:
            new = Story(key, None, title, "Talks.", now, "Example News", language="en")
            story_id = repo.add_story(feed.id, new, now)
            repo.set_cluster(story_id, story_id)
            return story_id

        def chat_row(telegram_id: int, kind: ChatKind) -> int:
            row = repo.upsert_chat(telegram_id, kind, None, now)
            sub = repo.add_subscription(row.id, topic_id, "Pakistan Afghanistan", now)
            return sub.id

        def enqueue(telegram_id: int, sub_id: int, story_id: int) -> None:
            chat = repo.find_chat(telegram_id)
            assert chat is not None
            repo.enqueue_alert(
                chat_id=chat.id,
                story_id=story_id,
                cluster_id=story_id,
                subscription_id=sub_id,
                topic_text="Pakistan Afghanistan",
                hits=(),
                now=now,
            )

        group_subs = {chat: chat_row(chat, ChatKind.GROUP) for chat in work.group_chats}
        for i in range(work.group_alerts):
            chat = work.group_chats[i % len(work.group_chats)]
            enqueue(chat, group_subs[chat], story(f"Burst {i:03d}", f"burst-{i}"))
        fanout = story("Border talks", "fanout")
        for chat in work.private_chats:
            enqueue(chat, chat_row(chat, ChatKind.PRIVATE), fanout)
        rows = session.execute(
            select(OutboxRow.id, ChatRow.telegram_id).join(ChatRow, ChatRow.id == OutboxRow.chat_id)
        )
        expected = {alert_id: telegram_id for alert_id, telegram_id in rows}

    def unfinished() -> int:
        with database.session() as session:
            counts = Repository(session).outbox_counts()
        return counts.get("pending", 0) + counts.get("sending", 0)

    return SqlOutbox(database), expected, unfinished


def alert_ids_in(messages: list[dict[str, Any]]) -> Counter[int]:
    """How many times each alert id reached a chat, read from the buttons under each message."""
    seen: Counter[int] = Counter()
    for message in messages:
        rows = message.get("reply_markup", {}).get("inline_keyboard", [])
        for row in rows:
            for button in row:
                data = str(button.get("callback_data", ""))
                if data.startswith("more:"):
                    seen[int(data.split(":", 1)[1])] += 1
    return seen


async def wait_until(done: Callable[[], bool], limit_s: float) -> bool:
    """Poll ``done`` until it holds or ``limit_s`` seconds pass."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if done():
            return True
        await asyncio.sleep(0.2)
    return done()


def sustained_rate(sent_at: dict[int, float], private_ids: set[int]) -> tuple[float, float]:
    """Messages/s while the fan-out was going out (first to last private send); and its span."""
    private_times = sorted(t for i, t in sent_at.items() if i in private_ids)
    if len(private_times) < 2:
        return 0.0, 0.0
    start, end = private_times[0], private_times[-1]
    in_span = sum(1 for t in sent_at.values() if start <= t <= end)
    span = end - start
    return (in_span - 1) / span, span


async def run(args: argparse.Namespace) -> None:
    """Build the loopback stack, deliver the workload and print the figures."""
    now = datetime.now(UTC)
    work = Workload(
        private_chats=list(range(FIRST_PRIVATE_CHAT, FIRST_PRIVATE_CHAT + args.chats)),
        group_chats=[FIRST_GROUP_CHAT - i for i in range(args.groups)],
        group_alerts=args.group_alerts,
    )
    if args.store == "sqlite":
        store, expected, unfinished = sqlite_store(Path(args.db), work, now)
    else:
        store, expected, unfinished = memory_store(work, now)
    private_ids = {i for i, chat in expected.items() if chat > 0}

    emulator = BotApiEmulator(enforce_limits=True)
    with FakeTelegramServer(emulator) as server:
        request = HTTPXRequest(
            connection_pool_size=args.concurrency * 2, read_timeout=30.0, write_timeout=30.0
        )
        bot = Bot(TOKEN, base_url=server.base_url + "/bot", request=request)
        async with bot:
            notifier = MeasuringNotifier(TelegramNotifier(bot))
            limits = RateLimits(Budgets(global_per_s=args.global_rate))
            worker = DeliveryWorker(
                store,
                notifier,
                limits=limits,
                worker_id="bench",
                batch=args.batch,
                concurrency=args.concurrency,
            )
            stop = asyncio.Event()
            started = time.monotonic()
            loop = asyncio.create_task(worker.run(stop, idle_sleep=0.05))

            completed = await wait_until(lambda: unfinished() == 0, args.timeout)
            total = time.monotonic() - started
            stop.set()
            worker.wake()
            await loop
        sent = emulator.sent_messages()
        requests = sum(1 for call in emulator.calls if call.method == "sendMessage")
        rate_limited = emulator.rate_limited_count

    seen = alert_ids_in(sent)
    lost = sum(1 for i in expected if seen[i] == 0)
    duplicated = sum(n - 1 for n in seen.values() if n > 1)
    rate, span = sustained_rate(notifier.sent_at, private_ids)
    share = 100.0 * rate / TELEGRAM_BUDGET
    print(
        f"store={args.store} chats={args.chats} groups={args.groups} "
        f"group_alerts={args.group_alerts} concurrency={args.concurrency} "
        f"batch={args.batch} global_rate={args.global_rate}"
    )
    print(f"alerts enqueued        {len(expected)}")
    print(f"messages delivered     {len(sent)}")
    print(
        f"sustained msg/s        {rate:.2f} over {span:.1f} s "
        f"({share:.1f}% of {TELEGRAM_BUDGET:.0f}/s)  goal >= 95%"
    )
    print(f"overall msg/s          {len(sent) / total:.2f}")
    print(f"sendMessage requests   {requests}")
    print(
        f"429 answers            {rate_limited} "
        f"({100.0 * rate_limited / max(requests, 1):.2f}% of requests)  goal < 1%"
    )
    print(f"lost                   {lost}  goal 0")
    print(f"duplicated             {duplicated}  goal 0")
    print(f"outcomes seen          {dict(notifier.outcomes)}")
    print(f"total seconds          {total:.1f}{'' if completed else '  (TIMED OUT)'}")


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--chats", type=int, default=10_000, help="private chats in the fan-out")
    parser.add_argument("--groups", type=int, default=2, help="groups receiving the burst")
    parser.add_argument("--group-alerts", type=int, default=50, help="alerts in the group burst")
    parser.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    parser.add_argument("--db", default="/tmp/newsbot-bench-delivery.sqlite3")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument(
        "--global-rate",
        type=float,
        default=Budgets().global_per_s,
        help="the worker's overall msg/s (default: the project's budget)",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up after seconds")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
