"""The bot token never reaches a log line or a chat, even at DEBUG and when errors quote it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.logs import configure_logging
from handlers.emulator import Fault
from tests.fakes.feed_server import FeedServer
from tests.fakes.telegram_server import FakeTelegramServer
from tests.harness import TOKEN, Item, RunningBot, bot_env, write_feeds_yaml
from tests.harness import rss as feed_document

REPO_ROOT = Path(__file__).resolve().parent.parent
CHAT = 8001
# The secret half of the token: even a partly printed token is a leak.
SECRET = TOKEN.split(":", 1)[1]


def rss(site: str, items: list[tuple[str, str]]) -> bytes:
    """An RSS document of (guid, title) items."""
    return feed_document(Item(g, t, f"{site}/{g}") for g, t in items)


@pytest.fixture
def newsbot_logging(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[pytest.LogCaptureFixture]:
    """Logging as `newsbot run` sets it up (DEBUG, to capsys' stderr); caplog sees every record."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    quiet = ("httpx", "httpcore", "apscheduler")
    saved_quiet = {name: logging.getLogger(name).level for name in quiet}
    configure_logging("DEBUG", [TOKEN])
    root.addHandler(caplog.handler)  # configure_logging replaced the root handlers
    caplog.handler.setLevel(logging.DEBUG)
    try:
        yield caplog
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
        for name, level in saved_quiet.items():
            logging.getLogger(name).setLevel(level)


async def test_token_stays_out_of_logs_and_chats_through_errors(
    servers: tuple[FeedServer, FakeTelegramServer],
    tmp_path: Path,
    newsbot_logging: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    feeds, telegram = servers
    site = feeds.url("/articles")
    feeds.set_feed("/desk.xml", rss(site, [("q-1", "Quiet day at the market")]))
    feeds_yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {"Desk": feeds.url("/desk.xml")})
    emulator = telegram.emulator
    async with RunningBot(telegram, bot_env(tmp_path, telegram, feeds_yaml)) as bot:
        await bot.tick()
        await bot.say(CHAT, "/subscribe Herat")
        # 1. An alert delivered normally.
        feeds.set_feed("/desk.xml", rss(site, [("h-1", "Herat airport extends its runway")]))
        await bot.tick()
        await bot.settle()
        # 2. Telegram answers 401 (a revoked token) to the next alert.
        emulator.inject(Fault("server_error", status=401, chat_id=CHAT))
        feeds.set_feed("/desk.xml", rss(site, [("h-2", "Herat textile fair draws buyers")]))
        await bot.tick()
        await bot.settle(3)
        # 3. A reply fails with a 400 whose description quotes the request URL, token and all:
        #    the handler fails, its traceback is logged, the user gets the generic apology.
        emulator.inject(
            Fault("bad_request", chat_id=CHAT, description=f"Bad Request: /bot{TOKEN}/x")
        )
        (apology,) = await bot.say(CHAT, "/topics")
        assert "something went wrong" in apology["text"]

    logged = newsbot_logging.text
    stderr = capsys.readouterr().err
    assert "handler failed" in logged and "handler failed" in stderr  # the errors were logged
    assert "DEBUG" in stderr  # and DEBUG lines were written
    assert "[REDACTED]" in stderr  # the quoted token was there, hidden
    assert TOKEN not in logged and SECRET not in logged
    assert TOKEN not in stderr and SECRET not in stderr
    for message in emulator.sent_messages():
        assert SECRET not in message["text"]


def test_newsbot_run_at_debug_prints_no_token(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    feeds, telegram = servers
    feeds.set_feed("/desk.xml", rss(feeds.url("/articles"), [("q-1", "Quiet day")]))
    feeds_yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {"Desk": feeds.url("/desk.xml")})
    env = {
        **os.environ,
        **bot_env(tmp_path, telegram, feeds_yaml),
        "NEWSBOT_LOG_LEVEL": "DEBUG",
        "NEWSBOT_TICK_SECONDS": "0.5",
        "PYTHONPATH": str(REPO_ROOT),
    }
    telegram.emulator.inject(
        Fault("bad_request", chat_id=CHAT, description=f"Bad Request: /bot{TOKEN}/sendMessage")
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        telegram.emulator.user_says(CHAT, "/start")  # answered with the scripted 400
        telegram.emulator.user_says(CHAT + 1, "/start")
        replies = telegram.emulator.wait_for_messages(CHAT + 1, 1, 20)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not feeds.requests:
            time.sleep(0.05)  # until the first poll ran
        time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    stderr = err.decode("utf-8", "replace")
    assert replies, "the bot never answered /start"
    assert feeds.requests, "the bot never polled"
    assert " DEBUG " in stderr and "handler failed" in stderr
    assert "[REDACTED]" in stderr
    assert TOKEN not in stderr and SECRET not in stderr
    assert SECRET not in out.decode("utf-8", "replace")
