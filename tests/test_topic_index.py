"""The topic index: which subscriptions a story reaches, why, and that indexing loses none."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.models import Story, TermHit
from bot.topics.analyze import analyze
from bot.topics.compiled import CNode, Compiler
from bot.topics.index import TopicIndex, match_story
from bot.topics.query import QueryError, parse_query

WHEN = datetime(2025, 5, 28, tzinfo=UTC)


def story(title: str, summary: str = "", source: str = "Dawn", language: str = "en") -> Story:
    """A story with the fields matching looks at; its site is derived from the source name."""
    site = source.split()[0].lower() + ".example"
    return Story("k", None, title, summary, WHEN, source, site, language)


def index_of(*topics: str) -> TopicIndex:
    """An index with topics numbered from 1 in the given order."""
    index = TopicIndex()
    for topic_id, text in enumerate(topics, 1):
        index.add(topic_id, parse_query(text))
    return index


def ids(index: TopicIndex, item: Story) -> list[int]:
    """The topic ids a story matches."""
    return [m.topic_id for m in match_story(index, item)]


def test_both_countries_by_demonyms_and_not_one_alone() -> None:
    index = index_of("Pakistan Afghanistan")
    assert ids(index, story("Pakistani strikes hit Afghan border posts")) == [1]
    assert ids(index, story("Pakistan wins the toss")) == []
    assert ids(index, story("Islamabad to send envoy to Kabul")) == []


def test_places_level_is_opt_in_per_term() -> None:
    index = index_of("~Pakistan ~Afghanistan")
    assert ids(index, story("Islamabad to send envoy to Kabul")) == [1]


def test_a_us_state_matches_its_dateline_abbreviation_and_residents() -> None:
    index = index_of("hurricane Florida", "storm ~Texas", "Massachusetts")
    dateline = story("Hurricane center defends its forecast", "FORT MYERS, Fla. - Forecasters said")
    [match] = index.match(dateline)
    assert TermHit("Florida", "Fla", "summary") in match.hits
    assert ids(index, story("Floridians return home after the hurricane")) == [1]
    assert ids(index, story("Storm floods Austin streets")) == [2]  # capitals only with ~
    assert ids(index, story("Storm hits the coast", "Texans clean up")) == [2]
    assert ids(index, story("Mass held for the victims")) == []  # Mass. is not an alias


def test_hits_say_which_term_hit_where() -> None:
    index = index_of("Pakistan Afghanistan")
    [match] = index.match(story("Pakistani strikes", "Border posts of Afghans hit"))
    assert set(match.hits) == {
        TermHit("Pakistan", "Pakistani", "title"),
        TermHit("Afghanistan", "Afghans", "summary"),
    }


def test_phrases_need_consecutive_words() -> None:
    index = index_of('"prime minister"')
    assert ids(index, story("Prime Minister resigns")) == [1]
    assert ids(index, story("Minister for prime time TV")) == []


def test_or_exclusions_and_groups() -> None:
    index = index_of("cricket (india OR pakistan) -ipl")
    assert ids(index, story("Cricket: Pakistan beat England")) == [1]
    assert ids(index, story("Cricket: IPL final in India")) == []
    assert ids(index, story("Cricket: England beat Australia")) == []


def test_title_scope_ignores_the_summary() -> None:
    index = index_of("title:tariffs")
    assert ids(index, story("Tariffs rise")) == [1]
    assert ids(index, story("Markets fall", "after tariffs rise")) == []


def test_source_and_lang_scopes() -> None:
    index = index_of("source:dawn cricket", "lang:ur cricket", 'source:"al jazeera" gaza')
    assert ids(index, story("Cricket news", source="Dawn")) == [1]
    assert ids(index, story("Cricket news", source="Geo")) == []
    assert ids(index, story("Cricket news", source="Geo", language="ur")) == [2]
    assert ids(index, story("Gaza talks", source="Al Jazeera English")) == [3]
    assert ids(index, story("Gaza talks", source="Jazeera Al")) == []


def test_source_matches_the_site_word_wise() -> None:
    index = index_of("source:dawn")
    item = Story("k", None, "Cricket", "", WHEN, "Pakistan Daily", "www.dawn.com", "en")
    assert [m.hits for m in index.match(item)] == [(TermHit("dawn", "dawn", "source"),)]


def test_remove_and_replace_without_rebuild() -> None:
    index = index_of("pakistan", "afghanistan")
    assert len(index) == 2
    index.remove(1)
    index.remove(99)  # unknown ids are ignored
    assert len(index) == 1
    assert ids(index, story("Pakistan and Afghanistan talk")) == [2]
    index.add(2, parse_query("india"))
    assert ids(index, story("Pakistan and Afghanistan talk")) == []
    assert ids(index, story("India votes")) == [2]
    assert len(index) == 1


def test_hostile_text_never_crashes() -> None:
    index = index_of("pakistan", '"a b"', "北京")
    weird = story("\x00\u202e" + "x" * 5000 + " 北京 ́ ̈ pakistan", "🙂" * 100)
    assert ids(index, weird) == [1, 3]


# --- property: the index gives exactly what checking every query one by one gives ---------

VOCAB = [
    "pakistan",
    "pakistani",
    "afghan",
    "afghanistan",
    "kabul",
    "tariffs",
    "tariff",
    "trade",
    "US",
    "us",
    "united",
    "states",
    "american",
    "cafe",
    "café",
    "北京",
    "россия",
    "the",
    "oil",
    "ipo",
    "initial",
    "public",
    "offering",
]

word = st.sampled_from(VOCAB)
atom = st.one_of(
    word,
    word.map(lambda w: "=" + w),
    word.map(lambda w: "~" + w),
    word.map(lambda w: "title:" + w),
    st.lists(word, min_size=2, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"'),
    st.sampled_from(["source:dawn", "source:geo", "lang:en", "lang:de"]),
)
group = st.lists(atom, min_size=1, max_size=3).map(" ".join)
clause = st.one_of(
    group,
    st.tuples(group, group).map(lambda g: f"({g[0]} OR {g[1]})"),
    st.tuples(group, atom).map(lambda g: f"{g[0]} -{g[1]}"),
)
query_text = st.lists(clause, min_size=1, max_size=3).map(" ".join)
text = st.lists(word, max_size=12).map(" ".join)
stories = st.builds(
    story,
    text,
    text,
    st.sampled_from(["Dawn", "Geo News", "Reuters"]),
    st.sampled_from(["en", "de", "ur"]),
)


def index_and_naive(texts: list[str]) -> tuple[TopicIndex, dict[int, CNode]]:
    """The valid queries among ``texts`` in an index, and each compiled on its own."""
    index = TopicIndex()
    compiler = Compiler()
    naive = {}
    for topic_id, qtext in enumerate(texts):
        try:
            query = parse_query(qtext)
        except QueryError:
            continue
        index.add(topic_id, query)
        naive[topic_id] = compiler.compile(query.root)
    return index, naive


@settings(max_examples=200, deadline=None)
@given(st.lists(query_text, min_size=1, max_size=12), st.lists(stories, min_size=1, max_size=4))
def test_index_equals_naive_loop(texts: list[str], items: list[Story]) -> None:
    index, naive = index_and_naive(texts)
    for item in items:
        analyzed = analyze(item)
        expected = sorted(t for t, root in naive.items() if root.match(analyzed))
        found = index.match(item)
        assert [m.topic_id for m in found] == expected
        assert all(m.hits for m in found)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(query_text, min_size=1, max_size=12),
    st.lists(stories, min_size=1, max_size=3),
    st.sets(st.integers(0, 11)),
)
def test_hits_and_removals_equal_naive_loop(
    texts: list[str], items: list[Story], removed: set[int]
) -> None:
    index, naive = index_and_naive(texts)
    for topic_id in removed:
        index.remove(topic_id)
        naive.pop(topic_id, None)
    assert len(index) == len(naive)
    for item in items:
        analyzed = analyze(item)
        expected = [
            (t, tuple(root.hits(analyzed)))
            for t, root in sorted(naive.items())
            if root.match(analyzed)
        ]
        assert [(m.topic_id, m.hits) for m in index.match(item)] == expected


def test_a_word_alone_and_a_word_pair_report_their_hits() -> None:
    index = index_of(
        "Pakistan", "cricket Pakistan", "source:dawn cricket", "title:cricket pakistan"
    )
    found = index.match(story("Cricket: Pakistani openers", "Afghan spinners", source="Dawn"))
    assert [(m.topic_id, m.hits) for m in found] == [
        (1, (TermHit("Pakistan", "Pakistani", "title"),)),
        (2, (TermHit("cricket", "Cricket", "title"), TermHit("Pakistan", "Pakistani", "title"))),
        (3, (TermHit("cricket", "Cricket", "title"), TermHit("dawn", "Dawn", "source"))),
        (4, (TermHit("Pakistan", "Pakistani", "title"), TermHit("cricket", "Cricket", "title"))),
    ]
    assert ids(index, story("Pakistan", "cricket", source="Geo")) == [1, 2]
    index.remove(2)
    assert ids(index, story("Pakistan cricket", source="Geo")) == [1, 4]
