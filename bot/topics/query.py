"""The topic query language: parse what a subscriber typed into a small, normalized tree.

Words are ANDed; ``"quoted phrases"``; ``OR`` or ``|`` (looser than AND); ``-word``/``NOT word``
excludes; parentheses group; ``title:``, ``source:`` and ``lang:`` scope a term; ``=word`` is the
exact word only; ``~word`` also matches capitals and other names. See docs/MATCHING.md.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Union

from bot.topics.aliases import CASE_SENSITIVE_MAX, default_table, query_words
from bot.topics.analyze import normalize_word, stopwords, tokenize

MAX_QUERY_CHARS = 200
MAX_TERMS = 20
FIELDS = ("title", "source", "lang")
EXACT = "="
WIDE = "~"
_FIELD_PREFIX = re.compile(r"([A-Za-z]+):(?=\S)")
_OPEN_QUOTES = '"\u201c\u201e\u00ab'
_CLOSE_QUOTES = '"\u201d\u201c\u00bb'
_WORD_END = set(" \t\r\n()|") | set(_OPEN_QUOTES) | set(_CLOSE_QUOTES)


class QueryError(ValueError):
    """A query that cannot be parsed; ``position`` is a 0-based character offset."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.message = message
        self.position = position


@dataclass(frozen=True, slots=True)
class Term:
    """One word or phrase to find; ``mode`` is '' (forms and aliases), '=' (exact) or '~'."""

    words: tuple[str, ...]
    field: str | None = None
    mode: str = ""
    display: str = dataclasses.field(default="", compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class And:
    """All children must match (children sorted by canonical text)."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child must match (children sorted by canonical text)."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The child must not match."""

    child: Node


Node = Union[Term, And, Or, Not]  # noqa: UP007 - a runtime alias used by dataclass annotations


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed topic query; equal queries have equal ``root`` and ``canonical``."""

    root: Node
    text: str = dataclasses.field(default="", compare=False, hash=False)

    @property
    def canonical(self) -> str:
        """The normalized text that identical queries share; it parses back to this query."""
        return canonical_text(self.root)


def canonical(query: Query) -> str:
    """The normalized text of a query (see ``Query.canonical``)."""
    return query.canonical


# --- canonical text -------------------------------------------------------------------------


def _term_text(term: Term) -> str:
    """A term as canonical text: field, mode, then a word or a quoted phrase."""
    prefix = f"{term.field}:" if term.field else ""
    words = " ".join(term.words)
    plain = len(term.words) == 1 and words not in ("OR", "NOT", "AND") and term.field != "lang"
    body = words if plain or term.field == "lang" else f'"{words}"'
    return f"{prefix}{term.mode}{body}"


def canonical_text(node: Node) -> str:
    """Canonical text of any node."""
    if isinstance(node, Term):
        return _term_text(node)
    if isinstance(node, Not):
        inner = canonical_text(node.child)
        return f"-({inner})" if isinstance(node.child, (And, Or)) else f"-{inner}"
    if isinstance(node, And):
        return " ".join(
            f"({canonical_text(c)})" if isinstance(c, Or) else canonical_text(c)
            for c in node.children
        )
    return " OR ".join(
        f"({canonical_text(c)})" if isinstance(c, And) else canonical_text(c) for c in node.children
    )


def make_and(children: list[Node]) -> Node:
    """An AND node, flattened, deduplicated and sorted; a single child stands alone."""
    flat: list[Node] = []
    for child in children:
        flat.extend(child.children if isinstance(child, And) else (child,))
    unique = sorted(set(flat), key=_and_order)
    return unique[0] if len(unique) == 1 else And(tuple(unique))


def _and_order(node: Node) -> tuple[int, str]:
    """Order of AND children: words, then scopes (source:, lang:), then exclusions."""
    rank = (
        2
        if isinstance(node, Not)
        else 1
        if isinstance(node, Term)
        and node.field
        in (
            "source",
            "lang",
        )
        else 0
    )
    return rank, canonical_text(node)


def make_or(children: list[Node]) -> Node:
    """An OR node, flattened, deduplicated and sorted; a single child stands alone."""
    flat: list[Node] = []
    for child in children:
        flat.extend(child.children if isinstance(child, Or) else (child,))
    unique = sorted(set(flat), key=canonical_text)
    return unique[0] if len(unique) == 1 else Or(tuple(unique))


def make_not(child: Node) -> Node:
    """A NOT node; a double negation cancels out."""
    return child.child if isinstance(child, Not) else Not(child)


def is_positive(node: Node) -> bool:
    """True when a match needs at least one word to be present (not only absences)."""
    if isinstance(node, Term):
        return True
    if isinstance(node, Not):
        return False
    if isinstance(node, And):
        return any(is_positive(c) for c in node.children)
    return all(is_positive(c) for c in node.children)


def common_only(node: Node) -> bool:
    """True when a query needs nothing but common words ("on the", "the OR new").

    Such a topic matches nearly every story. An exclusion does not narrow it enough to count;
    a short capitalised word (US, EU) is matched as typed and is not common; a source: scope
    names a feed, a lang: scope a whole language.
    """
    if isinstance(node, Term):
        if node.field == "source":
            return False
        if node.field == "lang":
            return True
        common = stopwords()
        return all(
            not (w.isupper() and len(w) <= CASE_SENSITIVE_MAX) and normalize_word(w) in common
            for w in node.words
        )
    if isinstance(node, Not):
        return True
    if isinstance(node, And):
        return all(common_only(c) for c in node.children)
    return any(common_only(c) for c in node.children)


def terms_of(node: Node) -> list[Term]:
    """Every term of a tree, left to right."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not):
        return terms_of(node.child)
    return [t for c in node.children for t in terms_of(c)]


# --- lexer ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # LP RP OR NOT MINUS MOD FIELD WORD PHRASE END
    value: str
    pos: int


def _lex(text: str) -> list[_Tok]:
    """Split query text into operator and word tokens, with their positions."""
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "()|":
            toks.append(_Tok({"(": "LP", ")": "RP", "|": "OR"}[ch], ch, i))
            i += 1
        elif ch in _OPEN_QUOTES or ch in _CLOSE_QUOTES:
            i = _lex_phrase(text, i, toks)
        elif ch in "-=~" and (i + 1 >= n or text[i + 1].isspace()):
            raise QueryError(f"nothing after '{ch}'", i)
        elif ch == "-":
            toks.append(_Tok("MINUS", ch, i))
            i += 1
        elif ch in "=~":
            toks.append(_Tok("MOD", ch, i))
            i += 1
        elif (m := _FIELD_PREFIX.match(text, i)) is not None:
            name = m.group(1).lower()
            if name not in FIELDS:
                raise QueryError(f"unknown field '{m.group(1)}'", i)
            toks.append(_Tok("FIELD", name, i))
            i = m.end()
        else:
            i = _lex_word(text, i, toks)
    toks.append(_Tok("END", "", n))
    return toks


def _lex_phrase(text: str, start: int, toks: list[_Tok]) -> int:
    """Read a quoted phrase starting at ``start``; return the index after its closing quote."""
    end = start + 1
    while end < len(text) and text[end] not in _CLOSE_QUOTES:
        end += 1
    if end >= len(text):
        raise QueryError("unclosed quote", start)
    toks.append(_Tok("PHRASE", text[start + 1 : end], start))
    return end + 1


def _lex_word(text: str, start: int, toks: list[_Tok]) -> int:
    """Read a bare word (or the OR / NOT / AND operators); return the index after it."""
    end = start
    while end < len(text) and text[end] not in _WORD_END:
        end += 1
    word = text[start:end]
    if word in ("OR", "NOT"):
        toks.append(_Tok(word, word, start))
    elif word != "AND":
        toks.append(_Tok("WORD", word, start))
    return end


# --- parser ---------------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the lexed tokens: or_expr := and_expr (OR and_expr)*."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _lex(text)
        self.i = 0
        self.terms = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "END":
            raise QueryError(f"unexpected '{tok.value}'", tok.pos)
        if node is None:
            raise QueryError("empty query", 0)
        return node

    def parse_or(self) -> Node | None:
        start = self.peek().pos
        parts = [(start, self.parse_and())]
        while self.peek().kind == "OR":
            op = self.take()
            if self.peek().kind in ("END", "RP", "OR"):
                raise QueryError(f"nothing after '{op.value}'", op.pos)
            parts.append((self.peek().pos, self.parse_and()))
        nodes = [node for _, node in parts if node is not None]
        if len(parts) > 1:
            for pos, node in parts:
                if node is not None and not is_positive(node):
                    raise QueryError("an OR alternative can't be only exclusions", pos)
        return make_or(nodes) if nodes else None

    def parse_and(self) -> Node | None:
        tok = self.peek()
        if tok.kind == "OR":
            raise QueryError(f"nothing before '{tok.value}'", tok.pos)
        items: list[Node] = []
        while self.peek().kind not in ("END", "RP", "OR"):
            node = self.parse_unary()
            if node is not None:
                items.append(node)
        return make_and(_merge_names(items)) if items else None

    def parse_unary(self) -> Node | None:
        tok = self.peek()
        if tok.kind in ("MINUS", "NOT"):
            self.take()
            if self.peek().kind in ("END", "RP", "OR"):
                raise QueryError(f"nothing after '{tok.value}'", tok.pos)
            child = self.parse_unary()
            return None if child is None else make_not(child)
        return self.parse_primary(None, "")

    def parse_primary(self, scope: str | None, mode: str) -> Node | None:
        tok = self.take()
        if tok.kind == "FIELD" and scope is None and mode == "":
            return self.parse_primary(tok.value, mode)
        if tok.kind == "MOD" and mode == "":
            return self.parse_primary(scope, tok.value)
        if tok.kind == "LP":
            return self.parse_group(tok, scope, mode)
        if tok.kind in ("WORD", "PHRASE"):
            return self.make_term(tok, scope, mode)
        if tok.kind == "END":
            raise QueryError("query ends too early", tok.pos)
        raise QueryError(f"unexpected '{tok.value}'", tok.pos)

    def parse_group(self, open_tok: _Tok, scope: str | None, mode: str) -> Node | None:
        node = self.parse_or()
        if self.peek().kind != "RP":
            raise QueryError("unbalanced '('", open_tok.pos)
        close = self.take()
        if node is None:
            raise QueryError("empty parentheses", close.pos)
        return _rescope(node, scope, mode) if scope or mode else node

    def make_term(self, tok: _Tok, scope: str | None, mode: str) -> Node | None:
        if scope == "lang":
            words: tuple[str, ...] = (tok.value.strip().lower().replace("_", "-"),)
        else:
            words = query_words(tok.value)
        if not words:
            if tok.kind == "PHRASE":
                raise QueryError("empty phrase", tok.pos)
            return None  # a bare word of punctuation only ("&") adds nothing to look for
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QueryError(f"too many terms (at most {MAX_TERMS})", tok.pos)
        mode = "" if scope in ("source", "lang") else mode
        shown = " ".join(t.surface for t in tokenize(tok.value)) or tok.value.strip()
        return Term(words, scope, mode, display=shown)


def _rescope(node: Node, scope: str | None, mode: str) -> Node:
    """Apply a group's field and mode to the terms inside it."""
    if isinstance(node, Term):
        fld = node.field or scope
        md = "" if fld in ("source", "lang") else (node.mode or mode)
        return Term(node.words, fld, md, node.display)
    if isinstance(node, Not):
        return Not(_rescope(node.child, scope, mode))
    kids = [_rescope(c, scope, mode) for c in node.children]
    return make_and(kids) if isinstance(node, And) else make_or(kids)


def _merge_names(items: list[Node]) -> list[Node]:
    """Join runs of bare words that spell a known multi-word name (United States) into one term."""
    table = default_table()
    out: list[Node] = []
    i = 0
    while i < len(items):
        merged = None
        for size in range(min(table.max_words, len(items) - i), 1, -1):
            run = items[i : i + size]
            if all(isinstance(t, Term) and t.field is None and t.mode == "" for t in run):
                words = tuple(w for t in run if isinstance(t, Term) for w in t.words)
                if table.group_for(words) is not None:
                    shown = " ".join(t.display for t in run if isinstance(t, Term))
                    merged = (Term(words, None, "", shown), size)
                    break
        if merged is None:
            out.append(items[i])
            i += 1
        else:
            out.append(merged[0])
            i += merged[1]
    return out


def parse_query(text: str) -> Query:
    """Parse a subscriber's topic text; raise ``QueryError`` (with a position) when it is bad."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"query too long (at most {MAX_QUERY_CHARS} characters)", MAX_QUERY_CHARS)
    if not text.strip():
        raise QueryError("empty query", 0)
    root = _Parser(text).parse()
    if not is_positive(root):
        raise QueryError("a query needs at least one word to look for, not only exclusions", 0)
    return Query(root, text)
