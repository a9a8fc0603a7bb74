"""Topic relevance on labelled topics: precision, recall and F1 of several matching setups.

Usage: python -m bench.relevance LABELS_DIR DATA_DIR [--suggest N]

LABELS_DIR holds *.jsonl judgements ({"topic", "dataset", "id", "relevant"}); DATA_DIR holds
ag_news_test.csv (id = 0-based row after the header) and rss_items_*.json (id = "id" field).
Every item of the datasets a topic's labels name is matched; items outside the pool count as
not relevant. Setups: naive substrings, the query as typed, level-2 aliases on every term, and
the query widened with the top related_terms computed from each dataset's own stories.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.models import Story
from bot.topics.analyze import analyze
from bot.topics.compiled import Compiler
from bot.topics.expand import suggest_for_query, with_alternatives
from bot.topics.query import Query, QueryError, parse_query

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


def suggested(limit: int, base: Callable[[str], str]) -> Matcher:
    """The query widened with the top ``limit`` related terms from the dataset's own stories."""

    def run(topic: str, name: str, stories: dict[str, Story]) -> set[str]:
        query = parse_query(base(topic))
        buffer = list(stories.values())
        for term, extra in suggest_for_query(query, buffer, limit=limit).items():
            try:
                query = with_alternatives(query, term, extra)
            except QueryError:
                query = with_alternatives(query, term, extra[: max(1, len(extra) // 2)])
        print(f"    [{name}] {query.canonical}")
        return by_query(query, stories)

    return run


def main() -> None:
    """Print P, R, F1 per topic and macro averages for each setup."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("labels_dir", type=Path)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--suggest", type=int, default=5, help="related terms accepted per term")
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
    }
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


if __name__ == "__main__":
    main()
