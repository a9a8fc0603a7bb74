"""Suggestions from the recent-story buffer: related words for a concept, and exclusions.

``related_terms`` ranks words by Dunning's log-likelihood ratio (G2) between the stories that
match a concept and the rest of the buffer; the bot offers them as "also match" buttons.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from bot.models import Story
from bot.topics.aliases import query_words
from bot.topics.analyze import analyze, stem, stopwords, tokenize
from bot.topics.compiled import CNode, Compiler
from bot.topics.query import (
    MAX_QUERY_CHARS,
    MAX_TERMS,
    And,
    Node,
    Not,
    Query,
    QueryError,
    Term,
    make_and,
    make_not,
    make_or,
    parse_query,
    terms_of,
)

# A suggestion must occur in at least this many stories of the concept...
MIN_COUNT = 3
# ...and more often than not a story with the word must be about the concept: a suggestion
# should stand in for the concept (kabul for Afghanistan), not merely co-occur with it.
MIN_SHARE = 0.5
_MIN_LEN = 3


def _content_words(story: Story) -> set[str]:
    """The distinct normalized content words of a story's title and summary."""
    stop = stopwords()
    return {
        t.norm
        for t in tokenize(f"{story.title} {story.summary}")
        if len(t.norm) >= _MIN_LEN and not t.norm.isdigit() and t.norm not in stop
    }


def _g2(a: int, b: int, n1: int, n2: int) -> float:
    """Dunning's log-likelihood ratio for a word seen in a of n1 and b of n2 documents."""

    def part(k: int, n: int, p: float) -> float:
        if k == 0 or p <= 0:
            return 0.0
        return k * math.log(k / (n * p))

    p = (a + b) / (n1 + n2)
    return 2.0 * (
        part(a, n1, p) + part(n1 - a, n1, 1 - p) + part(b, n2, p) + part(n2 - b, n2, 1 - p)
    )


def _covered(node: CNode, word: str, cache: dict[str, bool]) -> bool:
    """True when a word alone would already match the compiled concept (one of its forms)."""
    if word not in cache:
        cache[word] = node.match(analyze(_word_story(word)))
    return cache[word]


def _word_story(word: str) -> Story:
    """A one-word story, to test whether a concept already matches a word."""
    return Story(word, None, word, "", datetime(1970, 1, 1, tzinfo=UTC), "")


class StoryBuffer:
    """Recent stories analysed once, for every suggestion computed until the buffer changes.

    Analysing a few thousand stories takes about a second; a subscriber's /subscribe, 👍 and 👎
    all draw on the same buffer, so it is analysed once and shared (read-only) between them.
    """

    def __init__(self, stories: Iterable[Story]) -> None:
        self.stories = list(stories)
        self.words = [_content_words(s) for s in self.stories]
        self.analyzed = [analyze(s) for s in self.stories]
        # In how many stories each content word occurs.
        self.df: Counter[str] = Counter()
        for words in self.words:
            self.df.update(words)

    def __len__(self) -> int:
        return len(self.stories)

    def matching(self, concept: CNode) -> list[int]:
        """Positions of the stories ``concept`` matches."""
        found = [n for n, a in enumerate(self.analyzed) if concept.match(a)]
        for analyzed in self.analyzed:  # the compiled concept is thrown away after this call
            analyzed.memo.clear()
            analyzed.found.clear()
        return found


Buffer = Sequence[Story] | StoryBuffer


def as_buffer(stories: Buffer) -> StoryBuffer:
    """``stories`` analysed, unless they already are."""
    return stories if isinstance(stories, StoryBuffer) else StoryBuffer(stories)


def related_terms(
    term: str, stories: Buffer, *, limit: int = 5, exclude: Iterable[str] = ()
) -> list[str]:
    """Words over-represented in the buffer's stories that match ``term`` (by G2), best first."""
    try:
        concept = Compiler().compile(parse_query(term).root)
    except QueryError:
        return []
    buffer = as_buffer(stories)
    inside: Counter[str] = Counter()
    hits = buffer.matching(concept)
    for n in hits:
        inside.update(buffer.words[n])
    n1 = len(hits)
    n2 = len(buffer) - n1
    if n1 == 0 or n2 == 0:
        return []
    excluded = {_fold_stem(w) for x in exclude for w in query_words(x)}
    cache: dict[str, bool] = {}
    scored: dict[str, tuple[float, str]] = {}
    for word, a in inside.items():
        b = buffer.df[word] - a
        if a < MIN_COUNT or a / n1 <= b / n2 or a / (a + b) < MIN_SHARE:
            continue
        key = stem(word)
        if _fold_stem(word) in excluded or _covered(concept, word, cache):
            continue
        score = _g2(a, b, n1, n2)
        if key not in scored or score > scored[key][0]:
            scored[key] = (score, word)  # one word per stem: the best-scoring spelling
    ranked = sorted(scored.values(), key=lambda s: (-s[0], s[1]))
    return [word for _, word in ranked[:limit]]


def _fold_stem(word: str) -> str:
    """A word's stem whatever its case: IPO and ipo are one word to leave out."""
    return stem(word.casefold())


def suggest_for_query(query: Query, stories: Buffer, *, limit: int = 5) -> dict[str, list[str]]:
    """Related words per positive term of a query, leaving out words of its other terms."""
    stories = as_buffer(stories)
    terms = [" ".join(t.words) for t in terms_of(query.root) if t.field is None]
    found = {
        text: related_terms(text, stories, limit=limit, exclude=[t for t in terms if t != text])
        for text in terms
    }
    # A word suggested for two terms belongs to their meeting, not to either concept alone.
    seen = Counter(w for words in found.values() for w in words)
    return {text: [w for w in words if seen[w] == 1] for text, words in found.items()}


def _replace(node: Node, target: tuple[str, ...], extra: list[Term]) -> Node:
    """The tree with every term spelled ``target`` widened to an OR with ``extra``."""
    if isinstance(node, Term):
        if node.words != target:
            return node
        scoped = [Term(e.words, node.field, "", e.display) for e in extra]
        return make_or([node, *scoped])
    if isinstance(node, Not):
        return make_not(_replace(node.child, target, extra))
    kids = [_replace(c, target, extra) for c in node.children]
    return make_and(kids) if isinstance(node, And) else make_or(kids)


def with_alternatives(query: Query, term: str, extra: Sequence[str]) -> Query:
    """``query`` with ``term`` widened to ``(term OR extra...)``; QueryError when too big."""
    target = query_words(term)
    extra_terms = [Term(w, None, "", e) for e in extra if (w := query_words(e)) and w != target]
    result = Query(_replace(query.root, target, extra_terms))
    text = result.canonical
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError(f"query too long (at most {MAX_QUERY_CHARS} characters)", MAX_QUERY_CHARS)
    if len(terms_of(result.root)) > MAX_TERMS:
        raise QueryError(f"too many terms (at most {MAX_TERMS})", len(text))
    return Query(result.root, text)


def exclusion_for(query: Query, story: Story, stories: Buffer) -> str | None:
    """The most distinctive word of a disliked story that the query does not use (for -word)."""
    compiler = Compiler()
    terms = [compiler.compile(t) for t in terms_of(query.root)]
    words = _content_words(story)
    if not words:
        return None
    buffer = as_buffer(stories)
    df = buffer.df
    cache: dict[str, bool] = {}
    query_stems = {stem(w) for t in terms_of(query.root) for w in t.words}
    title = {t.norm for t in tokenize(story.title)}
    best: tuple[float, str] | None = None
    for word in sorted(words):
        # A word seen in only one story would exclude nothing in future; skip it. Words with
        # digits (3rd, 2025, g7) name a moment, not a subject, and make poor exclusions.
        if df[word] < 2 or stem(word) in query_stems or any(c.isdigit() for c in word):
            continue
        if any(_covered(term, word, cache) for term in terms):
            continue
        score = math.log(len(buffer) / df[word]) * (2.0 if word in title else 1.0)
        if best is None or score > best[0]:
            best = (score, word)
    return None if best is None else best[1]
