"""Alerts rendered for Telegram: escaped HTML within the 4096-character budget, and keyboards.

Every piece of feed text is treated as hostile: control characters and bidi overrides are
removed, everything is escaped, links are limited to http(s), and lengths are capped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.models import Alert, AlertSource
from handlers.telegram_html import Token, tokenize, utf16_len

MESSAGE_LIMIT = 4096
MAX_TITLE = 300
MAX_SOURCE_NAME = 64
MAX_TOPIC = 200
MAX_HREF = 1500  # escaped length; a longer link is dropped rather than eating the budget
MAX_LISTED_SOURCES = 25
ELLIPSIS = "…"
_WORD_SLACK = 30  # how far back a cut may move to end on a whole word

# C0/C1 controls (tabs and newlines included: callers re-add the line breaks they want) and the
# bidi embeddings, overrides and isolates that can make a title display as something else.
_UNSAFE_RE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SPACES_RE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Feed text made safe to show: unsafe characters become spaces, runs of space collapse."""
    return _SPACES_RE.sub(" ", _UNSAFE_RE.sub(" ", text)).strip()


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a word boundary if one is near, with an ellipsis."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= len(cut) - _WORD_SLACK and space > 0:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def safe_href(url: str | None) -> str | None:
    """The URL escaped for an href attribute, or None when it is not a usable http(s) link."""
    if url is None:
        return None
    url = url.strip()
    if _UNSAFE_RE.search(url) or not url.lower().startswith(("http://", "https://")):
        return None
    href = html.escape(url, quote=True)
    return href if len(href) <= MAX_HREF else None


def relative_time(then: datetime, now: datetime) -> str:
    """A human age: "just now", "5 min ago", "3 h ago", "2 days ago"."""
    seconds = (now - then).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    return "1 day ago" if days == 1 else f"{days} days ago"


def source_names(alert: Alert) -> list[str]:
    """The outlets that carried the story, the alert's own first, without repeats."""
    names: list[str] = []
    for raw in (alert.source, *(s.name for s in alert.sources)):
        name = shorten(clean_text(raw), MAX_SOURCE_NAME)
        if name and name not in names:
            names.append(name)
    return names or ["unknown source"]


def sources_phrase(names: list[str]) -> str:
    """ "Dawn", "Dawn and BBC", "Dawn, BBC and Reuters", "Dawn, BBC and 2 more"."""
    if len(names) == 1:
        return names[0]
    if len(names) <= 3:
        return ", ".join(names[:-1]) + " and " + names[-1]
    return f"{names[0]}, {names[1]} and {len(names) - 2} more"


def _fit(build: Callable[[str, str], str], title: str, summary: str, limit: int) -> str:
    """The longest build(title, summary) within ``limit``: shorten the summary first, then title."""
    full = build(title, summary)
    if utf16_len(full) <= limit:
        return full
    kept = _longest_prefix(lambda n: build(title, shorten(summary, n)), len(summary), limit)
    shortened = build(title, shorten(summary, kept))
    if utf16_len(shortened) <= limit:
        return shortened
    kept = _longest_prefix(lambda n: build(shorten(title, n), ""), len(title), limit)
    return build(shorten(title, kept), "")


def _longest_prefix(make: Callable[[int], str], upper: int, limit: int) -> int:
    """Binary search for the largest n in [0, upper] whose make(n) fits ``limit``."""
    low, high = 0, upper
    while low < high:
        mid = (low + high + 1) // 2
        if utf16_len(make(mid)) <= limit:
            low = mid
        else:
            high = mid - 1
    return low


def _html_alert(alert: Alert, now: datetime) -> Callable[[str, str], str]:
    """A builder of the alert's HTML from a (plain) title and summary."""
    href = safe_href(alert.url)
    meta = html.escape(
        f"{sources_phrase(source_names(alert))} · {relative_time(alert.published_at, now)}"
    )
    topic = html.escape(shorten(clean_text(alert.topic), MAX_TOPIC))
    topic_line = f"\n\n🔎 Topic: {topic}" if topic else ""

    def build(title: str, summary: str) -> str:
        heading = f"<b>{html.escape(title or 'Untitled story')}</b>"
        if href is not None:
            heading = f'<a href="{href}">{heading}</a>'
        body = f"\n\n{html.escape(summary)}" if summary else ""
        return f"{heading}\n{meta}{body}{topic_line}"

    return build


def render_alert(alert: Alert, now: datetime, *, limit: int = MESSAGE_LIMIT) -> str:
    """The alert as Telegram HTML: linked bold title, sources and age, summary, topic."""
    title = shorten(clean_text(alert.title), MAX_TITLE)
    return _fit(_html_alert(alert, now), title, clean_text(alert.summary), limit)


def render_plain(alert: Alert, now: datetime, *, limit: int = MESSAGE_LIMIT) -> str:
    """The alert as plain text (no parse mode), for when Telegram rejects the HTML."""
    url = alert.url.strip() if alert.url and safe_href(alert.url) else None
    meta = f"{sources_phrase(source_names(alert))} · {relative_time(alert.published_at, now)}"
    topic = shorten(clean_text(alert.topic), MAX_TOPIC)
    topic_line = f"\n\n🔎 Topic: {topic}" if topic else ""

    def build(title: str, summary: str) -> str:
        link = f"\n{url}" if url else ""
        body = f"\n\n{summary}" if summary else ""
        return f"{title or 'Untitled story'}{link}\n{meta}{body}{topic_line}"

    title = shorten(clean_text(alert.title), MAX_TITLE)
    return _fit(build, title, clean_text(alert.summary), limit)


def alert_keyboard(alert: Alert) -> InlineKeyboardMarkup:
    """The follow-up buttons under an alert: More, Sources, Why?, Mute topic, 👍 and 👎."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("More", callback_data=f"more:{alert.id}"),
                InlineKeyboardButton("Sources", callback_data=f"src:{alert.id}"),
            ],
            [
                InlineKeyboardButton("Why?", callback_data=f"why:{alert.id}"),
                InlineKeyboardButton("Mute topic", callback_data=f"mute:{alert.id}"),
            ],
            [
                InlineKeyboardButton("👍", callback_data=f"up:{alert.id}"),
                InlineKeyboardButton("👎", callback_data=f"down:{alert.id}"),
            ],
        ]
    )


_FIELD_NAMES = {"title": "title", "summary": "summary", "source": "source", "lang": "language"}


def render_why(alert: Alert) -> str:
    """Which of the topic's terms hit which field of the story, as Telegram HTML."""
    topic = html.escape(shorten(clean_text(alert.topic), MAX_TOPIC))
    lines = [f"<b>Why this alert</b>\nTopic: {topic}"]
    for hit in alert.hits[:MAX_LISTED_SOURCES]:
        term = html.escape(shorten(clean_text(hit.term), 80))
        matched = html.escape(shorten(clean_text(hit.matched), 80))
        where = html.escape(_FIELD_NAMES.get(hit.field, shorten(clean_text(hit.field), 20)))
        lines.append(f"• <b>{term}</b> matched “{matched}” in the {where}")
    if not alert.hits:
        lines.append("The story matched the topic as a whole.")
    return "\n".join(lines)


def render_sources(alert: Alert, now: datetime) -> str:
    """Every outlet that carried the story, with links and ages, as Telegram HTML."""
    sources = alert.sources or (AlertSource(alert.source, alert.url, alert.published_at),)
    lines = [f"<b>Sources ({len(sources)})</b>"]
    for source in sources[:MAX_LISTED_SOURCES]:
        name = html.escape(shorten(clean_text(source.name), MAX_SOURCE_NAME) or "unknown source")
        href = safe_href(source.url)
        label = f'<a href="{href}">{name}</a>' if href is not None else name
        lines.append(f"• {label} · {relative_time(source.published_at, now)}")
    if len(sources) > MAX_LISTED_SOURCES:
        lines.append(f"… and {len(sources) - MAX_LISTED_SOURCES} more")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- splitting

_BREAK_PRIORITY = (("\n\n", 3), ("\n", 2), (" ", 1))


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split Telegram HTML into valid chunks of at most ``limit`` UTF-16 units.

    Prefers paragraph breaks, then line breaks, then spaces; never cuts a tag or an entity;
    tags open across a cut are closed at the end of a chunk and reopened in the next.
    """
    tokens = tokenize(text)
    chunks: list[str] = []
    start = 0
    while start < len(tokens):
        start = _skip_space(tokens, start)
        if start >= len(tokens):
            break
        end = _chunk_end(tokens, start, limit)
        chunk = _render_chunk(tokens, start, end)
        if chunk.strip():
            chunks.append(chunk)
        start = end
    return chunks


def _skip_space(tokens: list[Token], i: int) -> int:
    while i < len(tokens) and tokens[i].kind == "char" and tokens[i].text in " \n":
        i += 1
    return i


def _open_tags(tokens: list[Token], end: int, stack: list[Token] | None = None) -> list[Token]:
    """The start tags still open after tokens[:end]."""
    opened = list(stack or [])
    for tok in tokens[:end]:
        if tok.kind == "start":
            opened.append(tok)
        elif tok.kind == "end" and opened and opened[-1].name == tok.name:
            opened.pop()
    return opened


def _render_chunk(tokens: list[Token], start: int, end: int) -> str:
    """tokens[start:end], reopening the tags open at ``start`` and closing those open at ``end``."""
    before = _open_tags(tokens, start)
    after = _open_tags(tokens[start:end], end - start, before)
    body = "".join(t.raw for t in tokens[start:end]).rstrip(" \n")
    return "".join(t.raw for t in before) + body + "".join(f"</{t.name}>" for t in reversed(after))


def _chunk_end(tokens: list[Token], start: int, limit: int) -> int:
    """Where the chunk starting at ``start`` should end: the best break that fits ``limit``.

    A better kind of break wins, but only among breaks past half the limit, so one early
    paragraph break does not leave a nearly empty chunk.
    """
    stack = _open_tags(tokens, start)
    size = sum(utf16_len(t.raw) for t in stack)
    best_any: tuple[int, int] = (0, start + 1)  # (priority, end); at least one token per chunk
    best_late: tuple[int, int] | None = None
    for i in range(start, len(tokens)):
        tok = tokens[i]
        if tok.kind == "start":
            stack.append(tok)
        elif tok.kind == "end" and stack and stack[-1].name == tok.name:
            stack.pop()
        size += utf16_len(tok.raw)
        closing = sum(len(t.name) + 3 for t in stack)
        if size + closing > limit:
            return (best_late or best_any)[1]
        priority = _break_priority(tokens, i + 1)
        if priority >= best_any[0]:
            best_any = (priority, i + 1)
        if size * 2 >= limit and (best_late is None or priority >= best_late[0]):
            best_late = (priority, i + 1)
    return len(tokens)


def _break_priority(tokens: list[Token], end: int) -> int:
    """How good a cut before tokens[end] is: 3 paragraph, 2 line, 1 word, 0 anywhere."""
    if end >= len(tokens):
        return 4
    nxt = tokens[end]
    if nxt.kind != "char":
        return 0
    for sep, priority in _BREAK_PRIORITY:
        ahead = "".join(t.text for t in tokens[end : end + len(sep)] if t.kind == "char")
        if ahead == sep:
            return priority
    return 0
