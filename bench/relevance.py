"""Topic relevance on labelled topics: precision, recall and F1 of several matching setups.

Usage: python -m bench.relevance LABELS_DIR DATA_DIR [--suggest N] [--no-semantic]
       [--llm-url URL --llm-model MODEL]

LABELS_DIR holds *.jsonl judgements ({"topic", "dataset", "id", "relevant"}); DATA_DIR holds
ag_news_test.csv (id = 0-based row after the header) and rss_items_*.json (id = "id" field).
Every item of the datasets a topic's labels name is matched; items outside the pool count as
not relevant. Setups: naive substrings, the query as typed, level-2 aliases on every term, and
the query widened with the top related_terms computed from each dataset's own stories, and a
subscriber's 👍/👎 feedback on the first alerts (judged by the labels). When the
semantic extra imports, the same queries plus semantic near misses (bot.topics.semantic), with
each dataset's stories streamed in file order so that only earlier full matches serve as
neighbours, as in a running bot. With --llm-url and --llm-model (an OpenAI-compatible
chat-completions endpoint, LLM_API_KEY read from the environment), the query as typed widened
with every other name the model proposes that the bot would offer, all accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import html
import json
import os
import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.embedding import Embedder, SemanticUnavailableError, Vector, load_embedder
from bot.llm import ChatClient
from bot.models import Story
from bot.refine import (
    concepts_of,
    exclusion,
    narrow,
    suggestions_from_names,
    suggestions_in,
    widen,
)
from bot.topics.analyze import analyze
from bot.topics.compiled import Compiler
from bot.topics.expand import StoryBuffer, suggest_for_query, with_alternatives
from bot.topics.names import LlmTopicNamer
from bot.topics.query import Query, QueryError, parse_query
from bot.topics.semantic import SemanticConfig, SemanticMatcher

_TAG = re.compile(r"<[^>]+>")
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
Item = tuple[str, str]  # (dataset, id)


def load_dataset(path: Path) -> dict[str, Story]:
    """Stories of one dataset file, by item id."""
    out: dict[str, Story] = {}
    if path.suffix == ".csv":
        with path.open(encoding="utf-8") as fh:
            for i, row in enumerate(csv.DictReader(fh)):
                out[str(i)] = Story(str(i), None, row["title"], row["description"], _EPOCH, "ag")
        return out
    for item in json.loads(path.read_text(encoding="utf-8")):
        summary = html.unescape(_TAG.sub(" ", item.get("description") or ""))
        title = html.unescape(item.get("title") or "")
        out[item["id"]] = Story(
            item["id"], item.get("link"), title, summary, _EPOCH, item["source"]
        )
    return out


def load_labels(labels_dir: Path) -> dict[str, dict[Item, bool]]:
    """Judgements per topic."""
    topics: dict[str, dict[Item, bool]] = defaultdict(dict)
    for path in sorted(labels_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                topics[rec["topic"]][(rec["dataset"], str(rec["id"]))] = bool(rec["relevant"])
    return topics


def prf(predicted: set[Item], relevant: set[Item]) -> tuple[float, float, float]:
    """Precision (0 when nothing is predicted), recall and F1."""
    tp = len(predicted & relevant)
    p = tp / len(predicted) if predicted else 0.0
    r = tp / len(relevant) if relevant else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


Matcher = Callable[[str, str, dict[str, Story]], set[str]]


def naive(topic: str, _name: str, stories: dict[str, Story]) -> set[str]:
    """Every topic word as a case-insensitive substring of title + description."""
    words = topic.lower().split()
    return {
        i for i, s in stories.items() if all(w in f"{s.title} {s.summary}".lower() for w in words)
    }


def by_query(query: Query, stories: dict[str, Story]) -> set[str]:
    """Items whose analysed title + description match a query."""
    root = Compiler().compile(query.root)
    return {i for i, s in stories.items() if root.match(analyze(s))}


def typed(topic: str, _name: str, stories: dict[str, Story]) -> set[str]:
    """The query exactly as a subscriber would type it."""
    return by_query(parse_query(topic), stories)


def wide(topic: str, _name: str, stories: dict[str, Story]) -> set[str]:
    """Every term with ~ (level-2 aliases: capitals and other names)."""
    return by_query(parse_query(" ".join("~" + w for w in topic.split())), stories)


def widened(query: Query, limit: int, stories: dict[str, Story]) -> Query:
    """``query`` with the top ``limit`` related terms per concept from ``stories``."""
    buffer = list(stories.values())
    for term, extra in suggest_for_query(query, buffer, limit=limit).items():
        try:
            query = with_alternatives(query, term, extra)
        except QueryError:
            query = with_alternatives(query, term, extra[: max(1, len(extra) // 2)])
    return query


def suggested(limit: int, base: Callable[[str], str]) -> Matcher:
    """The query widened with the top ``limit`` related terms from the dataset's own stories."""

    def run(topic: str, name: str, stories: dict[str, Story]) -> set[str]:
        query = widened(parse_query(base(topic)), limit, stories)
        print(f"    [{name}] {query.canonical}")
        return by_query(query, stories)

    return run


def with_feedback(labels: dict[str, dict[Item, bool]], likes: int, dislikes: int) -> Matcher:
    """A subscriber who types the topic, then acts on alerts as they arrive.

    Stories stream in file order. On the first ``likes`` alerts the labels call relevant the
    subscriber taps 👍 and accepts the first word offered (as the bot offers it: suggested words
    the liked story uses); on the first ``dislikes`` alerts the labels call not relevant they tap
    👎 and accept the exclusion offered. What was alerted before a change stays alerted.
    """

    def run(topic: str, name: str, stories: dict[str, Story]) -> set[str]:
        judged = labels[topic]
        buffer = StoryBuffer(stories.values())
        text = topic
        root = Compiler().compile(parse_query(text).root)
        liked = disliked = 0
        found: set[str] = set()
        for i, story in stories.items():
            if not root.match(analyze(story)):
                continue
            found.add(i)
            verdict = judged.get((name, i))
            changed: str | None = None
            try:
                if verdict is True and liked < likes:
                    liked += 1
                    body = f"{story.title} {story.summary}"
                    offered = suggestions_in(parse_query(text), body, buffer)
                    if offered:
                        changed = widen(text, offered[0].term_key, offered[0].words[0])
                elif verdict is False and disliked < dislikes:
                    disliked += 1
                    word = exclusion(text, story, buffer)
                    changed = narrow(text, word) if word else None
            except QueryError:
                changed = None
            if changed is not None:
                text = changed
                root = Compiler().compile(parse_query(text).root)
        print(f"    [{name}] {text} ({liked} 👍, {disliked} 👎)")
        return found

    return run


class CachedEmbedder:
    """Embeds each distinct text once per run and counts the CPU time spent embedding."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.cache: dict[str, Vector] = {}
        self.cpu_seconds = 0.0
        self.embedded = 0

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """Vectors of ``texts``, computing only the ones not seen before."""
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            start = time.process_time()
            self.cache.update(zip(missing, self.inner.embed(missing), strict=True))
            self.cpu_seconds += time.process_time() - start
            self.embedded += len(missing)
        return [self.cache[t] for t in texts]


def with_meaning(
    embedder: Embedder, config: SemanticConfig, make: Callable[[str, dict[str, Story]], Query]
) -> Matcher:
    """A query's lexical matches plus its semantic near misses, stories taken in file order."""

    def run(topic: str, _name: str, stories: dict[str, Story]) -> set[str]:
        query = make(topic, stories)
        root = Compiler().compile(query.root)
        semantic = SemanticMatcher(embedder, config)
        semantic.add(1, query)
        order = list(stories)
        lexical = {i for i in order if root.match(analyze(stories[i]))}
        items = [(stories[i], {1} if i in lexical else set()) for i in order]
        extra = semantic.near_misses(items)
        return lexical | {i for i, found in zip(order, extra, strict=True) if found}

    return run


def semantic_setups(limit: int) -> tuple[dict[str, Matcher], CachedEmbedder | None]:
    """Setups with semantic near misses, or none (and why) when the extra is missing."""
    try:
        embedder = CachedEmbedder(load_embedder())
    except SemanticUnavailableError as exc:
        print(f"(semantic setups skipped: {exc})")
        return {}, None
    default = SemanticConfig()
    looser = SemanticConfig(concept_threshold=0.35, topic_threshold=0.55)
    neighbours = SemanticConfig(neighbour_threshold=0.65)

    def typed_query(topic: str, _stories: dict[str, Story]) -> Query:
        return parse_query(topic)

    def related_query(topic: str, stories: dict[str, Story]) -> Query:
        return widened(parse_query(topic), limit, stories)

    c, t = default.concept_threshold, default.topic_threshold
    setups = {
        f"f as typed + near misses (concept >= {c} or topic >= {t})": with_meaning(
            embedder, default, typed_query
        ),
        "f' as f, looser (concept >= 0.35 or topic >= 0.55)": with_meaning(
            embedder, looser, typed_query
        ),
        "g as f + earlier full matches as neighbours (>= 0.65)": with_meaning(
            embedder, neighbours, typed_query
        ),
        f"h + {limit} related + near misses as f": with_meaning(embedder, default, related_query),
    }
    return setups, embedder


def model_names(url: str, model: str) -> Matcher:
    """The query as typed, widened with every other name the model proposes (all accepted).

    The names are asked once per topic, and filtered as /subscribe filters them before
    offering them as buttons.
    """
    asked: dict[str, str] = {}

    async def ask(topic: str) -> str:
        chat = ChatClient(url, model, os.environ.get("LLM_API_KEY"), timeout_s=60.0)
        try:
            query = parse_query(topic)
            proposed = await LlmTopicNamer(chat).propose(topic, concepts_of(query))
        finally:
            await chat.aclose()
        text = topic
        for offer in suggestions_from_names(query, proposed):
            for word in offer.words:
                try:
                    text = widen(text, offer.term_key, word)
                except QueryError:
                    continue  # the bot would not offer a name the topic cannot take
        return text

    def run(topic: str, name: str, stories: dict[str, Story]) -> set[str]:
        if topic not in asked:
            asked[topic] = asyncio.run(ask(topic))
        print(f"    [{name}] {asked[topic]}")
        return by_query(parse_query(asked[topic]), stories)

    return run


def main() -> None:
    """Print P, R, F1 per topic and macro averages for each setup."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("labels_dir", type=Path)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--suggest", type=int, default=5, help="related terms accepted per term")
    parser.add_argument("--no-semantic", action="store_true", help="skip the semantic setups")
    parser.add_argument("--llm-url", help="chat-completions base URL, for the model's names")
    parser.add_argument("--llm-model", help="the model to ask for other names")
    args = parser.parse_args()
    datasets = {p.stem: load_dataset(p) for p in sorted(args.data_dir.iterdir())}
    labels = load_labels(args.labels_dir)
    setups: dict[str, Matcher] = {
        "a naive substring": naive,
        "b newsbot as typed": typed,
        "c level-2 aliases": wide,
        f"d + {args.suggest} related": suggested(args.suggest, lambda t: t),
        f"e level-2 + {args.suggest} related": suggested(
            args.suggest, lambda t: " ".join("~" + w for w in t.split())
        ),
        "i as typed + feedback (3 👍, 3 👎)": with_feedback(labels, 3, 3),
    }
    if args.llm_url and args.llm_model:
        setups["j as typed + the model's other names, all accepted"] = model_names(
            args.llm_url, args.llm_model
        )
    else:
        print("(model's other names skipped: no --llm-url and --llm-model)")
    embedder = None
    if args.no_semantic:
        print("(semantic setups skipped: --no-semantic)")
    else:
        more, embedder = semantic_setups(args.suggest)
        setups.update(more)
    for setup, matcher in setups.items():
        print(f"== {setup}")
        scores = []
        for topic, judged in sorted(labels.items()):
            relevant = {item for item, ok in judged.items() if ok}
            predicted = {
                (name, i)
                for name in sorted({d for d, _ in judged})
                for i in matcher(topic, name, datasets[name])
            }
            p, r, f = prf(predicted, relevant)
            scores.append((p, r, f))
            print(f"  {topic:20s} P={p:.2f} R={r:.2f} F1={f:.2f} (found {len(predicted)})")
        mp, mr, mf = (sum(s[k] for s in scores) / len(scores) for k in range(3))
        print(f"  {'macro':20s} P={mp:.2f} R={mr:.2f} F1={mf:.2f}")
    if embedder is not None and embedder.embedded:
        each = embedder.cpu_seconds / embedder.embedded * 1000
        print(
            f"embedding: {embedder.embedded} distinct texts (stories and topics), "
            f"{embedder.cpu_seconds:.1f} s CPU, {each:.1f} ms CPU each"
        )


if __name__ == "__main__":
    main()
