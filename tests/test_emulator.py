"""The Bot API emulator: what a bot sees when it talks to it, in-process and over a socket."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import Application, CommandHandler, ContextTypes

from handlers.emulator import BotApiEmulator, Fault
from handlers.local_request import LocalBotApiRequest
from tests.fakes.telegram_server import FakeTelegramServer, telegram_server

TOKEN = "123456:TEST-token-for-the-emulator-abcdef"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[FakeTelegramServer]:
    yield from telegram_server()


def send(emu: BotApiEmulator, chat_id: int, text: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return emu.handle("sendMessage", {"chat_id": chat_id, "text": text, **extra})


# ----------------------------------------------------------------------------- messages


def test_html_message_is_stored_as_telegram_shows_it() -> None:
    emu = BotApiEmulator()
    status, body = send(
        emu,
        5,
        '<a href="https://x.test/?a=1&amp;b=2"><b>Fish &amp; chips</b></a> &lt;3',
        parse_mode="HTML",
    )
    assert status == 200
    message = body["result"]
    assert message["text"] == "Fish & chips <3"
    assert {"type": "bold", "offset": 0, "length": 12} in message["entities"]
    assert {"type": "text_link", "offset": 0, "length": 12, "url": "https://x.test/?a=1&b=2"} in (
        message["entities"]
    )
    assert message["chat"] == {"id": 5, "type": "private", "first_name": "User5"}
    assert emu.sent_messages(5) == [message]


def test_message_ids_count_per_chat() -> None:
    emu = BotApiEmulator()
    ids = [send(emu, chat, "hi")[1]["result"]["message_id"] for chat in (1, 1, 2, 1)]
    assert ids == [1, 2, 1, 3]


@pytest.mark.parametrize(
    ("markup", "reason"),
    [
        ("<script>alert(1)</script>", 'Unsupported start tag "script"'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'expected "</i>", found "</b>"'),
        ("1 < 2", "Unexpected character '<'"),
        ('<span class="big">x</span>', 'Unsupported start tag "span"'),
    ],
)
def test_invalid_html_is_refused_like_telegram(markup: str, reason: str) -> None:
    emu = BotApiEmulator()
    status, body = send(emu, 5, markup, parse_mode="HTML")
    assert status == 400
    assert body["description"].startswith("Bad Request: can't parse entities: ")
    assert reason in body["description"]
    assert emu.sent_messages() == []


def test_all_telegram_tags_are_accepted() -> None:
    emu = BotApiEmulator()
    markup = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s><strike>k</strike>"
        '<del>d</del><code>c</code><pre><code class="language-py">p</code></pre>'
        "<blockquote expandable>q</blockquote><tg-spoiler>t</tg-spoiler>"
        '<span class="tg-spoiler">z</span>'
    )
    status, body = send(emu, 5, markup, parse_mode="HTML")
    assert status == 200
    assert body["result"]["text"] == "bsieunskdcpqtz"
    types = {e["type"] for e in body["result"]["entities"]}
    assert {"bold", "italic", "underline", "strikethrough", "code", "pre", "spoiler"} <= types
    assert "expandable_blockquote" in types


def test_length_is_counted_after_entity_parsing() -> None:
    emu = BotApiEmulator()
    assert send(emu, 5, "&amp;" * 4096, parse_mode="HTML")[0] == 200
    status, body = send(emu, 5, "x" * 4097)
    assert (status, body["description"]) == (400, "Bad Request: message is too long")
    # Characters outside the BMP count twice, as in UTF-16.
    assert send(emu, 5, "😀" * 2049)[0] == 400


def test_form_encoded_json_fields_are_decoded() -> None:
    emu = BotApiEmulator()
    markup = {"inline_keyboard": [[{"text": "More", "callback_data": "more:1"}]]}
    status, body = emu.handle(
        "sendMessage", {"chat_id": "-100", "text": "x", "reply_markup": json.dumps(markup)}
    )
    assert status == 200
    assert body["result"]["reply_markup"] == markup
    assert body["result"]["chat"]["id"] == -100


def test_oversized_callback_data_is_refused() -> None:
    emu = BotApiEmulator()
    markup = {"inline_keyboard": [[{"text": "x", "callback_data": "y" * 65}]]}
    status, body = send(emu, 5, "x", reply_markup=markup)
    assert (status, body["description"]) == (400, "Bad Request: BUTTON_DATA_INVALID")


def test_unknown_method_answers_not_found() -> None:
    status, body = BotApiEmulator().handle("sendTelepathy", {})
    assert status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}


def test_unregistered_chat_is_not_found_in_strict_mode() -> None:
    emu = BotApiEmulator(auto_create_chats=False)
    assert send(emu, 5, "x")[1]["description"] == "Bad Request: chat not found"
    emu.register_chat(5)
    assert send(emu, 5, "x")[0] == 200


def test_edit_delete_and_commands() -> None:
    emu = BotApiEmulator()
    sent = send(emu, 5, "old")[1]["result"]
    status, _ = emu.handle(
        "editMessageText",
        {
            "chat_id": 5,
            "message_id": sent["message_id"],
            "text": "<i>new</i>",
            "parse_mode": "HTML",
        },
    )
    assert status == 200
    assert emu.sent_messages(5)[0]["text"] == "new"
    again = emu.handle("editMessageText", {"chat_id": 5, "message_id": 1, "text": "new"})
    assert again[1]["description"].startswith("Bad Request: message is not modified")
    assert emu.handle("deleteMessage", {"chat_id": 5, "message_id": 1})[0] == 200
    gone = emu.handle("deleteMessage", {"chat_id": 5, "message_id": 1})
    assert gone[1]["description"] == "Bad Request: message to delete not found"
    commands = [{"command": "start", "description": "Start"}]
    assert emu.handle("setMyCommands", {"commands": json.dumps(commands)})[0] == 200
    assert emu.handle("getMyCommands", {})[1]["result"] == commands


# ----------------------------------------------------------------------------- updates


def test_user_says_builds_a_command_update() -> None:
    emu = BotApiEmulator()
    update_id = emu.user_says(77, "/subscribe@newsbot_test_bot Pakistan Afghanistan")
    updates = emu.handle("getUpdates", {"offset": 0, "timeout": 0})[1]["result"]
    assert [u["update_id"] for u in updates] == [update_id]
    message = updates[0]["message"]
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 27}]
    assert message["from"]["id"] == 77
    assert message["chat"]["type"] == "private"


def test_offset_confirms_updates() -> None:
    emu = BotApiEmulator()
    first = emu.user_says(1, "a")
    second = emu.user_says(1, "b")
    assert len(emu.handle("getUpdates", {})[1]["result"]) == 2
    left = emu.handle("getUpdates", {"offset": first + 1})[1]["result"]
    assert [u["update_id"] for u in left] == [second]
    assert emu.handle("getUpdates", {"offset": second + 1, "timeout": 0})[1]["result"] == []


def test_long_poll_wakes_when_a_user_writes() -> None:
    emu = BotApiEmulator()
    threading.Timer(0.05, emu.user_says, args=(3, "hello")).start()
    updates = emu.handle("getUpdates", {"timeout": 5})[1]["result"]
    assert [u["message"]["text"] for u in updates] == ["hello"]


def test_button_press_and_callback_answer() -> None:
    emu = BotApiEmulator()
    sent = send(emu, 9, "alert")[1]["result"]
    emu.user_presses(9, sent["message_id"], "more:1")
    query = emu.handle("getUpdates", {})[1]["result"][0]["callback_query"]
    assert query["data"] == "more:1"
    assert query["message"]["text"] == "alert"
    assert emu.handle("answerCallbackQuery", {"callback_query_id": query["id"]})[0] == 200
    stale = emu.handle("answerCallbackQuery", {"callback_query_id": query["id"]})
    assert stale[0] == 400
    with pytest.raises(ValueError, match="no message"):
        emu.user_presses(9, 99, "more:1")


# ----------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("fault", "status", "description", "parameters"),
    [
        (
            Fault("rate_limited", retry_after=7),
            429,
            "Too Many Requests: retry after 7",
            {"retry_after": 7},
        ),
        (Fault("server_error", status=502), 502, "Bad Gateway", None),
        (Fault("forbidden"), 403, "Forbidden: bot was blocked by the user", None),
        (Fault("chat_not_found"), 400, "Bad Request: chat not found", None),
        (
            Fault("migrated", new_chat_id=-1009),
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": -1009},
        ),
        (Fault("too_long"), 400, "Bad Request: message is too long", None),
    ],
)
def test_faults_answer_once_then_recover(
    fault: Fault, status: int, description: str, parameters: dict[str, int] | None
) -> None:
    emu = BotApiEmulator()
    emu.inject(fault)
    got_status, body = send(emu, 5, "x")
    assert (got_status, body["description"]) == (status, description)
    assert body.get("parameters") == parameters
    assert send(emu, 5, "x")[0] == 200


def test_fault_targets_one_chat_and_counts_down() -> None:
    emu = BotApiEmulator()
    emu.inject(Fault("forbidden", chat_id=2, times=2))
    assert [send(emu, c, "x")[0] for c in (1, 2, 2, 2)] == [200, 403, 403, 200]


def test_parse_error_fault() -> None:
    emu = BotApiEmulator()
    emu.inject(Fault("parse_error"))
    assert send(emu, 5, "fine")[1]["description"].startswith("Bad Request: can't parse entities")


# ----------------------------------------------------------------------------- limits


def test_private_chat_budget_allows_a_burst_then_one_per_second() -> None:
    clock = FakeClock()
    emu = BotApiEmulator(enforce_limits=True, clock=clock)
    statuses = [send(emu, 5, "x")[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert send(emu, 5, "x")[1]["parameters"] == {"retry_after": 1}
    clock.now += 1.0
    assert send(emu, 5, "x")[0] == 200
    assert emu.rate_limited_count == 2


def test_group_budget_is_twenty_per_minute() -> None:
    clock = FakeClock()
    emu = BotApiEmulator(enforce_limits=True, clock=clock)
    emu.register_chat(-5, "group")
    for _ in range(20):
        assert send(emu, -5, "x")[0] == 200
        clock.now += 0.5
    status, body = send(emu, -5, "x")
    assert status == 429
    assert body["parameters"]["retry_after"] == 50
    clock.now += 50
    assert send(emu, -5, "x")[0] == 200


def test_global_budget_is_thirty_per_second() -> None:
    clock = FakeClock()
    emu = BotApiEmulator(enforce_limits=True, clock=clock)
    statuses = [send(emu, chat, "x")[0] for chat in range(1, 32)]
    assert statuses.count(200) == 30
    assert statuses[-1] == 429


# ----------------------------------------------------------------------------- transports


async def test_local_request_runs_real_handlers() -> None:
    emu = BotApiEmulator()

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"echo: {' '.join(context.args or [])}")

    app = (
        Application.builder()
        .token("1:console")
        .request(LocalBotApiRequest(emu))
        .get_updates_request(LocalBotApiRequest(emu))
        .build()
    )
    app.add_handler(CommandHandler("echo", echo))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=1)
        emu.user_says(42, "/echo hello there")
        messages = await asyncio.to_thread(emu.wait_for_messages, 42, 1, 10.0)
        await app.updater.stop()
        await app.stop()
    assert [m["text"] for m in messages] == ["echo: hello there"]


async def test_socket_server_speaks_to_a_real_bot(server: FakeTelegramServer) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Why?", callback_data="why:3")]])
    async with Bot(TOKEN, base_url=server.base_url + "/bot") as bot:
        me = await bot.get_me()
        message = await bot.send_message(
            5, "<b>Hi</b> &amp; bye", parse_mode="HTML", reply_markup=keyboard
        )
        with pytest.raises(BadRequest, match=r"(?i)unsupported start tag"):
            await bot.send_message(5, "<blink>x</blink>", parse_mode="HTML")
    assert me.username == "newsbot_test_bot"
    assert message.text == "Hi & bye"
    assert message.reply_markup == keyboard
    assert (
        server.emulator.sent_messages(5)[0]["reply_markup"]["inline_keyboard"][0][0][
            "callback_data"
        ]
        == "why:3"
    )
    assert set(server.tokens_seen) == {TOKEN}


def test_socket_server_accepts_json_and_get(server: FakeTelegramServer) -> None:
    url = f"{server.base_url}/bot{TOKEN}/sendMessage"
    body = json.dumps({"chat_id": 8, "text": "json body"}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        sent = json.load(response)
    with urllib.request.urlopen(f"{server.base_url}/bot{TOKEN}/getMe", timeout=5) as response:
        me = json.load(response)
    assert sent["result"]["text"] == "json body"
    assert me["result"]["id"] == 1000


def test_socket_server_accepts_multipart(server: FakeTelegramServer) -> None:
    url = f"{server.base_url}/bot{TOKEN}/sendMessage"
    files = {"attachment": ("note.txt", b"ignored", "text/plain")}
    response = httpx.post(url, data={"chat_id": "6", "text": "multi part"}, files=files, timeout=5)
    assert response.json()["result"]["text"] == "multi part"
