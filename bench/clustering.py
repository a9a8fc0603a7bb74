"""Pairwise precision and recall of StoryClusterer on hand-labelled events, and its speed.

Usage: python -m bench.clustering ITEMS_JSON [--labels bench/data/clusters_labelled.json]
       [--thresholds 0.2,0.25,0.3,0.35,0.4] [--speed-items 20000] [--show-errors THRESHOLD]
       [--static-model DIR | --semantic | --words-only] [--confirm 0.55,0.6,0.65]

ITEMS_JSON is a list of RSS items (id, title, link, pubDate, description, source). Items are
fed in publication order, as the pipeline would see them; descriptions are reduced to plain
text first, as normalization does. Pairs are counted over the labelled items only, in the
final clusters (a story that bridges two clusters merges them, which moves earlier stories);
the "assigned" line under each threshold counts the ids ``assign`` returned instead, as the
pipeline stores them.
``--show-errors`` prints, for one threshold (and with the embedder, if any), every missed
same-event pair and every merged different-event pair (sources, languages, hours apart, titles),
to study what the clusterer gets wrong. Speed is CPU time of this process, so other work on the
machine disturbs it less.
The thresholds above measure shared words alone (NEWSBOT_CLUSTER_MODEL=off). Then the clusterer
as newsbot runs it, with the built-in static model (or ``--static-model DIR``, one built by
``newsbot cluster-model build DIR``), for each ``--confirm`` similarity (weak word matches
confirmed by meaning), and its speed; ``--semantic`` does the same with the full
all-MiniLM-L6-v2 of the ``semantic`` extra (slow: use a small ``--speed-items``);
``--words-only`` skips this part.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from itertools import combinations
from pathlib import Path
from typing import Any

from bot.embedding import BUILT_IN_CLUSTER_MODEL, Embedder, StaticEmbedder, load_embedder
from bot.models import Story
from bot.stories.cluster import (
    CONFIRM_BAND,
    CONFIRMED_THRESHOLD,
    DEFAULT_CONFIRM_SIMILARITY,
    StoryClusterer,
)

LANGUAGES = {"El País": "es", "ANSA": "it"}
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def plain(text: str | None) -> str:
    """Tags stripped, entities decoded, whitespace collapsed."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", text or ""))).strip()


def to_story(item: dict[str, Any]) -> Story:
    """An RSS item as the normalizer would hand it to the clusterer."""
    try:
        published = parsedate_to_datetime(item["pubDate"]).astimezone(UTC)
    except (TypeError, ValueError):
        published = datetime(2025, 5, 28, tzinfo=UTC)
    return Story(
        key=item["id"],
        url=item.get("link"),
        title=plain(item.get("title")),
        summary=plain(item.get("description")),
        published_at=published,
        source=item["source"],
        language=LANGUAGES.get(item["source"], "en"),
    )


def run(
    stories: list[tuple[int, Story]],
    threshold: float | None,
    embedder: Embedder | None = None,
    confirm_similarity: float = DEFAULT_CONFIRM_SIMILARITY,
    *,
    as_assigned: bool = False,
) -> dict[int, int]:
    """Cluster ids for every story, fed in publication order: the final ones (a later story
    may merge the clusters it bridges), or ``as_assigned``, the ids ``assign`` returned.
    ``threshold`` None is the clusterer's default (lower with an embedder)."""
    clusterer = StoryClusterer(
        threshold=threshold, embedder=embedder, confirm_similarity=confirm_similarity
    )
    now = max(s.published_at for _, s in stories)
    assigned = {sid: clusterer.assign(sid, s, now) for sid, s in stories}
    if as_assigned:
        return assigned
    final = {sid: clusterer.cluster_of(sid) for sid in assigned}
    return {sid: assigned[sid] if c is None else c for sid, c in final.items()}


def pair_scores(
    pred: dict[int, int], gold: dict[int, str], ids: list[int], langs: dict[int, str]
) -> tuple[float, float, float, float, int, int]:
    """Pairwise precision, recall, same-language and cross-language recall, predicted pairs,
    gold pairs."""
    tp = fp = fn = tp_same = fn_same = 0
    for a, b in combinations(ids, 2):
        same_pred = pred[a] == pred[b]
        same_gold = gold[a] == gold[b]
        tp += same_pred and same_gold
        fp += same_pred and not same_gold
        fn += same_gold and not same_pred
        if langs[a] == langs[b]:
            tp_same += same_pred and same_gold
            fn_same += same_gold and not same_pred
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    recall_same = tp_same / (tp_same + fn_same) if tp_same + fn_same else 1.0
    tp_cross, fn_cross = tp - tp_same, fn - fn_same
    recall_cross = tp_cross / (tp_cross + fn_cross) if tp_cross + fn_cross else 1.0
    return precision, recall, recall_same, recall_cross, tp + fp, tp + fn


def speed(
    stories: list[Story],
    n: int,
    embedder: Embedder | None = None,
    cross_language: bool = True,
) -> float:
    """Stories per CPU second over ``n`` assignments.

    The day's items are replayed in order; each replay is moved 49 hours later, so the window
    holds one real day (plus the tail of the previous replay) rather than identical copies.
    """
    clusterer = StoryClusterer(cross_language=cross_language, embedder=embedder)
    start = time.process_time()
    for i in range(n):
        s = stories[i % len(stories)]
        shifted = s.published_at + timedelta(hours=49 * (i // len(stories)))
        story = Story(
            key=f"{s.key}-{i}",
            url=s.url,
            title=s.title,
            summary=s.summary,
            published_at=shifted,
            source=s.source,
            language=s.language,
        )
        clusterer.assign(i, story, shifted)
    return n / (time.process_time() - start)


def show_errors(
    pred: dict[int, int], gold: dict[int, str], ids: list[int], stories: dict[int, Story]
) -> None:
    """Print the missed same-event pairs and the merged different-event pairs."""

    def describe(n: int) -> str:
        s = stories[n]
        return f"{n} {s.source} ({s.language}) {s.title[:70]!r}"

    missed: list[str] = []
    merged: list[str] = []
    for a, b in combinations(ids, 2):
        if (pred[a] == pred[b]) == (gold[a] == gold[b]):
            continue
        sa, sb = stories[a], stories[b]
        hours = abs(sa.published_at - sb.published_at).total_seconds() / 3600
        tags = []
        if sa.source == sb.source:
            tags.append("same source")
        if sa.language != sb.language:
            tags.append("cross-language")
        line = (
            f"  [{', '.join(tags) or '-'}; {hours:.0f} h apart] {describe(a)}\n      {describe(b)}"
        )
        if gold[a] == gold[b]:
            missed.append(f"  {gold[a]}\n{line}")
        else:
            merged.append(line)
    print(f"missed same-event pairs: {len(missed)}")
    print("\n".join(missed))
    print(f"merged different-event pairs: {len(merged)}")
    print("\n".join(merged))


def main(argv: list[str] | None = None) -> int:
    """Print precision/recall per threshold and the clusterer's throughput."""
    default_labels = Path(__file__).parent / "data" / "clusters_labelled.json"
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("items_json", type=Path)
    ap.add_argument("--labels", type=Path, default=default_labels)
    ap.add_argument("--thresholds", default="0.2,0.25,0.3,0.35,0.4")
    ap.add_argument("--speed-items", type=int, default=20_000)
    ap.add_argument("--show-errors", type=float, metavar="THRESHOLD")
    ap.add_argument("--semantic", action="store_true", help="measure with all-MiniLM-L6-v2")
    ap.add_argument(
        "--static-model",
        type=Path,
        metavar="DIR",
        default=BUILT_IN_CLUSTER_MODEL,
        help="measure with this model (default: the built-in one)",
    )
    ap.add_argument("--words-only", action="store_true", help="skip the model's measurements")
    ap.add_argument("--confirm", default=str(DEFAULT_CONFIRM_SIMILARITY), metavar="SIMILARITIES")
    args = ap.parse_args(argv)
    items = json.loads(args.items_json.read_text(encoding="utf-8"))
    labels = json.loads(args.labels.read_text(encoding="utf-8"))
    index = {item["id"]: n for n, item in enumerate(items)}
    labelled = [index[i] for i in labels["items"] if i in index]
    gold = {n: f"single-{n}" for n in labelled}
    for name, members in labels["groups"].items():
        for uid in members:
            gold[index[uid]] = name
    excluded = {index[i] for i in labels.get("excluded", []) if i in index}
    # Feed every item except the exact duplicates and the excluded ones, in time order.
    keep = set(labelled)
    stories = sorted(
        ((n, to_story(items[n])) for n in keep - excluded), key=lambda p: p[1].published_at
    )
    langs = {n: s.language or "" for n, s in stories}
    print(f"items={len(items)} labelled={len(labelled)} groups={len(labels['groups'])}")
    print(
        f"{'threshold':>9} {'precision':>9} {'recall':>7} {'same_lang':>9} {'cross_lang':>10} pairs"
    )
    for t in (float(x) for x in args.thresholds.split(",")):
        pred = run(stories, t)
        p, r, rs, rc, npred, ngold = pair_scores(pred, gold, labelled, langs)
        print(f"{t:9.2f} {p:9.3f} {r:7.3f} {rs:9.3f} {rc:10.3f} predicted={npred} gold={ngold}")
        p, r, rs, rc, npred, _ = pair_scores(
            run(stories, t, as_assigned=True), gold, labelled, langs
        )
        print(
            f"{'assigned':>9} {p:9.3f} {r:7.3f} {rs:9.3f} {rc:10.3f} predicted={npred}"
            "  (ids as returned, before later merges)"
        )
    if args.show_errors is not None:
        show_errors(run(stories, args.show_errors), gold, labelled, dict(stories))
    rate = speed([s for _, s in stories], args.speed_items)
    print(f"speed: {rate:,.0f} stories per CPU second over {args.speed_items} assignments")
    rate = speed([s for _, s in stories], args.speed_items, cross_language=False)
    print(f"speed without the cross-language stage: {rate:,.0f} stories per CPU second")
    embedder: Embedder | None = None
    if args.semantic:
        embedder = load_embedder()
    elif not args.words_only:
        embedder = StaticEmbedder(args.static_model)
    if embedder is not None:
        print(
            f"with {embedder.name} (threshold {CONFIRMED_THRESHOLD}, "
            f"confirmation band {CONFIRM_BAND}), by confirmation similarity:"
        )
        print(f"{'confirm':>9} {'precision':>9} {'recall':>7} {'same_lang':>9} {'cross_lang':>10}")
        for c in (float(x) for x in args.confirm.split(",")):
            for as_assigned in (False, True):
                pred = run(stories, None, embedder, c, as_assigned=as_assigned)
                p, r, rs, rc, npred, _ = pair_scores(pred, gold, labelled, langs)
                label = "assigned" if as_assigned else f"{c:.2f}"
                print(f"{label:>9} {p:9.3f} {r:7.3f} {rs:9.3f} {rc:10.3f} predicted={npred}")
        if args.show_errors is not None:
            print(f"with {embedder.name}:")
            show_errors(run(stories, None, embedder), gold, labelled, dict(stories))
        rate = speed([s for _, s in stories], args.speed_items, embedder)
        print(f"speed with {embedder.name}: {rate:,.0f} stories per CPU second")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
