"""Entries to stories: what a subscriber reads in an alert's title, summary, link and date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.feeds.normalize import (
    SUMMARY_MAX_CHARS,
    TITLE_MAX_CHARS,
    clean_text,
    normalize_entry,
    normalize_feed,
)
from bot.feeds.parse import parse_feed
from bot.models import ParsedFeed, RawEntry, Story

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
FEED_URL = "https://www.frontier-daily.example/rss.xml"


def entry(**fields: object) -> RawEntry:
    base: dict[str, object] = {
        "guid": None,
        "link": None,
        "title": None,
        "summary": None,
        "published": None,
        "updated": None,
    }
    base.update(fields)
    return RawEntry(**base)  # type: ignore[arg-type]


def story(raw: RawEntry, language: str | None = None) -> Story | None:
    return normalize_entry(
        raw, feed_url=FEED_URL, source="Frontier Daily", feed_id=3, language=language, now=NOW
    )


@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        ("<p>First paragraph.</p><p>Second.</p>", "First paragraph. Second."),
        ("line<br>break<br/>here", "line break here"),
        ("<ul><li>one</li><li>two</li></ul>", "one two"),
        ("Tom &amp;amp; Jerry", "Tom & Jerry"),
        ("&lt;b&gt;escaped&lt;/b&gt; markup", "escaped markup"),
        ("&amp;lt;i&amp;gt;twice&amp;lt;/i&amp;gt;", "twice"),
        ("x < y and AT&T", "x < y and AT&T"),
        ("caf&eacute; &#8220;quoted&#x201D;", "café “quoted”"),
        ("<script>alert('x')</script><style>p{}</style>Visible", "Visible"),
        ("\u202egnp.exe\u202c and \u2067isolate\u2069", "gnp.exe and isolate"),
        ("nul\x00bell\x07tab\there", "nul bell tab here"),
        ("  many \n\n spaces\u00a0here ", "many spaces here"),
        ("می\u200cخواهم", "می\u200cخواهم"),  # ZWNJ is part of Persian spelling
        ("<!-- hidden -->shown", "shown"),
        ("", ""),
    ],
)
def test_clean_text(raw: str, plain: str) -> None:
    assert clean_text(raw) == plain


def test_clean_text_of_none_is_empty() -> None:
    assert clean_text(None) == ""


@given(st.text(max_size=300))
def test_clean_text_never_leaves_control_or_bidi_characters(raw: str) -> None:
    cleaned = clean_text(raw)
    assert not any(ord(c) < 32 or 0x202A <= ord(c) <= 0x202E for c in cleaned)
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned


def test_full_entry_becomes_story() -> None:
    raw = entry(
        guid="fd-1001",
        link="https://www.frontier-daily.example/news/torkham?utm_source=rss#top",
        title="Pakistan &amp; Afghanistan <b>reopen</b> Torkham",
        summary="<p>Trucks queued.</p><p>Trade resumes.</p>",
        published=datetime(2026, 3, 10, 3, 30, tzinfo=UTC),
        language="EN_gb",
    )
    result = story(raw)
    assert result == Story(
        key="guid:fd-1001",
        url="https://www.frontier-daily.example/news/torkham",
        title="Pakistan & Afghanistan reopen Torkham",
        summary="Trucks queued. Trade resumes.",
        published_at=datetime(2026, 3, 10, 3, 30, tzinfo=UTC),
        source="Frontier Daily",
        site="frontier-daily.example",
        language="en-gb",
        feed_id=3,
    )


def test_configured_language_wins_over_entry_language() -> None:
    result = story(entry(title="T", link="https://x.example/1", language="en-us"), language="ur")
    assert result is not None
    assert result.language == "ur"


def test_key_falls_back_to_canonical_url_then_hash() -> None:
    by_url = story(entry(title="T", link="https://m.example.com/a/?fbclid=1"))
    assert by_url is not None
    assert by_url.key == "url:https://www.example.com/a"
    by_hash = story(entry(title="Only a title"))
    assert by_hash is not None
    assert by_hash.key.startswith("hash:")
    assert len(by_hash.key) == len("hash:") + 32
    assert by_hash.url is None
    assert by_hash.site is None
    # The same title from the same source gets the same key on the next poll.
    again = story(entry(title="Only a title"))
    assert again is not None
    assert again.key == by_hash.key


def test_relative_link_resolves_against_feed_url() -> None:
    result = story(entry(title="T", link="/news/a"))
    assert result is not None
    assert result.url == "https://www.frontier-daily.example/news/a"


def test_missing_title_falls_back_to_first_words_of_summary() -> None:
    summary = "Heavy rain closed the Karakoram Highway near Gilgit on Tuesday, officials said, " * 3
    result = story(entry(link="https://x.example/1", summary=summary))
    assert result is not None
    assert result.title.startswith("Heavy rain closed the Karakoram Highway")
    assert result.title.endswith("…")
    assert len(result.title) <= 121


def test_no_title_and_no_link_is_dropped() -> None:
    assert story(entry(summary="Just some text without a title or link.")) is None
    assert story(entry(guid="g1")) is None


def test_missing_date_is_now_and_updated_is_used_when_published_missing() -> None:
    undated = story(entry(title="T", link="https://x.example/1"))
    assert undated is not None
    assert undated.published_at == NOW
    updated = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    only_updated = story(entry(title="T", link="https://x.example/2", updated=updated))
    assert only_updated is not None
    assert only_updated.published_at == updated


def test_future_date_is_clamped_to_now_but_small_skew_is_kept() -> None:
    future = story(entry(title="T", link="https://x.example/1", published=NOW + timedelta(days=3)))
    assert future is not None
    assert future.published_at == NOW
    skewed = NOW + timedelta(minutes=2)
    slightly = story(entry(title="T", link="https://x.example/2", published=skewed))
    assert slightly is not None
    assert slightly.published_at == skewed


def test_hostile_sizes_are_capped_on_word_boundaries() -> None:
    title = "word " * 1000
    summary = "<p>" + "sentence with words " * 2000 + "</p>"
    result = story(entry(title=title, link="https://x.example/1", summary=summary))
    assert result is not None
    assert len(result.title) <= TITLE_MAX_CHARS
    assert len(result.summary) <= SUMMARY_MAX_CHARS
    assert result.title.endswith("word…")
    assert result.summary.endswith("…")


def test_normalize_feed_dedupes_and_keeps_order_with_feed_language() -> None:
    parsed = ParsedFeed(
        title="F",
        link=None,
        language="ps",
        entries=(
            entry(guid="a", title="First"),
            entry(guid="b", title="Second"),
            entry(guid="a", title="First again"),
            entry(summary="dropped: no title, no link"),
            entry(title="Third", link="https://x.example/3", language="en"),
        ),
    )
    stories = normalize_feed(
        parsed, feed_url=FEED_URL, source="F", feed_id=None, language=None, now=NOW
    )
    assert [s.title for s in stories] == ["First", "Second", "Third"]
    assert [s.language for s in stories] == ["ps", "ps", "en"]


def test_fixture_feed_end_to_end() -> None:
    parsed = parse_feed((FIXTURES / "rss2.xml").read_bytes(), url=FEED_URL)
    stories = normalize_feed(
        parsed, feed_url=FEED_URL, source="Frontier Daily", feed_id=1, language=None, now=NOW
    )
    titles = [s.title for s in stories]
    assert titles == [
        "Pakistan and Afghanistan reopen the Torkham crossing",
        "Tom & Jerry’s cafe wins award",
        "Item with a date from the future",
    ]
    assert stories[0].url == "https://www.frontier-daily.example/news/torkham-reopens"
    assert stories[0].summary == (
        "Trucks queued for miles as the border reopened. Officials said trade would resume."
    )
    assert stories[1].url == "https://www.frontier-daily.example/news/cafe-award"
    assert stories[2].published_at == NOW
    assert {s.language for s in stories} == {"en-gb"}


def test_atom_double_escaped_title() -> None:
    parsed = parse_feed((FIXTURES / "atom.xml").read_bytes(), url="https://bergpost.example/atom")
    stories = normalize_feed(
        parsed,
        feed_url="https://bergpost.example/atom",
        source="B",
        feed_id=2,
        language=None,
        now=NOW,
    )
    assert stories[0].title == "Lawine sperrt Passstraße"
    assert stories[0].summary == "Die Straße bleibt gesperrt."
    assert stories[1].url == "https://bergpost.example/artikel/zwei"
