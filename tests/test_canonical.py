"""Canonical story URLs: the same article reached by different links compares equal."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.stories.canonical import canonical_url


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        # tracking parameters go, the rest is sorted
        (
            "https://www.example.com/news/story?utm_source=rss&utm_medium=feed&id=7",
            "https://www.example.com/news/story?id=7",
        ),
        (
            "https://example.com/a?fbclid=abc&gclid=x&ocid=msn&cmpid=1&ns_mchannel=rss&at_medium=rss",
            "https://example.com/a",
        ),
        (
            "https://example.com/a?mc_cid=1&mc_eid=2&igshid=x&ref=home&ref_src=twsrc",
            "https://example.com/a",
        ),
        ("https://example.com/a?b=2&a=1&utm_campaign=x", "https://example.com/a?a=1&b=2"),
        ("https://example.com/a?UTM_Source=x&Page=2", "https://example.com/a?Page=2"),
        # case, default port, fragment
        ("HTTPS://WWW.Example.COM:443/Path#comments", "https://www.example.com/Path"),
        ("http://example.com:80/x", "http://example.com/x"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        # trailing slash, but not the root
        ("https://example.com/news/", "https://example.com/news"),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com", "https://example.com/"),
        # AMP variants
        ("https://www.example.com/news/story/amp/", "https://www.example.com/news/story"),
        ("https://www.example.com/amp/news/story", "https://www.example.com/news/story"),
        ("https://www.example.com/news/story.amp", "https://www.example.com/news/story"),
        ("https://www.example.com/news/story.amp.html", "https://www.example.com/news/story.html"),
        ("https://www.example.com/news/story?amp", "https://www.example.com/news/story"),
        ("https://www.example.com/news/story?amp=1", "https://www.example.com/news/story"),
        ("https://www.example.com/story?outputType=amp&id=5", "https://www.example.com/story?id=5"),
        ("https://amp.example.com/news/story", "https://www.example.com/news/story"),
        (
            "https://www-example-com.cdn.ampproject.org/c/s/www.example.com/news/story/amp/",
            "https://www.example.com/news/story",
        ),
        # mobile variants
        ("https://m.example.com/news/story", "https://www.example.com/news/story"),
        ("https://mobile.example.co.uk/news/story", "https://www.example.co.uk/news/story"),
        ("https://m.news.example.com/story", "https://news.example.com/story"),
        # words that merely contain "amp" are left alone
        ("https://example.com/champions/campaign", "https://example.com/champions/campaign"),
        # dot segments, percent-encoding, IDNA
        ("https://example.com/a/../b/./c", "https://example.com/b/c"),
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("https://bücher.example/straße", "https://xn--bcher-kva.example/stra%C3%9Fe"),
    ],
)
def test_canonical_forms(raw: str, canonical: str) -> None:
    assert canonical_url(raw) == canonical


def test_relative_link_resolves_against_base() -> None:
    assert (
        canonical_url("../story?utm_source=x", "https://example.com/news/world/")
        == "https://example.com/news/story"
    )


def test_variants_of_one_article_agree() -> None:
    variants = [
        "https://www.example.com/world/story-1",
        "https://www.example.com/world/story-1/",
        "https://m.example.com/world/story-1?utm_source=twitter",
        "https://amp.example.com/world/story-1",
        "https://www.example.com/world/story-1/amp#top",
        "HTTPS://WWW.EXAMPLE.COM/world/story-1?fbclid=1",
    ]
    assert {canonical_url(v) for v in variants} == {"https://www.example.com/world/story-1"}


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "javascript:alert(1)",
        "mailto:news@example.com",
        "ftp://example.com/file",
        "/relative/without/base",
        "http://",
        "http://exa mple.com/",
        "http://user:secret@example.com/",
        "http://example.com:99999/",
        "https://example.com/\x00",
    ],
)
def test_unusable_input_gives_none(raw: str) -> None:
    assert canonical_url(raw) is None


@given(st.text(max_size=200))
def test_never_raises_on_any_text(raw: str) -> None:
    result = canonical_url(raw, "https://example.com/base/")
    assert result is None or result.startswith(("http://", "https://"))


@given(
    st.sampled_from(["https://example.com", "http://m.example.co.uk", "https://news.example"]),
    st.lists(st.sampled_from(["a", "b", "amp", "x.amp", "Ä"]), max_size=4),
    st.dictionaries(
        st.sampled_from(["id", "utm_source", "page", "fbclid", "q"]),
        st.text(max_size=5),
        max_size=3,
    ),
)
def test_canonical_is_idempotent(host: str, segments: list[str], params: dict[str, str]) -> None:
    url = host + "/" + "/".join(segments) + ("?" + urlencode(params) if params else "")
    once = canonical_url(url)
    assert once is not None
    assert canonical_url(once) == once
