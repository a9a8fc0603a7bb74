"""Queries compiled for matching: terms become key sets, trees become small slotted nodes.

A compiled term is shared by every query that uses the same term (the index interns them),
which keeps a million subscriptions compact.
"""

from __future__ import annotations

from typing import Union

from bot.models import TermHit
from bot.topics.aliases import CASE_SENSITIVE_MAX, default_table, query_words
from bot.topics.analyze import AnalyzedStory, FieldText, stem, stopwords
from bot.topics.query import EXACT, WIDE, And, Node, Not, Term, terms_of

# Where an unscoped term may match, in the order hits are reported.
_TEXT_FIELDS = ("title", "summary")
# Stems of words too common to be a good anchor for the index.
_COMMON = frozenset(stem(w) for w in stopwords())

# An anchor: its cost, and entries (one or two keys each) of which a matching story has all
# the keys of at least one.
Anchor = tuple[float, frozenset[tuple[str, ...]]]
# An AND is filed under key pairs only while that takes at most this many pairs.
MAX_PAIRS = 16
_NONE: tuple[()] = ()


def word_keys(word: str, mode: str, languages: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The story keys one query word matches (see bot.topics.analyze for the key kinds)."""
    if word.isupper():  # a capitalised short word kept as typed: US, UAE, NATO
        lower = word.lower()
        if len(word) <= CASE_SENSITIVE_MAX:
            return (word,)
        return (word, "=" + lower) if mode == EXACT else (word, stem(lower))
    if mode == EXACT:
        return ("=" + word,)
    keys = [stem(word)]
    keys.extend(stem(word, lang) for lang in languages)
    return tuple(dict.fromkeys(keys))


def key_cost(key: str) -> float:
    """How costly a key is as an index anchor: common and short words are matched often."""
    if key.startswith("lang:"):
        return 1000.0
    if key in _COMMON or key.lower() in _COMMON:
        return 50.0
    return 1.0 + 6.0 / max(len(key), 1)


def _set_cost(keys: tuple[str, ...]) -> float:
    """The anchor cost of one word's keys."""
    return sum(map(key_cost, keys))


def _pair(a: str, b: str) -> tuple[str, str]:
    """A pair entry, rarer (cheaper) key first: fewer stories then reach its second table."""
    return (a, b) if (key_cost(a), a) <= (key_cost(b), b) else (b, a)


class CTerm:
    """A compiled term: the key sequences it matches and the fields it looks in."""

    __slots__ = ("fields", "key", "label", "seqs", "singles", "telling")

    def __init__(self, term: Term, languages: tuple[str, ...] = ()) -> None:
        shown = default_table().display_name(term.words) if term.field is None else None
        self.label = shown or term.display or " ".join(term.words)
        self.fields: tuple[str, ...] = _TEXT_FIELDS if term.field is None else (term.field,)
        sequences = _sequences(term, languages)
        self.singles = frozenset(k for seq in sequences if len(seq) == 1 for k in seq[0])
        self.seqs = tuple(seq for seq in sequences if len(seq) > 1)
        # True when a single key found anywhere in the story proves the term: keys of
        # source: and lang: carry their prefix and occur in that field only.
        self.telling = term.field != "title"
        # The one key that decides the term, when it is that simple.
        self.key: str | None = None
        if self.telling and not self.seqs and len(self.singles) == 1:
            [self.key] = self.singles

    def match(self, story: AnalyzedStory) -> bool:
        """True when the term occurs in one of its fields (remembered per story)."""
        found = story.memo.get(self)
        if found is None:
            found = story.memo[self] = self._match(story)
        return found is True

    def _match(self, story: AnalyzedStory) -> bool:
        """True when the term occurs in one of its fields."""
        if self.singles:
            if self.telling:
                # story.keys is the union of all fields; other fields' keys carry a prefix.
                if not self.singles.isdisjoint(story.keys):
                    return True
            elif any(not self.singles.isdisjoint(story.fields[f].positions) for f in self.fields):
                return True
        if self.seqs:
            return self._match_phrase(story)
        return False

    def _match_phrase(self, story: AnalyzedStory) -> bool:
        """True when one of the term's word sequences occurs in one of its fields."""
        keys = story.keys
        for seq in self.seqs:
            # Cheap rejection first: every word of the phrase must occur somewhere.
            if all(not keys.isdisjoint(ks) for ks in seq) and any(
                _find_sequence(story.fields[f], seq) is not None for f in self.fields
            ):
                return True
        return False

    def implied_by(self, keys: frozenset[str]) -> bool:
        """True when a story holding all of ``keys`` surely matches the term."""
        return self.telling and not self.singles.isdisjoint(keys)

    def find(self, story: AnalyzedStory) -> TermHit | None:
        """Where the term first occurs, as a hit (field and the story's own words)."""
        for name in self.fields:
            text = story.fields[name]
            common = self.singles.intersection(text.positions)
            if common:
                first = min(text.positions[k][0] for k in common)
                return TermHit(self.label, text.words[first], name)
            for seq in self.seqs:
                start = _find_sequence(text, seq)
                if start is not None:
                    matched = " ".join(text.words[start : start + len(seq)])
                    return TermHit(self.label, matched, name)
        return None

    def hits(self, story: AnalyzedStory) -> tuple[TermHit, ...]:
        """The hit of this term, if any (remembered per story)."""
        hit = story.found.get(self)
        if hit is None:
            one = self.find(story)
            hit = story.found[self] = () if one is None else (one,)
        return hit

    def anchor(self) -> Anchor | None:
        """Entries one of which every matching story has, and their cost.

        A phrase is filed under pairs of keys of its two rarest words, which stories hold
        far less often than either word alone.
        """
        entries: set[tuple[str, ...]] = {(k,) for k in self.singles}
        cost = sum(map(key_cost, self.singles))
        for seq in self.seqs:
            first, second = sorted(seq, key=_set_cost)[:2]
            if len(first) * len(second) <= MAX_PAIRS:
                entries.update(_pair(a, b) for a in first for b in second)
                cost += _set_cost(first) * _set_cost(second) / 100.0
            else:
                entries.update((k,) for k in first)
                cost += _set_cost(first)
        return cost, frozenset(entries)


def _sequences(term: Term, languages: tuple[str, ...]) -> list[tuple[tuple[str, ...], ...]]:
    """Each way the term can be written (itself and its aliases), as keys per word."""
    if term.field == "lang":
        return [(("lang:" + term.words[0],),)]
    if term.field == "source":
        return [tuple(("source:" + w.lower(),) for w in term.words)]
    spellings = [term.words]
    if term.mode != EXACT:
        forms = default_table().forms(term.words, wide=term.mode == WIDE)
        spellings.extend(query_words(f) for f in forms)
    out = []
    for words in dict.fromkeys(spellings):
        if words:
            out.append(tuple(word_keys(w, term.mode, languages) for w in words))
    return out


def _find_sequence(text: FieldText, seq: tuple[tuple[str, ...], ...]) -> int | None:
    """The first position where consecutive words carry the keys of ``seq``, if any."""
    starts = sorted({p for k in seq[0] for p in text.positions.get(k, ())})
    for start in starts:
        if all(
            any(start + i in text.positions.get(k, ()) for k in keys)
            for i, keys in enumerate(seq[1:], 1)
        ):
            return start
    return None


class CAnd:
    """All children match."""

    __slots__ = ("children", "need", "rest")

    def __init__(self, children: tuple[CNode, ...]) -> None:
        self.children = children
        # Children that are one key anywhere in the story (most words) are checked as plain
        # key lookups, without a call or a memo; the rest are evaluated.
        need = tuple(c.key for c in children if isinstance(c, CTerm) and c.key is not None)
        self.need = need or _NONE
        if not need:
            self.rest: tuple[CNode, ...] = children
        else:
            self.rest = tuple(c for c in children if not (isinstance(c, CTerm) and c.key))
            self.rest = self.rest or _NONE

    def match(self, story: AnalyzedStory) -> bool:
        """True when every child matches."""
        # Plain loops: this is the hottest path of matching and a generator costs more.
        keys = story.keys
        for key in self.need:
            if key not in keys:
                return False
        for child in self.rest:  # noqa: SIM110
            if not child.match(story):
                return False
        return True

    def hits(self, story: AnalyzedStory) -> tuple[TermHit, ...]:
        """The hits of the children (exclusions add none)."""
        return tuple(h for c in self.children for h in c.hits(story))

    def implied_by(self, keys: frozenset[str]) -> bool:
        """True when a story holding all of ``keys`` surely matches every child."""
        return all(c.implied_by(keys) for c in self.children)

    def anchor(self) -> Anchor | None:
        """The two cheapest required children as key pairs, else the cheapest child alone."""
        options = sorted(
            (a for c in self.children if (a := c.anchor()) is not None), key=lambda a: a[0]
        )
        if not options:
            return None
        if len(options) == 1:
            return options[0]
        (cost1, first), (cost2, second) = options[0], options[1]
        if len(first) * len(second) > MAX_PAIRS or any(len(e) != 1 for e in first | second):
            return options[0]
        pairs = frozenset(_pair(a[0], b[0]) for a in first for b in second)
        return cost1 * cost2 / 100.0, pairs


class COr:
    """At least one child matches."""

    __slots__ = ("children",)

    def __init__(self, children: tuple[CNode, ...]) -> None:
        self.children = children

    def match(self, story: AnalyzedStory) -> bool:
        """True when any child matches."""
        for child in self.children:  # noqa: SIM110 - hot path, as in CAnd.match
            if child.match(story):
                return True
        return False

    def hits(self, story: AnalyzedStory) -> tuple[TermHit, ...]:
        """The hits of the children that match."""
        return tuple(h for c in self.children if c.match(story) for h in c.hits(story))

    def implied_by(self, keys: frozenset[str]) -> bool:
        """True when a story holding all of ``keys`` surely matches some child."""
        return any(c.implied_by(keys) for c in self.children)

    def anchor(self) -> Anchor | None:
        """Every branch needs its own anchor: the union of them."""
        options = [c.anchor() for c in self.children]
        if any(a is None for a in options):
            return None
        keys = frozenset().union(*(a[1] for a in options if a is not None))
        return sum(a[0] for a in options if a is not None), keys


class CNot:
    """The child does not match."""

    __slots__ = ("child",)

    def __init__(self, child: CNode) -> None:
        self.child = child

    def match(self, story: AnalyzedStory) -> bool:
        """True when the child does not match."""
        return not self.child.match(story)

    def hits(self, story: AnalyzedStory) -> tuple[TermHit, ...]:
        """An exclusion explains nothing."""
        return ()

    def implied_by(self, keys: frozenset[str]) -> bool:
        """An absence is never implied by keys that are present."""
        return False

    def anchor(self) -> Anchor | None:
        """An absence cannot anchor a query."""
        return None


CNode = Union[CTerm, CAnd, COr, CNot]  # noqa: UP007 - runtime alias


class Compiler:
    """Compiles query trees, sharing one compiled term per distinct term."""

    def __init__(self) -> None:
        self._terms: dict[tuple[Term, tuple[str, ...]], CTerm] = {}

    def compile(self, node: Node) -> CNode:
        """The compiled form of a query tree (its lang: scopes add stemming languages)."""
        return self._compile(node, _languages(node))

    def _compile(self, node: Node, languages: tuple[str, ...]) -> CNode:
        if isinstance(node, Term):
            key = (node, languages)
            found = self._terms.get(key)
            if found is None:
                found = self._terms[key] = CTerm(node, languages)
            return found
        if isinstance(node, Not):
            return CNot(self._compile(node.child, languages))
        kids = tuple(self._compile(c, languages) for c in node.children)
        return CAnd(kids) if isinstance(node, And) else COr(kids)

    def __len__(self) -> int:
        return len(self._terms)


def _languages(node: Node) -> tuple[str, ...]:
    """Languages named by lang: scopes, whose stemmers then apply to the query's words too."""
    langs = [t.words[0].split("-")[0] for t in terms_of(node) if t.field == "lang"]
    return tuple(dict.fromkeys(lang for lang in langs if lang != "en"))
