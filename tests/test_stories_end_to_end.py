"""One event from three outlets is one alert listing three sources, summarized from the article."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fakes.feed_server import FeedServer
from tests.fakes.static_model import write_static_model
from tests.fakes.telegram_server import FakeTelegramServer
from tests.harness import Item, RunningBot, bot_env, write_feeds_yaml
from tests.harness import rss as feed_document
from tests.test_cluster import (
    CRANE_BOTH,
    CRANE_HALTED,
    CRANE_HALTED_TOO,
    CRANE_INJURED,
    CRANE_INJURED_TOO,
)

CHAT = 6001
ARTICLE = """<html><head><meta charset="utf-8"><title>Envoy to Kabul</title></head><body>
<nav>Home | World | Sport | Follow us on social media</nav>
<article><h1>Pakistan names new ambassador to Afghanistan</h1>
<p>Pakistan on Thursday named a senior diplomat as its ambassador to Afghanistan, the first
full envoy in Kabul since relations soured two years ago.</p>
<p>The foreign ministry in Islamabad said the appointment reflected a shared wish to reopen
trade routes and to cooperate against militant groups operating along the border.</p>
<p>Officials in Kabul welcomed the move and said an Afghan ambassador would travel to Islamabad
within weeks, once the paperwork is complete.</p>
<p>Analysts said the step could revive talks on the long-stalled railway that would link
Central Asia to Pakistani ports through Afghan territory.</p>
</article><footer>Cookie settings. All rights reserved.</footer></body></html>"""


def rss(title: str, link: str, guid: str, description: str) -> bytes:
    return feed_document([Item(guid, title, link, description)])


def empty_rss() -> bytes:
    return feed_document([])


async def test_three_outlets_one_alert_three_sources_and_article_summary(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    feeds, telegram = servers
    for path in ("/dawn.xml", "/tribune.xml", "/wire.xml"):
        feeds.set_feed(path, empty_rss())
    feeds.set_page("/articles/envoy", ARTICLE.encode())
    yaml = write_feeds_yaml(
        tmp_path / "feeds.yaml",
        {
            "Dawn": feeds.url("/dawn.xml"),
            "Tribune": feeds.url("/tribune.xml"),
            "Wire": feeds.url("/wire.xml"),
        },
    )
    async with RunningBot(telegram, bot_env(tmp_path, telegram, yaml)) as bot:
        await bot.tick()  # first polls: nothing to alert
        await bot.say(CHAT, "/subscribe Pakistan Afghanistan")
        article = feeds.url("/articles/envoy")
        # Dawn and the wire carry the same article (same link); the Tribune writes its own.
        feeds.set_feed(
            "/dawn.xml",
            rss("Pakistan names new ambassador to Afghanistan", article, "d-1", "Short teaser."),
        )
        feeds.set_feed(
            "/wire.xml",
            rss(
                "Pakistan names ambassador to Afghanistan", article + "?utm_source=wire", "w-9", "."
            ),
        )
        feeds.set_feed(
            "/tribune.xml",
            rss(
                "Pakistan names new ambassador to Afghanistan after two years",
                feeds.url("/tribune/envoy"),
                "t-3",
                "Islamabad appoints envoy to Kabul.",
            ),
        )
        report = await bot.tick()
        await bot.settle()
        assert report.alert_count == 1
        messages = telegram.emulator.sent_messages(CHAT)
        assert len(messages) == 2  # the subscribe reply and one alert
        alert = messages[1]
        assert "Dawn, Tribune and Wire · " in alert["text"]
        # The summary comes from the article page, not the feed's teaser, and skips page chrome.
        assert "first full envoy in Kabul" in alert["text"]
        assert "Short teaser" not in alert["text"] and "Cookie" not in alert["text"]

        telegram.emulator.user_presses(CHAT, alert["message_id"], f"src:{_alert_id(alert)}")
        (sources,) = await _next_messages(telegram, CHAT, 3)
        for outlet in ("Dawn", "Tribune", "Wire"):
            assert outlet in sources["text"]
        telegram.emulator.user_presses(CHAT, alert["message_id"], f"more:{_alert_id(alert)}")
        (more,) = await _next_messages(telegram, CHAT, 4)
        assert "trade routes" in more["text"] and "railway" in more["text"]


def _alert_id(message: dict[str, Any]) -> str:
    markup = message["reply_markup"]
    assert isinstance(markup, dict)
    data = str(markup["inline_keyboard"][0][0]["callback_data"])
    return data.split(":", 1)[1]


async def _next_messages(
    telegram: FakeTelegramServer, chat: int, count: int
) -> list[dict[str, Any]]:
    import asyncio

    found = await asyncio.to_thread(telegram.emulator.wait_for_messages, chat, count, 10.0)
    assert len(found) >= count
    return found[count - 1 : count]


async def test_a_report_of_both_angles_joins_two_events_and_their_sources(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    """Two halves of one event are alerted apart; once a report joins them, each lists all."""
    feeds, telegram = servers
    city = [
        Item(f"c-{n}", f"City council court hears {topic} case", None, None, published=None)
        for n, topic in enumerate(["budget", "parking", "library", "school", "tram", "museum"])
    ]
    feeds.set_feed("/city.xml", feed_document(city))
    reports = [CRANE_INJURED, CRANE_HALTED, CRANE_INJURED_TOO, CRANE_HALTED_TOO, CRANE_BOTH]
    names = {story.source: f"/{n}.xml" for n, story in enumerate(reports)}
    for path in names.values():
        feeds.set_feed(path, empty_rss())
    yaml = write_feeds_yaml(
        tmp_path / "feeds.yaml",
        {"City Desk": feeds.url("/city.xml")} | {s: feeds.url(p) for s, p in names.items()},
    )
    async with RunningBot(telegram, bot_env(tmp_path, telegram, yaml)) as bot:
        await bot.tick()  # first polls: stored silently
        await bot.say(CHAT, "/subscribe Eastmoor")
        for n, story in enumerate(reports):  # one report a tick, in the order they came out
            item = Item(f"r-{n}", story.title, None, story.summary, published=None)
            feeds.set_feed(names[story.source], feed_document([item]))
            await bot.tick()
            await bot.settle()
        alerts = telegram.emulator.sent_messages(CHAT)[1:]
        # The injured workers and the halted port looked like two events: two alerts, and
        # the report of both angles (the same event) alerts no one again.
        assert len(alerts) == 2
        for alert, count in ((alerts[0], 2), (alerts[1], 3)):
            telegram.emulator.user_presses(CHAT, alert["message_id"], f"src:{_alert_id(alert)}")
            (sources,) = await _next_messages(telegram, CHAT, len(alerts) + count)
            for story in reports:
                assert story.source in sources["text"]


STORM = (
    "Storm hits Northbank coast, ferries cancelled",
    "Ferries between Northbank and Eastmoor stay in port as the storm hits the coast.",
)
# Too few words in common with the storm report for words alone; the same weather.
HURRICANE = (
    "Hurricane warning for Northbank",
    "Heavy rain expected; Eastmoor residents told to stay indoors.",
)
# Enough words in common with the storm report for words alone; another event.
ELECTION = (
    "Election results: vote count ends in Northbank",
    "Ballot boxes reached Eastmoor before ferries were cancelled.",
)


async def test_with_a_cluster_model_reports_join_by_meaning_not_by_shared_words(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    feeds, telegram = servers
    names = {
        "Harbour Times": "/harbour.xml",
        "City Wire": "/wire.xml",
        "Eastmoor Post": "/post.xml",
    }
    for path in names.values():
        feeds.set_feed(path, empty_rss())
    yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {s: feeds.url(p) for s, p in names.items()})
    env = bot_env(tmp_path, telegram, yaml)
    env["NEWSBOT_CLUSTER_MODEL"] = str(write_static_model(tmp_path / "model"))
    async with RunningBot(telegram, env) as bot:
        await bot.tick()  # first polls: stored silently
        await bot.say(CHAT, "/subscribe Northbank")
        for n, (source, (title, summary)) in enumerate(
            (("Harbour Times", STORM), ("City Wire", HURRICANE), ("Eastmoor Post", ELECTION))
        ):
            feeds.set_feed(
                names[source], feed_document([Item(f"s-{n}", title, None, summary, published=None)])
            )
            await bot.tick()
            await bot.settle()
        alerts = telegram.emulator.sent_messages(CHAT)[1:]
        # The storm and the hurricane warning are one event; the election is another.
        assert [alert["text"].split("\n", 1)[0] for alert in alerts] == [STORM[0], ELECTION[0]]
        telegram.emulator.user_presses(CHAT, alerts[0]["message_id"], f"src:{_alert_id(alerts[0])}")
        (sources,) = await _next_messages(telegram, CHAT, 4)
        assert "Harbour Times" in sources["text"] and "City Wire" in sources["text"]
        assert "Eastmoor Post" not in sources["text"]
