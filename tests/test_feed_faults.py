"""One poll over many feeds, most of them broken in a different way: every broken feed becomes a
recorded error an admin can read in /feeds, odd-but-valid feeds parse cleanly, nothing crashes,
and the one good feed in the same tick still brings its subscriber the alert."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.runtime import Runtime
from bot.storage.repository import FeedHealth, Repository
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram_server import FakeTelegramServer
from tests.harness import RunningBot, bot_env, write_feeds_yaml

CHAT = 7001
ADMIN = 777  # in NEWSBOT_ADMINS of tests.harness.bot_env
HEAD = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
TAIL = "</channel></rss>"
DATE = "<pubDate>Thu, 26 Nov 2026 09:00:00 GMT</pubDate>"

MATCH = "Kandahar bridge reopens after flood repairs finish early"
FUTURE = "Kandahar orchards expect a record pomegranate harvest"
OLD = "Provincial council meets to discuss school budgets"

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b']><rss version="2.0"><channel><title>&lol9;</title>'
    b"<item><title>&lol9;</title><guid>x</guid></item></channel></rss>"
)


def item(guid: str | None, title: str, link: str | None, date: str | None = DATE) -> str:
    """One RSS item; None leaves an element out."""
    parts = [f"<title>{html.escape(title)}</title>"]
    if guid is not None:
        parts.append(f"<guid>{guid}</guid>")
    if link is not None:
        parts.append(f"<link>{html.escape(link)}</link>")
    if date is not None:
        parts.append(date)
    parts.append(f"<description>{html.escape(title)}. Details follow.</description>")
    return "<item>" + "".join(parts) + "</item>"


def feed(*items: str) -> bytes:
    """An RSS document of the given items."""
    return (HEAD + "".join(items) + TAIL).encode()


# name -> path; script_faults makes each misbehave in its own way.
BROKEN = {
    "slow drip": "/slow.xml",
    "server error": "/error.xml",
    "missing": "/missing.xml",
    "gone": "/gone.xml",
    "redirect loop": "/loop.xml",
    "huge body": "/huge.xml",
    "gzip bomb": "/bomb.xml",
    "billion laughs": "/laughs.xml",
    "invalid xml": "/invalid.xml",
    "html page": "/page.xml",
    "empty body": "/empty.xml",
    "cut off": "/cut.xml",
}
CLEAN = {
    "wrong charset": "/charset.xml",
    "bare items": "/bare.xml",
    "far future": "/future.xml",
}
GOOD = ("Good Wire", "/good.xml")
# What an admin reads in /feeds for each broken feed (a part of the recorded error).
EXPECTED_ERRORS = {
    "slow drip": "timeout",
    "server error": "HTTP 503",
    "missing": "HTTP 404",
    "gone": "HTTP 410",
    "redirect loop": "too many redirects",
    "huge body": "larger than 10 MB",
    "gzip bomb": "larger than 10 MB",
    "billion laughs": "entities",
    "invalid xml": "unclosed token",
    "html page": "not a feed",
    "empty body": "empty document",
    "cut off": "closed mid-body",
}
CLEAN_COUNTS = {"wrong charset": 1, "bare items": 2, "far future": 1}


def script_faults(server: FeedServer, site: str) -> None:
    """Make each path misbehave its way."""
    server.set_fault("/slow.xml", "slow", chunk=1, interval=0.5, total=10_000)
    server.set_fault("/error.xml", "status", code=503)
    # /missing.xml has no route: 404
    server.set_fault("/gone.xml", "status", code=410)
    server.set_fault("/loop.xml", "redirect", to="/loop.xml")
    server.set_fault("/huge.xml", "huge", size=50 * 1024 * 1024)
    server.set_fault("/bomb.xml", "gzip_bomb", size=50 * 1024 * 1024)
    server.set_feed("/laughs.xml", BILLION_LAUGHS)
    server.set_feed("/invalid.xml", b'<?xml version="1.0"?><rss><channel><item><title>a</chan')
    server.set_page(
        "/page.xml", b"<!doctype html><html><head><title>Home</title></head><body>Hi</body></html>"
    )
    server.set_fault("/empty.xml", "empty")
    server.set_fault("/cut.xml", "close_mid_body", declared=50_000)
    cyrillic = (
        '<?xml version="1.0" encoding="windows-1251"?><rss version="2.0"><channel><title>T</title>'
        + item("cp-1", "Новости Кабула: мост открыт", f"{site}/cp-1")
        + TAIL
    ).encode("cp1251")
    server.set_fault(
        "/charset.xml", "wrong_charset", body=cyrillic, charset="utf-8", content_type="text/xml"
    )
    server.set_feed(
        "/bare.xml",
        feed(
            item(None, "Story without guid or date", f"{site}/bare-1", date=None),
            item(None, "Story with nothing but a title", None, date=None),
        ),
    )
    server.set_feed(
        "/future.xml",
        feed(
            item(
                "f-1",
                "Tournament dated far ahead",
                f"{site}/f-1",
                "<pubDate>Sat, 01 Jan 2156 00:00:00 GMT</pubDate>",
            )
        ),
    )


def health_by_name(items: list[FeedHealth]) -> dict[str, FeedHealth]:
    """Feed health keyed by the feed's name."""
    return {h.state.name: h for h in items}


@pytest.mark.timeout(90)
async def test_broken_feeds_are_recorded_and_the_good_one_still_alerts(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    server, telegram = servers
    site = server.url("/articles")
    good_name, good_path = GOOD
    server.set_feed(good_path, feed(item("old-1", OLD, f"{site}/old-1")))
    # The good feed's first (silent) poll happens before the others are even listed.
    first_yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {good_name: server.url(good_path)})
    runtime = Runtime.start(Settings.from_environ(bot_env(tmp_path, telegram, first_yaml)))
    try:
        await runtime.pipeline.tick()
    finally:
        await runtime.aclose()

    script_faults(server, site)
    everything = {good_name: good_path, **BROKEN, **CLEAN}
    feeds_yaml = write_feeds_yaml(
        tmp_path / "feeds.yaml", {name: server.url(path) for name, path in everything.items()}
    )
    async with RunningBot(telegram, bot_env(tmp_path, telegram, feeds_yaml)) as bot:
        await bot.say(CHAT, "/subscribe Kandahar")
        server.set_feed(
            good_path,
            feed(
                item("match-1", MATCH, f"{site}/match-1"),
                item(
                    "future-1",
                    FUTURE,
                    f"{site}/future-1",
                    "<pubDate>Tue, 01 Jan 2999 00:00:00 GMT</pubDate>",
                ),
                item("old-1", OLD, f"{site}/old-1"),
            ),
        )
        report = await bot.tick()
        await bot.settle()
        statuses = {f.feed: f.status for f in report.feeds}
        health = health_by_name(bot.runtime.services.feed_health())
        (listing,) = await bot.say(ADMIN, "/feeds", user_id=ADMIN)
        with bot.runtime.database.session() as session:
            stored = Repository(session).recent_stories(datetime.now(UTC) - timedelta(days=400))

    assert not any("internal error" in status for status in statuses.values())
    assert set(statuses) == set(everything)  # every feed was polled in that one tick
    for name, expected in EXPECTED_ERRORS.items():
        recorded = health[name].state.last_error
        assert recorded is not None and expected in recorded, (name, recorded)
        assert statuses[name] == recorded
        assert health[name].story_count == 0
        assert f"{name}: ok never, 0 stories\n    error ×1: {recorded}" in listing["text"]
    assert not health["gone"].state.enabled  # 410: stop polling it
    assert all(health[name].state.enabled for name in EXPECTED_ERRORS if name != "gone")
    for name, count in CLEAN_COUNTS.items():
        assert health[name].state.last_error is None, name
        assert health[name].story_count == count, name
    assert health[good_name].state.last_error is None

    titles = {s.story.title: s for s in stored}
    assert "Новости Кабула: мост открыт" in titles  # the document's own charset won
    far = titles["Tournament dated far ahead"]
    assert far.story.published_at <= far.fetched_at  # a date in 2156 is clamped to the poll
    assert "Story with nothing but a title" in titles

    alerts = telegram.emulator.sent_messages(CHAT)[1:]
    assert len(alerts) == 2
    assert MATCH in alerts[0]["text"] or MATCH in alerts[1]["text"]
    assert FUTURE in alerts[0]["text"] or FUTURE in alerts[1]["text"]
