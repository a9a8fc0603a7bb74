"""The core's ways out: small protocols that the shell (Telegram, storage) implements."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from bot.models import Alert, DeliveryOutcome


class Notifier(Protocol):
    """Sends one alert to its chat and says how that went; never raises for messenger errors."""

    async def deliver(self, alert: Alert) -> DeliveryOutcome:
        """Send ``alert`` and map the messenger's answer to a ``DeliveryOutcome``."""
        ...


class OutboxStore(Protocol):
    """The durable queue of alerts, as the delivery worker sees it.

    An alert is claimed (leased to one worker), then either recorded with an outcome or
    released. A claim whose lease ran out (the worker died) becomes claimable again, which
    is what makes delivery at-least-once.
    """

    def claim_due(self, now: datetime, *, limit: int, worker: str, lease: timedelta) -> list[Alert]:
        """Lease up to ``limit`` pending alerts that are due at ``now``, oldest first."""
        ...

    def release(self, alert_id: int, *, not_before: datetime) -> None:
        """Give a claimed alert back unsent, due again at ``not_before``; no attempt counted."""
        ...

    def record_outcome(
        self,
        alert_id: int,
        outcome: DeliveryOutcome,
        now: datetime,
        *,
        retry_at: datetime | None = None,
    ) -> None:
        """Store how a delivery attempt ended.

        SENT marks the alert sent. RETRY puts it back to pending, due at ``retry_at``, and
        counts an attempt (a RETRY with ``retry_at`` None is given up: marked failed).
        CHAT_GONE marks it failed and deactivates the chat. CHAT_MIGRATED moves the chat to
        ``outcome.new_chat_id`` and makes the alert due again at once. FAILED marks it failed.
        """
        ...
