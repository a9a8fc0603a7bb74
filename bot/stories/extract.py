"""The main text of an article page, for the long summary behind the "More" button.

Pages are decoded here rather than by the extractor: a BOM wins, then the page's own
``<meta charset>`` declaration, then strict UTF-8, then a statistical guess. (The extractor
alone guesses from byte statistics and ignores the declaration, which garbles short
Cyrillic or Latin-1 pages.)
"""

from __future__ import annotations

import codecs
import logging
import re

import trafilatura
from charset_normalizer import from_bytes

logger = logging.getLogger(__name__)

# Pages beyond this are cut before parsing: real articles are far smaller, and the cap keeps
# one hostile page from eating the worker's memory and time.
MAX_PAGE_BYTES = 5 * 1024 * 1024
# After scripts and styles are dropped, markup beyond this is cut: extraction costs about a
# second per megabyte of text-dense HTML, and no real article body is that long.
MAX_MARKUP_CHARS = 2_000_000
# Shorter extracts are teasers, galleries or index pages: the caller uses the feed's text.
MIN_ARTICLE_CHARS = 200

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*([A-Za-z0-9_:.\-]+)""", re.IGNORECASE
)
# Blocks that never hold article text; often the bulk of a large page.
_NON_TEXT = re.compile(
    r"<(script|style|noscript|svg|template)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL
)
_LIST_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s")
# WHATWG: these labels mean windows-1252 on the web.
_LATIN1_LABELS = frozenset({"iso-8859-1", "iso8859-1", "latin1", "latin-1", "us-ascii", "ascii"})


def _declared_encoding(head: bytes) -> str | None:
    """The charset a page declares in a meta tag near its start, if Python knows it."""
    m = _META_CHARSET.search(head)
    if m is None:
        return None
    label = m.group(1).decode("ascii", "replace").lower()
    if label in _LATIN1_LABELS:
        label = "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_page(data: bytes) -> str:
    """Decode HTML bytes: BOM, then meta charset, then UTF-8, then a guess; never raises."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    declared = _declared_encoding(data[:4096])
    # A UTF-16 label in an ASCII-compatible page is a lie by definition.
    if declared is not None and not declared.startswith("utf-16"):
        return data.decode(declared, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data[:65536]).best()
    encoding = best.encoding if best is not None else "utf-8"
    return data.decode(encoding, errors="replace")


def _prose_chars(body: str) -> int:
    """Characters in lines that read as prose (not list items, headlines or link labels)."""
    return sum(
        len(line)
        for line in body.splitlines()
        if not _LIST_LINE.match(line) and len(line.split()) >= 8
    )


def extract_article(html: bytes | str, *, url: str | None = None) -> str | None:
    """Main text of an article page, or None when it is not an article or too short."""
    text = decode_page(html[:MAX_PAGE_BYTES]) if isinstance(html, bytes) else html[:MAX_PAGE_BYTES]
    text = _NON_TEXT.sub(" ", text)[:MAX_MARKUP_CHARS]
    if not text.strip():
        return None
    try:
        body = trafilatura.extract(
            text,
            url=url,
            include_comments=False,
            include_tables=False,
            include_images=False,
            favor_precision=True,
        )
    except Exception as exc:  # the extractor must never take the pipeline down with it
        logger.warning("article extraction failed url=%s error=%s", url, type(exc).__name__)
        return None
    if not body:
        return None
    body = body.strip()
    # Index and gallery pages come out as lists of short link labels: not an article.
    return body if _prose_chars(body) >= MIN_ARTICLE_CHARS else None
