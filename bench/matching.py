"""Matching throughput and memory of the topic index at 10k, 100k and 1M subscriptions.

Usage: python -m bench.matching DATA_CSV [--sizes 10000,100000,1000000] [--naive 10000,100000]
       [--stories 3000] [--seed 7] [--warm]

DATA_CSV is a news file with title and description columns (e.g. ag_news_test.csv). Queries
are drawn from its vocabulary (1-4 words, some phrases, ORs and exclusions); the story stream
is its rows. Each size runs in a fresh process so its peak RSS is its own. Stories/s is CPU
time of that one process (one core; the matcher is single-threaded), so other load on the host
does not count against it. Word keys and stems start cold, so every new word of the stream
is stemmed while measured; --warm adds a run per size with them warmed by the rest of the file.
"""

from __future__ import annotations

import argparse
import csv
import gc
import itertools
import math
import random
import resource
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bot.models import Story
from bot.topics.analyze import analyze, stopwords, tokenize
from bot.topics.compiled import Compiler
from bot.topics.index import TopicIndex
from bot.topics.query import QueryError, common_only, parse_query

_EPOCH = datetime(2004, 1, 1, tzinfo=UTC)
_GENERIC_TOP = 500  # the most frequent title words, too generic to be anyone's topic


def load_stories(path: Path) -> list[Story]:
    """Rows of a title/description CSV as stories."""
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [
        Story(str(i), None, r["title"], r["description"], _EPOCH, "Wire", "wire.example")
        for i, r in enumerate(rows)
    ]


class Vocabulary:
    """Topical words of a news file, the names among them, and two-word title phrases.

    The most frequent words (``company``, ``win``) are left out: nobody subscribes to them.
    Words are weighted by log(1 + document frequency): common topics a little more likely, most
    topics in the long tail, as real subscription lists are.
    """

    def __init__(self, stories: list[Story]) -> None:
        stop = stopwords()
        df: Counter[str] = Counter()
        capital: Counter[str] = Counter()
        inner: Counter[str] = Counter()
        self.phrases: list[str] = []
        for story in stories:
            words = [t.surface for t in tokenize(story.title)]
            # Sorted: set order varies between processes, and the queries must not.
            df.update(sorted({w.lower() for w in words if len(w) > 2 and w.isalpha()} - stop))
            # Descriptions are in sentence case, so capitals inside them mark names.
            for b in [t.surface for t in tokenize(story.summary)][1:]:
                inner[b.lower()] += 1
                capital[b.lower()] += b[:1].isupper() and not b.isupper()
            for a, b in itertools.pairwise(words):
                if a[:1].isupper() and b[:1].isupper() and a.isalpha() and b.isalpha():
                    self.phrases.append(f"{a} {b}")
        generic = {w for w, _ in df.most_common(_GENERIC_TOP)}
        self.words = [w for w, n in df.items() if n >= 2 and w not in generic]
        self.weights = [math.log1p(df[w]) for w in self.words]
        # Names: words nearly always capitalised inside descriptions (Athens, Google).
        self.names = [w for w in self.words if inner[w] >= 2 and capital[w] / inner[w] >= 0.9]
        self.name_weights = [math.log1p(df[w]) for w in self.names]


def make_queries(n: int, stories: list[Story], seed: int) -> list[str]:
    """``n`` distinct realistic subscription texts.

    Distinct by canonical form: chats that subscribe to the same topic share one index entry,
    so the index holds each query once. One-word topics are names (Athens, Google), as people
    seldom follow a single common noun; ORs come with at least one more required word. Topics
    the bot would refuse (common words only, such as the title phrase "On The") are skipped.
    """
    rng = random.Random(seed)
    vocab = Vocabulary(stories)
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        size = rng.randint(1, 4)
        if size == 1:
            picks = rng.choices(vocab.names, vocab.name_weights, k=1)
        else:
            picks = rng.choices(vocab.words, vocab.weights, k=size)
        roll = rng.random()
        if roll < 0.15 and vocab.phrases:
            picks[0] = f'"{rng.choice(vocab.phrases)}"'
        elif roll < 0.25 and len(picks) >= 3:
            picks[:2] = [f"({picks[0]} OR {picks[1]})"]
        if rng.random() < 0.1:
            picks.append("-" + rng.choice(vocab.words))
        text = " ".join(picks)
        try:
            query = parse_query(text)
        except QueryError:
            continue
        if common_only(query.root):
            continue  # /subscribe refuses a topic of common words only ("On The")
        key = query.canonical
        if key not in seen:
            seen.add(key)
            out.append(text)
    return out


def rss_mb() -> float:
    """Peak resident set size of this process, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(data: Path, size: int, n_stories: int, naive: bool, seed: int, warm: bool) -> None:
    """Build an index of ``size`` queries, stream stories through it, print one result line."""
    stories = load_stories(data)
    texts = make_queries(size, stories, seed)
    t0 = time.perf_counter()
    index = TopicIndex()
    compiler = Compiler()
    roots = []
    for topic_id, text in enumerate(texts):
        try:
            query = parse_query(text)
        except QueryError:
            continue
        if naive:
            roots.append((topic_id, compiler.compile(query.root)))
        else:
            index.add(topic_id, query)
    build = time.perf_counter() - t0
    del texts
    # The index is long-lived: keep the cyclic GC from re-walking it on every collection.
    gc.collect()
    gc.freeze()
    stream = [stories[i % len(stories)] for i in range(n_stories)]
    if warm:
        # A running bot has seen most words before: analyse the stories after the stream
        # (never the stream itself) so word keys and stems are cached, as in steady state.
        for story in stories[n_stories:]:
            analyze(story)
    matches = 0
    # CPU time of this process: the figure is per core, and other load on the host is excluded.
    t0 = time.process_time()
    for story in stream:
        if naive:
            analyzed = analyze(story)
            matches += sum(1 for _, root in roots if root.match(analyzed))
        else:
            matches += len(index.match(story))
    elapsed = time.process_time() - t0
    kind = ("naive loop" if naive else "topic index") + (" warm" if warm else "")
    print(
        f"{kind:16s} subs={size:>9,d} stories/s={n_stories / elapsed:>9,.0f} "
        f"matches/story={matches / n_stories:6.2f} build_s={build:6.1f} "
        f"peak_rss_mb={rss_mb():7.0f}",
        flush=True,
    )


def main() -> None:
    """Run each size (index, then the naive loop where asked) in its own process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--naive", default="10000,100000", help="sizes for the naive loop")
    parser.add_argument("--stories", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--warm",
        action="store_true",
        help="also measure with word caches warmed by the rest of the file (steady state)",
    )
    parser.add_argument("--child", choices=["index", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--warm-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        naive = args.child == "naive"
        run_one(args.data, int(args.sizes), args.stories, naive, args.seed, args.warm_child)
        return
    jobs = [("index", int(s)) for s in args.sizes.split(",") if s]
    jobs += [("naive", int(s)) for s in args.naive.split(",") if s]
    for kind, size in jobs:
        stories = args.stories if kind == "index" else max(50, args.stories * 10_000 // size // 10)
        cmd = [sys.executable, "-m", "bench.matching", str(args.data), "--sizes", str(size)]
        cmd += ["--stories", str(stories), "--seed", str(args.seed), "--child", kind]
        subprocess.run(cmd, check=True)
        if args.warm and kind == "index":
            subprocess.run([*cmd, "--warm-child"], check=True)


if __name__ == "__main__":
    main()
