"""A person subscribes in Telegram and gets exactly one alert for a matching story."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram_server import FakeTelegramServer
from tests.harness import Item, RunningBot, bot_env, write_feeds_yaml
from tests.harness import rss as feed_document

CHAT = 5001
AMBASSADOR = "Pakistan to Send Ambassador to Afghanistan as Relations Normalize"
AMBASSADOR_URL = "https://news.example.org/world/pakistan-ambassador-kabul?utm_source=rss"
PAKISTAN_ONLY = "Pakistan's central bank holds interest rate steady"


def rss(items: Sequence[tuple[str, str, str, str]]) -> bytes:
    """An RSS 2.0 document of (guid, title, link, description) items."""
    return feed_document(Item(g, t, link, d) for g, t, link, d in items)


def world_desk(feeds: FeedServer, telegram: FakeTelegramServer, tmp_path: Path) -> RunningBot:
    """A bot polling one feed, "World Desk", that carries only an old story."""
    feeds.set_feed("/world.xml", rss([OLD]))
    feeds_yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {"World Desk": feeds.url("/world.xml")})
    return RunningBot(telegram, bot_env(tmp_path, telegram, feeds_yaml))


OLD = ("old-1", "Floods close schools in Sindh", "https://news.example.org/floods", "Rain.")
NEW = (
    "amb-1",
    AMBASSADOR,
    AMBASSADOR_URL,
    "<p>Islamabad will post an envoy to Kabul after months of tension. Talks resume next week.</p>",
)
SOLO = ("pk-1", PAKISTAN_ONLY, "https://news.example.org/sbp", "The policy rate stays at 11%.")


async def test_subscribe_poll_alert_once_and_never_again(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    feeds, telegram = servers
    feeds.set_feed("/world.xml", rss([OLD]), etag='"v1"')
    feeds_yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {"World Desk": feeds.url("/world.xml")})
    env = bot_env(tmp_path, telegram, feeds_yaml)

    async with RunningBot(telegram, env) as bot:
        first = await bot.tick()
        assert first.feeds[0].first_poll and first.alert_count == 0

        replies = await bot.say(CHAT, "/subscribe Pakistan Afghanistan")
        assert "Subscribed to Pakistan Afghanistan" in replies[0]["text"]
        assert "Afghan" in replies[0]["text"]  # the echo says how it will be matched

        feeds.set_feed("/world.xml", rss([NEW, SOLO, OLD]), etag='"v2"')
        second = await bot.tick()
        assert second.alert_count == 1
        await bot.settle()
        alerts = telegram.emulator.sent_messages(CHAT)[1:]
        assert len(alerts) == 1
        alert = alerts[0]
        assert AMBASSADOR in alert["text"]
        assert PAKISTAN_ONLY not in alert["text"]
        links = [e["url"] for e in alert.get("entities", []) if e["type"] == "text_link"]
        assert "https://news.example.org/world/pakistan-ambassador-kabul" in links
        assert "World Desk" in alert["text"]
        assert "Islamabad will post an envoy to Kabul after months of tension." in alert["text"]
        assert "<p>" not in alert["text"]
        assert "Pakistan Afghanistan" in alert["text"]  # the topic it matched

        third = await bot.tick()  # unchanged feed: the server answers 304
        assert third.feeds[0].status == "not modified"
        assert feeds.requests[-1].headers.get("if-none-match") == '"v2"'
        await bot.settle()
        assert len(telegram.emulator.sent_messages(CHAT)) == 2

    # A restart over the same database sends nothing again, even when the feed is re-read.
    feeds.set_feed("/world.xml", rss([NEW, SOLO, OLD]), etag='"v3"')
    async with RunningBot(telegram, env) as bot:
        again = await bot.tick()
        assert again.feeds[0].status == "ok" and again.alert_count == 0
        counts = await bot.settle()
        assert counts.get("sent") == 1
        assert len(telegram.emulator.sent_messages(CHAT)) == 2


async def test_pakistan_alone_reaches_nobody_but_a_pakistan_topic_does(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    feeds, telegram = servers
    async with world_desk(feeds, telegram, tmp_path) as bot:
        await bot.tick()
        await bot.say(CHAT, "/subscribe Pakistan Afghanistan")
        await bot.say(CHAT + 1, "/subscribe Pakistan")
        feeds.set_feed("/world.xml", rss([SOLO, OLD]))
        report = await bot.tick()
        await bot.settle()
        assert report.alert_count == 1
        assert len(telegram.emulator.sent_messages(CHAT)) == 1  # only the subscribe reply
        pakistan = telegram.emulator.sent_messages(CHAT + 1)
        assert len(pakistan) == 2 and PAKISTAN_ONLY in pakistan[1]["text"]


async def test_commands_answer_clearly(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    feeds, telegram = servers
    async with world_desk(feeds, telegram, tmp_path) as bot:
        (start,) = await bot.say(CHAT, "/start")
        assert "/subscribe" in start["text"]
        (helped,) = await bot.say(CHAT, "/help")
        for command in ("/subscribe", "/unsubscribe", "/topics", "/preview", "/help"):
            assert command in helped["text"]
        (empty,) = await bot.say(CHAT, "/subscribe")
        assert "Tell me what to watch for" in empty["text"]
        (long,) = await bot.say(CHAT, "/subscribe " + "word " * 60)
        assert "limit is 200" in long["text"]
        (bad,) = await bot.say(CHAT, '/subscribe "Pakistan')
        assert "could not read that topic" in bad["text"]
        (common,) = await bot.say(CHAT, '/subscribe "on the"')
        assert "only common words" in common["text"]
        (unknown,) = await bot.say(CHAT, "/frobnicate now")
        assert "don't know the command /frobnicate" in unknown["text"]
        (none,) = await bot.say(CHAT, "/topics")
        assert "no topics yet" in none["text"]

        await bot.say(CHAT, "/subscribe Pakistan Afghanistan")
        await bot.say(CHAT, "/subscribe floods OR cyclone")
        (listed,) = await bot.say(CHAT, "/topics")
        assert "1. Pakistan Afghanistan" in listed["text"]
        assert "2. floods OR cyclone" in listed["text"]
        (again,) = await bot.say(CHAT, "/subscribe afghanistan  PAKISTAN")
        assert "already follows" in again["text"]
        (removed,) = await bot.say(CHAT, "/unsubscribe 2")
        assert "Removed floods OR cyclone" in removed["text"]
        (by_text,) = await bot.say(CHAT, "/unsubscribe pakistan afghanistan")
        assert "Removed Pakistan Afghanistan" in by_text["text"]
        (missing,) = await bot.say(CHAT, "/unsubscribe 7")
        assert "follows no topics" in missing["text"]

        (not_admin,) = await bot.say(CHAT, "/feeds")
        assert "Only newsbot's admins" in not_admin["text"]
        (health,) = await bot.say(777, "/feeds", user_id=777)
        assert "World Desk" in health["text"]


async def test_fifty_first_topic_is_refused(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    feeds, telegram = servers
    async with world_desk(feeds, telegram, tmp_path) as bot:
        for n in range(50):
            bot.telegram.emulator.user_says(CHAT, f"/subscribe topic{n} news")
        await bot.say(CHAT, "/topics", expect=51)
        (refused,) = await bot.say(CHAT, "/subscribe cricket scores")
        assert "already follows 50 topics" in refused["text"]
