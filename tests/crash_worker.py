"""A newsbot process for the crash test: imports everything, waits for a line on stdin, then runs.

The crash test starts the next worker while the current one is still running, so the slow part
(importing python-telegram-bot, SQLAlchemy and Alembic) is done by the time the previous worker is
killed. What runs after the go-line is exactly ``newsbot run`` with the environment it was given.
"""

from __future__ import annotations

import sys

import handlers.app  # noqa: F401  (imported ahead of time, see the module docstring)
from bot.cli import main


def run() -> int:
    """Wait for the go-line on stdin, then run the bot until killed or stopped."""
    if not sys.stdin.readline():
        return 0  # the test ended without needing this worker
    return main(["run"])


if __name__ == "__main__":
    sys.exit(run())
