"""Semantic near misses: stories that match part of a topic and are close to the rest in meaning.

Off by default (``NEWSBOT_SEMANTIC=1`` and ``pip install "newsbot[semantic]"`` turn it on). It
never removes a match the words made; it adds a topic to a story when all of these hold:

- the topic has at least two concepts (the words or groups of an AND: ``Olympics doping``);
- the story matches at least one of them by words, and none of the topic's exclusions
  (scopes such as ``source:`` still hold);
- its title and summary are close in meaning (cosine similarity of sentence embeddings) to
  every concept it lacks (``concept_threshold``: "doping" for an Olympics story that speaks
  of a failed drugs test), or to the topic's words as a whole (``topic_threshold``), or, when
  turned on, to one of the last stories that matched the topic in full
  (``neighbour_threshold``).

A one-word topic or an OR of words never gets a near miss: the words the subscriber typed
stay the anchor. The explanation kept with the alert says which concept matched by meaning,
and how closely.

The stage is pure apart from the embedder it is given, and keeps its own small concept index
(each concept of each topic filed as a query of its own), so the lexical index is untouched.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.embedding import Embedder, Vector, dot
from bot.models import Story, TermHit, TopicMatch
from bot.topics.analyze import AnalyzedStory, analyze
from bot.topics.compiled import CNode, CNot, Compiler
from bot.topics.index import TopicIndex
from bot.topics.query import (
    And,
    Node,
    Not,
    Query,
    QueryError,
    canonical_text,
    is_positive,
    parse_query,
    terms_of,
)

# The field a near miss's explanation names: the embedding reads the title and the summary.
MEANING_FIELD = "title and summary"
# The term named when the topic as a whole, not one concept, was close.
MEANING_TERM = "the topic"
DEFAULT_CONCEPT_THRESHOLD = 0.40
DEFAULT_TOPIC_THRESHOLD = 0.60
# Full matches remembered per topic as neighbours for later near misses (when turned on).
DEFAULT_MEMORY = 50
# Characters of a story's text given to the embedder (the model reads ~256 word pieces).
MAX_TEXT = 1500


@dataclass(frozen=True, slots=True)
class SemanticConfig:
    """Thresholds of the semantic stage (cosine similarities of unit vectors); None is off."""

    concept_threshold: float | None = DEFAULT_CONCEPT_THRESHOLD
    topic_threshold: float | None = DEFAULT_TOPIC_THRESHOLD
    neighbour_threshold: float | None = None
    memory: int = DEFAULT_MEMORY


@dataclass(slots=True)
class _Concept:
    """One concept of a topic: how it is named and the text its meaning is taken from."""

    label: str
    words: str
    vector: Vector | None = None


@dataclass(slots=True)
class _Topic:
    """What the stage knows of one topic."""

    words: str  # the topic's positive words
    concepts: tuple[_Concept, ...]
    exclusions: tuple[CNode, ...]  # a near miss must match none of these
    recent: deque[Vector]  # embeddings of the last stories that matched it in full
    vector: Vector | None = None  # embedding of ``words``, computed on first need


# A story's partial matches: topic id -> (the words that hit, indexes of concepts that hit).
_Partial = dict[int, tuple[list[TermHit], set[int]]]


@dataclass(frozen=True, slots=True)
class Plan:
    """One story's part of the semantic stage that words decide: what meaning must settle."""

    text: str  # what to embed ("" when nothing needs it)
    partial: _Partial  # topics it partly matches
    full: list[int]  # topics it fully matched, remembered as neighbours

    @property
    def needed(self) -> bool:
        """True when the story must be embedded."""
        return bool(self.partial or self.full)


def story_text(story: Story) -> str:
    """The text of a story that is embedded: its title and summary."""
    text = f"{story.title}. {story.summary}" if story.summary else story.title
    return text[:MAX_TEXT]


def _words(nodes: Iterable[Node]) -> str:
    """The words of some concepts, for embedding (scopes like source: left out)."""
    words = [" ".join(t.words) for n in nodes for t in terms_of(n) if t.field in (None, "title")]
    return " ".join(dict.fromkeys(words))


class SemanticMatcher:
    """Finds near misses for many topics; call ``add``/``remove`` (or ``sync``) as topics change."""

    def __init__(self, embedder: Embedder, config: SemanticConfig | None = None) -> None:
        self.embedder = embedder
        self.config = config or SemanticConfig()
        self._compiler = Compiler()
        self._concepts = TopicIndex()
        self._next_concept = 0
        # concept id -> (topic id, index of the concept in the topic); topic id -> concept ids.
        self._owner: dict[int, tuple[int, int]] = {}
        self._concept_ids: dict[int, list[int]] = {}
        self._topics: dict[int, _Topic] = {}
        # Topics seen by ``sync`` that have nothing to miss (so they are not parsed again).
        self._plain: set[int] = set()

    def __len__(self) -> int:
        return len(self._topics)

    def __contains__(self, topic_id: object) -> bool:
        return topic_id in self._topics

    def add(self, topic_id: int, query: Query) -> None:
        """Know a topic; topics with fewer than two concepts are ignored (nothing to miss)."""
        self.remove(topic_id)
        root = query.root
        if not isinstance(root, And):
            return
        nodes = [c for c in root.children if not isinstance(c, Not) and is_positive(c)]
        nodes = [c for c in nodes if _words([c])]
        if len(nodes) < 2:
            return
        ids = []
        for number, node in enumerate(nodes):
            concept_id = self._next_concept
            self._next_concept += 1
            self._concepts.add(concept_id, Query(node))
            self._owner[concept_id] = (topic_id, number)
            ids.append(concept_id)
        self._concept_ids[topic_id] = ids
        # Exclusions still exclude, and scopes (source:, lang:) must still hold.
        exclusions = tuple(
            self._compiler.compile(c.child)
            if isinstance(c, Not)
            else CNot(self._compiler.compile(c))
            for c in root.children
            if c not in nodes
        )
        self._topics[topic_id] = _Topic(
            words=_words(nodes),
            concepts=tuple(_Concept(canonical_text(n), _words([n])) for n in nodes),
            exclusions=exclusions,
            recent=deque(maxlen=max(self.config.memory, 0)),
        )

    def remove(self, topic_id: int) -> None:
        """Forget a topic; unknown ids are ignored."""
        for concept_id in self._concept_ids.pop(topic_id, ()):
            self._concepts.remove(concept_id)
            del self._owner[concept_id]
        self._topics.pop(topic_id, None)

    def sync(self, stored: Mapping[int, str]) -> None:
        """Make the known topics equal to ``stored`` (topic id -> canonical query text)."""
        for topic_id in set(self._concept_ids) - stored.keys():
            self.remove(topic_id)
        self._plain.intersection_update(stored.keys())
        for topic_id, text in stored.items():
            if topic_id in self._topics or topic_id in self._plain:
                continue
            try:
                self.add(topic_id, parse_query(text))
            except QueryError:
                continue
            if topic_id not in self._topics:
                self._plain.add(topic_id)

    def near_misses(self, items: Sequence[tuple[Story, Collection[int]]]) -> list[list[TopicMatch]]:
        """For each (story, topic ids it matched by words), the topics it also matches by meaning.

        Stories are taken in order: with neighbours on, a story's full matches serve the
        stories after it. The same as ``decide`` over each item's ``plan``.
        """
        return self.decide([self.plan(story, matched) for story, matched in items])

    def plan(self, story: Story, matched: Collection[int]) -> Plan:
        """What there is to decide for one story: cheap, no embedding (the words' part)."""
        remember = self.config.neighbour_threshold is not None and self.config.memory > 0
        full = [t for t in matched if t in self._topics] if remember else []
        if not self._topics:
            return Plan("", {}, full)
        analyzed = analyze(story)
        partial: _Partial = {}
        for concept in self._concepts.match_analyzed(analyzed):
            topic_id, number = self._owner[concept.topic_id]
            if topic_id not in matched:
                hits, hit = partial.setdefault(topic_id, ([], set()))
                hits.extend(concept.hits)
                hit.add(number)
        for topic_id in list(partial):
            if self._excluded(self._topics[topic_id], analyzed):
                del partial[topic_id]
        return Plan(story_text(story) if partial or full else "", partial, full)

    def decide(self, plans: Sequence[Plan]) -> list[list[TopicMatch]]:
        """The near misses of each planned story, in order; embeds them all in one call.

        Only stories that partly match a topic of two or more concepts (or fully match one,
        with neighbours on) are embedded. Slow (the model): run it off the event loop.
        """
        work = [p for p in plans if p.needed]
        self._embed_topics({t for p in work for t in p.partial if t in self._topics})
        vectors = self.embedder.embed([p.text for p in work]) if work else []
        by_plan = {id(p): v for p, v in zip(work, vectors, strict=True)}
        out: list[list[TopicMatch]] = []
        for plan in plans:
            vector = by_plan.get(id(plan))
            found: list[TopicMatch] = []
            if vector is not None:
                for topic_id, (hits, hit) in plan.partial.items():
                    if topic_id in self._topics:
                        match = self._decide(topic_id, hits, hit, vector)
                        if match is not None:
                            found.append(match)
                for topic_id in plan.full:
                    if topic_id in self._topics:
                        self._topics[topic_id].recent.append(vector)
            out.append(found)
        return out

    @staticmethod
    def _excluded(topic: _Topic, story: AnalyzedStory) -> bool:
        """True when the story has one of the topic's exclusions (or lacks a scope)."""
        return any(node.match(story) for node in topic.exclusions)

    def _embed_topics(self, topic_ids: Iterable[int]) -> None:
        """Embed the words of topics and concepts that have none yet."""
        topics = [self._topics[t] for t in topic_ids if self._topics[t].vector is None]
        if not topics:
            return
        concepts = [c for t in topics for c in t.concepts]
        vectors = self.embedder.embed([t.words for t in topics] + [c.words for c in concepts])
        for topic, vector in zip(topics, vectors, strict=False):
            topic.vector = vector
        for concept, vector in zip(concepts, vectors[len(topics) :], strict=True):
            concept.vector = vector

    def _decide(
        self, topic_id: int, hits: list[TermHit], hit: set[int], vector: Vector
    ) -> TopicMatch | None:
        """A near miss when the story is close enough to what it lacks, or to the topic."""
        topic = self._topics[topic_id]
        config = self.config
        words = tuple(dict.fromkeys(hits))
        if config.concept_threshold is not None:
            missing = [c for n, c in enumerate(topic.concepts) if n not in hit]
            close = [(c, dot(vector, c.vector)) for c in missing if c.vector is not None]
            if close and all(s >= config.concept_threshold for _, s in close):
                meaning = tuple(
                    TermHit(c.label, f"by meaning: similarity {s:.2f}", MEANING_FIELD)
                    for c, s in close
                )
                return TopicMatch(topic_id, words + meaning)
        why = None
        if config.topic_threshold is not None and topic.vector is not None:
            to_topic = dot(vector, topic.vector)
            if to_topic >= config.topic_threshold:
                why = f"by meaning: similarity {to_topic:.2f} to its words"
        if why is None and config.neighbour_threshold is not None:
            to_match = max((dot(vector, r) for r in topic.recent), default=-1.0)
            if to_match >= config.neighbour_threshold:
                why = f"by meaning: similarity {to_match:.2f} to a story that matched it"
        if why is None:
            return None
        return TopicMatch(topic_id, (*words, TermHit(MEANING_TERM, why, MEANING_FIELD)))
