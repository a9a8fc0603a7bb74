"""Near-duplicate clustering: one cluster per news event, over a sliding time window.

A story is reduced to the set of its content-word stems (title plus the first 300 characters of
its summary, stopwords removed). An inverted index (stem -> stories in the window) proposes
candidates; each is verified with the exact Jaccard similarity of the two sets, and the story
joins the cluster of the most similar verified candidate. Stories from the same source must
clear a stricter bar (``threshold + SAME_SOURCE_MARGIN``): an outlet rarely publishes one event
twice, and its house style (recurring words) inflates overlap.

Why not MinHash LSH: on these short texts (~20 stems) building one datasketch MinHash cost about
0.2 ms, capping the clusterer near 1,000 stories/s. The exact index is faster and finds every
candidate LSH would, except pairs sharing only very common stems (posting lists longer than
``MAX_POSTING`` propose no candidates; such pairs rarely reach the threshold).

The threshold was measured with ``python -m bench.clustering`` on 828 hand-labelled items of one
day from 15 outlets (bench/data/clusters_labelled.json): see DEFAULT_THRESHOLD for the figures.
Merging two different events is the worse error, so the default favours precision.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.models import Story
from bot.stories.summarize import content_stems

# Measured with bench.clustering (pairwise over 828 labelled items, 116 same-event pairs):
#   threshold 0.20 -> precision 0.93, recall 0.35 | 0.25 -> P 1.00, R 0.28 | 0.30 -> P 1.00,
#   R 0.10 | 0.35 -> P 1.00, R 0.03. 0.25 is the lowest threshold that kept precision >= 0.95.
# Recall is low: most missed pairs are paraphrases across outlets ("Germany to help Ukraine
# produce weapons" / "Merz announces long-range weapons") or across languages, which word
# overlap cannot see; same-language recall at 0.25 is 0.33.
DEFAULT_THRESHOLD = 0.25
SAME_SOURCE_MARGIN = 0.2
LEAD_CHARS = 300
MAX_POSTING = 200  # stems in more stories than this in the window propose no candidates


@dataclass(slots=True)
class _Entry:
    cluster_id: int
    stems: frozenset[str]
    source: str
    published_at: datetime


def story_stems(story: Story) -> frozenset[str]:
    """The content-word stems of a story's title and lead, as a set."""
    text = f"{story.title} {story.summary[:LEAD_CHARS]}"
    return frozenset(content_stems(text, story.language))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Exact Jaccard similarity of two sets (0 for two empty sets)."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


class StoryClusterer:
    """Assigns stories to event clusters; in memory, with time passed in by the caller."""

    def __init__(
        self,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        window: timedelta = timedelta(hours=48),
        num_perm: int = 64,
    ) -> None:
        # ``num_perm`` is accepted for compatibility with a MinHash-based clusterer; the exact
        # inverted index needs no permutations (see the module docstring).
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.window = window
        self.num_perm = num_perm
        self._entries: dict[int, _Entry] = {}
        self._postings: dict[str, set[int]] = {}
        self._by_time: list[tuple[datetime, int]] = []  # heap: oldest story first

    def __len__(self) -> int:
        return len(self._entries)

    def _insert(self, story_id: int, cluster_id: int, story: Story, stems: frozenset[str]) -> None:
        """Index a story under its cluster."""
        if story_id in self._entries:
            return
        self._entries[story_id] = _Entry(cluster_id, stems, story.source, story.published_at)
        heapq.heappush(self._by_time, (story.published_at, story_id))
        for stem in stems:
            self._postings.setdefault(stem, set()).add(story_id)

    def _candidates(self, stems: frozenset[str]) -> tuple[Counter[int], int]:
        """Stories sharing a not-too-common stem, with how many such stems they share.

        Also returns how many of ``stems`` were too common to look up, so the caller can
        bound the true overlap from above.
        """
        shared: Counter[int] = Counter()
        skipped = 0
        for stem in stems:
            posting = self._postings.get(stem)
            if not posting:
                continue
            if len(posting) > MAX_POSTING:
                skipped += 1
            else:
                shared.update(posting)
        return shared, skipped

    def _best_match(self, story: Story, stems: frozenset[str], cutoff: datetime) -> int | None:
        """The cluster of the most similar verified candidate in the window, if any."""
        best: tuple[float, int] | None = None
        shared, skipped = self._candidates(stems)
        size = len(stems)
        for cand_id, count in shared.items():
            entry = self._entries[cand_id]
            bar = self.threshold
            if entry.source == story.source:
                bar += SAME_SOURCE_MARGIN
            # Cheap upper bound on the Jaccard similarity before the exact check.
            most = count + skipped
            if most < bar * (size + len(entry.stems) - most):
                continue
            if entry.published_at < cutoff:
                continue
            if abs(entry.published_at - story.published_at) > self.window:
                continue
            sim = jaccard(stems, entry.stems)
            # Ties go to the older story id, so results do not depend on set iteration order.
            if sim >= bar and (best is None or (sim, -cand_id) > (best[0], -best[1])):
                best = (sim, cand_id)
        return None if best is None else self._entries[best[1]].cluster_id

    def assign(self, story_id: int, story: Story, now: datetime) -> int:
        """The cluster ``story`` joins: a near duplicate's cluster in the window, else its id."""
        known = self._entries.get(story_id)
        if known is not None:
            return known.cluster_id
        cutoff = now - self.window
        self.forget_before(cutoff)
        if story.published_at < cutoff:
            return story_id  # too old to join anything, and too old to keep
        stems = story_stems(story)
        match = self._best_match(story, stems, cutoff) if stems else None
        cluster_id = story_id if match is None else match
        self._insert(story_id, cluster_id, story, stems)
        return cluster_id

    def forget_before(self, cutoff: datetime) -> None:
        """Drop every story published before ``cutoff`` (keeps memory bounded)."""
        while self._by_time and self._by_time[0][0] < cutoff:
            _, story_id = heapq.heappop(self._by_time)
            entry = self._entries.pop(story_id, None)
            if entry is None:
                continue
            for stem in entry.stems:
                posting = self._postings.get(stem)
                if posting is not None:
                    posting.discard(story_id)
                    if not posting:
                        del self._postings[stem]

    def load(self, items: Iterable[tuple[int, int, Story]]) -> None:
        """Rebuild state from stored (story_id, cluster_id, story) rows after a restart."""
        for story_id, cluster_id, story in items:
            self._insert(story_id, cluster_id, story, story_stems(story))
