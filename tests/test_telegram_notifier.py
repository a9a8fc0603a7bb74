"""TelegramNotifier over a real socket: what reaches the chat, and what the outbox is told."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.logs import install_redaction
from bot.models import Alert, ChatKind, DeliveryOutcome, OutcomeKind
from handlers.emulator import BotApiEmulator, Fault
from handlers.render import render_plain
from handlers.sender import TelegramNotifier
from tests.fakes.telegram_server import FakeTelegramServer, telegram_server

TOKEN = "987654321:AAH-secret-token-never-to-be-logged_x"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CHAT = 5


def make_alert(**changes: object) -> Alert:
    fields: dict[str, object] = {
        "id": 17,
        "chat_id": CHAT,
        "chat_kind": ChatKind.PRIVATE,
        "story_id": 2,
        "cluster_id": 2,
        "title": "Pakistan and Afghanistan reopen Torkham crossing",
        "url": "https://dawn.test/news/1",
        "source": "Dawn",
        "published_at": NOW - timedelta(minutes=5),
        "summary": "Trade resumed on Monday after talks.",
        "topic": "Pakistan Afghanistan",
    }
    fields.update(changes)
    return Alert(**fields)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[FakeTelegramServer]:
    yield from telegram_server()


@pytest.fixture
def emulator(server: FakeTelegramServer) -> BotApiEmulator:
    return server.emulator


@pytest.fixture
async def notifier(server: FakeTelegramServer) -> AsyncIterator[TelegramNotifier]:
    request = HTTPXRequest(read_timeout=0.5, connect_timeout=2.0)
    async with Bot(TOKEN, base_url=server.base_url + "/bot", request=request) as bot:
        yield TelegramNotifier(bot, now=lambda: NOW)


async def test_alert_arrives_with_html_keyboard_and_thread(
    notifier: TelegramNotifier, emulator: BotApiEmulator
) -> None:
    outcome = await notifier.deliver(make_alert(thread_id=12))
    [message] = emulator.sent_messages(CHAT)
    assert outcome == DeliveryOutcome(OutcomeKind.SENT, message_id=message["message_id"])
    assert message["text"] == (
        "Pakistan and Afghanistan reopen Torkham crossing\nDawn · 5 min ago\n\n"
        "Trade resumed on Monday after talks.\n\n🔎 Topic: Pakistan Afghanistan"
    )
    assert {"type": "text_link", "offset": 0, "length": 48, "url": "https://dawn.test/news/1"} in (
        message["entities"]
    )
    buttons = [
        b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row
    ]
    assert buttons == ["more:17", "src:17", "why:17", "mute:17", "up:17", "down:17"]
    assert message["message_thread_id"] == 12
    assert message["link_preview_options"] == {"is_disabled": True}


async def test_hostile_title_is_shown_as_text(
    notifier: TelegramNotifier, emulator: BotApiEmulator
) -> None:
    title = "</a><script>x</script> <b>b</b> &amp; \u202eevil\u200f " + "W" * 5000
    outcome = await notifier.deliver(make_alert(title=title, summary="s" * 5000))
    assert outcome.kind is OutcomeKind.SENT
    [message] = emulator.sent_messages(CHAT)
    assert message["text"].startswith("</a><script>x</script> <b>b</b> &amp; evil\u200f WWW")
    assert "\u202e" not in message["text"]
    assert len(message["text"]) <= 4096
    bold = next(e for e in message["entities"] if e["type"] == "bold")
    assert bold["offset"] == 0
    assert message["text"][: bold["length"]].endswith("W…")


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            Fault("rate_limited", retry_after=7),
            DeliveryOutcome(OutcomeKind.RETRY, retry_after=timedelta(seconds=7), rate_limited=True),
        ),
        (Fault("server_error", status=500), DeliveryOutcome(OutcomeKind.RETRY)),
        (Fault("server_error", status=502), DeliveryOutcome(OutcomeKind.RETRY)),
        (Fault("delay", seconds=1.5), DeliveryOutcome(OutcomeKind.RETRY)),
        (Fault("forbidden"), DeliveryOutcome(OutcomeKind.CHAT_GONE)),
        (Fault("chat_not_found"), DeliveryOutcome(OutcomeKind.CHAT_GONE)),
        (
            Fault("migrated", new_chat_id=-100777),
            DeliveryOutcome(OutcomeKind.CHAT_MIGRATED, new_chat_id=-100777),
        ),
        (Fault("bad_request"), DeliveryOutcome(OutcomeKind.FAILED)),
    ],
)
async def test_each_fault_maps_to_an_outcome(
    notifier: TelegramNotifier,
    emulator: BotApiEmulator,
    fault: Fault,
    expected: DeliveryOutcome,
) -> None:
    emulator.inject(fault)
    outcome = await notifier.deliver(make_alert())
    assert (outcome.kind, outcome.retry_after, outcome.rate_limited, outcome.new_chat_id) == (
        expected.kind,
        expected.retry_after,
        expected.rate_limited,
        expected.new_chat_id,
    )
    assert outcome.message_id is None
    assert outcome.detail  # the outbox records why
    if fault.kind != "delay":  # a timed-out send may still have landed, as with Telegram
        assert emulator.sent_messages(CHAT) == []


async def test_failed_detail_names_telegrams_reason(
    notifier: TelegramNotifier, emulator: BotApiEmulator
) -> None:
    emulator.inject(Fault("bad_request", description="Bad Request: message thread not found"))
    outcome = await notifier.deliver(make_alert(thread_id=999))
    assert outcome.kind is OutcomeKind.FAILED
    assert "message thread not found" in outcome.detail.lower()


async def test_parse_error_falls_back_to_plain_text(
    notifier: TelegramNotifier, emulator: BotApiEmulator
) -> None:
    emulator.inject(Fault("parse_error"))
    alert = make_alert()
    outcome = await notifier.deliver(alert)
    [message] = emulator.sent_messages(CHAT)
    assert outcome.kind is OutcomeKind.SENT
    assert outcome.message_id == message["message_id"]
    assert message["text"] == render_plain(alert, NOW)
    assert "entities" not in message
    assert message["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "more:17"


async def test_too_long_is_sent_in_parts(
    notifier: TelegramNotifier, emulator: BotApiEmulator
) -> None:
    emulator.inject(Fault("too_long"))
    alert = make_alert(summary=" ".join(["longword"] * 420))
    outcome = await notifier.deliver(alert)
    messages = emulator.sent_messages(CHAT)
    assert len(messages) == 2
    assert outcome.kind is OutcomeKind.SENT
    assert outcome.message_id == messages[0]["message_id"]
    assert "reply_markup" not in messages[0]
    assert messages[1]["reply_markup"]["inline_keyboard"][1][1]["callback_data"] == "mute:17"
    assert messages[0]["text"].startswith("Pakistan and Afghanistan reopen Torkham crossing")
    assert messages[1]["text"].endswith("🔎 Topic: Pakistan Afghanistan")
    joined = " ".join(m["text"] for m in messages).split()
    assert joined.count("longword") == 420


async def test_unreachable_api_is_a_retry_not_a_crash() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once the socket is closed
    request = HTTPXRequest(connect_timeout=2.0)
    await request.initialize()
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)
    try:
        outcome = await TelegramNotifier(bot, now=lambda: NOW).deliver(make_alert())
    finally:
        await request.shutdown()
    assert outcome.kind is OutcomeKind.RETRY
    assert outcome.detail.startswith("NetworkError")
    assert TOKEN not in outcome.detail


async def test_token_never_reaches_the_logs(
    server: FakeTelegramServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # its request lines carry the token
    install_redaction([TOKEN])  # what startup does before it builds the Bot
    emulator = server.emulator
    for fault in (
        Fault("forbidden"),
        Fault("server_error"),
        Fault("parse_error"),
        Fault("delay", seconds=1),
    ):
        emulator.inject(fault)
    request = HTTPXRequest(read_timeout=0.5)
    async with Bot(TOKEN, base_url=server.base_url + "/bot", request=request) as bot:
        notifier = TelegramNotifier(bot, now=lambda: NOW)
        outcomes = [await notifier.deliver(make_alert()) for _ in range(5)]
    # Faults are used in order: the third alert's plain-text fallback meets the delay.
    assert [o.kind for o in outcomes] == [
        OutcomeKind.CHAT_GONE,
        OutcomeKind.RETRY,
        OutcomeKind.RETRY,
        OutcomeKind.SENT,
        OutcomeKind.SENT,
    ]
    assert "HTTP Request: POST" in caplog.text  # the HTTP client did log its requests
    assert "/bot[REDACTED]/sendMessage" in caplog.text
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text
    assert all(TOKEN not in o.detail for o in outcomes)
    assert server.tokens_seen[-1] == TOKEN
