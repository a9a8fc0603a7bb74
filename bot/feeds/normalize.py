"""Raw feed entries to ``Story`` values: plain text, canonical links, sane dates, stable keys."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import nh3

from bot.models import ParsedFeed, RawEntry, Story
from bot.stories.canonical import canonical_url

TITLE_MAX_CHARS = 300
SUMMARY_MAX_CHARS = 4000
# Work on at most this much input text: enough for any summary we keep, bounded for hostile feeds.
_INPUT_MAX_CHARS = 100_000
_FALLBACK_TITLE_WORDS = 12
_FALLBACK_TITLE_CHARS = 120
_GUID_MAX_CHARS = 500
# Feeds' clocks run a little fast; only dates beyond this are treated as "in the future".
CLOCK_SKEW = timedelta(minutes=5)

# Block-level tags become a space so "<p>one</p><p>two</p>" does not read "onetwo".
_BLOCK_TAG = re.compile(
    r"<\s*/?\s*(?:p|br|li|ul|ol|div|h[1-6]|tr|td|th|table|blockquote|pre|hr|dt|dd|dl|section|"
    r"article|header|footer|aside|figure|figcaption|nav|main|address)\b[^>]*>",
    re.IGNORECASE,
)
_LOOKS_LIKE_MARKUP = re.compile(r"<[A-Za-z/!]|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]\w*);")
# Bidi overrides/isolates/marks, zero-width space, BOM, soft hyphen. ZWJ and ZWNJ are kept:
# Persian, Urdu, Pashto and emoji sequences need them.
_BIDI_CONTROLS = (0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069)
_INVISIBLE: dict[int, None] = dict.fromkeys(
    (*_BIDI_CONTROLS, 0x200E, 0x200F, 0x061C, 0x200B, 0xFEFF, 0x00AD, 0x2060)
)


def clean_text(html_or_text: str | None) -> str:
    """HTML or text to one line of plain text: no tags, entities decoded, whitespace collapsed."""
    if not html_or_text:
        return ""
    text = html_or_text[:_INPUT_MAX_CHARS]
    # Feeds often escape their HTML twice (&amp;lt;b&amp;gt;); peel a few layers, no more.
    for _ in range(3):
        if not _LOOKS_LIKE_MARKUP.search(text):
            break
        peeled = _strip_markup(text)
        if peeled == text:
            break
        text = peeled
    return _plain(text)


def _strip_markup(text: str) -> str:
    text = _BLOCK_TAG.sub(" ", text)
    stripped = nh3.clean(
        text, tags=set(), clean_content_tags={"script", "style"}, attributes={}, strip_comments=True
    )
    return html.unescape(stripped)


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    # Other control characters (C0, DEL, C1) become spaces, then all whitespace collapses.
    text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)
    return " ".join(text.split())


def cut_on_word(text: str, limit: int) -> str:
    """``text`` shortened to at most ``limit`` characters at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:-") + "…"


def normalize_entry(
    entry: RawEntry,
    *,
    feed_url: str,
    source: str,
    feed_id: int | None,
    language: str | None,
    now: datetime,
) -> Story | None:
    """One entry as a ``Story``, or None when it has neither a title nor a link."""
    title = clean_text(entry.title)
    summary = cut_on_word(clean_text(entry.summary), SUMMARY_MAX_CHARS)
    url = canonical_url(entry.link, feed_url) if entry.link else None
    if not title and not entry.link:
        return None
    if not title:
        title = _title_from(summary)
    if not title:
        return None
    title = cut_on_word(title, TITLE_MAX_CHARS)
    return Story(
        key=_story_key(entry.guid, url, source, title),
        url=url,
        title=title,
        summary=summary,
        published_at=_published_at(entry, now),
        source=source,
        site=_site(url),
        language=_language(language or entry.language),
        feed_id=feed_id,
    )


def normalize_feed(
    parsed: ParsedFeed,
    *,
    feed_url: str,
    source: str,
    feed_id: int | None,
    language: str | None,
    now: datetime,
) -> list[Story]:
    """Every usable entry of a feed as a ``Story``, first of each key kept, in feed order."""
    stories: list[Story] = []
    seen: set[str] = set()
    for entry in parsed.entries:
        story = normalize_entry(
            entry,
            feed_url=feed_url,
            source=source,
            feed_id=feed_id,
            language=language or entry.language or parsed.language,
            now=now,
        )
        if story is not None and story.key not in seen:
            seen.add(story.key)
            stories.append(story)
    return stories


def _title_from(summary: str) -> str:
    words = summary.split()
    if not words:
        return ""
    title = " ".join(words[:_FALLBACK_TITLE_WORDS])
    if len(words) > _FALLBACK_TITLE_WORDS or len(title) > _FALLBACK_TITLE_CHARS:
        return cut_on_word(title, _FALLBACK_TITLE_CHARS).rstrip("…") + "…"
    return title


def _published_at(entry: RawEntry, now: datetime) -> datetime:
    when = entry.published or entry.updated
    if when is None or when.tzinfo is None or when > now + CLOCK_SKEW:
        return now
    return when


def _story_key(guid: str | None, url: str | None, source: str, title: str) -> str:
    guid = _plain(guid) if guid else ""
    if guid:
        if len(guid) > _GUID_MAX_CHARS:
            return "guid:sha256:" + hashlib.sha256(guid.encode()).hexdigest()
        return "guid:" + guid
    if url:
        return "url:" + url
    digest = hashlib.sha256(f"{source}\n{title}".encode()).hexdigest()
    return "hash:" + digest[:32]


def _site(url: str | None) -> str | None:
    if not url:
        return None
    host = urlsplit(url).hostname
    if not host:
        return None
    return host.removeprefix("www.")


def _language(code: str | None) -> str | None:
    if not code:
        return None
    code = code.strip().replace("_", "-").lower()
    return code[:35] or None
