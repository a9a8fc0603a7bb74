"""Near-duplicate clustering: one cluster per news event, over a sliding time window.

A story becomes a weighted bag of terms: the content-word stems and numbers of its title and of
the first 300 characters of its summary (title terms count more). Each term is weighted by its
inverse document frequency among the stories in the window, kept up to date as stories come and
go, so a shared rare word (a name, a place, a figure) counts far more than a shared common one.
An inverted index (term -> stories in the window) proposes candidates and accumulates the dot
product; a story joins the cluster of the most similar candidate whose IDF-weighted cosine clears
the threshold. Stories from the same source must clear a stricter bar
(``threshold + SAME_SOURCE_MARGIN``): an outlet rarely publishes one event twice, and its house
style (recurring words) inflates overlap.

Why not MinHash LSH: on these short texts (~20 stems) building one datasketch MinHash cost about
0.2 ms, capping the clusterer near 1,000 stories/s. The exact index is faster and finds every
candidate LSH would, except pairs sharing only very common terms (posting lists longer than
``MAX_POSTING`` propose no candidates; such terms carry little weight anyway).

The figures were measured with ``python -m bench.clustering`` on 828 hand-labelled items of one
day from 15 outlets (bench/data/clusters_labelled.json): see DEFAULT_THRESHOLD.
Merging two different events is the worse error, so the default favours precision.

Tried and dropped (no gain or worse precision on the bench): extra weight for capitalized words
(shared names such as "Trump" or "Germany" merged different events), stem bigrams, requiring 2+
shared terms. Plain Jaccard on the same stems reached recall 0.30 at precision 1.00.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.models import Story
from bot.stories.summarize import content_stems

# Measured with bench.clustering (pairwise over 828 labelled items, 107 same-event pairs):
#   threshold 0.20 -> precision 0.86, recall 0.64 (same language 0.78) | 0.22 -> P 0.92, R 0.56
#   | 0.25 -> P 0.96, R 0.51 (0.62) | 0.28 -> P 0.96, R 0.44 | 0.30 -> P 0.98, R 0.38.
# 0.25 is the lowest threshold that keeps precision >= 0.95. The misses are paraphrases with few
# shared words, cross-language pairs (Spanish/Italian vs English) and 6 pairs published more than
# the 48 h window apart.
DEFAULT_THRESHOLD = 0.25
SAME_SOURCE_MARGIN = 0.25
# The bar rises linearly by up to TIME_MARGIN as two stories lie up to TIME_SCALE apart: reports
# of one event cluster in time, different events with similar words are often days apart.
TIME_MARGIN = 0.1
TIME_SCALE = timedelta(hours=24)
# A story may also join a cluster of 2+ stories whose summed terms it matches (reports that each
# share different details with it), at a slightly stricter bar than a single story.
CENTROID_MARGIN = 0.05
LEAD_CHARS = 300
TITLE_WEIGHT = 2.0  # headlines name the event; leads add context and house boilerplate
LEAD_WEIGHT = 1.0
# Pseudo-count of stories assumed to lack every term: keeps IDF meaningful while the window is
# still nearly empty (after a restart), and negligible once it holds a few thousand stories.
IDF_PRIOR = 100
MAX_POSTING = 200  # terms in more stories than this in the window propose no candidates
# Candidates are screened with norms cached at insertion (IDF drifts as the window moves);
# those within this factor of the bar are verified with the current IDF.
SCREEN_SLACK = 0.8

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER_SEPARATORS = str.maketrans("", "", ".,")

Terms = dict[str, float]


@dataclass(slots=True)
class _Entry:
    cluster_id: int
    terms: Terms
    source: str
    published_at: datetime
    norm: float  # IDF-weighted length when inserted, for screening only


@dataclass(slots=True)
class _Cluster:
    sums: Terms  # summed term weights of the members in the window
    size: int
    norm2: float  # squared IDF-weighted length, updated incrementally, for screening only


def story_terms(story: Story) -> Terms:
    """The weighted terms of a story's title and lead: content-word stems and numbers."""
    terms: Terms = {}
    for text, weight in ((story.summary[:LEAD_CHARS], LEAD_WEIGHT), (story.title, TITLE_WEIGHT)):
        words = content_stems(text, story.language)
        # Numbers (ages, tolls, scores) are strong event markers; "8,336" and "8336" agree.
        words += ["#" + m.translate(_NUMBER_SEPARATORS) for m in _NUMBER.findall(text)]
        for word in words:
            if terms.get(word, 0.0) < weight:
                terms[word] = weight
    return terms


class StoryClusterer:
    """Assigns stories to event clusters; in memory, with time passed in by the caller."""

    def __init__(
        self,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        window: timedelta = timedelta(hours=48),
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.window = window
        self._entries: dict[int, _Entry] = {}
        self._postings: dict[str, dict[int, float]] = {}  # term -> story id -> weight
        self._clusters: dict[int, _Cluster] = {}
        self._by_time: list[tuple[datetime, int]] = []  # heap: oldest story first

    def __len__(self) -> int:
        return len(self._entries)

    def _weighted(self, terms: Terms) -> Terms:
        """``terms`` with each weight multiplied by the term's current IDF in the window."""
        postings = self._postings
        log = math.log
        log_total = log(len(self._entries) + IDF_PRIOR)
        out: Terms = {}
        for term, weight in terms.items():
            posting = postings.get(term)
            out[term] = weight * (log_total - log(len(posting) + 1 if posting else 1))
        return out

    def _insert(self, story_id: int, cluster_id: int, story: Story, terms: Terms) -> None:
        """Index a story under its cluster."""
        if story_id in self._entries:
            return
        vec = self._weighted(terms)
        norm = math.sqrt(sum(v * v for v in vec.values()))
        self._entries[story_id] = _Entry(cluster_id, terms, story.source, story.published_at, norm)
        heapq.heappush(self._by_time, (story.published_at, story_id))
        for term, weight in terms.items():
            self._postings.setdefault(term, {})[story_id] = weight
        cluster = self._clusters.setdefault(cluster_id, _Cluster({}, 0, 0.0))
        sums = cluster.sums
        # |s + t|^2 = |s|^2 + 2 s.t + |t|^2, with today's IDF for the new cross terms.
        cross = sum(sums.get(t, 0.0) * v * v / terms[t] for t, v in vec.items() if t in sums)
        cluster.norm2 += 2 * cross + norm * norm
        cluster.size += 1
        for term, weight in terms.items():
            sums[term] = sums.get(term, 0.0) + weight

    def _remove(self, story_id: int, entry: _Entry) -> None:
        """Drop a story from the index and from its cluster's sums."""
        for term in entry.terms:
            posting = self._postings.get(term)
            if posting is not None:
                posting.pop(story_id, None)
                if not posting:
                    del self._postings[term]
        cluster = self._clusters.get(entry.cluster_id)
        if cluster is None:
            return
        cluster.size -= 1
        if cluster.size <= 0:
            del self._clusters[entry.cluster_id]
            return
        for term, weight in entry.terms.items():
            left = cluster.sums.get(term, 0.0) - weight
            if left > 1e-9:
                cluster.sums[term] = left
            else:
                cluster.sums.pop(term, None)
        cluster.norm2 = self._norm2(cluster.sums)  # rare: exact recomputation

    def _norm2(self, terms: Terms) -> float:
        """Squared IDF-weighted length of ``terms`` with the current IDF."""
        return sum(v * v for v in self._weighted(terms).values())

    def _cosine(self, vec: Terms, norm: float, terms: Terms) -> float:
        """Exact IDF-weighted cosine of a weighted query vector and a term bag."""
        other = self._weighted(terms)
        other_norm = math.sqrt(sum(v * v for v in other.values()))
        if not other_norm:
            return 0.0
        dot = sum(v * other[t] for t, v in vec.items() if t in other)
        return dot / (norm * other_norm)

    def _bar(self, story: Story, entry: _Entry) -> float:
        """The similarity a candidate must reach: stricter for its own source and far in time."""
        bar = self.threshold
        if entry.source == story.source:
            bar += SAME_SOURCE_MARGIN
        gap = abs(entry.published_at - story.published_at)
        return bar + TIME_MARGIN * min(1.0, gap / TIME_SCALE)

    def _best_match(self, story: Story, terms: Terms, cutoff: datetime) -> int | None:
        """The cluster of the most similar verified candidate (or cluster) in the window."""
        vec = self._weighted(terms)
        norm = math.sqrt(sum(v * v for v in vec.values()))
        if norm == 0.0:
            return None
        # Partial dot products over the terms rare enough to look up (the common ones weigh
        # little; the verification below counts them exactly).
        dots: dict[int, float] = {}
        for term, value in vec.items():
            posting = self._postings.get(term)
            if not posting or len(posting) > MAX_POSTING:
                continue
            scale = value * value / terms[term]  # weight * idf^2
            for cand_id, weight in posting.items():
                dots[cand_id] = dots.get(cand_id, 0.0) + scale * weight
        best: tuple[float, int] | None = None
        cluster_dots: dict[int, float] = {}
        entries = self._entries
        # Screening floor: no bar is below the threshold; weak members still count toward
        # their cluster's sum, but only from half that floor on (keeps the loop cheap).
        floor = SCREEN_SLACK * self.threshold * norm
        for cand_id, dot in dots.items():
            entry = entries[cand_id]
            if dot < 0.5 * floor * entry.norm:
                continue
            if entry.published_at < cutoff or abs(entry.published_at - story.published_at) > (
                self.window
            ):
                continue
            if entry.source != story.source:
                cluster_dots[entry.cluster_id] = cluster_dots.get(entry.cluster_id, 0.0) + dot
            if dot < floor * entry.norm:
                continue
            bar = self._bar(story, entry)
            if dot < SCREEN_SLACK * bar * norm * entry.norm:
                continue
            sim = self._cosine(vec, norm, entry.terms)
            # Ties go to the older story id, so results do not depend on set iteration order.
            if sim >= bar and (best is None or (sim, -cand_id) > (best[0], -best[1])):
                best = (sim, cand_id)
        match = None if best is None else self._entries[best[1]].cluster_id
        best_sim = -1.0 if best is None else best[0]
        bar = self.threshold + CENTROID_MARGIN
        for cluster_id, dot in cluster_dots.items():
            cluster = self._clusters.get(cluster_id)
            if cluster is None or cluster.size < 2 or cluster.norm2 <= 0.0:
                continue
            if dot < SCREEN_SLACK * max(bar, best_sim) * norm * math.sqrt(cluster.norm2):
                continue
            sim = self._cosine(vec, norm, cluster.sums)
            if sim >= bar and sim > best_sim:
                best_sim, match = sim, cluster_id
        return match

    def assign(self, story_id: int, story: Story, now: datetime) -> int:
        """The cluster ``story`` joins: a near duplicate's cluster in the window, else its id."""
        known = self._entries.get(story_id)
        if known is not None:
            return known.cluster_id
        cutoff = now - self.window
        self.forget_before(cutoff)
        if story.published_at < cutoff:
            return story_id  # too old to join anything, and too old to keep
        terms = story_terms(story)
        match = self._best_match(story, terms, cutoff) if terms else None
        cluster_id = story_id if match is None else match
        self._insert(story_id, cluster_id, story, terms)
        return cluster_id

    def forget_before(self, cutoff: datetime) -> None:
        """Drop every story published before ``cutoff`` (keeps memory bounded)."""
        while self._by_time and self._by_time[0][0] < cutoff:
            _, story_id = heapq.heappop(self._by_time)
            entry = self._entries.pop(story_id, None)
            if entry is not None:
                self._remove(story_id, entry)

    def load(self, items: Iterable[tuple[int, int, Story]]) -> None:
        """Rebuild state from stored (story_id, cluster_id, story) rows after a restart."""
        for story_id, cluster_id, story in items:
            self._insert(story_id, cluster_id, story, story_terms(story))
