"""Text analysis shared by queries and stories: tokens, normal forms and stems.

A story is analysed once into "keys" per field. A key is one of:
- ``=word``: the normalized surface word (casefolded, Latin accents removed), for ``=exact`` terms;
- ``stem``: the snowball stem of the word (English, plus the story's language when it differs);
- ``US``: a short all-capitals word kept in capitals, so ``US`` (the country) is told apart from
  ``us`` (the pronoun);
- ``source:word`` and ``lang:xx`` for the ``source:`` and ``lang:`` scopes.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Protocol

import Stemmer

from bot.models import Story, TermHit

# Scripts written without spaces between words: indexed as overlapping character bigrams.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
# \w misses combining marks, which Indic, Arabic and Thai words carry inside them.
_MARKS = "\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0900-\u0dff\u0e00-\u0e7f"
# Letters, digits and marks; underscores are turned into spaces first (one character class
# runs about twice as fast as an alternation).
_WORD = re.compile(f"[\\w{_MARKS}]+")
_ABBREV = re.compile(r"\b(?:[A-Za-z]\.){2,}(?![A-Za-z])")
_POSSESSIVE = re.compile(r"(?<=\w)['\u2019\u02bc]s\b")
_INNER_APOSTROPHE = re.compile(r"(?<=\w)['\u2019\u02bc](?=\w)")
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")

# ISO 639-1 codes of the languages snowball can stem.
STEMMER_LANGUAGES: dict[str, str] = {
    "ar": "arabic",
    "ca": "catalan",
    "cs": "czech",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "eu": "basque",
    "fa": "persian",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hi": "hindi",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "nl": "dutch",
    "no": "norwegian",
    "nb": "norwegian",
    "pl": "polish",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}
_STEMMERS: dict[str, Callable[[str], str]] = {}
# Story words seen before, per language -> their keys. A plain dict: this lookup runs for
# every word of every story, and lru_cache's argument handling costs more than the work.
_KEY_CACHE: dict[str, dict[str, tuple[str, ...]]] = {}
_KEY_CACHE_SIZE = 300_000
_SOURCE_CACHE: dict[tuple[str, str | None], FieldText] = {}
# Capitalised words up to this length keep a case-marked key (US, UK, UAE, NATO).
_MAX_ACRONYM = 5


@dataclass(frozen=True, slots=True)
class Token:
    """One word of a text: as written (for display) and normalized (for matching)."""

    surface: str
    norm: str


def _fold_latin(word: str) -> str:
    """Drop combining accents from Latin letters only; other scripts keep their marks."""
    decomposed = unicodedata.normalize("NFD", word)
    kept: list[str] = []
    for ch in decomposed:
        if unicodedata.combining(ch) and kept and kept[-1] < "\u0250":
            continue
        kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept))


@lru_cache(maxsize=200_000)
def normalize_word(word: str) -> str:
    """Normalize one word: NFKC, casefold, Latin accents and Arabic vowel marks removed."""
    folded = unicodedata.normalize("NFKC", word).casefold()
    if folded.isascii():
        return folded
    return _ARABIC_MARKS.sub("", _fold_latin(folded))


def is_acronym(surface: str) -> bool:
    """True for short all-capitals words such as US, UK or NATO."""
    return 2 <= len(surface) <= _MAX_ACRONYM and surface.isupper() and surface.isalpha()


def _prepare(text: str) -> str:
    """Join dotted abbreviations (U.S. -> US) and drop possessives before splitting."""
    if "." in text:
        text = _ABBREV.sub(lambda m: m.group(0).replace(".", "").upper(), text)
    if "'" in text or "\u2019" in text or "\u02bc" in text:
        text = _POSSESSIVE.sub("", text)
        text = _INNER_APOSTROPHE.sub("", text)
    return text


def surface_words(text: str) -> list[str]:
    """Split text into words as written; runs of CJK characters become overlapping bigrams."""
    prepared = _prepare(text)
    if "_" in prepared:
        prepared = prepared.replace("_", " ")
    words: list[str] = _WORD.findall(prepared)
    if prepared.isascii() or _CJK_RUN.search(prepared) is None:  # the common case
        return words
    out: list[str] = []
    for word in words:
        if _CJK_RUN.search(word) is None:
            out.append(word)
        else:
            _split_cjk(word, out)
    return out


def tokenize(text: str) -> list[Token]:
    """Split text into word tokens, each with its normalized form."""
    return [Token(w, normalize_word(w)) for w in surface_words(text)]


def _split_cjk(word: str, out: list[str]) -> None:
    """Append the pieces of a word that holds CJK runs: bigrams for those runs, words between."""
    pos = 0
    for run in _CJK_RUN.finditer(word):
        if run.start() > pos:
            out.append(word[pos : run.start()])
        chars = run.group(0)
        if len(chars) == 1:
            out.append(chars)
        out.extend(chars[i : i + 2] for i in range(len(chars) - 1))
        pos = run.end()
    if pos < len(word):
        out.append(word[pos:])


def snowball(name: str) -> Callable[[str], str]:
    """The stemWord of a new snowball stemmer (PyStemmer's C build) for an algorithm name.

    Its own word cache is off: callers remember stems themselves, and a miss in that cache
    cost about 0.8 µs a word on top of the 0.4 µs the stemming takes.
    """
    stem_word: Callable[[str], str] = Stemmer.Stemmer(name, 0).stemWord
    return stem_word


def _stemmer(language: str) -> Callable[[str], str] | None:
    """The snowball stemmer for an ISO code, created once."""
    name = STEMMER_LANGUAGES.get(language)
    if name is None:
        return None
    if name not in _STEMMERS:
        _STEMMERS[name] = snowball(name)
    return _STEMMERS[name]


@lru_cache(maxsize=400_000)
def stem(norm: str, language: str = "en") -> str:
    """The snowball stem of a normalized word in ``language`` (ISO code); the word if none."""
    stemmer = _stemmer(language)
    if stemmer is None or norm.isdigit():
        return norm
    return stemmer(norm)


def base_language(language: str | None) -> str:
    """The ISO 639-1 part of a language tag ('en-US' -> 'en'); '' when unknown."""
    if not language:
        return ""
    return language.strip().lower().replace("_", "-").split("-")[0]


def token_keys(surface: str, language: str) -> tuple[str, ...]:
    """Every key a story word is indexed under (see the module docstring)."""
    cache = _KEY_CACHE.get(language)
    if cache is None:
        cache = _KEY_CACHE[language] = {}
    found = cache.get(surface)
    if found is None:
        if len(cache) >= _KEY_CACHE_SIZE:
            cache.clear()  # crude but bounded; refilling costs one stem per word
        found = cache[surface] = _token_keys(surface, language)
    return found


def _token_keys(surface: str, language: str) -> tuple[str, ...]:
    """Every key a story word is indexed under, computed."""
    norm = normalize_word(surface)
    keys = ["=" + norm, stem(norm, "en")]
    if language and language != "en":
        lang_stem = stem(norm, language)
        if lang_stem not in keys:
            keys.append(lang_stem)
    if is_acronym(surface):
        keys.append(surface)
    return tuple(dict.fromkeys(keys))


class FieldText:
    """One analysed field: its words, their keys, and (built on first use) key positions."""

    __slots__ = ("_first", "_positions", "keys_of", "words")

    def __init__(self, words: list[str], keys_of: list[tuple[str, ...]]) -> None:
        self.words = words
        self.keys_of = keys_of
        self._positions: dict[str, list[int]] | None = None
        self._first: dict[str, int] | None = None

    @property
    def first(self) -> dict[str, int]:
        """Key -> the first word position carrying it; what a hit report needs."""
        if self._first is None:
            # Written back to front, so the first position of each key is the one kept.
            keys_of = self.keys_of
            self._first = {
                key: pos for pos in range(len(keys_of) - 1, -1, -1) for key in keys_of[pos]
            }
        return self._first

    @property
    def positions(self) -> dict[str, list[int]]:
        """Key -> the word positions carrying it; only phrases and hit reports need this."""
        if self._positions is None:
            positions: dict[str, list[int]] = {}
            for pos, keys in enumerate(self.keys_of):
                for key in keys:
                    found = positions.get(key)
                    if found is None:
                        positions[key] = [pos]
                    else:
                        found.append(pos)
            self._positions = positions
        return self._positions

    def key_set(self) -> frozenset[str]:
        """Every key of the field."""
        return frozenset(itertools.chain.from_iterable(self.keys_of))


def _analyze_field(text: str, language: str) -> FieldText:
    """Tokenize and key one text field."""
    words = surface_words(text)
    cache = _KEY_CACHE.get(language)
    if cache is None:
        return FieldText(words, [token_keys(w, language) for w in words])
    keys_of: list[tuple[str, ...] | None] = list(map(cache.get, words))
    if None in keys_of:  # words not seen before
        keys_of = [k or token_keys(w, language) for w, k in zip(words, keys_of, strict=True)]
    return FieldText(words, keys_of)  # type: ignore[arg-type]


def _source_field(source: str, site: str | None) -> FieldText:
    """The keyed source name and site; feeds repeat them, so each pair is analysed once."""
    found = _SOURCE_CACHE.get((source, site))
    if found is None:
        # An empty slot between name and site keeps phrases from spanning the two.
        words = [*surface_words(source), "", *surface_words(site or "")]
        keys: list[tuple[str, ...]] = [("source:" + normalize_word(w),) if w else () for w in words]
        found = FieldText(words, keys)
        if len(_SOURCE_CACHE) >= _KEY_CACHE_SIZE:
            _SOURCE_CACHE.clear()
        _SOURCE_CACHE[(source, site)] = found
    return found


class HitFinder(Protocol):
    """A compiled term: it can say where it first occurs in analysed fields."""

    def find_in(self, fields: dict[str, FieldText]) -> TermHit | None:
        """Where the term first occurs, as a hit; None when it does not."""
        ...


class HitMemo(dict[HitFinder, TermHit | None]):
    """Per-story hits of compiled terms; a missing term is looked up once, then remembered."""

    __slots__ = ("fields",)

    def __init__(self, fields: dict[str, FieldText]) -> None:
        super().__init__()
        self.fields = fields

    def __missing__(self, term: HitFinder) -> TermHit | None:
        hit = self[term] = term.find_in(self.fields)
        return hit


class AnalyzedStory:
    """A story analysed once for matching: keyed title, summary, source and language."""

    __slots__ = ("fields", "found", "keys", "memo")

    def __init__(self, story: Story) -> None:
        language = base_language(story.language)
        source = _source_field(story.source, story.site)
        lang_keys: tuple[str, ...] = ()
        if story.language:
            full = story.language.strip().lower().replace("_", "-")
            lang_keys = tuple(dict.fromkeys(("lang:" + language, "lang:" + full)))
        title = _analyze_field(story.title, language)
        summary = _analyze_field(story.summary, language)
        self.fields: dict[str, FieldText] = {
            "title": title,
            "summary": summary,
            "source": source,
            "lang": FieldText([story.language or ""], [lang_keys]),
        }
        # Every key of every field: one set lookup decides most candidate checks.
        self.keys: frozenset[str] = frozenset(
            itertools.chain.from_iterable(
                [*title.keys_of, *summary.keys_of, *source.keys_of, lang_keys]
            )
        )
        # Per-story results of shared compiled terms: many topics use the same terms.
        self.memo: dict[object, object] = {}
        # Per-story hits ("why it matched") of shared compiled terms, found on first request.
        self.found = HitMemo(self.fields)


def analyze(story: Story) -> AnalyzedStory:
    """Analyse a story once for matching."""
    return AnalyzedStory(story)


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """English function words and newswire boilerplate (data/stopwords_en.txt), normalized."""
    text = resources.files("bot.topics").joinpath("data/stopwords_en.txt").read_text("utf-8")
    lines = (line for line in text.splitlines() if not line.startswith("#"))
    return frozenset(normalize_word(w) for line in lines for w in line.split())
