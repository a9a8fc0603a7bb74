"""Logging set-up: one line a record, and secrets (the bot token) never reach a log line.

Redaction happens where records are made (a log record factory), so it covers every logger
and every handler, tracebacks included, whatever else configures logging later.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"
# Anything shaped like a Telegram bot token, ours or not (e.g. quoted in an error message).
_TOKEN_SHAPE = re.compile(r"\d{3,}:[A-Za-z0-9_-]{20,}")
_secrets: set[str] = set()
_base_factory = logging.getLogRecordFactory()
_formatter = logging.Formatter()


def redact(text: str) -> str:
    """``text`` with every registered secret and every token-shaped string replaced."""
    for secret in _secrets:
        text = text.replace(secret, REDACTED)
    return _TOKEN_SHAPE.sub(REDACTED, text)


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    try:
        message = record.getMessage()
    except Exception:  # a malformed call (bad %-args): log it as written, redacted
        message = str(record.msg)
    record.msg, record.args = redact(message), None
    if record.exc_info and record.exc_info[0] is not None:
        # Formatters print exc_text when it is set: give them the redacted traceback.
        record.exc_text = redact(_formatter.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install_redaction(secrets: Iterable[str]) -> None:
    """Redact ``secrets`` (and token-shaped strings) from every log record from now on."""
    _secrets.update(s for s in secrets if s)
    if logging.getLogRecordFactory() is not _redacting_factory:
        logging.setLogRecordFactory(_redacting_factory)


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Log to stderr as ``time level logger message``, with secrets redacted everywhere."""
    install_redaction(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO, and Bot API URLs carry the token: they would be
    # redacted, but they are noise too.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
