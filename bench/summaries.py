"""ROUGE of newsbot's extractive summaries against reference summaries, beside Lead-3.

Usage: python -m bench.summaries DATA_DIR [--budget N]

DATA_DIR holds corpus/article/<topic>/NNN.txt (first line: the title) and
corpus/summary/<topic>/NNN.txt. For fairness both systems get the same character budget per
article: by default the length of that article's Lead-3 (its first three body sentences), so
Lead-3 is exactly itself and ``summarize`` may use no more room; ``--budget N`` gives both a
fixed budget instead, and the baseline becomes "lead": as many leading body sentences as fit
in N (``cut_at_sentence``), i.e. Lead-3 generalised to the same room.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from rouge_score import rouge_scorer

from bot.stories.summarize import cut_at_sentence, split_sentences, summarize

METRICS = ("rouge1", "rouge2", "rougeL")


def read_pairs(data_dir: Path) -> list[tuple[str, str, str]]:
    """(title, body, reference) for every article that has a reference summary."""
    pairs = []
    for article in sorted((data_dir / "corpus" / "article").glob("*/*.txt")):
        ref = data_dir / "corpus" / "summary" / article.parent.name / article.name
        if not ref.exists():
            continue
        raw = article.read_text(encoding="utf-8", errors="replace")
        title, _, body = raw.partition("\n")
        pairs.append((title.strip(), body.strip(), ref.read_text(encoding="utf-8")))
    return pairs


def lead3(body: str) -> str:
    """The first three sentences of the body."""
    return " ".join(split_sentences(body)[:3])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print ROUGE F1 for both systems and summarize() timings."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--budget", type=int, default=None, help="fixed budget for both systems")
    args = ap.parse_args(argv)
    pairs = read_pairs(args.data_dir)
    if not pairs:
        print(f"no articles under {args.data_dir}", file=sys.stderr)
        return 1
    scorer = rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)
    totals: dict[str, dict[str, list[float]]] = {
        "lead3": {m: [] for m in METRICS},
        "summarize": {m: [] for m in METRICS},
    }
    timings: list[float] = []
    lengths: dict[str, list[int]] = {"lead3": [], "summarize": []}
    for title, body, ref in pairs:
        if args.budget is None:
            base = lead3(body)
            budget = len(base)
        else:
            budget = args.budget
            base = cut_at_sentence(body, budget)
        t0 = time.perf_counter()
        ours = summarize(body, budget=budget, title=title, language="en")
        timings.append((time.perf_counter() - t0) * 1000)
        for name, hyp in (("lead3", base), ("summarize", ours)):
            lengths[name].append(len(hyp))
            scores = scorer.score(ref, hyp)
            for m in METRICS:
                totals[name][m].append(scores[m].fmeasure)
    how = f"fixed {args.budget} chars" if args.budget else "per-article Lead-3 length"
    print(f"articles={len(pairs)} budget={how}")
    print(f"{'system':<10} {'R1':>7} {'R2':>7} {'RL':>7} {'mean chars':>11}")
    for name, per in totals.items():
        label = "lead" if name == "lead3" and args.budget else name
        vals = " ".join(f"{statistics.fmean(per[m]):7.4f}" for m in METRICS)
        print(f"{label:<10} {vals} {statistics.fmean(lengths[name]):11.1f}")
    timings.sort()
    p95 = timings[min(len(timings) - 1, int(0.95 * len(timings)))]
    print(f"summarize() ms/article: p50={statistics.median(timings):.2f} p95={p95:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
