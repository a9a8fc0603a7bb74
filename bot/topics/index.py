"""The topic index: a percolator that finds the standing queries a story matches.

Each query is filed under an "anchor": a set of keys one of which every matching story must
contain (for AND the cheapest required term, for OR one anchor per branch). A story is
analysed once; its keys pull candidate queries from the postings, and only those are verified.
"""

from __future__ import annotations

import logging

from bot.models import Story, TermHit, TopicMatch
from bot.topics.analyze import AnalyzedStory, analyze
from bot.topics.compiled import CNode, Compiler
from bot.topics.query import Query

logger = logging.getLogger(__name__)

# TopicMatch is a frozen dataclass, whose __init__ assigns through object.__setattr__; a
# story at a million topics yields about a hundred matches, so they are built from the slots.
_new = object.__new__
_set_topic = TopicMatch.__dict__["topic_id"].__set__
_set_hits = TopicMatch.__dict__["hits"].__set__


def _topic_match(topic_id: int, hits: tuple[TermHit, ...]) -> TopicMatch:
    """TopicMatch(topic_id, hits), built without the frozen dataclass's __init__."""
    match: TopicMatch = _new(TopicMatch)
    _set_topic(match, topic_id)
    _set_hits(match, hits)
    return match


class TopicIndex:
    """Standing topic queries, indexed for matching stories against all of them at once."""

    def __init__(self) -> None:
        self._compiler = Compiler()
        self._roots: dict[int, CNode] = {}
        # Postings hold codes: topic id * 2, plus 1 when a story holding the entry's keys
        # must still be verified, and 0 when the entry proves the topic (a one-word topic,
        # a two-word AND under its pairs, the single-word forms of a country); a topic
        # reached by a proving entry skips verification.
        # key -> codes of topics filed under that key alone.
        self._single: dict[str, list[int]] = {}
        # rarer key -> commoner key -> codes of topics filed under the pair (both present).
        self._pairs: dict[str, dict[str, list[int]]] = {}
        # key -> how many postings (single or pair) it is part of. One set operation cuts a
        # story's keys to these; the postings and each pair table are then probed with a
        # few dozen keys, not every key of the story.
        self._keys: dict[str, int] = {}

    def add(self, topic_id: int, query: Query) -> None:
        """File a topic's query (replacing the one it had)."""
        if topic_id in self._roots:
            self.remove(topic_id)
        root = self._compiler.compile(query.root)
        anchor = root.anchor()
        if anchor is None:  # the parser refuses such queries; keep the index safe anyway
            raise ValueError("query has no required term to index")
        self._roots[topic_id] = root
        codes: dict[int, int] = {}  # one int object per code, shared by the postings
        for entry in anchor[1]:
            code = _code(topic_id, root, entry)
            self._posting(entry, create=True).append(codes.setdefault(code, code))

    def _posting(self, entry: tuple[str, ...], *, create: bool) -> list[int]:
        """The topic list of one anchor entry (created when asked)."""
        if len(entry) == 1:
            table = self._single
            key = entry[0]
        else:
            table = self._pairs.setdefault(entry[0], {}) if create else self._pairs[entry[0]]
            key = entry[1]
        found = table.get(key)
        if found is None:
            found = table[key] = []
            for part in entry:
                self._keys[part] = self._keys.get(part, 0) + 1
        return found

    def remove(self, topic_id: int) -> None:
        """Forget a topic; unknown ids are ignored."""
        root = self._roots.pop(topic_id, None)
        if root is None:
            return
        # The anchor is a function of the compiled query: recomputed, not stored per topic.
        anchor = root.anchor()
        for entry in anchor[1] if anchor is not None else ():
            posting = self._posting(entry, create=False)
            posting.remove(_code(topic_id, root, entry))
            if posting:
                continue
            if len(entry) == 1:
                del self._single[entry[0]]
            else:
                del self._pairs[entry[0]][entry[1]]
                if not self._pairs[entry[0]]:
                    del self._pairs[entry[0]]
            for part in entry:
                left = self._keys.pop(part) - 1
                if left:
                    self._keys[part] = left

    def __len__(self) -> int:
        return len(self._roots)

    def __contains__(self, topic_id: object) -> bool:
        return topic_id in self._roots

    def candidates(self, story: AnalyzedStory) -> set[int]:
        """Topics filed under keys the story has: a superset of the matches."""
        return {code >> 1 for code in self._codes(story)}

    def _codes(self, story: AnalyzedStory) -> set[int]:
        """Codes (see __init__) of the topics filed under keys the story has."""
        found: set[int] = set()
        keys = story.keys
        single = self._single
        pairs = self._pairs
        # One set operation in C picks the few story keys that are in any posting at all.
        hot = self._keys.keys() & keys
        size = len(hot)
        for key in hot:
            codes = single.get(key)
            if codes is not None:
                found.update(codes)
            second = pairs.get(key)
            if second is not None:
                # Walk the smaller side: a popular first key can have thousands of partners.
                both = hot.intersection(second) if len(second) <= size else second.keys() & hot
                for other in both:
                    found.update(second[other])
        return found

    def match_analyzed(self, story: AnalyzedStory) -> list[TopicMatch]:
        """Matches for an already analysed story, ordered by topic id."""
        roots = self._roots
        out: list[TopicMatch] = []
        append = out.append
        proven = None
        # Sorted codes put a topic's proving entry (even code) before its other entries.
        for code in sorted(self._codes(story)):
            topic_id = code >> 1
            if code & 1:
                if topic_id == proven:
                    continue
                root = roots[topic_id]
                if not root.match(story):
                    continue
            else:
                proven = topic_id
                root = roots[topic_id]
            append(_topic_match(topic_id, root.hits(story)))
        return out

    def match(self, story: Story) -> list[TopicMatch]:
        """The topics a story matches, each with the terms that hit and where."""
        return self.match_analyzed(analyze(story))


def _code(topic_id: int, root: CNode, entry: tuple[str, ...]) -> int:
    """A topic's code in the posting of one anchor entry (see TopicIndex.__init__)."""
    return topic_id * 2 + (not root.implied_by(frozenset(entry)))


def match_story(index: TopicIndex, story: Story) -> list[TopicMatch]:
    """Match one story against every standing topic; never raises for odd text."""
    try:
        return index.match(story)
    except Exception:  # one hostile story must not stop the tick
        logger.exception("topic match failed story_key=%s", story.key)
        return []
