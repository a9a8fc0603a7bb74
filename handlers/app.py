"""Wiring of the Telegram Application: handlers, the poll job and the delivery worker."""

from __future__ import annotations

import asyncio
import html
import logging
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.runtime import Runtime
from handlers import admin, subscriber
from handlers.sender import TelegramNotifier

logger = logging.getLogger(__name__)

FIRST_POLL_DELAY_S = 1.0


def build_application(
    runtime: Runtime,
    *,
    token: str,
    request: BaseRequest | None = None,
    updates_request: BaseRequest | None = None,
    schedule_polls: bool = True,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """Build the bot: commands, buttons, the poll job and the outbox sender.

    ``schedule_polls=False`` leaves polling to the caller (``pipeline.tick()``), as tests do.
    """
    settings = runtime.settings
    builder = (
        Application.builder()
        .token(token)
        .base_url(settings.bot_base_url)
        .base_file_url(settings.telegram_api_url.rstrip("/") + "/file/bot")
        .post_init(_post_init)
        .post_stop(_post_stop)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(updates_request or request)
    else:
        # The delivery worker sends several messages at once; give it connections to do so.
        builder = builder.connection_pool_size(16).pool_timeout(10.0)
    app = builder.build()
    app.bot_data["runtime"] = runtime
    app.bot_data["services"] = runtime.services
    add_handlers(app)
    if not schedule_polls:
        return app
    if app.job_queue is None:
        raise RuntimeError("python-telegram-bot was installed without its job-queue extra")
    app.job_queue.run_repeating(
        poll_job, interval=settings.tick_seconds, first=FIRST_POLL_DELAY_S, name="poll"
    )
    return app


def add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Register every command and button handler."""
    app.add_handler(CommandHandler("start", subscriber.start))
    app.add_handler(CommandHandler("help", subscriber.help_command))
    app.add_handler(CommandHandler("subscribe", subscriber.subscribe))
    app.add_handler(CommandHandler("unsubscribe", subscriber.unsubscribe))
    app.add_handler(CommandHandler("topics", subscriber.topics))
    app.add_handler(CommandHandler("preview", subscriber.preview))
    app.add_handler(CommandHandler("feeds", admin.feeds))
    app.add_handler(CallbackQueryHandler(subscriber.refine_button, pattern=r"^(add|ex):"))
    app.add_handler(CallbackQueryHandler(subscriber.alert_button))
    app.add_handler(MessageHandler(filters.COMMAND, subscriber.unknown_command))
    app.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, subscriber.plain_text
        )
    )
    app.add_error_handler(on_error)


def runtime_of(app: Application[Any, Any, Any, Any, Any, Any]) -> Runtime:
    """The core runtime the application was built with."""
    runtime = app.bot_data["runtime"]
    assert isinstance(runtime, Runtime)
    return runtime


async def poll_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The periodic tick: poll the feeds that are due (per-feed intervals decide which)."""
    runtime = runtime_of(context.application)
    try:
        await runtime.pipeline.tick()
    except Exception:
        logger.exception("poll tick failed")


async def _post_init(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Publish the command list and start the outbox sender."""
    runtime = runtime_of(app)
    try:
        await app.bot.set_my_commands([BotCommand(n, d[:256]) for n, d in subscriber.COMMANDS])
    except Exception:  # a cosmetic call; the bot works without it
        logger.warning("could not publish the command list")
    worker = runtime.delivery_worker(TelegramNotifier(app.bot))
    runtime.pipeline.on_alerts = worker.wake
    stop = asyncio.Event()
    app.bot_data["delivery_stop"] = stop
    app.bot_data["delivery_task"] = asyncio.create_task(worker.run(stop), name="delivery")


async def _post_stop(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Stop the outbox sender and wait for its round to end."""
    stop = app.bot_data.pop("delivery_stop", None)
    task = app.bot_data.pop("delivery_task", None)
    if isinstance(stop, asyncio.Event):
        stop.set()
    if isinstance(task, asyncio.Task):
        try:
            await asyncio.wait_for(task, timeout=30)
        except TimeoutError:
            task.cancel()


async def start_bot(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Start the bot without blocking: what run_polling does, for the console and the tests."""
    await app.initialize()
    await _post_init(app)
    if app.updater is not None:
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
    await app.start()


async def stop_bot(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Stop a bot started with ``start_bot``."""
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    await _post_stop(app)
    await app.shutdown()


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log a handler's failure and tell the person something went wrong, without details."""
    logger.error("handler failed", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            await update.effective_message.reply_text(
                html.escape("Sorry, something went wrong on my side. Please try again."),
                do_quote=False,
            )
        except Exception:
            logger.warning("could not send the error reply")
