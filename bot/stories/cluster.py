"""Near-duplicate clustering: one cluster per news event, over a sliding time window.

A story becomes a weighted bag of terms: the content-word stems and numbers of its title and of
the first 300 characters of its summary (title terms count more). Each term is weighted by its
inverse document frequency among the stories in the window, kept up to date as stories come and
go, so a shared rare word (a name, a place, a figure) counts far more than a shared common one.
An inverted index (term -> stories in the window) proposes candidates and accumulates the dot
product; a story joins the cluster of the most similar candidate whose IDF-weighted cosine clears
the threshold. Stories from the same source must clear a stricter bar
(``threshold + SAME_SOURCE_MARGIN``): an outlet rarely publishes one event twice, and its house
style (recurring words) inflates overlap.

Reports of one event in different languages share almost no stems, but they share names and
figures. A story with no match in its own language therefore gets a second chance against
stories in other languages: each story also keeps a bag of its capitalized words (accent-folded,
not stemmed: "Canadá" and "Canada" agree) and numbers, indexed per language; a long name is keyed
by its consonant skeleton (first letter, then its consonants without repeats, "k"/"q" read as "c",
"y"/"w" as vowels), so the spellings of one name in different languages agree ("Ukraine",
"Ucrania" and "Ucraina"; "Mohammed" and "Muhammed"; "Zelenskyy" and "Zelenski"). Country names,
which differ beyond spelling ("Germany", "Alemania", "Allemagne"; "United States", "Estados
Unidos", "États-Unis"), are keyed by their ISO code, from pycountry's ISO 3166 names and their
translations (English, Spanish, Italian, French, German, Portuguese; see bot.stories.countries),
also within a longer run of capitalized words ("United States Signs..."); a short form two
countries share ("Korea", "Congo") keeps its plain key. English demonyms ("Swedish") key to their
country at half weight (see ALIAS_WEIGHT). A capitalized stopword inside a country's name
("Corea del Sur", "Sudán del Sur", "El Salvador") is part of it, and dropped elsewhere. A
candidate must share at least two names or figures (a run of capitalized words such as "Donald
Trump" counts once) and reach ``CROSS_LANGUAGE_BAR`` in IDF-weighted cosine of those bags. Words
English capitalizes and other languages do not (titles before a name, weekdays, months: see
NOT_NAMES) are no names.

Reports of one event often form two clusters at first (two angles of the story, or two
languages) until a story similar to both arrives. Such a bridging story joins its best match as
before, and the other clusters it bridges are merged into that one: every cluster with a member
the story clears the bar against, provided the two clusters' summed terms are as similar as a
story must be to a cluster's (``threshold + MERGE_MARGIN``: a roundup of two events is similar
to one report of each, but the events' clusters are not similar to each other), and the cluster
of the best match in other languages, if it clears the cross-language bar. ``assign`` returns
the cluster the story joins; ``cluster_of`` tells where an earlier story is now.

Optionally (an ``Embedder`` given to the clusterer: in the bot, by default, the built-in static
model distilled from all-MiniLM-L6-v2, see NEWSBOT_CLUSTER_MODEL), stories are also compared by
meaning. The word threshold drops (CONFIRMED_THRESHOLD), so reports sharing
fewer words are found, and a word match close to its bar (CONFIRM_BAND) counts only if the two
are close in meaning too: different events that share words stay apart. Embeddings are made
only for these checks, and cached.

Why not MinHash LSH: on these short texts (~20 stems) building one datasketch MinHash cost about
0.2 ms, capping the clusterer near 1,000 stories/s. The exact index is faster and finds every
candidate LSH would, except pairs sharing only very common terms (posting lists longer than
``MAX_POSTING`` propose no candidates; such terms carry little weight anyway).

The figures were measured with ``python -m bench.clustering`` on 827 hand-labelled items of one
day from 15 outlets (bench/data/clusters_labelled.json): see DEFAULT_THRESHOLD,
CROSS_LANGUAGE_BAR and CONFIRM_BAND. Merging two different events is the worse
error, so the defaults favour precision.

Tried and dropped (no gain or worse precision on the bench): extra weight for capitalized words
(shared names such as "Trump" or "Germany" merged different events), stem bigrams, requiring 2+
shared terms. Plain Jaccard on the same stems reached recall 0.30 at precision 1.00. The name
bags as a second chance within one language too (no recall gained at a names bar of 0.6-0.7,
precision 0.84 at 0.5: same-language stories sharing names are mostly related, not the same
event). A lower same-source margin (0.15: recall +0.05, but at 0.1 and below an outlet's series
on one topic merged: precision 0.90 and less). Title weight 3 (precision 0.90), no time margin
(precision 0.92), a 500-character lead (recall -0.04). One shared name enough across languages
(precision 0.94); three needed (recall 0.42 instead of 0.55). Comparing a story in another
language with the summed names of a candidate's cluster as well (no pair gained: the missed
reports reach 0.30-0.41 against the cluster too, under the 0.45 bar). Merging the clusters a
story bridges without comparing the clusters (precision 0.90: a story close to two events),
or whenever a story joining a cluster merely shares rare terms with another cluster whose summed
terms are similar (precision 0.94 at a bar of 0.30, no more pairs at 0.35). Counting as bridged
the clusters whose summed terms the story matches, or every cluster in other languages that the
story clears the cross-language bar against (no pair gained either way). Title-only similarity as a
second signal: formulaic headlines ("What you need to know") of different events reach 0.6,
while most same-event pairs it would add are also close in full. With merges, the same-source
margin was measured again: 0.15-0.18 -> P 0.967, R 0.674 (an outlet's own follow-ups join),
0.12 -> P 0.93, 0.10 -> P 0.92; kept at 0.25 for the margin from that cliff. Country names
from eight more pycountry catalogues (nl, ca, pl, ro, sv, da, tr, id): no pair gained on the
bench's languages. ISO codes as country names ("US" = "Estados Unidos"): one more pair (R 0.682,
P 0.968), but two-letter codes are also acronyms and names ("IT", "AI", "PM"; "Li", "Ma"), so they
stay plain names. Spanish "Rusia" stays unmatched to "Russia": pycountry's Spanish catalogue
names only "Federación Rusa", Russia has no ISO "common_name", and no other catalogue of the
package (iso3166-2, iso3166-3, other languages) has the short form; English "Russia" now comes
from the alias table. Capitalized stopwords kept as part of country names ("Corea del Sur" had
keyed as "Corea", a name of both Koreas, and "Sudán del Sur" as "Sudán"): no change on the bench.
"""

from __future__ import annotations

import heapq
import logging
import math
import operator
import re
import unicodedata
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from bot.embedding import Embedder
from bot.models import Story
from bot.stories.countries import alias_names, country_names
from bot.stories.summarize import STOPWORDS, content_stems

logger = logging.getLogger(__name__)

# Measured with bench.clustering (pairwise over 827 labelled items, 132 same-event pairs, 45 of
# them across languages), without an embedder:
#   threshold 0.20 -> precision 0.88, recall 0.66 (same language 0.78, across languages 0.42)
#   | 0.22 -> P 0.93, R 0.60 | 0.25 -> P 0.96, R 0.55 (0.62, 0.42) | 0.28 -> P 0.96, R 0.50
#   | 0.30 -> P 0.97, R 0.46 | 0.35 -> P 0.98, R 0.39.
# (Before the cross-language stage: 0.25 -> P 0.96, R 0.41, none across languages.)
# With name skeletons and bridged clusters merged (see MIN_SKELETON, MERGE_MARGIN):
#   0.20 -> P 0.87, R 0.735 (0.84, 0.53) | 0.22 -> P 0.92, R 0.67
#   | 0.25 -> P 0.965, R 0.629 (0.678, 0.533) | 0.28 -> P 0.96, R 0.54 | 0.30 -> P 0.97, R 0.49
#   | 0.35 -> P 0.98, R 0.42.
# With country names keyed by ISO code (see CROSS_LANGUAGE_BAR):
#   0.20 -> P 0.88, R 0.78 (0.84, 0.67) | 0.22 -> P 0.92, R 0.72
#   | 0.25 -> P 0.967, R 0.674 (0.678, 0.667) | 0.28 -> P 0.96, R 0.58 | 0.30 -> P 0.97, R 0.56
#   | 0.35 -> P 0.985, R 0.49.
# With titles, weekdays and months no names and the cross-language bar at 0.35:
#   0.20 -> P 0.869, R 0.856 (0.839, 0.889) | 0.22 -> P 0.905, R 0.795
#   | 0.25 -> P 0.952, R 0.750 (0.678, 0.889) | 0.28 -> P 0.951, R 0.735 | 0.30 -> P 0.957, R 0.667
#   | 0.35 -> P 0.963, R 0.598.
# 0.25 is the lowest threshold that keeps precision >= 0.95. The misses are paraphrases with few
# shared words (see the semantic stage, which lowers the threshold: CONFIRMED_THRESHOLD),
# cross-language pairs sharing fewer than two names, same-outlet pairs below the stricter bar,
# and 5 pairs published more than the 48 h window apart.
DEFAULT_THRESHOLD = 0.25
SAME_SOURCE_MARGIN = 0.25
# The bar rises linearly by up to TIME_MARGIN as two stories lie up to TIME_SCALE apart: reports
# of one event cluster in time, different events with similar words are often days apart.
TIME_MARGIN = 0.1
TIME_SCALE = timedelta(hours=24)
# Times in the index are whole microseconds since the epoch (see _micros): integer arithmetic
# is exact and far cheaper than datetime arithmetic in the candidate loops.
_MICROSECOND = timedelta(microseconds=1)
_TIME_SCALE_US = TIME_SCALE // _MICROSECOND
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
# A story may also join a cluster of 2+ stories whose summed terms it matches (reports that each
# share different details with it), at a slightly stricter bar than a single story.
CENTROID_MARGIN = 0.05
# Two clusters a story bridges merge if their summed terms reach threshold + MERGE_MARGIN in
# IDF-weighted cosine (the story-to-cluster bar). At threshold 0.25, by margin:
#   no comparison -> P 0.90, R 0.62 (bridged clusters in the same language only)
#   | -0.05 -> P 0.90, R 0.64 | 0.00 -> P 0.966, R 0.644 | 0.03 to 0.10 -> P 0.965, R 0.629
#   | 0.15 -> P 0.963, R 0.591; the cross-language merges add 0.02 recall (3 pairs) on top.
# 0.05 sits inside the plateau and equals CENTROID_MARGIN. Without merges: P 0.962, R 0.568.
MERGE_MARGIN = 0.05
LEAD_CHARS = 300
TITLE_WEIGHT = 2.0  # headlines name the event; leads add context and house boilerplate
LEAD_WEIGHT = 1.0
# story_terms gives a word in both the title and the lead the title's weight by writing it last.
assert TITLE_WEIGHT > LEAD_WEIGHT
# Pseudo-count of stories assumed to lack every term: keeps IDF meaningful while the window is
# still nearly empty (after a restart), and negligible once it holds a few thousand stories.
IDF_PRIOR = 100
MAX_POSTING = 200  # terms in more stories than this in the window propose no candidates
# Candidates are screened with norms cached at insertion (IDF drifts as the window moves);
# those within this factor of the bar are verified with the current IDF.
SCREEN_SLACK = 0.8

# Second chance across languages (see the module docstring). At threshold 0.25, by bar:
#   0.55 -> P 0.95, R 0.45 | 0.50 -> P 0.96, R 0.51 | 0.45 -> P 0.96, R 0.55
#   | 0.40 -> P 0.95, R 0.57 | 0.30 -> P 0.95, R 0.60.
# The gain below 0.45 is small and precision sits at the 0.95 floor, so 0.45 is the default. The
# time and same-source margins apply on top. With skeletons and merges (threshold 0.25):
#   0.50 -> P 0.965, R 0.62 | 0.45 -> P 0.965, R 0.629 | 0.40 -> P 0.954, R 0.629
#   | 0.37 -> P 0.957, R 0.68 | 0.33 -> P 0.958, R 0.70 | 0.30 -> P 0.89, R 0.75.
# The gain at 0.33-0.37 is one event's reports in two more languages joining; precision is near
# the floor and falls off at 0.30, so the bar stays at 0.45. With country names keyed by ISO code
# ("Alemania" = "Germany"), at 0.45: P 0.967, R 0.674 (across languages 0.533 -> 0.667, 6 more
# pairs), same speed (7,400-8,500 stories per CPU second; 7,100-8,700 before). By bar:
#   0.50 -> P 0.967, R 0.667 | 0.45 -> P 0.967, R 0.674 | 0.40 -> P 0.957, R 0.674
#   | 0.37 -> P 0.960, R 0.735 | 0.33-0.35 -> P 0.961, R 0.750 | 0.30 -> P 0.88, R 0.75.
# The cliff at 0.30 is unchanged, so the bar stays at 0.45. Counting a country inside a longer
# run of capitalized words as a name of its own (title-case headlines are one run) gained nothing.
# With titles, weekdays and months no longer names (see NOT_NAMES), by bar (threshold 0.25):
#   0.50 -> P 0.967, R 0.667 | 0.45 -> P 0.967, R 0.674 | 0.42 -> P 0.957, R 0.674
#   | 0.40 -> P 0.948, R 0.697 | 0.33-0.37 -> P 0.952, R 0.750 (across languages 0.889)
#   | 0.30 -> P 0.76, R 0.75;
# and with an embedder (see CONFIRM_BAND): 0.45 -> P 0.981, R 0.780 | 0.40 -> P 0.964, R 0.803
#   | 0.33-0.37 -> P 0.966, R 0.856 | 0.30 -> P 0.79.
# 0.35 is the middle of the plateau before the cliff. Its 10 more pairs cost 2 wrong ones (a
# tariffs report and a visa report sharing "Trump" and the US; two Von der Leyen statements).
CROSS_LANGUAGE_BAR = 0.35
CROSS_LANGUAGE_MIN_SHARED = 2
# English demonyms ("Swedish", "Russians") and short names ("Russia") from the alias table
# (bot/topics/data/countries.tsv) key to their country too: an English report's "German
# chancellor" is another language's "Alemania". A demonym is an adjective, weaker evidence
# than the country's name ("American clean energy sector"), so it weighs ALIAS_WEIGHT times a
# name. Measured at threshold 0.25 and bar 0.45 (P 0.967, R 0.674 without them):
#   at full weight -> P 0.957, R 0.674 (a tariffs story and a visa story joined on "Trump" and
#   "American" = "Estados Unidos"); bar 0.40 -> P 0.947, 0.37 -> P 0.951, R 0.735, 0.35 ->
#   P 0.933, R 0.735 (worse than without them at every bar);
#   at weight 0.5 or 0.3 -> P 0.967, R 0.674, unchanged; bar 0.40 -> P 0.957, R 0.682.
# No missed pair gained: the bench's missed cross-language pairs already share the country
# ("Ukrainian" and "Ucrania" share a skeleton) or reach only 0.30-0.43 on names; the other
# languages write demonyms in lower case ("la Justicia alemana"), which are no names.
# Capitals as well ("Berlin", "Kyiv"; level 2 of the table): P 0.937 at full weight, 0.957 at
# 0.5, no pair gained, so they stay out.
ALIAS_CAPITALS = False
ALIAS_WEIGHT = 0.5
# Capitalized words that are no names: English capitalizes a title before a name ("Chancellor
# Friedrich Merz", "King Charles"), weekdays and months, where Spanish, Italian or French write
# them in lower case ("el canciller", "lunes"). As names they only ever weighed against a report
# in another language. Written from general knowledge, in the languages of NOT_NAMES' examples.
_NOT_NAMES = """
    president presidente chancellor minister ministre ministro prime premier secretary king queen
    prince princess pope governor mayor senator chief general mr mrs ms dr sir
    monday tuesday wednesday thursday friday saturday sunday january february march april may
    june july august september october november december
"""
NOT_NAMES = frozenset(_NOT_NAMES.split())
# Names whose consonant skeleton is shorter than this keep their full folded spelling: short
# skeletons collide ("Rossi" and "Russia"). With skeletons of 4+ letters: P 0.962, R 0.568
# (across languages 0.42 -> 0.47); of 3+: P 0.949, of 2+: P 0.938 (unrelated reports sharing a
# club's or a town's short skeleton joined), same recall.
MIN_SKELETON = 4

# With an embedder the clusterer also checks word matches by meaning: the lexical threshold drops
# to CONFIRMED_THRESHOLD, and a match less than CONFIRM_BAND above its bar (a story's, a
# cluster's) counts only if the story's embedding is within DEFAULT_CONFIRM_SIMILARITY of the
# candidate's (of any member's, for a cluster). Word overlap finds the reports that share few
# words; meaning throws out the different events that share some (two French Open matches, two
# corruption cases). Measured with a static model distilled from all-MiniLM-L6-v2
# (``newsbot cluster-model build``; bench.clustering --static-model), cross-language bar 0.35:
#   threshold 0.20, band 0.10, similarity 0.60 -> P 0.966, R 0.856 (same language 0.839);
#   band 0.05 -> P 0.958, R 0.856 | band 0.15 -> P 0.974, R 0.848 | similarity 0.55 -> P 0.942
#   | similarity 0.65 -> P 0.966, R 0.848 | threshold 0.22 -> P 0.974, R 0.841
#   | threshold 0.18 -> P 0.82 | no confirmation at 0.20 -> P 0.869, R 0.856.
# Precision holds from 0.957 up across bands 0.05-0.15, similarities 0.60-0.65 and thresholds
# 0.20-0.22, so the choice is no knife edge. The full all-MiniLM-L6-v2 (--semantic) does worse
# here: similarity 0.55 -> P 0.942, R 0.856 | 0.60 -> P 0.940, R 0.833, at about 780 stories per
# CPU second (first 300 assignments) against thousands. The embedder once admitted "near
# misses" (a story with no match joining a candidate sharing a few rare words, lexical cosine
# >= 0.15, if close in meaning): with all-MiniLM-L6-v2 at threshold 0.25 that took recall from
# 0.674 to 0.735 at about 130 stories per second. With confirmation at 0.20 it added no pair with
# either model (near-miss similarity 0.65 to 1.0 alike; 0.60 -> P 0.76) and cost a fifth of the
# throughput, so it is gone.
CONFIRMED_THRESHOLD = 0.20
CONFIRM_BAND = 0.10
DEFAULT_CONFIRM_SIMILARITY = 0.60

# Patterns here start with one character class (r"\d\d*", not r"\d+"): the regex engine then
# skips to the next possible start without trying a match at every character (same matches).
_NUMBER = re.compile(r"\d\d*(?:[.,]\d+)*")
_NUMBER_SEPARATORS = str.maketrans("", "", ".,")
# Numbers ("8,336"), and runs of words not starting with a lower-case ASCII letter, possibly
# joined by hyphens or name particles ("Saint-Éloi", "von der Leyen"): the candidates for
# names. Capitalization is checked in Python (the pattern only skips most words cheaply).
# That is r"\d(?:[.,]?\d)*|{_CAPITALIZED}(...)*", written as one leading class (a digit or a
# capital) and a lookbehind choosing the branch, so the engine skips ahead fast (see _NUMBER).
_PARTICLES = "de|del|der|den|van|von|di|da|du|dos|le|la|bin|ibn|al"
_CAPITALIZED = r"[^\W\d_a-z]\w*"
_NAME_OR_NUMBER = re.compile(
    r"[^\W_a-z](?:(?<=\d)(?:[.,]?\d)*"
    rf"|(?<=[^\W\d_a-z])\w*(?:(?:-|\s+(?:(?:{_PARTICLES})\s+)*){_CAPITALIZED})*)"
)
# The same two patterns for ASCII text (most of it), with character ranges for the categories
# (\w, \d, \s and capitals restricted to ASCII): the regex engine tests a range with one
# bit lookup, a category with a call per character. Same matches on ASCII text.
_ASCII_SPACE = r"[\t-\r\x1c-\x20]"  # what \s matches in ASCII
_ASCII_WORD = r"[0-9A-Z_a-z]"
_ASCII_NUMBER = re.compile(r"[0-9][0-9]*(?:[.,][0-9]+)*")
_ASCII_NAME_OR_NUMBER = re.compile(
    r"[0-9A-Z](?:(?<=[0-9])(?:[.,]?[0-9])*"
    rf"|(?<=[A-Z]){_ASCII_WORD}*(?:(?:-|{_ASCII_SPACE}+(?:(?:{_PARTICLES}){_ASCII_SPACE}+)*)"
    rf"[A-Z]{_ASCII_WORD}*)*)"
)
_NAME_KEYS: dict[str, str] = {}
_PHRASE_KEYS: dict[str, tuple[str, ...]] = {}  # see _phrase_keys
STOP_MARK = "~"
ALIAS_MARK = "%"  # a country key from a demonym, weighed ALIAS_WEIGHT (see _country_table)
_NAME_KEYS_LIMIT = 200_000

Terms = dict[str, float]
Posting = dict[int, float]  # story id -> the term's weight in that story
Scan = tuple[Posting, float]  # a posting to score candidates from, and its factor
# _LOG_COUNTS[n] == math.log(n + 1), the IDF of a term in n stories (see _log_counts).
_LOG_COUNTS: list[float] = [0.0]


def _log_counts(size: int) -> list[float]:
    """``_LOG_COUNTS`` covering counts below ``size``: looked up, not recomputed, for every
    term of every story (the same math.log values, so results do not change)."""
    table = _LOG_COUNTS
    if len(table) < size:
        table.extend(math.log(n + 1) for n in range(len(table), size))
    return table


def _micros(at: datetime) -> int:
    """``at`` in whole microseconds since the epoch (exact; a timedelta divided by a timedelta
    divides these same integers)."""
    return (at - (_NAIVE_EPOCH if at.tzinfo is None else _EPOCH)) // _MICROSECOND


@dataclass(slots=True)
class _Entry:
    cluster_id: int
    terms: Terms
    source: str
    stamp: int  # publication time, see _micros
    names: Terms  # names and numbers, for matching stories in other languages
    language: str


def _length2(terms: Terms) -> float:
    """Squared length of a weighted term bag: the sum a generator would give, in the same order
    (the same values), with the products made in C."""
    values = terms.values()
    total: float = sum(map(operator.mul, values, values))
    return total


@dataclass(slots=True)
class _Cluster:
    sums: Terms  # summed term weights of the members in the window
    size: int
    norm2: float  # squared IDF-weighted length, updated incrementally, for screening only
    members: set[int]  # ids of the member stories in the window


def story_terms(story: Story) -> Terms:
    """The weighted terms of a story's title and lead: content-word stems and numbers."""
    terms: Terms = {}
    # A term takes the weight of the heavier part it is in: the lead's first, then the
    # title's (TITLE_WEIGHT > LEAD_WEIGHT), in the order the words come.
    for text, weight in ((story.summary[:LEAD_CHARS], LEAD_WEIGHT), (story.title, TITLE_WEIGHT)):
        for word in content_stems(text, story.language):
            terms[word] = weight
        # Numbers (ages, tolls, scores) are strong event markers; "8,336" and "8336" agree.
        for number in (_ASCII_NUMBER if text.isascii() else _NUMBER).findall(text):
            terms["#" + number.translate(_NUMBER_SEPARATORS)] = weight
    return terms


_SPELLING = str.maketrans("kqyw", "ccii")
_VOWELS = re.compile(r"(?<=.)[aeiou]+")
_REPEATS = re.compile(r"(.)\1+")


def _skeleton(folded: str) -> str:
    """A spelling-neutral key of a folded name: its first letter and its consonants."""
    skeleton = _REPEATS.sub(r"\1", _VOWELS.sub("", folded.translate(_SPELLING).replace("ph", "f")))
    return skeleton if len(skeleton) >= MIN_SKELETON else folded


def _name_key(word: str) -> str:
    """The index key of a capitalized word: "@" + its skeleton (or accent-folded lower case if
    that is short), ``STOP_MARK`` + the folded word for a stopword, or "" to skip it."""
    key = _NAME_KEYS.get(word)
    if key is None:
        folded = unicodedata.normalize("NFKD", word.lower())
        folded = "".join(c for c in folded if not unicodedata.combining(c))
        if not word[0].isupper() or len(folded) < 2:
            key = ""
        elif (folded in STOPWORDS or folded in NOT_NAMES) and not word.isupper():
            # Stopwords at the start of a sentence are no names, acronyms ("US", "IT") are;
            # but a capitalized stopword may be part of a country's name ("Corea del Sur",
            # "El Salvador"): marked, and dropped once country names are found.
            key = STOP_MARK + folded
        else:
            key = "@" + _skeleton(folded)
        if len(_NAME_KEYS) < _NAME_KEYS_LIMIT:
            _NAME_KEYS[word] = key
    return key


@cache
def _country_table() -> tuple[dict[str, str], dict[str, int]]:
    """Country names keyed as in a story's name bag -> "@" + the country's ISO code
    (``ALIAS_MARK`` + the code for a demonym); and the first key of each name -> the most
    words a name starting with it has.

    Built once, from pycountry's names and their translations, and the English names and
    demonyms of the alias table (see ALIAS_WEIGHT). Only names the text scanner finds as one
    run of words count ("Estados Unidos", "Royaume-Uni", "Corea del Sur"); a name given to two
    countries ("Korea", "Congo", "Dominican") is left out, and so is one whose keys are
    another's. A demonym keyed like its country's name ("German" and "Germany" share a
    skeleton) is the name.
    """
    table: dict[str, str] = {}
    ambiguous: set[str] = set()
    names = [(name, code, 0) for name, code in country_names()]
    for name, code, level in names + list(alias_names(capitals=ALIAS_CAPITALS)):
        weak = level > 0
        name = unicodedata.normalize("NFKC", name)
        if not _NAME_OR_NUMBER.fullmatch(name) or name[0].isdigit():
            continue
        words = [key for key in map(_name_key, name.split()) if key]
        if not words or all(key[0] == STOP_MARK for key in words):
            continue
        joined = " ".join(words)
        value = (ALIAS_MARK if weak else "@") + code
        if table.setdefault(joined, value)[1:] != code:
            ambiguous.add(joined)
    for joined in ambiguous:
        del table[joined]
    starts: dict[str, int] = {}
    for joined in table:
        words = joined.split(" ")
        starts[words[0]] = max(starts.get(words[0], 0), len(words))
    return table, starts


def _with_countries(words: list[str], table: dict[str, str], starts: dict[str, int]) -> list[str]:
    """The keys of a run of names with each country name (of one or more words) replaced by
    its country's key, longest names first."""
    out: list[str] = []
    i = 0
    count = len(words)
    while i < count:
        longest = starts.get(words[i])
        if longest:
            for j in range(min(count, i + longest), i, -1):
                country = table.get(" ".join(words[i:j]))
                if country is not None:
                    out.append(country)
                    i = j
                    break
            else:
                out.append(words[i])
                i += 1
        else:
            out.append(words[i])
            i += 1
    return out


def _phrase_keys(match: str) -> tuple[str, ...]:
    """The keys of one run of names or one number found by ``_NAME_OR_NUMBER`` (memoized:
    names and figures recur from story to story, and keying a run is most of ``_names``)."""
    if match[0].isdigit():
        words = ["#" + match.translate(_NUMBER_SEPARATORS)]
    else:
        keys = _NAME_KEYS
        table, starts = _country_table()
        words = []
        stops = False
        for word in match.split():
            key = keys.get(word)
            if key is None:
                key = _name_key(word)
            if key:
                words.append(key)
                stops = stops or key[0] == STOP_MARK
        for key in words:
            if key in starts:
                words = _with_countries(words, table, starts)
                break
        if stops:
            words = [key for key in words if key[0] != STOP_MARK]
    out = tuple(words)
    if len(_PHRASE_KEYS) < _NAME_KEYS_LIMIT:
        _PHRASE_KEYS[match] = out
    return out


def _names(story: Story) -> tuple[Terms, dict[str, int]]:
    """The weighted names and numbers of a story, and the phrase each belongs to.

    A phrase is a run of capitalized words ("Donald Trump", "Ursula von der Leyen"): its words
    count as one shared name. Each number is a phrase of its own.
    """
    terms: Terms = {}
    phrases: dict[str, int] = {}
    phrase = 0
    known = _PHRASE_KEYS
    for text, weight in ((story.summary[:LEAD_CHARS], LEAD_WEIGHT), (story.title, TITLE_WEIGHT)):
        if text.isascii():
            matches = _ASCII_NAME_OR_NUMBER.findall(text)
        else:
            matches = _NAME_OR_NUMBER.findall(unicodedata.normalize("NFKC", text))
        for match in matches:
            phrase += 1
            words = known.get(match)
            if words is None:
                words = _phrase_keys(match)
            for key in words:
                w = weight
                if key[0] == ALIAS_MARK:
                    key = "@" + key[1:]
                    w = weight * ALIAS_WEIGHT
                if terms.get(key, 0.0) < w:
                    terms[key] = w
                if key not in phrases:
                    phrases[key] = phrase
    return terms, phrases


def story_names(story: Story) -> Terms:
    """The language-neutral terms of a story's title and lead: names and numbers.

    A name is a capitalized word, accent-folded and not stemmed (stemmers of different languages
    cut one name differently); stopwords are skipped unless written as an acronym ("US").
    """
    return _names(story)[0]


def _embedding_text(story: Story) -> str:
    """What the embedder reads of a story: its title and lead."""
    return f"{story.title}. {story.summary[:LEAD_CHARS]}".strip(" .")


class StoryClusterer:
    """Assigns stories to event clusters; in memory, with time passed in by the caller."""

    def __init__(
        self,
        *,
        threshold: float | None = None,
        window: timedelta = timedelta(hours=48),
        cross_language: bool = True,
        embedder: Embedder | None = None,
        confirm_similarity: float = DEFAULT_CONFIRM_SIMILARITY,
    ) -> None:
        """``cross_language=False`` skips the names-and-figures stage, for feeds in one language
        (on the bench it cost 0-35% of the throughput: 4,300-6,300 instead of 4,300-8,400
        stories per CPU second, six runs on a noisy host); ``embedder`` has weak word matches
        confirmed by meaning (see CONFIRM_BAND). ``threshold`` defaults to DEFAULT_THRESHOLD,
        or CONFIRMED_THRESHOLD with an embedder."""
        if threshold is None:
            threshold = DEFAULT_THRESHOLD if embedder is None else CONFIRMED_THRESHOLD
        for name, value in (
            ("threshold", threshold),
            ("confirm_similarity", confirm_similarity),
        ):
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        self.threshold = threshold
        self.window = window
        self.cross_language = cross_language
        if cross_language:
            # The country names table, built once per process (about 0.2 s): at start-up
            # rather than inside the first tick that meets a name.
            _country_table()
        self.embedder = embedder
        self.confirm_similarity = confirm_similarity
        # With an embedder: the text each story is embedded from, and the embeddings made (as
        # 32-bit floats: a tuple of Python floats costs 8 times the memory).
        self._texts: dict[int, str] = {}
        self._embeddings: dict[int, array[float]] = {}
        self._entries: dict[int, _Entry] = {}
        # story id -> its IDF-weighted length when inserted, for screening only (apart from
        # _entries: the first screen reads it for many candidates that fail)
        self._norms: dict[int, float] = {}
        self._postings: dict[str, dict[int, float]] = {}  # term -> story id -> weight
        self._clusters: dict[int, _Cluster] = {}
        self._by_time: list[tuple[int, int]] = []  # heap of (_micros, id): oldest story first
        # language -> name or number -> story id -> weight
        self._name_postings: dict[str, dict[str, dict[int, float]]] = {}
        self._merges: list[tuple[int, int]] = []  # (absorbed, kept) since take_merges

    def __len__(self) -> int:
        return len(self._entries)

    def _weighted(self, terms: Terms) -> Terms:
        """``terms`` with each weight multiplied by the term's current IDF in the window."""
        postings = self._postings
        size = len(self._entries)
        log_total = math.log(size + IDF_PRIOR)
        logs = _log_counts(size + 1)  # no term is in more stories than the window holds
        out: Terms = {}
        for term, weight in terms.items():
            posting = postings.get(term)
            out[term] = weight * (log_total - logs[len(posting) if posting else 0])
        return out

    def _weighted_new(self, terms: Terms) -> tuple[Terms, list[Posting | None], list[Scan]]:
        """``_weighted`` for a story about to be indexed, with what its other steps need from
        the same lookups: each term's posting (None if no story has it), in the order of
        ``terms``, for indexing it; and the postings short enough to propose candidates
        (see MAX_POSTING), each with its weight * idf^2, for scoring them."""
        postings = self._postings
        size = len(self._entries)
        log_total = math.log(size + IDF_PRIOR)
        logs = _log_counts(size + 1)
        out: Terms = {}
        found: list[Posting | None] = []
        scan: list[Scan] = []
        for term, weight in terms.items():
            posting = postings.get(term)
            found.append(posting)
            if posting:
                count = len(posting)
                value = out[term] = weight * (log_total - logs[count])
                if count <= MAX_POSTING:
                    scan.append((posting, value * value / weight))
            else:
                out[term] = weight * (log_total - logs[0])
        return out, found, scan

    def _weighted_names(self, names: Terms) -> Terms:
        """``names`` with each weight multiplied by the name's current IDF in the window."""
        by_language = self._name_postings.values()
        size = len(self._entries)
        log_total = math.log(size + IDF_PRIOR)
        logs = _log_counts(size + 1)  # a story's names are in one language's postings
        out: Terms = {}
        for name, weight in names.items():
            count = 0
            for postings in by_language:
                posting = postings.get(name)
                if posting is not None:
                    count += len(posting)
            out[name] = weight * (log_total - logs[count])
        return out

    def _insert(
        self,
        story_id: int,
        cluster_id: int,
        story: Story,
        terms: Terms,
        names: Terms,
        weighted: tuple[Terms, float, int] | None = None,
        found: list[Posting | None] | None = None,
    ) -> None:
        """Index a story under its cluster (``weighted``: its weighted terms, their norm and its
        publication in microseconds, if already known; ``found``: the posting of each term,
        looked up since nothing was indexed or dropped, see _weighted_new)."""
        if story_id in self._entries:
            return
        if weighted is None:
            vec = self._weighted(terms)
            norm = math.sqrt(_length2(vec))
            stamp = _micros(story.published_at)
        else:
            vec, norm, stamp = weighted
        self._entries[story_id] = _Entry(
            cluster_id,
            terms,
            story.source,
            stamp,
            names,
            story.language or "",
        )
        self._norms[story_id] = norm
        heapq.heappush(self._by_time, (stamp, story_id))
        if self.embedder is not None and story_id not in self._texts:
            self._texts[story_id] = _embedding_text(story)
        postings = self._postings
        if found is None:
            found = [postings.get(term) for term in terms]
        for (term, weight), posting in zip(terms.items(), found, strict=True):
            if posting is None:
                postings[term] = {story_id: weight}
            else:
                posting[story_id] = weight
        if names:
            by_name = self._name_postings.setdefault(story.language or "", {})
            for name, weight in names.items():
                posting = by_name.get(name)
                if posting is None:
                    by_name[name] = {story_id: weight}
                else:
                    posting[story_id] = weight
        cluster = self._clusters.get(cluster_id)
        if cluster is None:
            # Most stories start a cluster: its sums are the story's terms and its norm the
            # story's, the values the general update below would compute from empty sums.
            self._clusters[cluster_id] = _Cluster(dict(terms), 1, norm * norm, {story_id})
            return
        sums = cluster.sums
        # |s + t|^2 = |s|^2 + 2 s.t + |t|^2, with today's IDF for the new cross terms.
        cross = sum(sums.get(t, 0.0) * v * v / terms[t] for t, v in vec.items() if t in sums)
        cluster.norm2 += 2 * cross + norm * norm
        cluster.size += 1
        cluster.members.add(story_id)
        for term, weight in terms.items():
            sums[term] = sums.get(term, 0.0) + weight

    def _remove(self, story_id: int, entry: _Entry) -> None:
        """Drop a story from the index and from its cluster's sums."""
        self._texts.pop(story_id, None)
        self._embeddings.pop(story_id, None)
        del self._norms[story_id]
        postings = self._postings
        for term in entry.terms:
            # Every term of an indexed story has a posting holding it (see _insert).
            holders = postings[term]
            del holders[story_id]
            if not holders:
                del postings[term]
        if entry.names:
            # Likewise every name of an indexed story, under the story's language.
            by_name = self._name_postings[entry.language]
            for name in entry.names:
                holders = by_name[name]
                del holders[story_id]
                if not holders:
                    del by_name[name]
        cluster = self._clusters.get(entry.cluster_id)
        if cluster is None:
            return
        cluster.size -= 1
        cluster.members.discard(story_id)
        if cluster.size <= 0:
            del self._clusters[entry.cluster_id]
            return
        for term, weight in entry.terms.items():
            left = cluster.sums.get(term, 0.0) - weight
            if left > 1e-9:
                cluster.sums[term] = left
            else:
                cluster.sums.pop(term, None)
        cluster.norm2 = self._norm2(cluster.sums)  # rare: exact recomputation

    def _norm2(self, terms: Terms) -> float:
        """Squared IDF-weighted length of ``terms`` with the current IDF."""
        return _length2(self._weighted(terms))

    def _cosine(self, vec: Terms, norm: float, terms: Terms) -> float:
        """Exact IDF-weighted cosine of a weighted query vector and a term bag."""
        other = self._weighted(terms)
        other_norm = math.sqrt(_length2(other))
        if not other_norm:
            return 0.0
        dot = sum(v * other[t] for t, v in vec.items() if t in other)
        return dot / (norm * other_norm)

    def _bar(self, source: str, stamp: int, entry: _Entry) -> float:
        """The similarity a candidate must reach from a story of ``source`` published at
        ``stamp`` (see _micros): stricter for its own source and far in time."""
        bar = self.threshold
        if entry.source == source:
            bar += SAME_SOURCE_MARGIN
        gap = abs(entry.stamp - stamp)
        return bar + TIME_MARGIN * min(1.0, gap / _TIME_SCALE_US)

    def _best_match(
        self,
        story_id: int,
        story: Story,
        stamp: int,
        scan: list[Scan],
        vec: Terms,
        norm: float,
        cutoff: int,
        names: tuple[Terms, dict[str, int]] | None,
        rivals: set[int],
    ) -> int | None:
        """The cluster of the most similar verified candidate (or cluster) in the window.

        Without one in the story's language, a story in another language may qualify by names
        and figures (``names``: the story's names and their phrases; None skips that search).
        ``vec`` is the story's terms weighted by the current IDF, ``norm`` its length, ``scan``
        the postings to find candidates in (see _weighted_new); ``stamp`` (the
        story's publication) and ``cutoff`` are in microseconds (see _micros). With an
        embedder, a candidate less than CONFIRM_BAND above its bar must be close in meaning
        too. ``rivals`` receives the cluster of every candidate in the story's language that
        qualifies.
        """
        if norm == 0.0:
            if names is None:
                return None
            return self._cross_language_match(story, stamp, cutoff, *names)
        # Partial dot products over the terms rare enough to look up (the common ones weigh
        # little; the verification below counts them exactly).
        # (A plain dict, a membership test and +=: about 70% of the candidates seen first
        # here, which need no addition (0.0 + x == x), and no method call for the others.)
        dots: dict[int, float] = {}
        for posting, scale in scan:  # scale: weight * idf^2
            for cand_id, weight in posting.items():
                if cand_id in dots:
                    dots[cand_id] += scale * weight
                else:
                    dots[cand_id] = scale * weight
        best: tuple[float, int] | None = None
        cluster_dots: dict[int, float] = {}
        entries = self._entries
        # Screening floor: no bar is below the threshold; weak members still count toward
        # their cluster's sum, but only from half that floor on (keeps the loop cheap).
        floor = SCREEN_SLACK * self.threshold * norm
        lowest = 0.5 * floor
        semantic = self.embedder is not None
        source = story.source
        window = self.window // _MICROSECOND
        # Few candidates pass the first screen (about 3 in 90): a comprehension applies it
        # faster than the loop below would.
        norms = self._norms
        screened = [
            (cand_id, dot, cand_norm)
            for cand_id, dot in dots.items()
            if not dot < lowest * (cand_norm := norms[cand_id])
        ]
        for cand_id, dot, cand_norm in screened:
            entry = entries[cand_id]
            if entry.stamp < cutoff or abs(entry.stamp - stamp) > window:
                continue
            if entry.source != source:
                cluster_dots[entry.cluster_id] = cluster_dots.get(entry.cluster_id, 0.0) + dot
            if dot < floor * cand_norm:
                continue
            bar = self._bar(source, stamp, entry)
            if dot < SCREEN_SLACK * bar * norm * cand_norm:
                continue
            sim = self._cosine(vec, norm, entry.terms)
            if sim < bar or (
                semantic
                and sim < bar + CONFIRM_BAND
                and not self._confirmed(story_id, story, [cand_id])
            ):
                continue  # too few shared words, or words but not meaning
            rivals.add(entry.cluster_id)
            # Ties go to the older story id, so results do not depend on set iteration order.
            if best is None or (sim, -cand_id) > (best[0], -best[1]):
                best = (sim, cand_id)
        match = None if best is None else self._entries[best[1]].cluster_id
        best_sim = -1.0 if best is None else best[0]
        bar = self.threshold + CENTROID_MARGIN
        for cluster_id, dot in cluster_dots.items():
            cluster = self._clusters.get(cluster_id)
            if cluster is None or cluster.size < 2 or cluster.norm2 <= 0.0:
                continue
            if dot < SCREEN_SLACK * max(bar, best_sim) * norm * math.sqrt(cluster.norm2):
                continue
            sim = self._cosine(vec, norm, cluster.sums)
            if sim < bar or sim <= best_sim:
                continue
            if (
                semantic
                and sim < bar + CONFIRM_BAND
                and not self._confirmed(story_id, story, sorted(cluster.members))
            ):
                continue
            best_sim, match = sim, cluster_id
        if match is None and names is not None:
            match = self._cross_language_match(story, stamp, cutoff, *names)
        return match

    def _embed(self, story_id: int, story: Story, others: Iterable[int]) -> array[float]:
        """The story's embedding, after making sure ``others`` (stories in the window) have
        theirs; one call to the embedder for whatever is missing."""
        embedder = self.embedder
        if embedder is None:
            raise RuntimeError("no embedder")
        self._texts.setdefault(story_id, _embedding_text(story))
        missing = [i for i in others if i not in self._embeddings]
        if story_id not in self._embeddings:
            missing.append(story_id)
        if missing:
            vectors = embedder.embed([self._texts[i] for i in missing])
            for i, vector in zip(missing, vectors, strict=True):
                self._embeddings[i] = array("f", vector)
        return self._embeddings[story_id]

    def _similarity(self, mine: array[float], other: int) -> float:
        """Cosine of an embedding and a story's (both unit length)."""
        return math.fsum(map(operator.mul, mine, self._embeddings[other]))

    def _confirmed(self, story_id: int, story: Story, candidates: list[int]) -> bool:
        """Whether the story is close in meaning to one of ``candidates`` (see CONFIRM_BAND).

        An embedder that fails confirms nothing: the story is clustered by its words alone
        (strong matches still join), and the feed's other stories are not held up."""
        try:
            mine = self._embed(story_id, story, candidates)
        except Exception:  # meaning is a refinement; one odd text must not fail the tick
            logger.exception("embedding failed story_key=%s", story.key)
            return False
        bar = self.confirm_similarity
        return any(self._similarity(mine, other) >= bar for other in candidates)

    def _cross_language_match(
        self, story: Story, stamp: int, cutoff: int, names: Terms, phrases: dict[str, int]
    ) -> int | None:
        """The cluster of the story in another language sharing the most names and figures
        (``stamp``, the story's publication, and ``cutoff`` in microseconds, see _micros)."""
        if len(set(phrases.values())) < CROSS_LANGUAGE_MIN_SHARED:
            return None  # no candidate can share enough phrases
        shared: dict[int, int] = {}  # candidate -> bit set of the story's phrases it shares
        for language, postings in self._name_postings.items():
            if language == story.language:
                continue
            for name in names:
                posting = postings.get(name)
                if not posting or len(posting) > MAX_POSTING:
                    continue
                bit = 1 << phrases[name]
                for cand_id in posting:
                    shared[cand_id] = shared.get(cand_id, 0) | bit
        best: tuple[float, int] | None = None
        entries = self._entries
        vec: Terms = {}
        norm = 0.0
        window = self.window // _MICROSECOND
        for cand_id, bits in shared.items():
            if bits.bit_count() < CROSS_LANGUAGE_MIN_SHARED:
                continue
            entry = entries[cand_id]
            if entry.stamp < cutoff or abs(entry.stamp - stamp) > window:
                continue
            if not vec:  # weighted only when a candidate shares enough
                vec = self._weighted_names(names)
                norm = math.sqrt(_length2(vec))
            other = self._weighted_names(entry.names)
            other_norm = math.sqrt(_length2(other))
            if not norm or not other_norm:
                continue
            sim = sum(v * other[t] for t, v in vec.items() if t in other) / (norm * other_norm)
            bar = self._bar(story.source, stamp, entry) - self.threshold + CROSS_LANGUAGE_BAR
            if sim >= bar and (best is None or (sim, -cand_id) > (best[0], -best[1])):
                best = (sim, cand_id)
        return None if best is None else entries[best[1]].cluster_id

    def assign(self, story_id: int, story: Story, now: datetime) -> int:
        """The cluster ``story`` joins: a near duplicate's cluster in the window, else its id."""
        known = self._entries.get(story_id)
        if known is not None:
            return known.cluster_id
        cutoff = _micros(now - self.window)
        self._forget_before(cutoff)
        stamp = _micros(story.published_at)
        if stamp < cutoff:
            return story_id  # too old to join anything, and too old to keep
        terms = story_terms(story)
        # The story is not indexed yet: the same IDF for matching and for indexing it.
        vec, found, scan = self._weighted_new(terms)
        norm = math.sqrt(_length2(vec))
        names = _names(story) if story.language and self.cross_language else None
        rivals: set[int] = set()  # clusters with a member the story is similar enough to
        match = (
            self._best_match(story_id, story, stamp, scan, vec, norm, cutoff, names, rivals)
            if terms or names
            else None
        )
        cluster_id = story_id if match is None else match
        if match is not None:
            self._merge_bridged(story, stamp, cutoff, names, match, rivals)
        own_names = {} if names is None else names[0]
        self._insert(story_id, cluster_id, story, terms, own_names, (vec, norm, stamp), found)
        return cluster_id

    def _merge_bridged(
        self,
        story: Story,
        stamp: int,
        cutoff: int,
        names: tuple[Terms, dict[str, int]] | None,
        match: int,
        rivals: set[int],
    ) -> None:
        """Fold into ``match`` the other clusters the story bridges (see MERGE_MARGIN)."""
        rivals.discard(match)
        if rivals and match in self._clusters:
            sums = self._weighted(self._clusters[match].sums)
            norm = math.sqrt(_length2(sums))
            bar = self.threshold + MERGE_MARGIN
            for other in sorted(rivals):
                cluster = self._clusters.get(other)
                if norm and cluster is not None and self._cosine(sums, norm, cluster.sums) >= bar:
                    self._merge(other, match)
        if names is not None and match in self._clusters:
            foreign = self._cross_language_match(story, stamp, cutoff, *names)
            if foreign is not None and foreign != match:
                self._merge(foreign, match)

    def _merge(self, other: int, into: int) -> None:
        """Move every story of cluster ``other`` into cluster ``into``."""
        gone = self._clusters.pop(other, None)
        kept = self._clusters.get(into)
        if gone is None or kept is None:
            return
        for term, weight in gone.sums.items():
            kept.sums[term] = kept.sums.get(term, 0.0) + weight
        kept.size += gone.size
        kept.members |= gone.members
        kept.norm2 = self._norm2(kept.sums)  # rare: exact recomputation
        for member in gone.members:
            self._entries[member].cluster_id = into
        self._merges.append((other, into))

    def take_merges(self) -> list[tuple[int, int]]:
        """The merges since the last call, oldest first, as (absorbed cluster, kept cluster).

        Stored cluster ids follow them (``Repository.merge_clusters``), in this order.
        """
        merges, self._merges = self._merges, []
        return merges

    def cluster_of(self, story_id: int) -> int | None:
        """The cluster a story in the window belongs to now (clusters merge), else None."""
        entry = self._entries.get(story_id)
        return None if entry is None else entry.cluster_id

    def forget_before(self, cutoff: datetime) -> None:
        """Drop every story published before ``cutoff`` (keeps memory bounded)."""
        self._forget_before(_micros(cutoff))

    def _forget_before(self, cutoff: int) -> None:
        """``forget_before`` with ``cutoff`` in microseconds (see _micros)."""
        by_time = self._by_time
        while by_time and by_time[0][0] < cutoff:
            _, story_id = heapq.heappop(by_time)
            entry = self._entries.pop(story_id, None)
            if entry is not None:
                self._remove(story_id, entry)

    def load(self, items: Iterable[tuple[int, int, Story]]) -> None:
        """Rebuild state from stored (story_id, cluster_id, story) rows after a restart."""
        for story_id, cluster_id, story in items:
            names = story_names(story) if story.language and self.cross_language else {}
            self._insert(story_id, cluster_id, story, story_terms(story), names)
