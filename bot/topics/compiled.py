"""Queries compiled for matching: terms become key sets, trees become small slotted nodes.

A compiled term is shared by every query that uses the same term (the index interns them),
which keeps a million subscriptions compact.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def _set_cost(keys: Iterable[str]) -> float:
    """The anchor cost of one word's keys."""
    return sum(map(key_cost, keys))


# TermHit is a frozen dataclass, whose __init__ assigns through object.__setattr__: hits are
# built from its slots instead, as the matcher makes one per term found in each story.
_new = object.__new__
_set_term = TermHit.__dict__["term"].__set__
_set_matched = TermHit.__dict__["matched"].__set__
_set_field = TermHit.__dict__["field"].__set__


def _term_hit(term: str, matched: str, field: str) -> TermHit:
    """TermHit(term, matched, field), built without the frozen dataclass's __init__."""
    hit: TermHit = _new(TermHit)
    _set_term(hit, term)
    _set_matched(hit, matched)
    _set_field(hit, field)
    return hit


def _cost(anchor: Anchor) -> float:
    """An anchor's cost, for sorting."""
    return anchor[0]


def _pair(a: str, b: str) -> tuple[str, str]:
    """A pair entry, rarer (cheaper) key first: fewer stories then reach its second table."""
    return (a, b) if (key_cost(a), a) <= (key_cost(b), b) else (b, a)


class CTerm:
    """A compiled term: the key sequences it matches and the fields it looks in."""

    __slots__ = ("fields", "heads", "key", "label", "only", "seqs", "singles", "telling")

    def __init__(self, term: Term, languages: tuple[str, ...] = ()) -> None:
        shown = default_table().display_name(term.words) if term.field is None else None
        self.label = shown or term.display or " ".join(term.words)
        self.fields: tuple[str, ...] = _TEXT_FIELDS if term.field is None else (term.field,)
        sequences = _sequences(term, languages)
        self.singles = frozenset(k for seq in sequences if len(seq) == 1 for k in seq[0])
        self.seqs = tuple(seq for seq in sequences if len(seq) > 1)
        # The one key of a term without phrases or other spellings, in any field it scopes.
        self.only: str | None = None
        if not self.seqs and len(self.singles) == 1:
            [self.only] = self.singles
        # Keys of the first words of the phrases: a field without any holds none of them.
        self.heads = frozenset(k for seq in self.seqs for k in seq[0])
        # True when a single key found anywhere in the story proves the term: keys of
        # source: and lang: carry their prefix and occur in that field only.
        self.telling = term.field != "title"
        # The one key that decides the term wherever it is found in the story, if it is that
        # simple (a title: term's key must still be found in the title).
        self.key = self.only if self.telling else None

    def match(self, story: AnalyzedStory) -> bool:
        """True when the term occurs in one of its fields (remembered per story)."""
        found = story.memo.get(self)
        if found is None:
            found = story.memo[self] = self._match(story)
        return found is True

    def _match(self, story: AnalyzedStory) -> bool:
        """True when the term occurs in one of its fields."""
        keys = story.keys
        if self.telling:
            # story.keys is the union of all fields; other fields' keys carry a prefix.
            if not self.singles.isdisjoint(keys):
                return True
            if not self.seqs:
                return False
        if self.telling or not self.singles:
            # Cheap rejection: every word of some phrase must occur somewhere in the story.
            # Plain loops: generators cost more on this hot path.
            for seq in self.seqs:
                for word in seq:
                    if keys.isdisjoint(word):
                        break
                else:
                    break
            else:
                return False
        # Finding the term decides it, and the hit is then remembered for the report.
        return story.found[self] is not None

    def implied_by(self, keys: frozenset[str]) -> bool:
        """True when a story holding all of ``keys`` surely matches the term."""
        return self.telling and not self.singles.isdisjoint(keys)

    def find(self, story: AnalyzedStory) -> TermHit | None:
        """Where the term first occurs, as a hit (field and the story's own words)."""
        return self.find_in(story.fields)

    def find_in(self, fields: dict[str, FieldText]) -> TermHit | None:
        """Where the term first occurs in analysed fields, as a hit."""
        only = self.only
        for name in self.fields:
            text = fields[name]
            first = text.first
            if only is not None:  # most terms: one key, no phrase
                pos = first.get(only)
                if pos is not None:
                    return _term_hit(self.label, text.words[pos], name)
                continue
            found = [first[k] for k in self.singles if k in first]
            if found:
                return _term_hit(self.label, text.words[min(found)], name)
            if first.keys().isdisjoint(self.heads):
                continue  # no phrase can start in this field
            for seq in self.seqs:
                start = _find_sequence(text, seq)
                if start is not None:
                    matched = " ".join(text.words[start : start + len(seq)])
                    return _term_hit(self.label, matched, name)
        return None

    def hits(self, story: AnalyzedStory) -> tuple[TermHit, ...]:
        """The hit of this term, if any (remembered per story)."""
        hit = story.found[self]
        return () if hit is None else (hit,)

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


def _sequences(term: Term, languages: tuple[str, ...]) -> list[tuple[frozenset[str], ...]]:
    """Each way the term can be written (itself and its aliases), as keys per word."""
    if term.field == "lang":
        return [(frozenset(("lang:" + term.words[0],)),)]
    if term.field == "source":
        return [tuple(frozenset(("source:" + w.lower(),)) for w in term.words)]
    spellings = [term.words]
    if term.mode != EXACT:
        forms = default_table().forms(term.words, wide=term.mode == WIDE)
        spellings.extend(query_words(f) for f in forms)
    out = []
    for words in dict.fromkeys(spellings):
        if words:
            out.append(tuple(frozenset(word_keys(w, term.mode, languages)) for w in words))
    return out


def _find_sequence(text: FieldText, seq: tuple[frozenset[str], ...]) -> int | None:
    """The first position where consecutive words carry the keys of ``seq``, if any.

    Walks the field's words from the first one carrying a key of the phrase's first word;
    no per-key position lists are needed.
    """
    first = text.first
    head = seq[0]
    found = [first[k] for k in head if k in first]
    if not found:
        return None
    keys_of = text.keys_of
    last = len(keys_of) - len(seq)
    start = min(found)
    while start <= last:
        pos = start
        for keys in seq[1:]:
            pos += 1
            if keys.isdisjoint(keys_of[pos]):
                break
        else:
            return start
        start += 1
        while start <= last and head.isdisjoint(keys_of[start]):
            start += 1
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

    @staticmethod
    def of(children: tuple[CNode, ...]) -> CAnd:
        """An AND of ``children``, in the form that reports their hits fastest."""
        if all(isinstance(c, CTerm | CNot) for c in children):
            return CAndTerms(children)
        return CAnd(children)

    def match(self, story: AnalyzedStory) -> bool:
        """True when every child matches."""
        # Plain loops: this is the hottest path of matching and a generator costs more.
        if not story.keys.issuperset(self.need):
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
        """The two cheapest required children as key pairs, else the cheapest child alone.

        A phrase takes part in a pair through its cheapest word: the words of one phrase
        come together far more often than words of two different children do.
        """
        options = sorted((a for c in self.children if (a := c.anchor()) is not None), key=_cost)
        if not options:
            return None
        words = sorted((a for c in self.children if (a := _word_anchor(c)) is not None), key=_cost)
        if len(words) < 2:
            return options[0]
        (cost1, first), (cost2, second) = words[0], words[1]
        if len(first) * len(second) > MAX_PAIRS:
            return options[0]
        pairs = frozenset(_pair(a[0], b[0]) for a in first for b in second)
        return cost1 * cost2 / 100.0, pairs


def _word_anchor(node: CNode) -> Anchor | None:
    """Single-key entries one of which every story matching ``node`` holds, if it has such.

    A term's own keys, or for a phrase without other spellings the keys of its cheapest word
    (every word of a phrase is in the story when the phrase is).
    """
    if not isinstance(node, CTerm):
        anchor = node.anchor()
        return anchor if anchor is not None and all(len(e) == 1 for e in anchor[1]) else None
    if not node.seqs:
        return _set_cost(node.singles), frozenset((k,) for k in node.singles)
    if node.singles or len(node.seqs) != 1:
        return None
    word = min(node.seqs[0], key=_set_cost)
    return _set_cost(word), frozenset((k,) for k in word)


class CAndTerms(CAnd):
    """An AND of terms and exclusions only (most queries): hits are memo lookups, in C."""

    __slots__ = ()

    def hits(self, story: AnalyzedStory) -> tuple[TermHit, ...]:
        """The hits of the terms, in order (an exclusion finds nothing)."""
        # Every child is a CTerm or a CNot (see CAnd.of), both of which the memo can ask.
        return tuple(filter(None, map(story.found.__getitem__, self.children)))  # type: ignore[arg-type]


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

    def find_in(self, fields: dict[str, FieldText]) -> None:
        """An exclusion is never a hit."""
        return None

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
        # Exclusions of a shared term are shared too: one memo entry per story, not one per topic.
        self._nots: dict[CTerm, CNot] = {}

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
            child = self._compile(node.child, languages)
            if not isinstance(child, CTerm):
                return CNot(child)
            found_not = self._nots.get(child)
            if found_not is None:
                found_not = self._nots[child] = CNot(child)
            return found_not
        kids = tuple(self._compile(c, languages) for c in node.children)
        return CAnd.of(kids) if isinstance(node, And) else COr(kids)

    def __len__(self) -> int:
        return len(self._terms)


def _languages(node: Node) -> tuple[str, ...]:
    """Languages named by lang: scopes, whose stemmers then apply to the query's words too."""
    langs = [t.words[0].split("-")[0] for t in terms_of(node) if t.field == "lang"]
    return tuple(dict.fromkeys(lang for lang in langs if lang != "en"))
