"""The core's ways out: small protocols that the shell (Telegram, HTTP) implements."""

from __future__ import annotations

from typing import Protocol

from bot.models import Alert, DeliveryOutcome


class Notifier(Protocol):
    """Sends one alert to its chat and says how that went; never raises for Telegram errors."""

    async def deliver(self, alert: Alert) -> DeliveryOutcome:
        """Send ``alert`` and map the messenger's answer to a ``DeliveryOutcome``."""
        ...
