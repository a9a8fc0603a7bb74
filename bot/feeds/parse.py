"""Feed documents (RSS 0.9x/1.0/2.0, Atom, JSON Feed) to ``ParsedFeed``; pure, bytes in.

feedparser only ever sees bytes we already hold, never a URL or a path, so parsing cannot
trigger network or file access. JSON Feed is read here because feedparser 6.0 does not.
"""

from __future__ import annotations

import calendar
import json
import logging
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from bot.models import ParsedFeed, RawEntry

logger = logging.getLogger(__name__)

# Far above any real feed (the fetcher caps bodies at 10 MB); bounds parser time.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
_MAX_ENTRIES = 2000

# The prolog is everything before the first element; entity declarations can only live there.
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
_ENTITY_DECL = re.compile(rb"<!ENTITY\s+(%\s+)?[^\s>]+\s+([^>]*)>", re.IGNORECASE)
_ENTITY_REF = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos);)[A-Za-z_][\w.-]*;|%[A-Za-z_][\w.-]*;")


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse one feed document; broken documents give ``error`` (or ``warning``), never raise."""
    if not body.strip():
        return _failed("empty document")
    if len(body) > MAX_DOCUMENT_BYTES:
        return _failed("document too large")
    if _looks_like_json(body, content_type):
        return _parse_json_feed(body, url=url)
    refusal = _entity_refusal(body)
    if refusal is not None:
        return _failed(refusal)
    # Without a header, application/xml lets the document's own encoding declaration decide.
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    try:
        result = feedparser.parse(body, response_headers=headers)
    except Exception as exc:  # a parser bug must cost one feed, not the tick
        logger.warning("feed parser crashed url=%s error=%s", url, type(exc).__name__)
        return _failed(f"parser crashed: {type(exc).__name__}")
    return _from_feedparser(result)


def _failed(message: str) -> ParsedFeed:
    return ParsedFeed(title=None, link=None, language=None, entries=(), error=message)


def _entity_refusal(body: bytes) -> str | None:
    """Refuse external and nested entity declarations (XXE, billion laughs) before parsing."""
    head = _prolog(body)
    if b"<!ENTITY" not in head.upper():
        return None
    for match in _ENTITY_DECL.finditer(head):
        parameter, definition = match.group(1), match.group(2).strip()
        if parameter or definition[:6].upper() in (b"SYSTEM", b"PUBLIC"):
            return "refused document with external entities"
        if _ENTITY_REF.search(definition):
            return "refused document with nested entities"
    return None


def _prolog(body: bytes) -> bytes:
    if body.startswith((b"\xff\xfe", b"\xfe\xff")) or body[:4].count(b"\x00") >= 1:
        # UTF-16/32 documents: look at their ASCII shadow (the markup is ASCII anyway).
        body = body.replace(b"\x00", b"")
    match = _FIRST_ELEMENT.search(body)
    return body[: match.start()] if match else body


def _from_feedparser(result: Any) -> ParsedFeed:
    feed = result.get("feed", {})
    found = (_entry(e) for e in result.get("entries", [])[:_MAX_ENTRIES] if isinstance(e, dict))
    # An entry with no identity and no text at all is debris from a truncated document.
    entries = tuple(e for e in found if e.guid or e.link or e.title or e.summary)
    title = _text(feed.get("title"))
    link = _text(feed.get("link"))
    language = _text(feed.get("language")) or _detail_language(feed, "title_detail")
    bozo = bool(result.get("bozo"))
    problem = _describe(result.get("bozo_exception")) if bozo else None
    if not entries:
        if not result.get("version"):
            return ParsedFeed(title, link, language, (), error="not a feed")
        if bozo:
            return ParsedFeed(title, link, language, (), error=problem)
    return ParsedFeed(title, link, language, entries, warning=problem)


def _describe(exc: object) -> str:
    text = str(exc) if exc is not None else "malformed document"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _entry(entry: dict[str, Any]) -> RawEntry:
    summary = _text(entry.get("summary"))
    if not summary:
        content = entry.get("content") or []
        if content and isinstance(content[0], Mapping):
            summary = _text(content[0].get("value"))
    return RawEntry(
        guid=_text(entry.get("id")),
        link=_text(entry.get("link")),
        title=_text(entry.get("title")),
        summary=summary,
        # Plain dict lookups: FeedParserDict would answer updated_parsed with published_parsed.
        published=_utc(dict.get(entry, "published_parsed")),
        updated=_utc(dict.get(entry, "updated_parsed")),
        author=_text(entry.get("author")),
        language=_text(entry.get("language"))
        or _detail_language(entry, "title_detail")
        or _detail_language(entry, "summary_detail"),
    )


def _detail_language(obj: Mapping[str, Any], key: str) -> str | None:
    detail = obj.get(key)
    return _text(detail.get("language")) if isinstance(detail, Mapping) else None


def _text(value: object) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def _utc(value: object) -> datetime | None:
    """feedparser's ``*_parsed`` struct_time is UTC; make it an aware datetime."""
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, OSError, ValueError):
        return None


# -- JSON Feed (https://www.jsonfeed.org/version/1.1/) -------------------------------------------


def _looks_like_json(body: bytes, content_type: str | None) -> bool:
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return start == b"{" or bool(content_type and "json" in content_type.lower() and start != b"<")


def _parse_json_feed(body: bytes, *, url: str) -> ParsedFeed:
    try:
        doc = json.loads(body.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError):
        return _failed("invalid JSON")
    if not isinstance(doc, dict) or "jsonfeed.org" not in str(doc.get("version", "")):
        return _failed("not a feed")
    items = doc.get("items")
    if not isinstance(items, list):
        return _failed("JSON feed without items")
    entries = tuple(_json_entry(i, url) for i in items[:_MAX_ENTRIES] if isinstance(i, dict))
    return ParsedFeed(
        title=_text(doc.get("title")),
        link=_json_link(doc.get("home_page_url"), url),
        language=_text(doc.get("language")),
        entries=entries,
    )


def _json_entry(item: Mapping[str, Any], base: str) -> RawEntry:
    guid = item.get("id")
    summary = (
        _text(item.get("summary"))
        or _text(item.get("content_html"))
        or _text(item.get("content_text"))
    )
    return RawEntry(
        guid=str(guid).strip() or None if isinstance(guid, str | int) else None,
        link=_json_link(item.get("url") or item.get("external_url"), base),
        title=_text(item.get("title")),
        summary=summary,
        published=_iso(item.get("date_published")),
        updated=_iso(item.get("date_modified")),
        author=_json_author(item),
        language=_text(item.get("language")),
    )


def _json_link(value: object, base: str) -> str | None:
    link = _text(value)
    return urljoin(base, link) if link else None


def _json_author(item: Mapping[str, Any]) -> str | None:
    authors = item.get("authors")
    author = authors[0] if isinstance(authors, list) and authors else item.get("author")
    return _text(author.get("name")) if isinstance(author, dict) else None


def _iso(value: object) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
