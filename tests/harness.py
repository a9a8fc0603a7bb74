"""A running newsbot for end-to-end tests: real feeds over HTTP, real Bot API calls over HTTP.

The bot talks to a FakeTelegramServer through TELEGRAM_API_URL and polls feeds from a
FeedServer, both on 127.0.0.1. Tests act as users through the emulator and read what the bot
sent, exactly what a person in the chat would see.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.pipeline import TickReport
from bot.runtime import Runtime
from bot.storage.repository import Repository
from handlers.app import build_application, start_bot, stop_bot
from tests.fakes.telegram_server import FakeTelegramServer

TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuv"


@dataclass(frozen=True)
class Item:
    """One RSS item of a test feed; None leaves the element out."""

    guid: str | None
    title: str | None
    link: str | None = None
    description: str | None = None
    published: str | None = "Thu, 26 Nov 2026 09:00:00 GMT"


def rss(items: Iterable[Item], *, title: str = "Desk") -> bytes:
    """An RSS 2.0 document of ``items``, text escaped as a feed would escape it."""
    fields = (("guid", "guid"), ("title", "title"), ("link", "link"))
    parts = []
    for item in items:
        xml = "".join(
            f"<{tag}>{html.escape(value)}</{tag}>"
            for tag, name in fields
            if (value := getattr(item, name)) is not None
        )
        if item.description is not None:
            xml += f"<description>{html.escape(item.description)}</description>"
        if item.published is not None:
            xml += f"<pubDate>{item.published}</pubDate>"
        parts.append(f"<item>{xml}</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{html.escape(title)}</title><link>https://news.example.org/</link>"
        f"{''.join(parts)}</channel></rss>"
    ).encode()


def write_feeds_yaml(path: Path, feeds: Mapping[str, str]) -> Path:
    """A feeds.yaml listing ``name -> url``."""
    lines = ["feeds:"]
    for name, url in feeds.items():
        lines += [f"  - url: {url}", f"    name: {name}", "    interval: 1m"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class RunningBot:
    """One newsbot process's worth of objects, started against the fake servers."""

    def __init__(self, telegram: FakeTelegramServer, env: Mapping[str, str]) -> None:
        self.telegram = telegram
        self.settings = Settings.from_environ(env)
        self.runtime = Runtime.start(self.settings)
        self.app = build_application(self.runtime, token=TOKEN, schedule_polls=False)

    async def __aenter__(self) -> RunningBot:
        await start_bot(self.app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await stop_bot(self.app)
        await self.runtime.aclose()

    async def tick(self) -> TickReport:
        """Poll every feed now, as the poll job does when feeds are due."""
        self.runtime.pipeline.make_all_due()
        return await self.runtime.pipeline.tick()

    async def settle(self, limit_s: float = 15.0) -> dict[str, int]:
        """Wait until no alert is pending or being sent; returns the outbox counts."""
        deadline = time.monotonic() + limit_s
        while True:
            with self.runtime.database.session() as session:
                counts = Repository(session).outbox_counts()
            busy = counts.get("pending", 0) + counts.get("sending", 0)
            if busy == 0 or time.monotonic() > deadline:
                return counts
            await asyncio.sleep(0.05)

    async def say(
        self, chat_id: int, text: str, *, expect: int = 1, wait_s: float = 10.0, **kw: Any
    ) -> list[dict[str, Any]]:
        """A user writes in a chat; returns the bot's new messages there (waits for ``expect``)."""
        before = len(self.telegram.emulator.sent_messages(chat_id))
        self.telegram.emulator.user_says(chat_id, text, **kw)
        found = await asyncio.to_thread(
            self.telegram.emulator.wait_for_messages, chat_id, before + expect, wait_s
        )
        return found[before:]


def bot_env(tmp_path: Path, telegram: FakeTelegramServer, feeds_yaml: Path) -> dict[str, str]:
    """The environment a test bot runs with."""
    return {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": telegram.base_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'newsbot.db'}",
        "NEWSBOT_FEEDS": str(feeds_yaml),
        "NEWSBOT_ALLOW_PRIVATE_FEEDS": "1",
        "NEWSBOT_ADMINS": "777",
    }
