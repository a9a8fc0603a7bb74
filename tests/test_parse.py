"""Parsing feed documents into entries, including broken and hostile ones."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.feeds.parse import parse_feed
from bot.models import ParsedFeed

FIXTURES = Path(__file__).parent / "fixtures" / "feeds"


def parse_fixture(name: str, content_type: str | None = None) -> ParsedFeed:
    return parse_feed(
        (FIXTURES / name).read_bytes(),
        url=f"https://feeds.example/path/{name}",
        content_type=content_type,
    )


def test_rss2_entries_fields() -> None:
    feed = parse_fixture("rss2.xml", "application/rss+xml")
    assert feed.error is None
    assert feed.warning is None
    assert feed.title == "Frontier Daily"
    assert feed.language == "en-gb"
    assert len(feed.entries) == 4
    first = feed.entries[0]
    assert first.guid == "fd-1001"
    assert first.title == "Pakistan and Afghanistan reopen the Torkham crossing"
    assert first.link is not None and first.link.startswith(
        "https://www.frontier-daily.example/news/"
    )
    assert first.published == datetime(2026, 3, 10, 3, 30, tzinfo=UTC)
    assert first.author == "Staff Reporter"
    assert first.summary is not None and "<b>miles</b>" in first.summary


def test_relative_link_resolves_against_feed_url() -> None:
    feed = parse_fixture("rss2.xml")
    assert feed.entries[1].link == "https://feeds.example/news/cafe-award"


def test_item_without_guid_link_title_or_date_is_kept() -> None:
    bare = parse_fixture("rss2.xml").entries[2]
    assert (bare.guid, bare.link, bare.title, bare.published, bare.updated) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert bare.summary is not None and bare.summary.startswith("An item with neither")


def test_atom_entries_use_content_updated_and_language() -> None:
    feed = parse_fixture("atom.xml", "application/atom+xml")
    assert feed.title == "Bergpost"
    assert feed.language == "de"
    entry = feed.entries[0]
    assert entry.link == "https://feeds.example/path/artikel/lawine"
    assert entry.published is None
    assert entry.updated == datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
    assert entry.summary is not None and "Die Straße bleibt" in entry.summary
    assert entry.author == "Anna Berg"
    assert entry.language == "de"


def test_rss1_rdf() -> None:
    feed = parse_fixture("rss1.rdf")
    assert feed.error is None
    assert feed.language == "fr"
    assert [e.title for e in feed.entries] == ["Premier article"]
    assert feed.entries[0].updated == datetime(2026, 3, 8, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "content_type", "title", "entry_title"),
    [
        ("windows-1251.xml", None, "Новости", "Переговоры в Кабуле"),
        ("shift_jis.xml", "application/rss+xml", "日本ニュース", "東京で地震"),
        (
            "latin1-header-only.xml",
            "text/xml; charset=iso-8859-1",
            "Café Presse",
            "Élection à Besançon",
        ),
    ],
)
def test_non_utf8_encodings(
    name: str, content_type: str | None, title: str, entry_title: str
) -> None:
    feed = parse_fixture(name, content_type)
    assert feed.title == title
    assert feed.entries[0].title == entry_title


def test_json_feed() -> None:
    feed = parse_fixture("feed.json", "application/feed+json")
    assert feed.title == "JSON Wire"
    assert feed.language == "en"
    first, second = feed.entries
    assert first.link == "https://feeds.example/stories/1"
    assert first.published == datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
    assert first.author == "Wire Desk"
    assert second.guid == "2"
    assert second.summary == "A title-less note."


def test_html_page_is_not_a_feed() -> None:
    feed = parse_fixture("page.html", "text/html; charset=utf-8")
    assert feed.error == "not a feed"
    assert feed.entries == ()


@pytest.mark.parametrize(
    "body",
    [b"", b"   \n", b"\x00\x01\x02garbage\xff\xfe", b"<rss><channel><item><title>x", b"{not json"],
)
def test_garbage_gives_an_error_not_an_exception(body: bytes) -> None:
    feed = parse_feed(body, url="https://feeds.example/x")
    assert feed.error is not None
    assert feed.entries == ()


def test_broken_xml_with_entries_is_a_warning() -> None:
    feed = parse_fixture("broken-with-entries.xml")
    assert feed.error is None
    assert feed.warning is not None
    assert [e.title for e in feed.entries] == ["Unescaped & ampersand", "Second story"]


def test_valid_empty_feed_is_not_an_error() -> None:
    feed = parse_fixture("empty-channel.xml")
    assert feed.error is None
    assert feed.entries == ()
    assert feed.title == "Quiet"


def test_billion_laughs_is_refused() -> None:
    feed = parse_fixture("billion-laughs.xml")
    assert feed.error == "refused document with nested entities"
    assert feed.entries == ()


def test_one_line_billion_laughs_is_refused() -> None:
    decls = "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 12))
    body = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a0 "ha">{decls}]>'
        '<rss version="2.0"><channel><item><title>&a11;</title></item></channel></rss>'
    )
    feed = parse_feed(body.encode(), url="https://feeds.example/x")
    assert feed.error == "refused document with nested entities"


def test_external_entity_is_refused() -> None:
    feed = parse_fixture("xxe.xml")
    assert feed.error == "refused document with external entities"


def test_safe_character_entity_declaration_is_allowed() -> None:
    body = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
<!ENTITY nbsp "&#160;">
]>
<rss version="2.0"><channel><title>T</title>
<item><title>A&nbsp;B</title><link>https://x.example/1</link></item></channel></rss>"""
    feed = parse_feed(body, url="https://feeds.example/x")
    assert feed.error is None
    assert feed.entries[0].title == "A\u00a0B"


def test_large_feed_parses() -> None:
    item = "<item><title>Story {n}</title><link>https://big.example/{n}</link><description>{text}</description></item>"
    text = "word " * 100
    items = "".join(item.format(n=n, text=text) for n in range(5000))
    body = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>B</title>{items}</channel></rss>'
    )
    feed = parse_feed(body.encode(), url="https://feeds.example/big")
    assert feed.error is None
    # Capped so one hostile feed cannot flood the pipeline.
    assert len(feed.entries) == 2000
    assert feed.entries[0].title == "Story 0"


def test_feed_served_as_text_html_still_yields_entries() -> None:
    feed = parse_fixture("rss2.xml", "text/html; charset=utf-8")
    assert feed.error is None
    assert len(feed.entries) == 4


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.text(max_size=500).map(
            lambda t: f'<?xml version="1.0"?><rss version="2.0"><channel><item><title>{t}'.encode()
        ),
    )
)
def test_any_bytes_give_a_parsed_feed(body: bytes) -> None:
    feed = parse_feed(body, url="https://feeds.example/fuzz")
    # An error always means nothing usable was recovered.
    assert feed.error is None or feed.entries == ()
    assert all(isinstance(e.title, str | None) for e in feed.entries)
