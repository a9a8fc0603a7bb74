"""The outbox in SQL: the durable queue the delivery worker claims alerts from."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from bot.models import Alert, DeliveryOutcome, OutcomeKind
from bot.storage.database import Database
from bot.storage.repository import Repository
from bot.storage.schema import ChatRow, OutboxRow

logger = logging.getLogger(__name__)


class SqlOutbox:
    """``OutboxStore`` on SQLite or PostgreSQL; claims use FOR UPDATE SKIP LOCKED on PostgreSQL."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def claim_due(self, now: datetime, *, limit: int, worker: str, lease: timedelta) -> list[Alert]:
        """Lease up to ``limit`` due alerts (pending ones, and claims whose lease ran out)."""
        with self.database.session() as session:
            query = (
                select(OutboxRow)
                .join(ChatRow, ChatRow.id == OutboxRow.chat_id)
                .where(
                    ChatRow.active.is_(True),
                    or_(
                        and_(OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now),
                        and_(OutboxRow.status == "sending", OutboxRow.claimed_until < now),
                    ),
                )
                .order_by(OutboxRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=OutboxRow)
            )
            rows = list(session.scalars(query))
            for row in rows:
                if row.status == "sending":
                    logger.warning(
                        "alert lease expired, sending again alert_id=%s previous_worker=%s",
                        row.id,
                        row.claimed_by,
                    )
                row.status = "sending"
                row.claimed_by = worker
                row.claimed_until = now + lease
            session.flush()
            return Repository(session)._alerts(rows) if rows else []

    def release(self, alert_id: int, *, not_before: datetime) -> None:
        """Return a claimed alert unsent, due again at ``not_before``."""
        with self.database.session() as session:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == alert_id, OutboxRow.status == "sending")
                .values(
                    status="pending",
                    next_attempt_at=not_before,
                    claimed_by=None,
                    claimed_until=None,
                )
            )

    def record_outcome(
        self,
        alert_id: int,
        outcome: DeliveryOutcome,
        now: datetime,
        *,
        retry_at: datetime | None = None,
    ) -> None:
        """Store how a delivery attempt ended (see ``bot.ports.OutboxStore``)."""
        with self.database.session() as session:
            row = session.get(OutboxRow, alert_id)
            if row is None:
                return
            row.claimed_by = None
            row.claimed_until = None
            row.outcome = outcome.kind.value
            if outcome.detail:
                row.last_error = outcome.detail[:500]
            kind = outcome.kind
            if kind is OutcomeKind.SENT:
                row.status = "sent"
                row.sent_at = now
                row.message_id = outcome.message_id
                row.last_error = None
            elif kind is OutcomeKind.RETRY:
                row.attempts += 1
                if retry_at is None:
                    row.status = "failed"
                    row.outcome = "gave_up"
                else:
                    row.status = "pending"
                    row.next_attempt_at = retry_at
            elif kind is OutcomeKind.CHAT_GONE:
                row.status = "failed"
                self._deactivate_chat(session, row.chat_id, outcome.detail or "chat gone")
            elif kind is OutcomeKind.CHAT_MIGRATED and outcome.new_chat_id is not None:
                self._migrate_chat(session, row.chat_id, outcome.new_chat_id)
                row.status = "pending"
                row.next_attempt_at = now
            else:
                row.status = "failed"
                row.attempts += 1

    @staticmethod
    def _deactivate_chat(session: Session, chat_id: int, reason: str) -> None:
        session.execute(
            update(ChatRow)
            .where(ChatRow.id == chat_id)
            .values(active=False, inactive_reason=reason[:255])
        )
        # Alerts still queued for a chat that blocked us or vanished will never be deliverable.
        session.execute(
            update(OutboxRow)
            .where(OutboxRow.chat_id == chat_id, OutboxRow.status == "pending")
            .values(status="dropped", outcome="chat_gone")
        )
        logger.info("chat deactivated chat_row=%s reason=%s", chat_id, reason)

    @staticmethod
    def _migrate_chat(session: Session, chat_id: int, new_telegram_id: int) -> None:
        taken = session.scalars(
            select(ChatRow.id).where(ChatRow.telegram_id == new_telegram_id)
        ).first()
        if taken is not None and taken != chat_id:
            # The supergroup already talked to us under its new id: retire the old row's id.
            session.execute(
                update(ChatRow)
                .where(ChatRow.id == taken)
                .values(telegram_id=-(10**15) - taken, active=False, inactive_reason="merged")
            )
        session.execute(
            update(ChatRow)
            .where(ChatRow.id == chat_id)
            .values(telegram_id=new_telegram_id, kind="supergroup")
        )
        logger.info("chat migrated chat_row=%s new_chat_id=%s", chat_id, new_telegram_id)
