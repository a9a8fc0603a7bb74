"""Topic refinement with the subscriber's consent: suggested other names, and 👎 exclusions.

Both rewrite the visible topic text (``(Afghanistan OR Kabul) Pakistan``, ``... -cricket``),
so what a chat follows is always what it can read in /topics.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.models import Story
from bot.topics.aliases import query_words
from bot.topics.analyze import stem
from bot.topics.expand import Buffer, exclusion_for, suggest_for_query, with_alternatives
from bot.topics.query import Query, QueryError, Term, parse_query, terms_of

SUGGESTIONS_PER_TERM = 3
# A suggested word, excluded word or model's name rides in a button's callback data, which
# Telegram caps at 64 bytes ("add:" + subscription id + ":" + term key + ":" + word).
MAX_WORD_BYTES = 30


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Other words for one of a topic's terms, found in recent stories."""

    term_key: str  # term_key() of the term the words are for
    term: str
    words: tuple[str, ...]


def free_terms(query: Query) -> list[Term]:
    """The query's terms without a field scope, left to right (what suggestions widen)."""
    return [t for t in terms_of(query.root) if t.field is None]


def term_key(term: Term) -> str:
    """A term's short, stable name for a button: 8 hex digits from its scope, mode and words.

    A term's position among the topic's terms shifts as accepted words join the topic (its
    terms are kept in canonical order); its words do not, so a button pressed after another one
    of the same offer still widens the term it was offered for.
    """
    raw = f"{term.field or ''}:{term.mode}:{' '.join(term.words)}".casefold()
    return hashlib.blake2s(raw.encode(), digest_size=4).hexdigest()


def concepts_of(query: Query) -> list[str]:
    """The free terms as the subscriber sees them: what a language model is asked to name."""
    return [t.display or " ".join(t.words) for t in free_terms(query)]


def suggestions_for(query: Query, buffer: Buffer) -> list[Suggestion]:
    """Related words per term of ``query``, from the recent-story buffer."""
    found = suggest_for_query(query, buffer, limit=SUGGESTIONS_PER_TERM)
    result = []
    for term in free_terms(query):
        text = " ".join(term.words)
        words = tuple(w for w in found.get(text, []) if _fits(w))
        if words:
            result.append(Suggestion(term_key(term), term.display or text, words))
    return result


def suggestions_in(query: Query, text: str, buffer: Buffer) -> list[Suggestion]:
    """The suggestions for ``query`` that ``text`` (a liked story's) also uses."""
    used = {w.casefold() for w in re.findall(r"\w+", text)}
    picked = []
    for suggestion in suggestions_for(query, buffer):
        words = tuple(w for w in suggestion.words if w.casefold() in used)
        if words:
            picked.append(Suggestion(suggestion.term_key, suggestion.term, words))
    return picked


def _splice(text: str, old: str, new: str, *, in_group: bool = False) -> str:
    """Replace the first standalone occurrence of ``old`` in ``text`` (case-insensitive).

    With ``in_group``, only an occurrence that is an alternative of an OR group inside
    parentheses is replaced (``text`` comes back unchanged when there is none).
    """
    pattern = re.compile(rf"(?<![\w\"=~:-]){re.escape(old)}(?!\w)", re.IGNORECASE)
    for match in pattern.finditer(text):
        before = text[: match.start()].rstrip()
        after = text[match.end() :].lstrip()
        if in_group and not (
            (before.endswith("(") or _ENDS_WITH_OR.search(before))
            and (after.startswith(")") or _STARTS_WITH_OR.match(after))
        ):
            continue
        replacement = new.replace("\\0", match.group(0))
        return text[: match.start()] + replacement + text[match.end() :]
    return text


_ENDS_WITH_OR = re.compile(r"(?:^|\s)(?:OR|\|)$")
_STARTS_WITH_OR = re.compile(r"(?:OR|\|)(?:\s|$)")


def widen(text: str, key: str, word: str) -> str:
    """The topic text with the term named ``key`` (see term_key) widened to ``(term OR word)``."""
    query = parse_query(text)
    found = [t for t in free_terms(query) if term_key(t) == key]
    if not found:
        raise QueryError("that suggestion no longer fits this topic", 0)
    term = " ".join(found[0].words)
    wider = with_alternatives(query, term, [word])
    # Keep the subscriber's own spelling where the splice reads back to the same query.
    written = f'"{word}"' if " " in word.strip() else word  # a phrase keeps its words together
    # A term already in an OR group takes one more alternative there: (a OR b OR c), not
    # (a OR (b OR c)); elsewhere it becomes a group of its own.
    for spelled in (
        _splice(text, term, f"\\0 OR {written}", in_group=True),
        _splice(text, term, f"(\\0 OR {written})"),
    ):
        try:
            if spelled != text and parse_query(spelled).canonical == wider.canonical:
                return spelled
        except QueryError:
            continue
    return wider.canonical


def exclusion(text: str, story: Story, buffer: Buffer) -> str | None:
    """A word to leave out after a 👎 on ``story`` (None when nothing distinctive is found)."""
    word = exclusion_for(parse_query(text), story, buffer)
    return word if word is not None and _fits(word) else None


def _fits(word: str) -> bool:
    """True when ``word`` fits a button's callback data (UTF-8 bytes, not characters)."""
    return len(word.encode()) <= MAX_WORD_BYTES


def narrow(text: str, word: str) -> str:
    """The topic text with ``-word`` added; QueryError when the result is not a valid topic."""
    narrowed = f"{text} -{word}"
    parse_query(narrowed)
    return narrowed


# An offered name: 1 to 3 plain words (letters, digits, inner hyphens, apostrophes, dots).
_NAME = re.compile(r"\w[\w'’.-]*(?: \w[\w'’.-]*){0,2}")
_OPERATORS = frozenset({"or", "and", "not"})


def suggestions_from_names(query: Query, proposed: Mapping[str, Sequence[str]]) -> list[Suggestion]:
    """Offered other names per term, keeping only plain new words and short phrases.

    ``proposed`` maps a term as written (any case) to names for it, from any source that cannot
    be trusted to follow the query language: anything that is not 1 to 3 plain words, names an
    operator, would not fit a button, or the topic already matches is dropped.
    """
    by_term = {key.casefold(): names for key, names in proposed.items()}
    used = {_stems(t.words) for t in terms_of(query.root)}
    result = []
    for term in free_terms(query):
        shown = term.display or " ".join(term.words)
        names = by_term.get(shown.casefold()) or by_term.get(" ".join(term.words).casefold())
        if not names:
            continue
        kept: list[str] = []
        for raw in names:
            name = " ".join(str(raw).split())
            if not _NAME.fullmatch(name) or not _fits(name):
                continue
            if _OPERATORS & {w.casefold() for w in name.split()}:
                continue
            stems = _stems(query_words(name))
            if not stems or stems in used:
                continue
            used.add(stems)
            kept.append(name)
        if kept:
            result.append(Suggestion(term_key(term), shown, tuple(kept[:SUGGESTIONS_PER_TERM])))
    return result


def _stems(words: Sequence[str]) -> tuple[str, ...]:
    """Words compared the way matching compares them (case folded, stemmed)."""
    return tuple(stem(w.casefold()) for w in words)
