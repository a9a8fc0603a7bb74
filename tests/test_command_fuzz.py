"""Every command, unknown commands, plain text and button presses, with hostile arguments: the bot
always answers and no handler ever fails.

The real Application and handlers run against the in-process Bot API emulator (no sockets), over
a temporary SQLite database; updates are fed straight to ``Application.process_update``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from telegram import Update
from telegram.ext import Application

from bot.config import Settings
from bot.runtime import Runtime
from handlers.app import build_application
from handlers.emulator import BotApiEmulator
from handlers.local_request import LocalBotApiRequest

TOKEN = "123456:FUZZ-token-abcdefghijklmnopqrstuv"
ADMIN = 777
KNOWN = ("start", "help", "subscribe", "unsubscribe", "topics", "preview", "feeds")
FAILURE_REPLY = "something went wrong on my side"
# 1000 per test by default; NEWSBOT_FUZZ_EXAMPLES trades depth for time (CI, quick runs).
EXAMPLES = int(os.environ.get("NEWSBOT_FUZZ_EXAMPLES", "1000"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
    # Shrinking a 4000-character failure takes minutes; the unshrunk example is reported.
    phases=[Phase.explicit, Phase.generate],
    report_multiple_bugs=False,
)

# Text that tends to break parsers: query operators, quotes, brackets, direction marks,
# control characters, markup, and words the topic language knows.
NASTY = st.sampled_from(
    [
        '"',
        "'",
        "(",
        ")",
        "((",
        "))",
        " OR ",
        "OR",
        "-",
        "--",
        "=",
        ":",
        "title:",
        "source:",
        "*",
        "\u200f",
        "\u202e",
        "\u200b",
        "\ufeff",
        "\x00",
        "\x1b[31m",
        "\r\n",
        "\t",
        "<b>",
        "</a>",
        "&amp;",
        "&",
        "<",
        "Pakistan",
        "Afghanistan",
        "0",
        "-1",
        "99999999999999999999",
        "🇵🇰",
        "👍🏽",
        "é",
        "Ⅻ",
        "ǅ",
        "ß",
        "İ",
        "\\",
        "%s",
        "{}",
    ]
)
WORDS = st.text(st.characters(codec="utf-8"), max_size=40)
ARGUMENT = st.one_of(
    st.lists(st.one_of(NASTY, WORDS), max_size=25).map("".join),
    st.lists(NASTY, min_size=1, max_size=60).map(" ".join),
    st.text(st.characters(codec="utf-8"), min_size=300, max_size=4000),
)
SEPARATOR = st.sampled_from([" ", "\n", "  ", "@newsbot_test_bot ", "\t"])
CHAT_IDS = st.sampled_from([101, 102, 103, ADMIN])


@dataclass
class LiveBot:
    """The Application, its emulator and the loop it runs on."""

    app: Application[Any, Any, Any, Any, Any, Any]
    emulator: BotApiEmulator
    loop: asyncio.AbstractEventLoop
    errors: list[logging.LogRecord]

    def process(self, update_id: int) -> None:
        """Hand one queued update to the application and forget it in the emulator."""
        pending = self.emulator.wait_updates(None, 100, 0)
        (body,) = [u for u in pending if u["update_id"] == update_id]
        self.emulator.wait_updates(update_id + 1, 1, 0)  # confirm: Telegram drops it
        self.loop.run_until_complete(self.app.process_update(Update.de_json(body, self.app.bot)))

    def says(self, chat_id: int, text: str, **kw: Any) -> list[dict[str, Any]]:
        """A user writes ``text``; returns the bot's new messages in that chat."""
        before = len(self.emulator.sent_messages(chat_id))
        self.errors.clear()  # each example answers for its own update only
        self.process(self.emulator.user_says(chat_id, text, **kw))
        return self.emulator.sent_messages(chat_id)[before:]

    def presses(self, chat_id: int, message_id: int, data: str) -> tuple[int, int]:
        """A user presses a button; returns (new callback answers, new messages in the chat)."""
        answers = len(self.emulator.callback_answers)
        self.errors.clear()
        before = len(self.emulator.sent_messages(chat_id))
        self.process(self.emulator.user_presses(chat_id, message_id, data))
        return (
            len(self.emulator.callback_answers) - answers,
            len(self.emulator.sent_messages(chat_id)) - before,
        )


class _Collect(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveBot]:
    """A fresh application per test; its database and emulator fill as the examples run."""
    tmp = tmp_path
    (tmp / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": "http://127.0.0.1:9",  # never used: requests stay in-process
        "DATABASE_URL": f"sqlite:///{tmp / 'newsbot.db'}",
        "NEWSBOT_FEEDS": str(tmp / "feeds.yaml"),
        "NEWSBOT_ADMINS": str(ADMIN),
    }
    runtime = Runtime.start(Settings.from_environ(env))
    emulator = BotApiEmulator()
    app = build_application(
        runtime,
        token=TOKEN,
        request=LocalBotApiRequest(emulator),
        updates_request=LocalBotApiRequest(emulator),
        schedule_polls=False,
    )
    errors: list[logging.LogRecord] = []
    collector = _Collect(errors)
    logging.getLogger().addHandler(collector)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(app.initialize())
    try:
        yield LiveBot(app, emulator, loop, errors)
    finally:
        loop.run_until_complete(app.shutdown())
        loop.run_until_complete(runtime.aclose())
        loop.close()
        logging.getLogger().removeHandler(collector)


def assert_answered(live: LiveBot, replies: list[dict[str, Any]]) -> None:
    """The person got at least one reply, none of them the generic failure, and nothing failed."""
    assert replies, "no reply"
    assert not any(FAILURE_REPLY in r["text"] for r in replies), replies[-1]["text"]
    assert live.errors == [], [r.getMessage() for r in live.errors]


@pytest.mark.parametrize("command", KNOWN)
def test_every_command_answers_any_argument(live: LiveBot, command: str) -> None:
    for chat_id in (101, 102, 103, ADMIN):  # chats that follow a topic, so /unsubscribe looks
        live.says(chat_id, "/subscribe Kabul", user_id=chat_id)

    @FUZZ_SETTINGS
    @given(argument=ARGUMENT, separator=SEPARATOR, chat_id=CHAT_IDS)
    @example(argument="Kabul? " * 680, separator=" ", chat_id=101)  # near Telegram's 4096
    def check(argument: str, separator: str, chat_id: int) -> None:
        replies = live.says(chat_id, f"/{command}{separator}{argument}", user_id=chat_id)
        assert_answered(live, replies)

    check()


def test_commands_in_a_group_answer_admins_and_others(live: LiveBot) -> None:
    live.emulator.register_chat(-500, "group", "Fuzzers", admins=(4242,))

    @FUZZ_SETTINGS
    @given(
        command=st.sampled_from(KNOWN),
        argument=ARGUMENT,
        user_id=st.sampled_from([4242, 31337]),
    )
    def check(command: str, argument: str, user_id: int) -> None:
        replies = live.says(-500, f"/{command} {argument}", user_id=user_id, chat_type="group")
        assert_answered(live, replies)

    check()


def test_unknown_commands_and_plain_text_are_answered(live: LiveBot) -> None:
    @FUZZ_SETTINGS
    @given(
        word=st.from_regex(r"[A-Za-z0-9_]{1,40}", fullmatch=True).filter(
            lambda w: w.lower() not in KNOWN
        ),
        argument=ARGUMENT,
        plain=st.booleans(),
    )
    def check(word: str, argument: str, plain: bool) -> None:
        text = (argument.lstrip("/") or "hello") if plain else f"/{word} {argument}"
        if plain and not text.strip():
            text = "hello"
        replies = live.says(103, text)
        assert_answered(live, replies)

    check()


def test_any_button_data_is_answered(live: LiveBot) -> None:
    (greeting,) = live.says(104, "/start")
    prefixes = st.sampled_from(
        [
            "more:",
            "src:",
            "why:",
            "mute:",
            "up:",
            "down:",
            "add:1:0:",
            "ex:1:",
            "",
            ":",
            "more:-",
            "why:1",
        ]
    )
    data = st.one_of(
        st.tuples(prefixes, st.from_regex(r"[0-9]{0,30}", fullmatch=True)).map("".join),
        st.tuples(prefixes, WORDS).map("".join),
    ).filter(lambda d: 1 <= len(d.encode()) <= 64)

    @FUZZ_SETTINGS
    @given(data=data)
    @example(data="more:10000000000000000000")
    @example(data="why:²")
    def check(data: str) -> None:
        answers, messages = live.presses(104, greeting["message_id"], data)
        assert answers == 1 or messages >= 1
        assert live.errors == [], [r.getMessage() for r in live.errors]

    check()
