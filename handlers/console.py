"""`newsbot console`: chat with the real bot handlers in a terminal, with no Telegram at all.

The same Application that runs against Telegram runs here against an in-process Bot API
emulator; what a person types becomes an update, and what the bot sends is printed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bot.runtime import Runtime
from handlers.app import build_application, start_bot, stop_bot
from handlers.emulator import BotApiEmulator
from handlers.local_request import LocalBotApiRequest

CONSOLE_TOKEN = "1:newsbot-console-local-token"  # noqa: S105 - never leaves the process
CONSOLE_CHAT_ID = 1
BUTTON_HINT = "(press a button by typing :more, :src, :why or :mute)"


def format_message(message: dict[str, Any]) -> str:
    """A bot message as terminal text: its text, links shown, and its buttons."""
    text = str(message.get("text", ""))
    links = [
        e["url"]
        for e in message.get("entities", [])
        if e.get("type") == "text_link" and e.get("url")
    ]
    lines = [f"bot> {line}" for line in text.splitlines() or [""]]
    lines.extend(f"     link: {url}" for url in links)
    markup = message.get("reply_markup") or {}
    buttons = [b.get("text", "") for row in markup.get("inline_keyboard", []) for b in row]
    if buttons:
        lines.append("     [" + "] [".join(buttons) + "] " + BUTTON_HINT)
    return "\n".join(lines)


def last_keyboard_message(emulator: BotApiEmulator, chat_id: int) -> dict[str, Any] | None:
    """The newest bot message in the chat that has buttons."""
    for message in reversed(emulator.sent_messages(chat_id)):
        if (message.get("reply_markup") or {}).get("inline_keyboard"):
            found: dict[str, Any] = message
            return found
    return None


def press(emulator: BotApiEmulator, chat_id: int, action: str) -> str | None:
    """Press a button on the newest alert; returns a complaint when that is not possible."""
    message = last_keyboard_message(emulator, chat_id)
    if message is None:
        return "There is no alert with buttons yet."
    for row in message["reply_markup"]["inline_keyboard"]:
        for button in row:
            data = str(button.get("callback_data", ""))
            if data.split(":", 1)[0] == action:
                emulator.user_presses(chat_id, message["message_id"], data)
                return None
    return f"That alert has no {action!r} button."


async def run_console(
    runtime: Runtime,
    *,
    read_line: Callable[[], str | None],
    write: Callable[[str], None],
    chat_id: int = CONSOLE_CHAT_ID,
    settle_s: float = 1.5,
) -> None:
    """Run the bot against the emulator until ``read_line`` returns None (end of input)."""
    emulator = BotApiEmulator()
    emulator.register_chat(chat_id, "private")
    app = build_application(
        runtime,
        token=CONSOLE_TOKEN,
        request=LocalBotApiRequest(emulator),
        updates_request=LocalBotApiRequest(emulator),
    )
    await start_bot(app)
    shown = 0
    stop = asyncio.Event()

    async def show_messages() -> None:
        nonlocal shown
        while not stop.is_set():
            found = await asyncio.to_thread(emulator.wait_for_messages, chat_id, shown + 1, 0.3)
            for message in found[shown:]:
                write(format_message(message))
            shown = max(shown, len(found))

    printer = asyncio.create_task(show_messages())
    write("newsbot console: type /help, /subscribe TOPIC, ... ; Ctrl-D to quit.")
    try:
        while True:
            line = await asyncio.to_thread(read_line)
            if line is None:
                break
            line = line.strip()
            if not line:
                continue
            if line.startswith(":"):
                complaint = press(emulator, chat_id, line[1:].strip())
                if complaint:
                    write(complaint)
                continue
            emulator.user_says(chat_id, line, user_id=chat_id)
        await asyncio.sleep(settle_s)  # let replies to the last lines arrive
    finally:
        stop.set()
        await printer
        await stop_bot(app)
