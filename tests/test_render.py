"""How an alert looks in Telegram: escaped, within limits, with its buttons."""

from __future__ import annotations

import dataclasses
import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.models import Alert, AlertSource, ChatKind, TermHit
from handlers.render import (
    alert_keyboard,
    relative_time,
    render_alert,
    render_plain,
    render_sources,
    render_why,
    split_message,
)
from handlers.telegram_html import parse_html, utf16_len

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOSTILE_TITLE = "</a><script>alert(1)</script> <b>bold</b> &amp; \u202eevil\u2066 " + "W" * 5000


def make_alert(**changes: object) -> Alert:
    alert = Alert(
        id=41,
        chat_id=5,
        chat_kind=ChatKind.PRIVATE,
        story_id=9,
        cluster_id=3,
        title="Pakistan and Afghanistan reopen Torkham crossing",
        url="https://dawn.test/news/1?ref=a&b=c",
        source="Dawn",
        published_at=NOW - timedelta(hours=3),
        summary="Trade resumed on Monday after talks.",
        topic="Pakistan Afghanistan",
        hits=(
            TermHit("pakistan", "Pakistan", "title"),
            TermHit("afghanistan", "Afghan", "summary"),
        ),
    )
    return dataclasses.replace(alert, **changes)  # type: ignore[arg-type]


def visible(markup: str) -> str:
    """What the user reads: Telegram's parse of the HTML (raises if Telegram would refuse it)."""
    return parse_html(markup)[0]


def test_alert_shows_linked_title_source_age_summary_and_topic() -> None:
    html_text = render_alert(make_alert(), NOW)
    assert html_text.startswith(
        '<a href="https://dawn.test/news/1?ref=a&amp;b=c"><b>Pakistan and Afghanistan'
    )
    assert visible(html_text) == (
        "Pakistan and Afghanistan reopen Torkham crossing\n"
        "Dawn · 3 h ago\n\n"
        "Trade resumed on Monday after talks.\n\n"
        "🔎 Topic: Pakistan Afghanistan"
    )


@pytest.mark.parametrize("url", [None, "javascript:alert(1)", "ftp://x.test/a", "data:text/html,x"])
def test_title_is_not_linked_without_a_web_url(url: str | None) -> None:
    html_text = render_alert(make_alert(url=url), NOW)
    assert "<a " not in html_text
    assert html_text.startswith("<b>Pakistan")


def test_hostile_title_arrives_as_visible_text_within_limits() -> None:
    html_text = render_alert(make_alert(title=HOSTILE_TITLE, summary="x" * 9000), NOW)
    text = visible(html_text)
    assert utf16_len(html_text) <= 4096
    assert text.startswith("</a><script>alert(1)</script> <b>bold</b> &amp; evil WWW")
    assert "\u202e" not in text and "\u2066" not in text
    assert text.endswith("🔎 Topic: Pakistan Afghanistan")


def test_summary_is_shortened_before_the_title() -> None:
    html_text = render_alert(make_alert(summary="word " * 2000), NOW)
    text = visible(html_text)
    assert utf16_len(html_text) <= 4096
    assert text.startswith("Pakistan and Afghanistan reopen Torkham crossing\n")
    assert "word…" in text


def test_escaping_cannot_push_a_message_over_the_limit() -> None:
    html_text = render_alert(make_alert(title="&" * 400, summary="<" * 5000, topic='"' * 300), NOW)
    assert utf16_len(html_text) <= 4096
    assert visible(html_text).startswith("&" * 299 + "…")


@pytest.mark.parametrize(
    ("age", "shown"),
    [
        (timedelta(seconds=-30), "just now"),
        (timedelta(seconds=20), "just now"),
        (timedelta(minutes=5), "5 min ago"),
        (timedelta(hours=3, minutes=59), "3 h ago"),
        (timedelta(days=1, hours=2), "1 day ago"),
        (timedelta(days=2), "2 days ago"),
    ],
)
def test_relative_time(age: timedelta, shown: str) -> None:
    assert relative_time(NOW - age, NOW) == shown


@pytest.mark.parametrize(
    ("names", "line"),
    [
        (("Dawn",), "Dawn · 3 h ago"),
        (("Dawn", "BBC"), "Dawn and BBC · 3 h ago"),
        (("Dawn", "BBC", "Reuters"), "Dawn, BBC and Reuters · 3 h ago"),
        (("Dawn", "BBC", "Reuters", "AP"), "Dawn, BBC and 2 more · 3 h ago"),
    ],
)
def test_sources_line(names: tuple[str, ...], line: str) -> None:
    sources = tuple(AlertSource(n, None, NOW) for n in names)
    text = visible(render_alert(make_alert(sources=sources), NOW))
    assert text.splitlines()[1] == line


def test_plain_fallback_has_no_markup_and_shows_the_link() -> None:
    text = render_plain(make_alert(title="<b>Tom & Jerry</b>"), NOW)
    assert text.splitlines()[:2] == ["<b>Tom & Jerry</b>", "https://dawn.test/news/1?ref=a&b=c"]
    assert len(render_plain(make_alert(summary="y" * 9000), NOW)) <= 4096


def test_keyboard_buttons_and_callback_data() -> None:
    keyboard = alert_keyboard(make_alert(id=2**62))
    buttons = [b for row in keyboard.inline_keyboard for b in row]
    assert [b.text for b in buttons] == ["More", "Sources", "Why?", "Mute topic", "👍", "👎"]
    assert [b.callback_data for b in buttons] == [
        f"{kind}:{2**62}" for kind in ("more", "src", "why", "mute", "up", "down")
    ]
    assert all(len(str(b.callback_data).encode()) <= 64 for b in buttons)


def test_why_lists_terms_and_fields() -> None:
    text = visible(render_why(make_alert()))
    assert "pakistan matched “Pakistan” in the title" in text
    assert "afghanistan matched “Afghan” in the summary" in text


def test_sources_lists_outlets_with_links_and_ages() -> None:
    sources = (
        AlertSource("Dawn <i>", "https://dawn.test/1", NOW - timedelta(minutes=5)),
        AlertSource("BBC", "javascript:x", NOW - timedelta(days=2)),
    )
    html_text = render_sources(make_alert(sources=sources), NOW)
    assert '<a href="https://dawn.test/1">Dawn &lt;i&gt;</a>' in html_text
    assert visible(html_text).splitlines() == [
        "Sources (2)",
        "• Dawn <i> · 5 min ago",
        "• BBC · 2 days ago",
    ]


# ----------------------------------------------------------------------------- splitting


def test_split_prefers_paragraphs_and_keeps_tags_balanced() -> None:
    text = (
        "<b>Head</b>\n\n<i>"
        + " ".join(["wörd"] * 600)
        + '</i>\n\nend <a href="https://x.test">link</a>'
    )
    parts = split_message(text, 500)
    assert len(parts) > 1
    assert all(utf16_len(p) <= 500 for p in parts)
    assert parts[0].startswith("<b>Head</b>\n\n<i>wörd")
    assert all(p.startswith("<i>") for p in parts[1:-1])
    texts = [visible(p) for p in parts]  # each part is valid Telegram HTML
    assert re.sub(r"\s+", " ", " ".join(texts)) == re.sub(r"\s+", " ", visible(text))


def test_split_never_cuts_an_entity() -> None:
    parts = split_message("&amp;" * 10, 12)
    assert parts == ["&amp;&amp;", "&amp;&amp;", "&amp;&amp;", "&amp;&amp;", "&amp;&amp;"]


def test_short_text_is_one_part() -> None:
    assert split_message("<b>hi</b>") == ["<b>hi</b>"]


words = st.text(alphabet="ab &<>é😀\n", min_size=0, max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    paragraphs=st.lists(st.tuples(st.sampled_from(["", "b", "i", "code"]), words), max_size=40),
    limit=st.integers(min_value=40, max_value=300),
)
def test_split_parts_are_valid_and_lose_nothing(
    paragraphs: list[tuple[str, str]], limit: int
) -> None:
    pieces = [
        f"<{tag}>{html.escape(body)}</{tag}>" if tag else html.escape(body)
        for tag, body in paragraphs
    ]
    text = "\n\n".join(pieces)
    parts = split_message(text, limit)
    assert all(utf16_len(p) <= limit for p in parts)
    joined = "".join(visible(p) for p in parts)
    assert re.sub(r"\s+", "", joined) == re.sub(r"\s+", "", visible(text) if text.strip() else "")


@settings(max_examples=100, deadline=None)
@given(title=st.text(max_size=6000), summary=st.text(max_size=6000), topic=st.text(max_size=300))
def test_any_alert_renders_valid_html_within_the_limit(
    title: str, summary: str, topic: str
) -> None:
    html_text = render_alert(make_alert(title=title, summary=summary, topic=topic), NOW)
    assert utf16_len(html_text) <= 4096
    text = visible(html_text)
    assert "\nDawn · 3 h ago" in text
    if any(ch.isalnum() for ch in topic):
        assert "\n\n🔎 Topic: " in text
    assert len(render_plain(make_alert(title=title, summary=summary), NOW)) <= 4096
