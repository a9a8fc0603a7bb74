"""An in-memory outbox that follows the ``OutboxStore`` port's contract, leases included."""

from __future__ import annotations

import dataclasses
import enum
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.models import Alert, DeliveryOutcome, OutcomeKind
from bot.ports import OutboxStore


class RowStatus(enum.Enum):
    """Where one outbox row stands."""

    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"


@dataclass
class OutboxRow:
    """One queued alert and its delivery bookkeeping."""

    alert: Alert
    due_at: datetime
    status: RowStatus = RowStatus.PENDING
    attempts: int = 0
    worker: str | None = None
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    message_id: int | None = None
    last_outcome: DeliveryOutcome | None = None


class MemoryOutbox(OutboxStore):
    """Alerts held in a dict; claims are leases that lapse, so a dead worker loses nothing."""

    def __init__(self) -> None:
        self.rows: dict[int, OutboxRow] = {}
        self.inactive_chats: set[int] = set()
        # Chats moved by CHAT_MIGRATED: old id -> new id.
        self.migrations: dict[int, int] = {}
        self._next_id = 1
        # The worker may claim from a thread while the event loop records outcomes.
        self._lock = threading.RLock()

    def add(self, alert: Alert, *, due_at: datetime) -> Alert:
        """Enqueue ``alert`` under a fresh id, due at ``due_at``; returns it with that id."""
        with self._lock:
            stored = dataclasses.replace(alert, id=self._next_id, attempts=0)
            self._next_id += 1
            self.rows[stored.id] = OutboxRow(alert=stored, due_at=due_at)
            return stored

    def status(self, alert_id: int) -> RowStatus:
        """The status of one row."""
        return self.rows[alert_id].status

    def ids_with(self, status: RowStatus) -> list[int]:
        """Ids of the rows in ``status``, oldest first."""
        return sorted(i for i, row in self.rows.items() if row.status is status)

    def claim_due(self, now: datetime, *, limit: int, worker: str, lease: timedelta) -> list[Alert]:
        """Lease up to ``limit`` pending alerts that are due at ``now``, oldest first."""
        with self._lock:
            return self._claim_due(now, limit=limit, worker=worker, lease=lease)

    def _claim_due(
        self, now: datetime, *, limit: int, worker: str, lease: timedelta
    ) -> list[Alert]:
        claimed: list[Alert] = []
        for alert_id in sorted(self.rows):
            if len(claimed) >= limit:
                break
            row = self.rows[alert_id]
            if not self._claimable(row, now):
                continue
            if row.alert.chat_id in self.inactive_chats:
                row.status = RowStatus.FAILED
                continue
            row.status = RowStatus.CLAIMED
            row.worker = worker
            row.lease_until = now + lease
            claimed.append(dataclasses.replace(row.alert, attempts=row.attempts))
        return claimed

    def release(self, alert_id: int, *, not_before: datetime) -> None:
        """Give a claimed alert back unsent, due again at ``not_before``; no attempt counted."""
        with self._lock:
            row = self.rows.get(alert_id)
            if row is not None and row.status is RowStatus.CLAIMED:
                self._to_pending(row, not_before)

    def record_outcome(
        self,
        alert_id: int,
        outcome: DeliveryOutcome,
        now: datetime,
        *,
        retry_at: datetime | None = None,
    ) -> None:
        """Store how a delivery attempt ended (see ``OutboxStore.record_outcome``)."""
        with self._lock:
            self._record(alert_id, outcome, now, retry_at)

    def _record(
        self, alert_id: int, outcome: DeliveryOutcome, now: datetime, retry_at: datetime | None
    ) -> None:
        row = self.rows.get(alert_id)
        # A finished row stays finished: a late report from a worker whose lease lapsed
        # must not resurrect or re-fail a row someone else completed.
        if row is None or row.status in (RowStatus.SENT, RowStatus.FAILED):
            return
        row.last_outcome = outcome
        if outcome.kind is OutcomeKind.SENT:
            row.status = RowStatus.SENT
            row.sent_at = now
            row.message_id = outcome.message_id
            row.worker = row.lease_until = None
        elif outcome.kind is OutcomeKind.RETRY:
            row.attempts += 1
            if retry_at is None:
                row.status = RowStatus.FAILED
            else:
                self._to_pending(row, retry_at)
        elif outcome.kind is OutcomeKind.CHAT_GONE:
            row.status = RowStatus.FAILED
            self.inactive_chats.add(row.alert.chat_id)
        elif outcome.kind is OutcomeKind.CHAT_MIGRATED and outcome.new_chat_id is not None:
            self._migrate(row.alert.chat_id, outcome.new_chat_id)
            self._to_pending(row, now)
        else:
            row.status = RowStatus.FAILED

    @staticmethod
    def _claimable(row: OutboxRow, now: datetime) -> bool:
        """Pending and due, or claimed by a worker whose lease has run out."""
        if row.status is RowStatus.PENDING:
            return row.due_at <= now
        if row.status is RowStatus.CLAIMED:
            return row.lease_until is not None and row.lease_until <= now
        return False

    @staticmethod
    def _to_pending(row: OutboxRow, due_at: datetime) -> None:
        """Put a row back in the queue."""
        row.status = RowStatus.PENDING
        row.due_at = due_at
        row.worker = row.lease_until = None

    def _migrate(self, old_chat_id: int, new_chat_id: int) -> None:
        """Point every unfinished alert of the old chat at the new chat."""
        self.migrations[old_chat_id] = new_chat_id
        for row in self.rows.values():
            if row.alert.chat_id == old_chat_id and row.status in (
                RowStatus.PENDING,
                RowStatus.CLAIMED,
            ):
                row.alert = dataclasses.replace(row.alert, chat_id=new_chat_id)
