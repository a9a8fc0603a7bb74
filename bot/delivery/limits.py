"""Telegram's sending budgets as pure, clock-free bookkeeping.

Every method takes ``now`` (aware UTC). The budgets, all applied at once:

- overall: about 30 messages per second for the whole bot (we aim at 29, see ``Budgets``);
- per chat: about 1 message per second, with a short burst allowed;
- per group, supergroup or channel: 20 messages per minute;
- a 429 delays the chat it came from for exactly its ``retry_after``; several distinct
  chats answered 429 within a short span means the bot as a whole is over budget, so
  everything pauses for the ``retry_after``.

Rates use GCRA (the "virtual scheduling" form of a token bucket: one timestamp per key);
the per-group budget uses a sliding log of the last sends, because a token bucket would let
a group receive twice its budget in the first minute.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.models import ChatKind

_MINUTE = timedelta(minutes=1)
_GROUP_KINDS = frozenset({ChatKind.GROUP, ChatKind.SUPERGROUP, ChatKind.CHANNEL})


@dataclass(frozen=True)
class Budgets:
    """How fast the bot may send; the defaults follow Telegram's published limits, with headroom."""

    # A hair under Telegram's 30/s: against a strict one-second window, network jitter alone
    # would turn an exact 30/s into a steady trickle of 429s.
    global_per_s: float = 29.0
    # GCRA tolerance, in messages: 1.5 lets a sender that woke late catch up half a slot, so
    # lateness does not pile up into lost throughput, while any one-second window still holds
    # at most 30 sends.
    global_burst: float = 1.5
    chat_per_s: float = 1.0
    chat_burst: int = 3
    group_per_min: int = 20
    # Added to a chat's wait when its own budget binds: the network may deliver the earlier
    # message late and the next one early, and Telegram counts arrivals, not our clock.
    chat_margin: timedelta = timedelta(milliseconds=100)
    # This many distinct chats answered 429 within ``global_pause_window`` pauses everything.
    global_pause_chats: int = 3
    global_pause_window: timedelta = timedelta(seconds=1)
    # Idle chats are forgotten by a sweep that runs at most this often.
    sweep_every: timedelta = timedelta(seconds=30)


def _interval(per_second: float) -> timedelta:
    """The spacing between sends for a rate, rounded up so the rate is never exceeded."""
    return timedelta(microseconds=math.ceil(1_000_000 / per_second))


@dataclass
class _ChatState:
    """What we remember about one chat; dropped once it says nothing about the future."""

    tat: datetime | None = None  # GCRA theoretical arrival time
    blocked_until: datetime | None = None  # from a 429
    group_sends: deque[datetime] = field(default_factory=deque)

    def is_idle(self, now: datetime) -> bool:
        """True when forgetting this state would change no decision from ``now`` on."""
        return (
            (self.tat is None or self.tat <= now)
            and (self.blocked_until is None or self.blocked_until <= now)
            and (not self.group_sends or self.group_sends[-1] + _MINUTE <= now)
        )


class RateLimits:
    """Answers "when may the next message to this chat go?" and books each send."""

    def __init__(self, budgets: Budgets = Budgets()) -> None:
        self.budgets = budgets
        self._global_interval = _interval(budgets.global_per_s)
        self._global_tolerance = self._global_interval * (budgets.global_burst - 1)
        self._chat_interval = _interval(budgets.chat_per_s)
        self._chat_tolerance = self._chat_interval * (budgets.chat_burst - 1)
        self._global_tat: datetime | None = None
        self._global_paused_until: datetime | None = None
        self._recent_429: deque[tuple[datetime, int]] = deque()
        self._chats: dict[int, _ChatState] = {}
        self._last_sweep: datetime | None = None

    @property
    def tracked_chats(self) -> int:
        """How many chats currently have remembered state."""
        return len(self._chats)

    def ready_at(self, chat_id: int, kind: ChatKind, now: datetime) -> datetime:
        """The earliest time a message to ``chat_id`` may go (``now`` if it may go now)."""
        candidates = [now]
        if self._global_tat is not None:
            candidates.append(self._global_tat - self._global_tolerance)
        if self._global_paused_until is not None:
            candidates.append(self._global_paused_until)
        state = self._chats.get(chat_id)
        if state is not None:
            if state.blocked_until is not None:
                candidates.append(state.blocked_until)
            chat_ready = self._chat_budget_ready(state, kind)
            if chat_ready is not None and chat_ready > now:
                candidates.append(chat_ready + self.budgets.chat_margin)
        return max(candidates)

    def _chat_budget_ready(self, state: _ChatState, kind: ChatKind) -> datetime | None:
        """When the chat's own rate (and, for groups, its minute budget) next allows a send."""
        ready = state.tat - self._chat_tolerance if state.tat is not None else None
        if kind in _GROUP_KINDS and len(state.group_sends) >= self.budgets.group_per_min:
            # The oldest send that still counts must leave the one-minute window.
            window_ready = state.group_sends[-self.budgets.group_per_min] + _MINUTE
            ready = window_ready if ready is None else max(ready, window_ready)
        return ready

    def take(self, chat_id: int, kind: ChatKind, now: datetime) -> None:
        """Book one message to ``chat_id`` sent at ``now``."""
        self._global_tat = max(self._global_tat or now, now) + self._global_interval
        state = self._chats.setdefault(chat_id, _ChatState())
        state.tat = max(state.tat or now, now) + self._chat_interval
        if kind in _GROUP_KINDS:
            state.group_sends.append(now)
            while len(state.group_sends) > self.budgets.group_per_min:
                state.group_sends.popleft()
        self._maybe_sweep(now)

    def penalize(self, chat_id: int, retry_after: timedelta, now: datetime) -> None:
        """Hold ``chat_id`` for ``retry_after`` after a 429; pause all if many chats got one."""
        until = now + retry_after
        state = self._chats.setdefault(chat_id, _ChatState())
        state.blocked_until = max(state.blocked_until or until, until)
        self._recent_429.append((now, chat_id))
        horizon = now - self.budgets.global_pause_window
        while self._recent_429 and self._recent_429[0][0] < horizon:
            self._recent_429.popleft()
        distinct = {cid for _, cid in self._recent_429}
        if len(distinct) >= self.budgets.global_pause_chats:
            self._global_paused_until = max(self._global_paused_until or until, until)
        self._maybe_sweep(now)

    def hold(self, chat_id: int, until: datetime) -> None:
        """Send nothing to ``chat_id`` before ``until`` (an alert to it waits for a retry)."""
        state = self._chats.setdefault(chat_id, _ChatState())
        state.blocked_until = max(state.blocked_until or until, until)

    def _maybe_sweep(self, now: datetime) -> None:
        """Forget idle chats from time to time so memory follows the active chats only."""
        if self._last_sweep is not None and now - self._last_sweep < self.budgets.sweep_every:
            return
        self._last_sweep = now
        idle = [cid for cid, state in self._chats.items() if state.is_idle(now)]
        for cid in idle:
            del self._chats[cid]
