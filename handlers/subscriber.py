"""What a subscriber sends: /start /help /subscribe /unsubscribe /topics /preview, buttons."""

from __future__ import annotations

import asyncio
import html
import logging
import re
from datetime import UTC, datetime

from telegram import Chat, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.models import ChatKind
from bot.refine import Suggestion
from bot.services import (
    MAX_TOPIC_LENGTH,
    MAX_TOPICS_PER_CHAT,
    ChatRef,
    Services,
    SubscribeResult,
)
from handlers.render import render_sources, render_why, split_message

logger = logging.getLogger(__name__)
# A suggestion button names its term by refine.term_key: eight hex digits.
_TERM_KEY = re.compile(r"[0-9a-f]{8}")

COMMANDS: tuple[tuple[str, str], ...] = (
    ("subscribe", "follow a topic, e.g. /subscribe Pakistan Afghanistan"),
    ("topics", "list this chat's topics"),
    ("unsubscribe", "stop following a topic: /unsubscribe 2 or /unsubscribe TOPIC"),
    ("preview", "see which recent stories a topic would match"),
    ("help", "what newsbot can do"),
)

TOPIC_SYNTAX = (
    "How topics work:\n"
    "• <code>Pakistan Afghanistan</code>: stories that mention both (and word forms such as "
    "Pakistani, Afghan)\n"
    '• <code>"climate change"</code>: an exact phrase\n'
    "• <code>floods OR cyclone</code>: either word\n"
    "• <code>cricket -IPL</code>: leave out stories that mention IPL\n"
    "• <code>title:Kabul</code>, <code>source:Dawn</code>: only in the title / from one outlet\n"
    "• <code>=Pakistan</code>: that exact word only"
)


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    """The core's use cases, put into bot_data when the application was built."""
    services = context.application.bot_data["services"]
    assert isinstance(services, Services)
    return services


def now_utc() -> datetime:
    """The time a handler acts at."""
    return datetime.now(UTC)


def chat_ref(chat: Chat) -> ChatRef:
    """The core's view of a Telegram chat."""
    try:
        kind = ChatKind(chat.type)
    except ValueError:
        kind = ChatKind.PRIVATE
    return ChatRef(chat.id, kind, chat.title or chat.full_name or None)


def command_argument(update: Update) -> str:
    """Everything after the command word (keeps quotes and spacing that context.args loses)."""
    message = update.effective_message
    text = (message.text or message.caption or "") if message is not None else ""
    _, _, rest = text.partition(" ")
    if "\n" in text.split(" ", 1)[0]:  # "/subscribe\nPakistan" - a newline after the command
        rest = text.split("\n", 1)[1]
    return rest.strip()


async def reply(update: Update, text: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
    """Answer in the chat the update came from, as Telegram HTML."""
    message = update.effective_message
    if message is None:
        return
    parts = split_message(text)
    for number, part in enumerate(parts, start=1):
        await message.reply_text(
            part,
            parse_mode=ParseMode.HTML,
            do_quote=False,
            reply_markup=keyboard if number == len(parts) else None,
        )


def parse_id(raw: str) -> int | None:
    """A row id from callback data: ASCII digits that fit a 64-bit integer, else None."""
    if raw.isascii() and raw.isdigit() and len(raw) <= 18:
        return int(raw)
    return None


def suggestion_keyboard(
    subscription_id: int | None, suggestions: tuple[Suggestion, ...]
) -> InlineKeyboardMarkup | None:
    """One button per suggested word: pressing it widens that term of the topic."""
    if subscription_id is None or not suggestions:
        return None
    rows = [
        [
            InlineKeyboardButton(
                f"+ {word}", callback_data=f"add:{subscription_id}:{item.term_key}:{word}"
            )
            for word in item.words
        ]
        for item in suggestions
    ]
    return InlineKeyboardMarkup(rows)


def describe_suggestions(suggestions: tuple[Suggestion, ...]) -> str:
    """'Recent stories also call Afghanistan: kabul, taliban.' lines."""
    return "\n".join(
        f"Recent stories also call <b>{html.escape(item.term)}</b>: "
        + ", ".join(html.escape(w) for w in item.words)
        for item in suggestions
    )


async def may_change_topics(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """In groups only the group's admins change topics; in private chats everyone may."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or chat.type in {Chat.PRIVATE, Chat.CHANNEL}:
        return True
    if user is None:
        return False
    try:
        member = await context.bot.get_chat_member(chat.id, user.id)
    except TelegramError:
        logger.warning("could not check group admin chat_id=%s", chat.id)
        return False
    if member.status in {ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}:
        return True
    await reply(update, "Only this group's admins can change its topics.")
    return False


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet, remember the chat, explain what to do."""
    chat = update.effective_chat
    if chat is None:
        return
    services_of(context).register_chat(chat_ref(chat), now_utc())
    user = update.effective_user
    greeting = f"Hello{', ' + html.escape(user.first_name) if user and user.first_name else ''}! "
    await reply(
        update,
        greeting + "I watch news feeds and send you a short alert when a story matches "
        "one of your topics.\n\n"
        "Start with a topic:\n<code>/subscribe Pakistan Afghanistan</code>\n\n"
        f"{TOPIC_SYNTAX}\n\nSend /help for every command."
        + (f"\n\nYour Telegram user id is <code>{user.id}</code>." if user else ""),
    )


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List every command."""
    lines = [f"/{name}: {html.escape(text)}" for name, text in COMMANDS]
    if services_of(context).is_admin(update.effective_user.id if update.effective_user else None):
        lines.append("/feeds: the feeds and their health (admins)")
    await reply(
        update,
        "newsbot sends an alert when a new story matches one of your topics.\n\n"
        + "\n".join(lines)
        + f"\n\n{TOPIC_SYNTAX}\n\n"
        f"A chat can follow up to {MAX_TOPICS_PER_CHAT} topics of up to "
        f"{MAX_TOPIC_LENGTH} characters each.",
    )


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Subscribe this chat to the topic typed after the command."""
    chat = update.effective_chat
    if chat is None or not await may_change_topics(update, context):
        return
    services = services_of(context)
    result = await asyncio.to_thread(
        services.subscribe, chat_ref(chat), command_argument(update), now_utc()
    )
    if result.error is not None:
        await reply(update, html.escape(result.error))
        return
    topic = html.escape(result.query_text)
    if result.already:
        await reply(update, f"This chat already follows <b>{topic}</b>.")
        return
    text = (
        f"✅ Subscribed to <b>{topic}</b>.\n"
        f"I will alert you about {html.escape(result.description)}.\n\n"
        f"This chat follows {result.topic_count} topic(s): /topics"
    )
    if result.suggestions:
        text += "\n\n" + describe_suggestions(result.suggestions) + "\nTap a word to match it too."
    await reply(update, text, suggestion_keyboard(result.subscription_id, result.suggestions))
    if services.namer is not None and result.subscription_id is not None:
        # The model may take seconds: answer first, and offer its names when they come.
        context.application.create_task(
            offer_other_names(update, services, result), update=update, name="topic-names"
        )


async def offer_other_names(update: Update, services: Services, result: SubscribeResult) -> None:
    """A follow-up message with the language model's other names for a new topic, as buttons."""
    names = await services.other_names(result.query_text, offered=result.suggestions)
    if not names:
        return
    lines = "\n".join(
        f"<b>{html.escape(item.term)}</b> may also be called: "
        + ", ".join(html.escape(w) for w in item.words)
        for item in names
    )
    await reply(
        update,
        f"💡 Suggested by a language model:\n{lines}\n"
        "Tap a name to match it too; nothing changes until you do.",
        suggestion_keyboard(result.subscription_id, names),
    )


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Remove a topic by its number in /topics or by its text."""
    chat = update.effective_chat
    if chat is None or not await may_change_topics(update, context):
        return
    result = services_of(context).unsubscribe(chat_ref(chat), command_argument(update))
    if result.error is not None:
        await reply(update, html.escape(result.error))
        return
    await reply(
        update,
        f"Removed <b>{html.escape(result.removed or '')}</b>. "
        f"This chat follows {result.remaining} topic(s).",
    )


async def topics(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List this chat's topics, numbered."""
    chat = update.effective_chat
    if chat is None:
        return
    subs = services_of(context).list_topics(chat_ref(chat))
    if not subs:
        await reply(update, "This chat follows no topics yet. Try /subscribe Pakistan Afghanistan")
        return
    lines = [
        f"{n}. {html.escape(sub.query_text)}{' (muted)' if sub.muted else ''}"
        for n, sub in enumerate(subs, start=1)
    ]
    await reply(
        update,
        "Your topics:\n" + "\n".join(lines) + "\n\nRemove one with /unsubscribe NUMBER",
    )


async def preview(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show which stored stories of the last days a topic would have matched."""
    result = await asyncio.to_thread(
        services_of(context).preview, command_argument(update), now_utc()
    )
    if result.error is not None:
        await reply(update, html.escape(result.error))
        return
    head = (
        f"<b>{html.escape(result.query_text)}</b> means {html.escape(result.description)}.\n"
        f"In the last {result.days} days it would have matched {result.total} stor"
        f"{'y' if result.total == 1 else 'ies'}"
    )
    lines = []
    for item in result.stories:
        story = item.story
        title = html.escape(story.title)
        link = f'<a href="{html.escape(story.url, quote=True)}">{title}</a>' if story.url else title
        lines.append(f"• {link} ({html.escape(story.source)})")
    text = head + (":\n" + "\n".join(lines) if lines else ".")
    if result.suggestions:
        text += "\n\n" + describe_suggestions(result.suggestions)
        text += "\nAdd them to a topic with OR, e.g. <code>(Afghanistan OR Kabul) Pakistan</code>."
    await reply(update, text)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a command newsbot does not know."""
    message = update.effective_message
    word = (message.text or "").split()[0] if message is not None and message.text else ""
    await reply(
        update,
        f"I don't know the command {html.escape(word[:64])}. Send /help to see what I can do.",
    )


async def plain_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A private message that is not a command: point to /subscribe."""
    await reply(
        update,
        "To follow a topic, send /subscribe followed by the words, e.g. "
        "<code>/subscribe Pakistan Afghanistan</code>. /help lists everything.",
    )


async def alert_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Buttons under an alert: more, sources, why, mute."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        return
    action, _, raw_id = (query.data or "").partition(":")
    services = services_of(context)
    alert_id = parse_id(raw_id)
    alert = services.alert_for(chat.id, alert_id) if alert_id is not None else None
    if alert is None:
        await query.answer("That alert is no longer available.")
        return
    if action in {"up", "down"}:
        await query.answer()
        await feedback(update, context, alert.id, liked=action == "up")
        return
    if action == "mute":
        topic = services.mute_alert_topic(chat.id, alert.id)
        await query.answer(f"Muted {topic}" if topic else "Already removed.")
        if topic:
            await reply(
                update,
                f"🔕 Muted <b>{html.escape(topic)}</b>. Send /topics to see your topics.",
            )
        return
    await query.answer()
    if action == "why":
        await reply(update, render_why(alert))
    elif action == "src":
        await reply(update, render_sources(alert, now_utc()))
    elif action == "more":
        title = html.escape(alert.title)
        await reply(update, f"<b>{title}</b>\n\n{html.escape(services.longer_summary(alert))}")


async def feedback(
    update: Update, context: ContextTypes.DEFAULT_TYPE, alert_id: int, *, liked: bool
) -> None:
    """👍 offers words that would find more stories like this; 👎 offers a word to leave out."""
    chat = update.effective_chat
    if chat is None:
        return
    services = services_of(context)
    if liked:
        found = await asyncio.to_thread(services.like_alert, chat.id, alert_id, now_utc())
        if found is None or not found.suggestions:
            await reply(update, "👍 Thanks! I'll keep sending stories like this one.")
            return
        await reply(
            update,
            "👍 Thanks! To find more stories like this one:\n"
            + describe_suggestions(found.suggestions)
            + "\nTap a word to match it too.",
            suggestion_keyboard(found.subscription_id, found.suggestions),
        )
        return
    proposal = await asyncio.to_thread(services.dislike_alert, chat.id, alert_id, now_utc())
    if proposal is None:
        await reply(
            update,
            "👎 Noted. I found no word that sets this story apart; you can narrow the topic "
            "yourself, e.g. <code>/subscribe TOPIC -word</code>, or mute it from the alert.",
        )
        return
    word = html.escape(proposal.word)
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    f"Leave out {proposal.word}",
                    callback_data=f"ex:{proposal.subscription_id}:{proposal.word}",
                )
            ]
        ]
    )
    await reply(
        update,
        f"👎 Noted. Leave out stories that mention <b>{word}</b> from "
        f"<b>{html.escape(proposal.topic)}</b>?",
        keyboard,
    )


async def refine_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Buttons that change a topic with the subscriber's consent: add:… and ex:…."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        return
    if not await may_change_topics(update, context):
        await query.answer()
        return
    parts = (query.data or "").split(":", 3)
    services = services_of(context)
    sub_id = parse_id(parts[1]) if len(parts) > 1 else None
    term_key = parts[2] if len(parts) == 4 and _TERM_KEY.fullmatch(parts[2]) else None
    if parts[0] == "add" and sub_id is not None and term_key is not None:
        result = services.widen_topic(chat_ref(chat), sub_id, term_key, parts[3], now_utc())
    elif parts[0] == "ex" and len(parts) == 3 and sub_id is not None:
        result = services.narrow_topic(chat_ref(chat), sub_id, parts[2], now_utc())
    else:
        await query.answer("That button no longer works.")
        return
    await query.answer()
    if result.error is not None:
        await reply(update, html.escape(result.error))
    elif result.already:
        await reply(update, f"This chat already follows <b>{html.escape(result.query_text)}</b>.")
    else:
        await reply(
            update,
            f"✏️ Your topic is now <b>{html.escape(result.query_text)}</b>: "
            f"{html.escape(result.description)}.",
        )
