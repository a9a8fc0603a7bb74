"""`newsbot console`: the real handlers, in a terminal, with no Telegram."""

from __future__ import annotations

import time
from pathlib import Path

from bot.config import Settings
from bot.runtime import Runtime
from handlers.console import run_console
from tests.fakes.feed_server import FeedServer
from tests.harness import Item, rss, write_feeds_yaml


async def test_a_console_conversation(tmp_path: Path) -> None:
    with FeedServer() as server:
        server.set_feed("/desk.xml", rss([Item("g", "Old news", "https://n.example/1")]))
        feeds_yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {"Desk": server.url("/desk.xml")})
        settings = Settings.from_environ(
            {
                "DATABASE_URL": f"sqlite:///{tmp_path / 'console.db'}",
                "NEWSBOT_FEEDS": str(feeds_yaml),
                "NEWSBOT_ALLOW_PRIVATE_FEEDS": "1",
            }
        )
        runtime = Runtime.start(settings)
        typed = iter(["/start", "", "/subscribe Pakistan Afghanistan", "/topics", ":more", "/nope"])
        shown: list[str] = []

        def read_line() -> str | None:
            time.sleep(0.2)  # a person types one line at a time
            return next(typed, None)

        try:
            await run_console(runtime, read_line=read_line, write=shown.append)
        finally:
            await runtime.aclose()
    screen = "\n".join(shown)
    assert "bot> Hello" in screen and "/subscribe" in screen
    assert "bot> ✅ Subscribed to Pakistan Afghanistan." in screen
    assert "bot> 1. Pakistan Afghanistan" in screen
    assert "There is no alert with buttons yet." in screen
    assert "I don't know the command /nope" in screen
    assert screen.index("Subscribed") < screen.index("1. Pakistan Afghanistan")
