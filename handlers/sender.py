"""TelegramNotifier: the core's Notifier port, delivering alerts through the Bot API.

Telegram's answers are mapped to DeliveryOutcome so the outbox can decide: retry later, drop
the chat, move a migrated group, or give up on one alert. ``deliver`` never raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.logs import REDACTED, redact
from bot.models import Alert, DeliveryOutcome, OutcomeKind
from handlers.render import alert_keyboard, render_alert, render_plain, split_message

logger = logging.getLogger(__name__)

# Telegram counted more than we did (it should not happen): resend in clearly smaller parts.
_SPLIT_LIMIT = 3000
_BAD_TOKEN_RETRY = timedelta(minutes=5)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TelegramNotifier:
    """Sends alerts with a ``telegram.Bot`` and maps every answer to a DeliveryOutcome."""

    def __init__(self, bot: Bot, *, now: Callable[[], datetime] = _utc_now) -> None:
        self._bot = bot
        self._now = now

    async def deliver(self, alert: Alert) -> DeliveryOutcome:
        """Send one alert; fall back to plain text or parts when Telegram rejects the HTML."""
        now = self._now()
        keyboard = alert_keyboard(alert)
        try:
            message = await self._send(alert, render_alert(alert, now), ParseMode.HTML, keyboard)
            return self._sent(alert, message.message_id)
        except BadRequest as exc:
            text = str(exc).lower()
            if "can't parse entities" in text:
                logger.warning(
                    "alert html rejected chat_id=%s alert_id=%s", alert.chat_id, alert.id
                )
                return await self._resend_plain(alert, now, keyboard)
            if "message is too long" in text:
                return await self._send_parts(alert, render_alert(alert, now), keyboard)
            return self._failure(alert, exc)
        except Exception as exc:  # deliver must never raise
            return self._failure(alert, exc)

    async def _send(
        self, alert: Alert, text: str, parse_mode: str | None, keyboard: InlineKeyboardMarkup | None
    ) -> Message:
        return await self._bot.send_message(
            chat_id=alert.chat_id,
            text=text,
            parse_mode=parse_mode,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
            reply_markup=keyboard,
            message_thread_id=alert.thread_id,
        )

    async def _resend_plain(
        self, alert: Alert, now: datetime, keyboard: InlineKeyboardMarkup
    ) -> DeliveryOutcome:
        try:
            message = await self._send(alert, render_plain(alert, now), None, keyboard)
        except Exception as exc:  # deliver must never raise
            return self._failure(alert, exc)
        return self._sent(alert, message.message_id, detail="sent as plain text")

    async def _send_parts(
        self, alert: Alert, html_text: str, keyboard: InlineKeyboardMarkup
    ) -> DeliveryOutcome:
        parts = split_message(html_text, _SPLIT_LIMIT)
        first_id: int | None = None
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            try:
                message = await self._send(alert, part, ParseMode.HTML, keyboard if last else None)
            except Exception as exc:  # deliver must never raise
                if first_id is None:
                    return self._failure(alert, exc)
                # Part of the alert is already in the chat: a retry would repeat it.
                return self._sent(alert, first_id, detail=f"sent {index} of {len(parts)} parts")
            first_id = message.message_id if first_id is None else first_id
        if first_id is None:
            return DeliveryOutcome(OutcomeKind.FAILED, detail="alert rendered to nothing")
        return self._sent(alert, first_id, detail=f"sent in {len(parts)} parts")

    def _sent(self, alert: Alert, message_id: int, detail: str = "") -> DeliveryOutcome:
        logger.info(
            "alert sent chat_id=%s alert_id=%s message_id=%s", alert.chat_id, alert.id, message_id
        )
        return DeliveryOutcome(OutcomeKind.SENT, message_id=message_id, detail=detail)

    def _failure(self, alert: Alert, exc: BaseException) -> DeliveryOutcome:
        outcome = outcome_for_error(exc, self._bot.token)
        logger.info(
            "alert not sent chat_id=%s alert_id=%s outcome=%s detail=%s",
            alert.chat_id,
            alert.id,
            outcome.kind.value,
            outcome.detail,
        )
        return outcome


def outcome_for_error(exc: BaseException, token: str = "") -> DeliveryOutcome:
    """Map a python-telegram-bot error to what the outbox should do next."""
    detail = _describe(exc, token)
    if isinstance(exc, RetryAfter):
        wait = exc.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return DeliveryOutcome(
            OutcomeKind.RETRY,
            retry_after=timedelta(seconds=seconds),
            rate_limited=True,
            detail=detail,
        )
    if isinstance(exc, ChatMigrated):
        return DeliveryOutcome(
            OutcomeKind.CHAT_MIGRATED, new_chat_id=int(exc.new_chat_id), detail=detail
        )
    if isinstance(exc, Forbidden):
        return DeliveryOutcome(OutcomeKind.CHAT_GONE, detail=detail)
    if isinstance(exc, InvalidToken):
        # The operator's configuration is wrong, not the alert: keep it for after the fix.
        return DeliveryOutcome(OutcomeKind.RETRY, retry_after=_BAD_TOKEN_RETRY, detail=detail)
    if isinstance(exc, BadRequest):
        gone = "chat not found" in str(exc).lower()
        return DeliveryOutcome(OutcomeKind.CHAT_GONE if gone else OutcomeKind.FAILED, detail=detail)
    if isinstance(exc, TimedOut | NetworkError | Conflict):
        # 5xx answers arrive as NetworkError too (PTB maps every other status to it).
        return DeliveryOutcome(OutcomeKind.RETRY, detail=detail)
    if isinstance(exc, TelegramError):
        return DeliveryOutcome(OutcomeKind.FAILED, detail=detail)
    return DeliveryOutcome(OutcomeKind.FAILED, detail=detail)


def _describe(exc: BaseException, token: str) -> str:
    """A short, token-free description of an error for the outbox's records."""
    text = f"{type(exc).__name__}: {exc}"
    if token:
        text = text.replace(token, REDACTED)
    return redact(text)[:500]
