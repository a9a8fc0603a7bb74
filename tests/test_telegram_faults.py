"""Telegram misbehaves (429, 500, a hang, 403, chat not found, a group upgrade) and users still
get what they should: retried alerts arrive once, gone chats stop receiving until they come back,
and a migrated group gets its alerts under its new id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from handlers.emulator import Fault, FaultKind
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram_server import FakeTelegramServer
from tests.harness import Item, RunningBot, bot_env, write_feeds_yaml
from tests.harness import rss as feed_document

CHAT = 6001
GROUP = -4001
SUPERGROUP = -1004001
GROUP_ADMIN = 4242  # the emulator's default sender in groups


def rss(site: str, items: list[tuple[str, str]]) -> bytes:
    """An RSS document of (guid, title) items; article links point at the loopback ``site``."""
    return feed_document(Item(g, t, f"{site}/{g}", f"{t}. More soon.") for g, t in items)


FIRST = ("kabul-1", "Kabul airport reopens for commercial flights after repairs")
SECOND = ("kabul-2", "Kabul water project finished ahead of the monsoon season")
THIRD = ("kabul-3", "Kabul cricket stadium hosts its first night match in years")
QUIET = ("misc-1", "Regional weather stays mild this week")


class Scene:
    """A running bot with one feed whose stories a test releases one by one."""

    def __init__(self, bot: RunningBot, feeds: FeedServer) -> None:
        self.bot = bot
        self.feeds = feeds
        self.items: list[tuple[str, str]] = [QUIET]
        self.publish()

    def publish(self, *new: tuple[str, str]) -> None:
        """Put new stories on top of the feed."""
        self.items = [*new, *self.items]
        self.feeds.set_feed("/desk.xml", rss(self.feeds.url("/articles"), self.items))

    async def release(self, *new: tuple[str, str]) -> None:
        """Publish stories, poll, and wait until the outbox is idle."""
        self.publish(*new)
        await self.bot.tick()
        await self.bot.settle(20)

    def alerts(self, chat_id: int, title: str) -> list[dict[str, Any]]:
        """Messages in a chat that carry a story's title."""
        return [m for m in self.bot.telegram.emulator.sent_messages(chat_id) if title in m["text"]]

    def send_attempts(self, chat_id: int) -> int:
        """sendMessage calls the bot made to a chat, failed ones included."""
        calls = self.bot.telegram.emulator.calls
        return sum(1 for c in calls if c.method == "sendMessage" and c.params["chat_id"] == chat_id)


def env_for(tmp_path: Path, feeds: FeedServer, telegram: FakeTelegramServer) -> dict[str, str]:
    """The bot's environment, with one feed."""
    feeds_yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {"Desk": feeds.url("/desk.xml")})
    return bot_env(tmp_path, telegram, feeds_yaml)


@pytest.mark.parametrize(
    ("kind", "extra"),
    [("rate_limited", {"retry_after": 1}), ("server_error", {"status": 500})],
)
async def test_alert_arrives_once_after_a_transient_error(
    servers: tuple[FeedServer, FakeTelegramServer],
    tmp_path: Path,
    kind: FaultKind,
    extra: dict[str, int],
) -> None:
    feeds, telegram = servers
    async with RunningBot(telegram, env_for(tmp_path, feeds, telegram)) as bot:
        scene = Scene(bot, feeds)
        await bot.tick()
        await bot.say(CHAT, "/subscribe Kabul")
        telegram.emulator.inject(Fault(kind, chat_id=CHAT, **extra))  # type: ignore[arg-type]
        await scene.release(FIRST)
        assert len(scene.alerts(CHAT, FIRST[1])) == 1
        assert scene.send_attempts(CHAT) == 3  # the /subscribe reply, the failure, the retry
        await scene.release(SECOND)  # the chat is healthy afterwards
        assert len(scene.alerts(CHAT, SECOND[1])) == 1


async def test_alert_survives_a_bot_api_call_that_outlives_the_request_timeout(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    feeds, telegram = servers
    async with RunningBot(telegram, env_for(tmp_path, feeds, telegram)) as bot:
        scene = Scene(bot, feeds)
        await bot.tick()
        await bot.say(CHAT, "/subscribe Kabul")
        # Longer than python-telegram-bot's 5 s read timeout: the bot sees a timeout, while
        # Telegram (here the emulator) still delivers the message once the delay is over.
        telegram.emulator.inject(Fault("delay", chat_id=CHAT, seconds=6.0))
        await scene.release(FIRST)
        # The documented repeat window (docs/DELIVERY.md): a send whose answer never came
        # cannot be told from a lost one, so the retry delivers it again. Nothing is lost.
        assert len(scene.alerts(CHAT, FIRST[1])) == 2
        assert await bot.settle() == {"sent": 1}


@pytest.mark.parametrize("kind", ["forbidden", "chat_not_found"])
async def test_gone_chat_gets_nothing_until_it_says_start_again(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path, kind: FaultKind
) -> None:
    feeds, telegram = servers
    async with RunningBot(telegram, env_for(tmp_path, feeds, telegram)) as bot:
        scene = Scene(bot, feeds)
        await bot.tick()
        await bot.say(CHAT, "/subscribe Kabul")
        await bot.say(CHAT + 1, "/subscribe Kabul")  # a healthy neighbour
        telegram.emulator.inject(Fault(kind, chat_id=CHAT))
        await scene.release(FIRST)
        assert scene.alerts(CHAT, FIRST[1]) == []
        assert len(scene.alerts(CHAT + 1, FIRST[1])) == 1
        attempts = scene.send_attempts(CHAT)

        await scene.release(SECOND)
        assert scene.send_attempts(CHAT) == attempts  # not even tried: the chat is inactive
        assert len(scene.alerts(CHAT + 1, SECOND[1])) == 1

        (greeting,) = await bot.say(CHAT, "/start")
        assert "/subscribe" in greeting["text"]
        (listed,) = await bot.say(CHAT, "/topics")
        assert "Kabul" in listed["text"]  # the subscription survived the absence
        await scene.release(THIRD)
        assert len(scene.alerts(CHAT, THIRD[1])) == 1
        assert scene.alerts(CHAT, SECOND[1]) == []  # what it missed is not replayed


async def test_upgraded_group_gets_the_alert_under_its_new_id(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    feeds, telegram = servers
    telegram.emulator.register_chat(GROUP, "group", "Kabul watchers", admins=(GROUP_ADMIN,))
    telegram.emulator.register_chat(SUPERGROUP, "supergroup", "Kabul watchers")
    async with RunningBot(telegram, env_for(tmp_path, feeds, telegram)) as bot:
        scene = Scene(bot, feeds)
        await bot.tick()
        (subscribed,) = await bot.say(GROUP, "/subscribe Kabul", chat_type="group")
        assert "Subscribed" in subscribed["text"]
        telegram.emulator.inject(Fault("migrated", chat_id=GROUP, new_chat_id=SUPERGROUP))
        await scene.release(FIRST)
        assert scene.alerts(GROUP, FIRST[1]) == []
        assert len(scene.alerts(SUPERGROUP, FIRST[1])) == 1
        await scene.release(SECOND)  # later alerts go straight to the new id
        assert len(scene.alerts(SUPERGROUP, SECOND[1])) == 1
        assert scene.send_attempts(GROUP) == 2  # the /subscribe reply and the migrated answer
