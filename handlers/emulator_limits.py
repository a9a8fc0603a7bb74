"""Telegram's message budgets, as the Bot API emulator enforces them when asked to.

Figures follow Telegram's published guidance: about 30 messages per second overall, about one
per second in a private chat (a short burst is tolerated), and 20 per minute in a group or channel.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

GLOBAL_PER_SECOND = 30
PRIVATE_BURST = 3.0
PRIVATE_PER_SECOND = 1.0
GROUP_PER_MINUTE = 20


@dataclass(slots=True)
class SendBudget:
    """Sliding windows and token buckets over a caller-supplied monotonic clock."""

    _global: deque[float] = field(default_factory=deque)
    _private: dict[int, tuple[float, float]] = field(default_factory=dict)  # tokens, last refill
    _groups: dict[int, deque[float]] = field(default_factory=dict)

    def charge(self, chat_id: int, private: bool, now: float) -> float:
        """Spend one message if every budget allows it (returns 0), else the seconds to wait."""
        wait = max(self._global_wait(now), self._chat_wait(chat_id, private, now))
        if wait > 0:
            return wait
        self._global.append(now)
        if private:
            tokens, last = self._private[chat_id]
            self._private[chat_id] = (tokens - 1.0, last)
        else:
            self._groups[chat_id].append(now)
        return 0.0

    def _global_wait(self, now: float) -> float:
        while self._global and now - self._global[0] >= 1.0:
            self._global.popleft()
        if len(self._global) < GLOBAL_PER_SECOND:
            return 0.0
        return 1.0 - (now - self._global[0])

    def _chat_wait(self, chat_id: int, private: bool, now: float) -> float:
        if private:
            tokens, last = self._private.get(chat_id, (PRIVATE_BURST, now))
            tokens = min(PRIVATE_BURST, tokens + (now - last) * PRIVATE_PER_SECOND)
            self._private[chat_id] = (tokens, now)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / PRIVATE_PER_SECOND
        sent = self._groups.setdefault(chat_id, deque())
        while sent and now - sent[0] >= 60.0:
            sent.popleft()
        if len(sent) < GROUP_PER_MINUTE:
            return 0.0
        return 60.0 - (now - sent[0])
