"""Robustness bench: every file under FEEDS_DIR through fetch -> parse -> normalize.

Each file is served from a loopback FeedServer and run through the real Fetcher
(allow_private=True), parse_feed and normalize_feed with a per-feed timeout. Files named
``http_*`` may carry ``Header: Name: value`` lines in their leading comment (feedparser's test
convention); those headers are served with the file.

    python -m bench.robustness /path/to/feeds [--timeout 30] [--concurrency 16]

Prints files, feeds parsed OK, recorded errors by kind, stories produced, crashes (exceptions
escaping our code, first tracebacks shown), hangs (per-feed timeouts) and total seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from bot.feeds.fetch import Fetcher, FetchPolicy
from bot.feeds.normalize import normalize_feed
from bot.feeds.parse import parse_feed
from bot.models import FetchStatus, ParsedFeed, Story
from tests.fakes.feed_server import FeedServer

_HEADER_LINE = re.compile(rb"^\s*Header:\s*([A-Za-z0-9-]+):\s*(.*?)\s*$", re.MULTILINE)
_POSITION = re.compile(r"^<unknown>:\d+:\d+: ")
_NUMBERS = re.compile(r"\d+")


@dataclass
class Tally:
    """What the run saw, accumulated feed by feed."""

    files: int = 0
    fetched: int = 0
    parsed_ok: int = 0
    empty_feeds: int = 0
    warnings: int = 0
    stories: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    crashes: list[tuple[str, str]] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)


def served_headers(name: str, body: bytes) -> tuple[str, dict[str, str]]:
    """Content type and extra headers for one file (``Header:`` lines honoured for http_*)."""
    content_type = "application/json" if name.endswith(".json") else "application/xml"
    extra: dict[str, str] = {}
    if name.startswith("http_"):
        for raw_name, raw_value in _HEADER_LINE.findall(body[:4096]):
            header = raw_name.decode("latin-1")
            value = raw_value.decode("latin-1")
            if header.lower() == "content-type":
                content_type = value
            elif header.lower() not in ("content-length", "transfer-encoding", "connection"):
                extra[header] = value
    return content_type, extra


def error_kind(stage: str, message: str) -> str:
    """A message with positions and numbers removed, so similar errors count together."""
    message = _POSITION.sub("", message)
    return f"{stage}: {_NUMBERS.sub('N', message)[:80]}"


async def run_one(fetcher: Fetcher, url: str, label: str, tally: Tally, per_feed_s: float) -> None:
    """Fetch, parse and normalize one served file, recording what happened."""
    try:
        async with asyncio.timeout(per_feed_s):
            result = await fetcher.fetch(url)
            if result.status is not FetchStatus.OK or result.body is None:
                tally.errors[error_kind("fetch", result.error or result.status.value)] += 1
                return
            tally.fetched += 1
            body, final_url, content_type = (
                result.body,
                result.final_url or url,
                result.content_type,
            )
            # Parsing is CPU-bound: run it in a thread so the timeout can still fire.
            parsed, stories = await asyncio.to_thread(
                _parse_and_normalize, body, final_url, content_type
            )
    except TimeoutError:
        tally.hangs.append(label)
        return
    except Exception:
        tally.crashes.append((label, traceback.format_exc()))
        return
    if parsed.error is not None:
        tally.errors[error_kind("parse", parsed.error)] += 1
        return
    tally.parsed_ok += 1
    tally.warnings += parsed.warning is not None
    tally.empty_feeds += not parsed.entries
    tally.stories += len(stories)


def _parse_and_normalize(
    body: bytes, url: str, content_type: str | None
) -> tuple[ParsedFeed, list[Story]]:
    parsed = parse_feed(body, url=url, content_type=content_type)
    stories = normalize_feed(
        parsed, feed_url=url, source="bench", feed_id=None, language=None, now=datetime.now(UTC)
    )
    return parsed, stories


async def run(feeds_dir: Path, files: list[Path], per_feed_s: float, concurrency: int) -> Tally:
    """Serve ``files`` (all under ``feeds_dir``) and run each through the pipeline."""
    tally = Tally(files=len(files))
    limit = asyncio.Semaphore(concurrency)
    with FeedServer() as server:
        jobs: list[tuple[str, str]] = []
        for index, path in enumerate(files):
            body = path.read_bytes()
            content_type, extra = served_headers(path.name, body)
            route = f"/{index}/{quote(path.name)}"
            server.set_feed(route, body, content_type=content_type, headers=extra)
            jobs.append((server.url(route), str(path.relative_to(feeds_dir))))
        async with Fetcher(FetchPolicy(allow_private=True)) as fetcher:

            async def guarded(url: str, label: str) -> None:
                async with limit:
                    await run_one(fetcher, url, label, tally, per_feed_s)

            await asyncio.gather(*(guarded(url, label) for url, label in jobs))
    return tally


def report(tally: Tally, seconds: float) -> None:
    """Print the figures."""
    print(f"files:                 {tally.files}")
    print(f"fetched OK:            {tally.fetched}")
    print(
        f"feeds parsed OK:       {tally.parsed_ok}  (with warnings: {tally.warnings}, "
        f"no entries: {tally.empty_feeds})"
    )
    print(f"feeds with errors:     {sum(tally.errors.values())}")
    for kind, count in tally.errors.most_common():
        print(f"  {count:5d}  {kind}")
    print(f"stories produced:      {tally.stories}")
    print(f"crashes:               {len(tally.crashes)}")
    for label, tb in tally.crashes[:3]:
        print(f"--- crash in {label}\n{tb}")
    print(f"hangs:                 {len(tally.hangs)}")
    for label in tally.hangs[:10]:
        print(f"  hang: {label}")
    print(f"total seconds:         {seconds:.1f}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m bench.robustness FEEDS_DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("feeds_dir", type=Path)
    parser.add_argument("--timeout", type=float, default=30.0, help="per-feed seconds")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    files = sorted(p for p in args.feeds_dir.rglob("*") if p.is_file())
    tally = asyncio.run(run(args.feeds_dir, files, args.timeout, args.concurrency))
    report(tally, time.perf_counter() - started)
    return 1 if tally.crashes or tally.hangs else 0


if __name__ == "__main__":
    sys.exit(main())
