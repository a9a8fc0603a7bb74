"""Sentence splitting, budget cutting and extractive summaries of article text.

Everything here is pure and fast: a summary is chosen by scoring sentences (position, overlap
with the title and with the article's frequent content words, length) and picking the best ones,
in their original order, within a character budget. The alert uses a short budget (~300 chars),
the "More" button a long one (~1200 chars); both come from ``summarize``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from functools import lru_cache

from bot.topics.analyze import snowball

ELLIPSIS = "…"

# Huge texts are cut before splitting: a news summary never needs sentences that deep.
_MAX_TEXT_CHARS = 60_000
_MAX_SENTENCES = 250


def _word_set(words: str) -> frozenset[str]:
    """A set from a whitespace-separated word list (keeps the long lists readable)."""
    return frozenset(words.split())


# Words before a period that do not end a sentence (lower case, without the final period).
_ABBREVIATIONS = _word_set(
    """
    mr mrs ms dr prof st jr sr sen rep gov gen col lt capt cmdr sgt maj adm rev hon pres supt
    insp det vs etc al inc ltd co corp bros dept est approx fig no nos vol pp ch art op cf
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun
    mt ft ave blvd rd univ assn govt
    """
)
# Dotted abbreviations such as U.S, e.g, i.e, a.m (the last period is the terminator candidate).
_DOTTED = re.compile(r"^(?:\w\.)+\w$")
_OPENERS = "\"'“‘«(["
# A terminator run, then closing quotes/brackets. Latin-style marks need whitespace (or the end)
# after them; CJK marks do not, since CJK text has no spaces between sentences.
_TERMINATOR = re.compile(r"(?:[.!?…]+|[।॥؟۔]+)[\"'”’»)\]]*(?=\s|$)|[。！？]+[\"'”’»」』)）]*")
_CJK_END = frozenset("。！？」』）")

_WORD = re.compile(r"\w\w*")  # r"\w+", as a leading class the regex engine skips to faster
_BOILERPLATE = re.compile(
    r"^(?:follow us|click here|sign up|subscribe|read more|read also|related\b|photo\b|"
    r"image\b|picture\b|video\b|watch\b|listen\b|share this|advertisement|getty images|"
    r"copyright|all rights reserved|©|by [A-Z][\w'’-]+ [A-Z][\w'’-]+\s*$|"
    r"by [A-Z][\w'’-]+ [A-Z][\w'’-]+\s*(?:,|and|\||-|–))"
    r"|cookie|newsletter|javascript|sign in to|log in to|terms of (?:use|service)"
    r"|privacy policy|download (?:the|our) app",
    re.IGNORECASE,
)
_BOILERPLATE_START = re.compile(r"^(?:by\s+\S+(?:\s+\S+)?\s*$|updated\b|published\b)", re.I)

_STOPWORDS_EN = _word_set(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    out over own same she should so some such than that the their theirs them themselves then
    there these they this those through to too under until up very was we were what when where
    which while who whom why will with would you your yours said says say one two new year years
    mr mrs ms s t us would could may might must shall its it's last first told
    """
)
# Small lists for the other languages the feeds carry most; stems alone still help without them.
_STOPWORDS_OTHER = _word_set(
    """
    de la le les des du un une et en est que qui dans pour pas sur au aux par avec ce cette il
    elle ils son sa ses ont été plus el los las del y por con para una se lo al su sus es como
    der die das und ist nicht ein eine zu den mit von dem auf für sich im auch als bei il di che
    e è per gli una nel della delle dei con non sono da o na em os um uma com não
    """
)
STOPWORDS = _STOPWORDS_EN | _STOPWORDS_OTHER

_STEMMER_NAMES = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german",
    "el": "greek", "en": "english", "es": "spanish", "fi": "finnish", "fr": "french",
    "hi": "hindi", "hu": "hungarian", "id": "indonesian", "it": "italian", "lt": "lithuanian",
    "ne": "nepali", "nl": "dutch", "no": "norwegian", "nb": "norwegian", "fa": "persian",
    "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
    "sv": "swedish", "ta": "tamil", "tr": "turkish",
}  # fmt: skip


def _find_ends(text: str) -> list[int]:
    """End offsets (exclusive) of the sentences in one line of text."""
    ends: list[int] = []
    for m in _TERMINATOR.finditer(text):
        if not _is_boundary(text, m.start(), m.end()):
            continue
        ends.append(m.end())
    if not ends or ends[-1] < len(text.rstrip()):
        ends.append(len(text.rstrip()))
    return ends


def _is_boundary(text: str, start: int, end: int) -> bool:
    """Whether the terminator at ``text[start:end]`` really ends a sentence."""
    mark = text[start]
    nxt = text[end:].lstrip()[:1]
    if mark in ".!?…" and nxt and nxt.islower():
        return False  # '"Stop!" he said', 'approx. five'
    if text[start:end].rstrip("\"'”’»)]") != ".":
        return True  # '!', '?', '...', danda, CJK marks always end a sentence here
    before = text[:start].rsplit(None, 1)
    word = before[-1].lstrip(_OPENERS) if before else ""
    low = word.lower()
    if low in _ABBREVIATIONS or _DOTTED.match(low):
        return False
    # A single capital is an initial ("J. K. Rowling"), unless followed by nothing.
    return not (len(word) == 1 and word.isalpha() and word.isupper() and nxt)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of ``text``; line breaks always end a sentence."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        prev = 0
        stripped_len = len(line.rstrip())
        if stripped_len:
            for end in _find_ends(line):
                start = prev + (len(line[prev:]) - len(line[prev:].lstrip()))
                if end > start:
                    spans.append((pos + start, pos + end))
                prev = end
        pos += len(line) + 1
    return spans


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences (abbreviation-, quote- and script-aware)."""
    return [text[a:b] for a, b in sentence_spans(text)]


def cut_at_sentence(text: str, budget: int) -> str:
    """The longest prefix of whole sentences within ``budget`` chars, else a word cut with '…'."""
    text = text.strip()
    if budget <= 0:
        return ""
    if len(text) <= budget:
        return text
    best_end = 0
    for _start, end in sentence_spans(text[: budget + 1]):
        if end <= budget:
            best_end = end
    if best_end:
        return text[:best_end].rstrip()
    return cut_at_word(text, budget)


def cut_at_word(text: str, budget: int) -> str:
    """Cut ``text`` at a word boundary so that it plus '…' fits in ``budget`` chars."""
    text = text.strip()
    if len(text) <= budget:
        return text
    if budget <= 1:
        return ELLIPSIS[:budget]
    head = text[: budget - 1]
    cut = head.rsplit(None, 1)[0] if " " in head.strip() else head
    # Only keep the word cut when it does not throw most of the text away (long CJK runs).
    if len(cut) < len(head) // 2:
        cut = head
    return cut.rstrip(" ,;:-–—([{\"'“‘«") + ELLIPSIS


_MEMO_LIMIT = 200_000  # per language; feeds bring new words forever


@lru_cache(maxsize=64)
def _stemmer_for(language: str | None) -> tuple[dict[str, str | None], Callable[[str], str]]:
    """A memo and a stemmer for an ISO 639-1 code (English when missing, identity if unknown).

    The memo maps a word to its stem, or to None for a word ``content_stems`` skips."""
    code = (language or "en").split("-")[0].split("_")[0].lower()
    name = _STEMMER_NAMES.get(code)
    if name is None:
        return {}, str
    return {}, snowball(name)


def content_stems(text: str, language: str | None = None) -> list[str]:
    """Lower-cased, stemmed words of ``text`` without stopwords and one-letter tokens."""
    memo, stem_word = _stemmer_for(language)
    out: list[str] = []
    # ASCII text is already in NFKC form; the check is far cheaper than normalizing.
    folded = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).lower()
    known = memo.get  # bound once: measured fewer instructions (a bound out.append, more)
    for word in _WORD.findall(folded):
        # One memo lookup decides most words (the clusterer calls this for every story);
        # "" means not seen yet, or an empty stem (computed again, which is harmless).
        stem = known(word, "")
        if stem is None:
            continue
        if not stem:
            if len(word) < 2 or word in STOPWORDS or word.isdigit():
                if len(memo) < _MEMO_LIMIT:
                    memo[word] = None
                continue
            stem = stem_word(word)
            if len(memo) < _MEMO_LIMIT:
                memo[word] = stem
        out.append(stem)
    return out


def is_boilerplate(sentence: str) -> bool:
    """Whether a sentence is page furniture (bylines, share prompts, cookie text, captions)."""
    s = sentence.strip()
    if len(s) < 25 or len(_WORD.findall(s)) < 4:
        return True
    return bool(_BOILERPLATE.search(s[:80]) or _BOILERPLATE_START.match(s))


def _join(parts: list[str]) -> str:
    """Join picked sentences; CJK sentences need no space between them."""
    out = ""
    for part in parts:
        if out and out[-1] not in _CJK_END:
            out += " "
        out += part
    return out


def _score(index: int, stems: list[str], title: set[str], freq: Counter[str], top: float) -> float:
    """Relevance of one sentence: lead position, title overlap, frequent words, length."""
    if not stems:
        return -1.0
    uniq = set(stems)
    position = 1.0 / math.sqrt(1.0 + index)
    title_overlap = len(uniq & title) / len(title) if title else 0.0
    # Mean frequency of the sentence's words, relative to the article's most frequent word.
    frequency = sum(freq[s] for s in uniq) / (top * math.sqrt(len(uniq)) + 1e-9)
    length = len(stems)
    penalty = 0.3 if length < 5 else (0.2 if length > 45 else 0.0)
    return 1.0 * position + 0.8 * title_overlap + 0.5 * frequency - penalty


def _redundant(stems: set[str], picked: list[set[str]], limit: float = 0.6) -> bool:
    """Whether a sentence mostly repeats one already picked (overlap coefficient)."""
    for other in picked:
        small = min(len(stems), len(other))
        if small and len(stems & other) / small >= limit:
            return True
    return False


def summarize(
    text: str, *, budget: int, title: str | None = None, language: str | None = None
) -> str:
    """Extractive summary of ``text`` within ``budget`` chars, best sentences in original order."""
    if budget <= 0:
        return ""
    title_norm = (title or "").strip().lower()
    sentences = [
        s.strip()
        for s in split_sentences(text[:_MAX_TEXT_CHARS])[:_MAX_SENTENCES]
        if not is_boilerplate(s) and s.strip().lower() != title_norm
    ]
    if not sentences:
        return cut_at_sentence(text, budget) if text.strip() else ""
    stems = [content_stems(s, language) for s in sentences]
    freq: Counter[str] = Counter()
    for st in stems:
        freq.update(set(st))
    top = float(max(freq.values(), default=1))
    title_stems = set(content_stems(title or "", language))
    ranked = sorted(
        range(len(sentences)),
        key=lambda i: _score(i, stems[i], title_stems, freq, top),
        reverse=True,
    )
    picked: list[int] = []
    picked_sets: list[set[str]] = []
    used = 0
    for i in ranked:
        cost = len(sentences[i]) + (1 if picked else 0)
        if used + cost > budget or _redundant(set(stems[i]), picked_sets):
            continue
        picked.append(i)
        picked_sets.append(set(stems[i]))
        used += cost
    if not picked:
        return cut_at_word(sentences[ranked[0] if ranked else 0], budget)
    out = _join([sentences[i] for i in sorted(picked)])
    return out if len(out) <= budget else cut_at_sentence(out, budget)
