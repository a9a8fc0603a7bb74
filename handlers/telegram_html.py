"""Telegram's HTML parse mode: tokenizing, validating and turning markup into text plus entities.

Shared by the Bot API emulator (which must store ``text`` the way Telegram does) and by
``render.split_message`` (which must never cut inside a tag or an entity).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

# Tags Telegram accepts in parse_mode=HTML, mapped to the entity type they produce.
_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

_TAG_RE = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z_:-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+))?)*)\s*>"
)
_ATTR_RE = re.compile(r"([a-zA-Z_:-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>\"']+)))?")
_ENTITY_RE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]+));")

TokenKind = Literal["start", "end", "char"]


class HtmlParseError(ValueError):
    """The markup is not valid Telegram HTML; the message mirrors Telegram's wording."""


@dataclass(frozen=True, slots=True)
class Token:
    """One indivisible piece of Telegram HTML: a tag, an entity or a single character."""

    kind: TokenKind
    raw: str  # the source text of the token
    name: str = ""  # lower-case tag name for start/end tokens
    text: str = ""  # decoded text for char tokens (an entity decodes to one character)
    attrs: tuple[tuple[str, str], ...] = ()


def tokenize(markup: str) -> list[Token]:
    """Split ``markup`` into tags, entities and characters; lone ``<`` or ``&`` stay characters."""
    tokens: list[Token] = []
    i = 0
    n = len(markup)
    while i < n:
        ch = markup[i]
        if ch == "<":
            m = _TAG_RE.match(markup, i)
            if m is not None:
                kind: TokenKind = "end" if m.group(1) else "start"
                attrs = tuple(
                    (
                        a.group(1).lower(),
                        _decode_entities(a.group(2) or a.group(3) or a.group(4) or ""),
                    )
                    for a in _ATTR_RE.finditer(m.group(3))
                )
                tokens.append(Token(kind, m.group(0), m.group(2).lower(), "", attrs))
                i = m.end()
                continue
        elif ch == "&":
            m = _ENTITY_RE.match(markup, i)
            if m is not None:
                decoded = _decode_entity(m)
                if decoded is not None:
                    tokens.append(Token("char", m.group(0), text=decoded))
                    i = m.end()
                    continue
        tokens.append(Token("char", ch, text=ch))
        i += 1
    return tokens


def _decode_entity(m: re.Match[str]) -> str | None:
    """Decode one matched entity, or None when Telegram would keep it as literal text."""
    dec, hexa, named = m.group(1), m.group(2), m.group(3)
    if named is not None:
        return _NAMED_ENTITIES.get(named.lower())
    code = int(dec) if dec is not None else int(hexa, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def _decode_entities(value: str) -> str:
    """Decode the entities inside an attribute value."""
    return "".join(t.text for t in tokenize(value) if t.kind == "char")


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit Telegram counts in."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


@dataclass(slots=True)
class _Open:
    name: str
    offset: int  # UTF-16 offset where the entity starts
    entity: dict[str, Any] | None


def parse_html(markup: str) -> tuple[str, list[dict[str, Any]]]:
    """Turn Telegram HTML into (text, entities); raises HtmlParseError where Telegram would."""
    parts: list[str] = []
    entities: list[dict[str, Any]] = []
    stack: list[_Open] = []
    pos = 0  # UTF-16 offset in the output text
    byte_offset = 0
    for tok in tokenize(markup):
        if tok.kind == "char":
            if tok.raw == "<":
                raise HtmlParseError(f"Unexpected character '<' at byte offset {byte_offset}")
            parts.append(tok.text)
            pos += utf16_len(tok.text)
        elif tok.kind == "start":
            stack.append(_Open(tok.name, pos, _entity_for(tok, byte_offset)))
        else:
            if not stack:
                raise HtmlParseError(
                    f'Unexpected end tag "{tok.name}" at byte offset {byte_offset}'
                )
            top = stack.pop()
            if top.name != tok.name:
                raise HtmlParseError(
                    f'Unmatched end tag at byte offset {byte_offset}, expected "</{top.name}>", '
                    f'found "</{tok.name}>"'
                )
            _close(top, pos, entities)
        byte_offset += len(tok.raw.encode("utf-8"))
    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return _strip(("".join(parts)), entities)


def _entity_for(tok: Token, byte_offset: int) -> dict[str, Any] | None:
    """The entity a start tag opens (offset and length filled in at the end tag)."""
    etype = _TAG_ENTITY.get(tok.name)
    attrs = dict(tok.attrs)
    if etype is None or (tok.name == "span" and attrs.get("class") != "tg-spoiler"):
        raise HtmlParseError(f'Unsupported start tag "{tok.name}" at byte offset {byte_offset}')
    entity: dict[str, Any] = {"type": etype}
    if tok.name == "a":
        href = attrs.get("href", "")
        if not href:
            return None  # Telegram keeps the text and drops a link without a target
        entity["url"] = href
    elif tok.name == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif tok.name == "code" and attrs.get("class", "").startswith("language-"):
        entity["language"] = attrs["class"].removeprefix("language-")
    elif tok.name == "tg-emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    return entity


def _close(top: _Open, pos: int, entities: list[dict[str, Any]]) -> None:
    """Finish the entity of a closed tag; empty entities are dropped like Telegram does."""
    if top.entity is None or pos == top.offset:
        return
    entities.append({**top.entity, "offset": top.offset, "length": pos - top.offset})


def _strip(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim surrounding whitespace as Telegram does, shifting and clipping entity ranges."""
    lead = utf16_len(text) - utf16_len(text.lstrip())
    stripped = text.strip()
    end = utf16_len(stripped)
    kept: list[dict[str, Any]] = []
    for ent in sorted(entities, key=lambda e: (e["offset"], -e["length"])):
        start = max(ent["offset"] - lead, 0)
        stop = min(ent["offset"] + ent["length"] - lead, end)
        if stop > start:
            kept.append({**ent, "offset": start, "length": stop - start})
    return stripped, kept
