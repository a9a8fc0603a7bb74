"""Commands for the operator's admins (NEWSBOT_ADMINS): feed health."""

from __future__ import annotations

import html
from datetime import datetime

from telegram import Update
from telegram.ext import ContextTypes

from bot.storage.repository import FeedHealth
from handlers.render import relative_time
from handlers.subscriber import now_utc, reply, services_of


def render_feed_health(feeds: list[FeedHealth], now: datetime) -> str:
    """One line per feed: state, last success, stories, last error."""
    if not feeds:
        return "No feeds are configured. Add some to feeds.yaml."
    lines = []
    for item in feeds:
        state = item.state
        if not state.enabled:
            mark = "⏸"
        elif state.last_error:
            mark = "⚠️"
        else:
            mark = "✅"
        last_ok = relative_time(state.last_success_at, now) if state.last_success_at else "never"
        line = f"{mark} <b>{html.escape(state.name)}</b>: ok {last_ok}, {item.story_count} stories"
        if state.last_error:
            line += f"\n    error ×{state.error_count}: {html.escape(state.last_error[:200])}"
        lines.append(line)
    return f"{len(feeds)} feeds:\n" + "\n".join(lines)


async def feeds(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/feeds: the feed list with each feed's health (admins only)."""
    services = services_of(context)
    user = update.effective_user
    if not services.is_admin(user.id if user else None):
        await reply(update, "Only newsbot's admins can see the feed list.")
        return
    await reply(update, render_feed_health(services.feed_health(), now_utc()))  # split if long
