"""Text analysis: which story words a topic word finds (stems, plurals, demonyms, scripts)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.models import Story
from bot.topics.analyze import analyze, normalize_word, stem, surface_words, tokenize
from bot.topics.compiled import Compiler
from bot.topics.index import TopicIndex
from bot.topics.query import parse_query


def story(title: str, summary: str = "", language: str | None = "en") -> Story:
    """A story with just the text that matters here."""
    when = datetime(2025, 5, 28, tzinfo=UTC)
    return Story("k", None, title, summary, when, "Dawn", "dawn.com", language)


def finds(topic: str, title: str, language: str | None = "en") -> bool:
    """True when the topic matches a story with this title."""
    index = TopicIndex()
    index.add(1, parse_query(topic))
    return bool(index.match(story(title, language=language)))


def test_words_are_casefolded_and_latin_accents_dropped() -> None:
    assert [t.norm for t in tokenize("Café CRÈME Ærø Straße")] == [
        "cafe",
        "creme",
        "ærø",
        "strasse",
    ]


def test_possessives_and_dotted_abbreviations() -> None:
    assert surface_words("Pakistan's U.S.-led talks, O'Brien's view") == [
        "Pakistan",
        "US",
        "led",
        "talks",
        "OBrien",
        "view",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("پاکستان کی فوج", ["پاکستان", "کی", "فوج"]),  # Urdu
        ("पाकिस्तान की सेना", ["पाकिस्तान", "की", "सेना"]),  # Hindi keeps its vowel signs
        ("باكستان وأفغانستان", ["باكستان", "وأفغانستان"]),  # Arabic
        ("Россия и Украина", ["Россия", "и", "Украина"]),  # Cyrillic
        ("北京市长", ["北京", "京市", "市长"]),  # CJK as overlapping bigrams
        ("서울 시장", ["서울", "시장"]),  # Hangul words are space-separated
    ],
)
def test_scripts_tokenize_into_words(text: str, expected: list[str]) -> None:
    assert surface_words(text) == expected


def test_arabic_vowel_marks_are_ignored() -> None:
    assert normalize_word("كِتَاب") == normalize_word("كتاب")


def test_cyrillic_keeps_its_letters() -> None:
    assert normalize_word("Йемен") == "йемен"


def test_english_stems() -> None:
    assert stem("tariffs") == stem("tariff")
    assert stem("hurricanes") == stem("hurricane")


@pytest.mark.parametrize(
    ("topic", "title"),
    [
        ("tariff", "New tariffs hit steel"),
        ("Pakistan", "Pakistan's army chief visits"),
        ("Afghanistan", "Afghans return home"),
        ("Afghanistan", "An Afghan refugee speaks"),
        ("Pakistan", "Pakistani strikes hit border posts"),
        ("Pakistani", "Pakistan holds elections"),
        ("United States", "American troops arrive"),
        ("United States", "U.S. troops arrive"),
        ("Philippines", "Filipino workers protest"),
        ("IPO", "Company plans an initial public offering"),
        ("cafe", "Café culture returns"),
        ("Россия", "Россия и Украина"),
        ("पाकिस्तान", "पाकिस्तान की सेना"),
        ("北京", "北京市长访问"),
    ],
)
def test_topic_word_finds_other_forms(topic: str, title: str) -> None:
    assert finds(topic, title)


@pytest.mark.parametrize(
    ("topic", "title"),
    [
        ("US", "Let us talk"),  # two-letter capitals are not the pronoun
        ("=Pakistan", "Pakistani strikes"),  # exact word only
        ("=Pakistan", "Pakistanis protest"),
        ("Pakistan", "Islamabad hosts talks"),  # capitals are opt-in
        ("Dominican", "Dominica votes"),  # a demonym shared by two countries expands to neither
        ("Afghanistan", "Pakistan news"),
    ],
)
def test_topic_word_does_not_overreach(topic: str, title: str) -> None:
    assert not finds(topic, title)


def test_wide_mode_adds_capitals_and_other_names() -> None:
    assert finds("~Afghanistan ~Pakistan", "Islamabad to send envoy to Kabul")
    assert finds("~Myanmar", "Burma floods")
    assert finds("~Ukraine", "Kyiv under fire")


def test_exact_mode_is_still_case_insensitive() -> None:
    assert finds("=pakistan", "PAKISTAN WINS")


def test_story_language_stems_apply() -> None:
    query = parse_query("lang:de Zoll")
    root = Compiler().compile(query.root)
    assert root.match(analyze(story("Neue Zölle auf Stahl", language="de")))
    assert not root.match(analyze(story("Neue Zölle auf Stahl", language="fr")))
