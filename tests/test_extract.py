"""Article text extraction: encodings, non-articles and huge pages, from fixture files."""

from __future__ import annotations

import codecs
from pathlib import Path

from bot.stories.extract import MAX_PAGE_BYTES, extract_article

PAGES = Path(__file__).parent / "fixtures" / "pages"


def _page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def test_article_page_gives_body_without_navigation_comments_or_footer() -> None:
    text = extract_article(_page("article_en.html"), url="https://example.org/ferry")
    assert text is not None
    assert "ferry between Northbank and Eastmoor will run every twenty minutes" in text
    assert "shops near both piers had lost trade" in text
    assert "Section 3" not in text  # navigation
    assert "First! This ferry" not in text  # reader comments
    assert "We use cookies" not in text  # footer


def test_article_given_as_str_works_too() -> None:
    text = extract_article(_page("article_en.html").decode("utf-8"))
    assert text is not None and "electric boats" in text


def test_index_page_is_not_an_article() -> None:
    assert extract_article(_page("index_page.html")) is None


def test_windows_1251_page_declared_by_meta_decodes() -> None:
    text = extract_article(_page("article_cp1251.html"))
    assert text is not None
    assert "Городской совет утвердил план ремонта трёх мостов" in text


def test_latin1_page_declared_by_meta_decodes() -> None:
    text = extract_article(_page("article_latin1.html"))
    assert text is not None
    assert "La mairie a présenté jeudi un projet de piste cyclable" in text
    assert "financé à moitié par la région" in text


def test_utf16_page_with_bom_decodes() -> None:
    html = _page("article_en.html").decode("utf-8").replace('<meta charset="utf-8">', "")
    text = extract_article(codecs.BOM_UTF16_LE + html.encode("utf-16-le"))
    assert text is not None and "electric boats" in text


def test_short_page_gives_none() -> None:
    page = b"<html><body><article><p>Just a teaser line here.</p></article></body></html>"
    assert extract_article(page) is None


def test_garbage_and_empty_input_give_none() -> None:
    assert extract_article(b"") is None
    assert extract_article(b"\x00\xff\xfe binary \x89PNG junk" * 50) is None
    assert extract_article("no markup at all") is None


def test_huge_page_is_capped_and_still_yields_the_article_start() -> None:
    head = _page("article_en.html").split(b"</article>")[0]
    script = b"<script>" + b"var filler = 1;" * 200_000 + b"</script>"
    filler = b"".join(
        b"<p>Archive paragraph %d repeats the same filler sentence for size.</p>" % i
        for i in range(90_000)
    )
    page = head.replace(b"<main>", b"<main>" + script) + filler + b"</article></body></html>"
    assert len(page) > MAX_PAGE_BYTES
    text = extract_article(page)
    assert text is not None
    assert "ferry between Northbank and Eastmoor" in text
    assert len(text) < MAX_PAGE_BYTES
