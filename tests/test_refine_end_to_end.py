"""Subscribers grow and trim their topics with buttons: suggested other names, 👍 and 👎."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram_server import FakeTelegramServer
from tests.harness import Item, RunningBot, bot_env, write_feeds_yaml
from tests.harness import rss as feed_document

CHAT = 7001

# A backlog in which "Kabul" mostly appears in stories about Afghanistan.
BACKLOG = [
    ("Afghanistan opens trade office in Kabul", "Officials in Kabul said the office opens soon."),
    ("Kabul hosts Afghanistan investment forum", "Investors met in Kabul this week."),
    ("Afghanistan wheat harvest rises", "Farmers near Kabul report a better harvest."),
    ("Kabul airport resumes flights across Afghanistan", "Domestic routes reopen."),
    ("Afghanistan schools reopen in Kabul province", "Pupils returned on Monday."),
    ("Floods hit Sindh villages", "Rescue teams reached the district."),
    ("Cricket board names new captain", "The selectors met on Tuesday."),
    ("Stock market closes higher", "Banks led the gains."),
    ("New metro line opens in Lahore", "Commuters welcomed the service."),
    ("Heatwave warning for Punjab", "Temperatures may reach 47 degrees."),
]


def rss(items: Sequence[tuple[str, str]], prefix: str) -> bytes:
    """Undated (title, description) items with guids and links made from ``prefix``."""
    return feed_document(
        Item(f"{prefix}-{n}", t, f"https://news.example.org/{prefix}/{n}", d, published=None)
        for n, (t, d) in enumerate(items)
    )


def buttons(message: dict[str, Any]) -> dict[str, str]:
    markup = message.get("reply_markup") or {}
    return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row}


async def press(
    bot: RunningBot, message: dict[str, Any], label: str, expect: int = 1
) -> list[dict[str, Any]]:
    emulator = bot.telegram.emulator
    before = len(emulator.sent_messages(CHAT))
    emulator.user_presses(CHAT, message["message_id"], buttons(message)[label])
    found = await asyncio.to_thread(emulator.wait_for_messages, CHAT, before + expect, 10.0)
    return found[before:]


async def test_suggested_name_widens_the_topic_and_dislike_narrows_it(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    feeds, telegram = servers
    feeds.set_feed("/desk.xml", rss(BACKLOG, "old"))
    yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {"Desk": feeds.url("/desk.xml")})
    async with RunningBot(telegram, bot_env(tmp_path, telegram, yaml)) as bot:
        await bot.tick()  # the backlog is stored silently and becomes the suggestion buffer
        (subscribed,) = await bot.say(CHAT, "/subscribe Pakistan Afghanistan")
        assert "Recent stories also call Afghanistan: kabul" in subscribed["text"]
        assert "+ kabul" in buttons(subscribed)

        (changed,) = await press(bot, subscribed, "+ kabul")
        assert "Your topic is now Pakistan (Afghanistan OR kabul)" in changed["text"]
        (listed,) = await bot.say(CHAT, "/topics")
        assert "1. Pakistan (Afghanistan OR kabul)" in listed["text"]

        # A story that never says "Afghanistan" now reaches the chat, thanks to the new name.
        fresh = [
            ("Pakistan envoy arrives in Kabul for talks", "The envoy met officials on Friday."),
            ("Pakistan cricket tour of Kabul confirmed", "Pakistan will play three matches."),
        ]
        feeds.set_feed("/desk.xml", rss(fresh + BACKLOG, "new"))
        report = await bot.tick()
        await bot.settle()
        assert report.alert_count == 2
        alerts = telegram.emulator.sent_messages(CHAT)[-2:]
        cricket = next(m for m in alerts if "cricket" in m["text"])

        (proposal,) = await press(bot, cricket, "👎")
        assert "Leave out stories that mention" in proposal["text"]
        (label,) = [b for b in buttons(proposal) if b.startswith("Leave out ")]
        word = label.removeprefix("Leave out ")
        (narrowed,) = await press(bot, proposal, label)
        assert f"Your topic is now Pakistan (Afghanistan OR kabul) -{word}" in narrowed["text"]
        (listed,) = await bot.say(CHAT, "/topics")
        assert f"-{word}" in listed["text"]


async def test_buttons_of_another_chat_change_nothing(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    feeds, telegram = servers
    feeds.set_feed("/desk.xml", rss(BACKLOG, "old"))
    yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {"Desk": feeds.url("/desk.xml")})
    async with RunningBot(telegram, bot_env(tmp_path, telegram, yaml)) as bot:
        await bot.tick()
        (subscribed,) = await bot.say(CHAT, "/subscribe Pakistan Afghanistan")
        data = buttons(subscribed)["+ kabul"]
        (other,) = await bot.say(CHAT + 1, "/start")
        telegram.emulator.user_presses(CHAT + 1, other["message_id"], data)
        found = await asyncio.to_thread(telegram.emulator.wait_for_messages, CHAT + 1, 2, 10.0)
        assert "no longer followed here" in found[1]["text"]
        (listed,) = await bot.say(CHAT, "/topics")
        assert "1. Pakistan Afghanistan" in listed["text"]


async def test_two_buttons_of_one_offer_each_widen_their_own_term(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    feeds, telegram = servers
    islamabad = [
        ("Pakistan budget passed in Islamabad", "Lawmakers in Islamabad approved it."),
        ("Islamabad hosts Pakistan trade fair", "Exporters met in Islamabad."),
        ("Pakistan rail plan unveiled", "The ministry in Islamabad announced it."),
        ("Pakistan rupee steadies", "Traders in Islamabad were calm."),
        ("Islamabad schools reopen across Pakistan", "Pupils returned on Monday."),
    ]
    feeds.set_feed("/desk.xml", rss(BACKLOG + islamabad, "old"))
    yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {"Desk": feeds.url("/desk.xml")})
    async with RunningBot(telegram, bot_env(tmp_path, telegram, yaml)) as bot:
        await bot.tick()
        (subscribed,) = await bot.say(CHAT, "/subscribe Pakistan Afghanistan")
        assert {"+ kabul", "+ islamabad"} <= set(buttons(subscribed))
        (first,) = await press(bot, subscribed, "+ kabul")
        assert "Your topic is now Pakistan (Afghanistan OR kabul)" in first["text"]
        # The same offer's other button still widens Pakistan, though the topic has changed.
        (second,) = await press(bot, subscribed, "+ islamabad")
        assert "(Pakistan OR islamabad) (Afghanistan OR kabul)" in second["text"]
