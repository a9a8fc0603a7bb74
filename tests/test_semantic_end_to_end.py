"""NEWSBOT_SEMANTIC on: a near miss reaches the chat and its Why? says it matched by meaning."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.runtime import Runtime
from handlers.app import build_application
from tests.fakes.embedder import HashingEmbedder
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram_server import FakeTelegramServer
from tests.harness import TOKEN, Item, RunningBot, bot_env, rss, write_feeds_yaml

CHAT = 6101
BACKLOG = [Item("old-1", "Floods close schools in Sindh", description="Rain.")]
FULL = Item(
    "full-1",
    "Olympics doping: weightlifter stripped of her medal",
    description="The weightlifter's sample from the Games came back positive.",
    published="Thu, 26 Nov 2026 09:00:00 GMT",
)
# Says Olympics but not doping: it speaks of drugs, which the fake embedder reads as doping.
NEAR = Item(
    "near-1", "Olympics sprinter fails drugs test", published="Thu, 26 Nov 2026 09:05:00 GMT"
)
OTHER = Item(
    "other-1",
    "Olympics swimming final sets a world record",
    description="A swimmer broke the record in the pool on Tuesday night.",
    published="Thu, 26 Nov 2026 09:10:00 GMT",
)


class SemanticBot(RunningBot):
    """A running bot whose semantic stage uses the hashing embedder."""

    def __init__(self, telegram: FakeTelegramServer, env: Mapping[str, str]) -> None:
        self.telegram = telegram
        self.settings = Settings.from_environ(env)
        embedder = HashingEmbedder(same={"drugs": "doping"})
        self.runtime = Runtime.start(self.settings, embedder=embedder)
        self.app = build_application(self.runtime, token=TOKEN, schedule_polls=False)


def env_with(
    tmp_path: Path, telegram: FakeTelegramServer, feeds: FeedServer, on: str
) -> dict[str, str]:
    feeds.set_feed("/sport.xml", rss(BACKLOG))
    yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {"Sport Desk": feeds.url("/sport.xml")})
    return {**bot_env(tmp_path, telegram, yaml), "NEWSBOT_SEMANTIC": on}


async def alerts_for_olympics_doping(bot: RunningBot, feeds: FeedServer) -> list[dict[str, Any]]:
    """Subscribe, publish a full match, a near miss and an unrelated story; the chat's alerts."""
    await bot.tick()  # the first poll is silent
    await bot.say(CHAT, "/subscribe Olympics doping")
    feeds.set_feed("/sport.xml", rss([OTHER, NEAR, FULL, *BACKLOG]))
    await bot.tick()
    await bot.settle()
    return bot.telegram.emulator.sent_messages(CHAT)[1:]


def buttons(message: dict[str, Any]) -> dict[str, str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row if "callback_data" in b}


async def test_a_near_miss_is_alerted_and_explained_as_a_match_by_meaning(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    feeds, telegram = servers
    async with SemanticBot(telegram, env_with(tmp_path, telegram, feeds, "1")) as bot:
        alerts = await alerts_for_olympics_doping(bot, feeds)
        titles = [a["text"].splitlines()[0] for a in alerts]
        assert len(alerts) == 2, titles
        assert any(FULL.title in t for t in titles)
        (near,) = [a for a in alerts if NEAR.title in a["text"]]
        assert all(OTHER.title not in a["text"] for a in alerts)

        emulator = telegram.emulator
        emulator.user_presses(CHAT, near["message_id"], buttons(near)["Why?"])
        found = await asyncio.to_thread(emulator.wait_for_messages, CHAT, 4, 10.0)
        why = found[-1]["text"]
        assert "• olympics matched “Olympics” in the title" in why
        assert "• doping matched “by meaning: similarity 0.45” in the title and summary" in why


async def test_with_the_setting_off_only_the_words_match(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    feeds, telegram = servers
    async with SemanticBot(telegram, env_with(tmp_path, telegram, feeds, "0")) as bot:
        assert bot.runtime.pipeline.semantic is None
        alerts = await alerts_for_olympics_doping(bot, feeds)
        assert len(alerts) == 1
        assert FULL.title in alerts[0]["text"]
