"""Story clustering over a time window: near duplicates join, different events stay apart."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from bot.embedding import Vector
from bot.models import Story
from bot.stories.cluster import StoryClusterer, story_names

T0 = datetime(2025, 5, 28, 8, 0, tzinfo=UTC)


def _story(title: str, summary: str, source: str, at: datetime) -> Story:
    return Story(
        key=f"{source}:{title}",
        url=None,
        title=title,
        summary=summary,
        published_at=at,
        source=source,
        language="en",
    )


BRIDGE_A = _story(
    "Northbank bridge to be rebuilt after cracks found in supports",
    "The city council approved a plan to rebuild the Northbank bridge, closed since March "
    "after inspectors found cracks in two supports.",
    "Harbour Times",
    T0,
)
BRIDGE_B = _story(
    "Council approves rebuilding of cracked Northbank bridge",
    "Northbank bridge, closed in March after cracks were found in its supports, will be "
    "rebuilt, the city council decided.",
    "City Wire",
    T0 + timedelta(hours=3),
)
# Shares "Northbank", "council", "bridge" with the above, but is another event.
BRIDGE_RACE = _story(
    "Runners cross Northbank bridge in council charity race",
    "Hundreds of runners took part in the annual charity race organised by the council, "
    "raising money for the children's hospital.",
    "City Wire",
    T0 + timedelta(hours=4),
)
FERRY = _story(
    "Ferry service between Northbank and Eastmoor doubles",
    "Two new electric boats join the river ferry route from Monday, the harbour authority said.",
    "Harbour Times",
    T0 + timedelta(hours=5),
)


def test_same_event_from_two_outlets_joins_first_story_cluster() -> None:
    clusterer = StoryClusterer()
    assert clusterer.assign(1, BRIDGE_A, T0) == 1
    assert clusterer.assign(2, BRIDGE_B, T0 + timedelta(hours=3)) == 1


def test_different_events_with_shared_words_do_not_merge() -> None:
    clusterer = StoryClusterer()
    clusterer.assign(1, BRIDGE_A, T0)
    assert clusterer.assign(3, BRIDGE_RACE, T0 + timedelta(hours=4)) == 3
    assert clusterer.assign(4, FERRY, T0 + timedelta(hours=5)) == 4


def test_story_outside_window_starts_new_cluster() -> None:
    clusterer = StoryClusterer(window=timedelta(hours=48))
    clusterer.assign(1, BRIDGE_A, T0)
    late = _story(BRIDGE_B.title, BRIDGE_B.summary, BRIDGE_B.source, T0 + timedelta(hours=50))
    assert clusterer.assign(2, late, T0 + timedelta(hours=50)) == 2
    assert len(clusterer) == 1  # the old story was forgotten


def test_within_window_after_a_day_still_joins() -> None:
    clusterer = StoryClusterer(window=timedelta(hours=48))
    clusterer.assign(1, BRIDGE_A, T0)
    later = _story(BRIDGE_B.title, BRIDGE_B.summary, BRIDGE_B.source, T0 + timedelta(hours=30))
    assert clusterer.assign(2, later, T0 + timedelta(hours=30)) == 1


def test_same_source_needs_stronger_overlap() -> None:
    clusterer = StoryClusterer()
    clusterer.assign(1, BRIDGE_B, T0)
    # Same outlet, the same wording with a different second half: below the stricter bar.
    same_outlet = _story(
        "Council approves rebuilding of Eastmoor pier",
        "Eastmoor pier, damaged in the winter storms, will be rebuilt, the city council decided.",
        "City Wire",
        T0 + timedelta(hours=1),
    )
    assert clusterer.assign(2, same_outlet, T0 + timedelta(hours=1)) == 2


def test_forget_before_drops_old_stories() -> None:
    clusterer = StoryClusterer()
    clusterer.assign(1, BRIDGE_A, T0)
    clusterer.assign(4, FERRY, T0 + timedelta(hours=5))
    clusterer.forget_before(T0 + timedelta(hours=1))
    assert len(clusterer) == 1
    assert clusterer.assign(2, BRIDGE_B, T0 + timedelta(hours=6)) == 2


def test_load_after_restart_keeps_cluster_ids() -> None:
    clusterer = StoryClusterer()
    clusterer.load([(10, 10, BRIDGE_A), (11, 10, BRIDGE_B)])
    third = _story(
        "Northbank bridge rebuild approved by council after cracks",
        "Cracks in two supports closed the Northbank bridge in March; the council approved "
        "a plan to rebuild it.",
        "Evening Post",
        T0 + timedelta(hours=6),
    )
    assert clusterer.assign(12, third, T0 + timedelta(hours=6)) == 10
    assert clusterer.assign(10, BRIDGE_A, T0 + timedelta(hours=6)) == 10


def test_assign_is_idempotent_for_a_known_story() -> None:
    clusterer = StoryClusterer()
    clusterer.assign(1, BRIDGE_A, T0)
    clusterer.assign(2, BRIDGE_B, T0)
    assert clusterer.assign(2, BRIDGE_B, T0) == 1


def test_empty_and_hostile_text_gets_its_own_cluster() -> None:
    clusterer = StoryClusterer()
    empty = _story("", "", "X", T0)
    weird = _story("\u202e\x00 ### !!!", "<script>", "Y", T0)
    assert clusterer.assign(1, empty, T0) == 1
    assert clusterer.assign(2, weird, T0) == 2
    assert clusterer.assign(3, empty, T0) == 3


def _background(clusterer: StoryClusterer, start_id: int) -> None:
    """Fill the window with unrelated council and court news, so those words become common."""
    topics = ["budget", "parking", "library", "school", "tram", "museum", "harbour", "park"]
    for n, topic in enumerate(topics):
        story = _story(
            f"City council court hears {topic} case",
            f"The city council told the court on Wednesday that the {topic} plan was lawful.",
            f"Outlet {n}",
            T0 + timedelta(minutes=n),
        )
        clusterer.assign(start_id + n, story, T0 + timedelta(minutes=n))


def _second_joins(first: Story, second: Story) -> int:
    """The cluster of ``second`` (id 2) after ``first`` (id 1), over the background news."""
    clusterer = StoryClusterer()
    _background(clusterer, 100)
    clusterer.assign(1, first, first.published_at)
    return clusterer.assign(2, second, second.published_at)


def test_shared_rare_name_and_figure_join_a_paraphrase() -> None:
    clusterer = StoryClusterer()
    _background(clusterer, 100)
    first = _story(
        "Court sentences surgeon Valmorel to 20 years",
        "Retired surgeon Anton Valmorel was sentenced on Wednesday for abusing patients.",
        "Harbour Times",
        T0 + timedelta(hours=1),
    )
    second = _story(
        "Valmorel gets 20-year jail term, judges rule",
        "Judges handed the former doctor the maximum term after a three-month trial.",
        "City Wire",
        T0 + timedelta(hours=2),
    )
    assert clusterer.assign(1, first, T0 + timedelta(hours=1)) == 1
    assert clusterer.assign(2, second, T0 + timedelta(hours=2)) == 1


def _story_in(language: str, title: str, summary: str, source: str, at: datetime) -> Story:
    return Story(
        key=f"{source}:{title}",
        url=None,
        title=title,
        summary=summary,
        published_at=at,
        source=source,
        language=language,
    )


TUNNEL_EN = _story_in(
    "en",
    "Mayor Ostrander opens Kessling tunnel after six years of work",
    "The 4.2 km tunnel under the Brenn river cost 880 million euros, the city said on Tuesday.",
    "Harbour Times",
    T0 + timedelta(hours=1),
)
# The same event in Spanish: almost no stem in common, but the names and the figures "4,2"
# (= 4.2) and "880" are shared.
TUNNEL_ES = _story_in(
    "es",
    "La alcaldesa Ostrander inaugura por fin el túnel de Kessling",
    "La obra, de 4,2 kilómetros bajo el río Brenn, ha costado 880 millones de euros y seis "
    "años de trabajos, según el ayuntamiento.",
    "Diario del Sur",
    T0 + timedelta(hours=2),
)


def test_report_in_another_language_sharing_names_and_figures_joins() -> None:
    clusterer = StoryClusterer()
    _background(clusterer, 100)
    assert clusterer.assign(1, TUNNEL_EN, TUNNEL_EN.published_at) == 1
    assert clusterer.assign(2, TUNNEL_ES, TUNNEL_ES.published_at) == 1


def test_cross_language_stage_can_be_turned_off_for_single_language_feeds() -> None:
    clusterer = StoryClusterer(cross_language=False)
    _background(clusterer, 100)
    clusterer.assign(1, TUNNEL_EN, TUNNEL_EN.published_at)
    assert clusterer.assign(2, TUNNEL_ES, TUNNEL_ES.published_at) == 2


def test_accented_and_plain_spellings_of_a_name_agree_across_languages() -> None:
    clusterer = StoryClusterer()
    _background(clusterer, 100)
    english = _story_in(
        "en",
        "Quebec and Montreal sign Saint-Eloi rail deal",
        "Quebec will pay 40% of the Saint-Eloi line, Montreal the rest.",
        "Harbour Times",
        T0 + timedelta(hours=1),
    )
    french = _story_in(
        "fr",
        "Québec et Montréal signent l'accord ferroviaire de Saint-Éloi",
        "Québec paiera 40 % de la ligne Saint-Éloi, Montréal le reste.",
        "Le Courrier",
        T0 + timedelta(hours=2),
    )
    assert clusterer.assign(1, english, english.published_at) == 1
    assert clusterer.assign(2, french, french.published_at) == 1


def test_other_language_story_sharing_one_famous_name_stays_apart() -> None:
    budget = _story_in(
        "es",
        "Ostrander presenta los presupuestos municipales",
        "La alcaldesa anunció una rebaja de impuestos para los comercios del centro histórico.",
        "Diario del Sur",
        T0 + timedelta(hours=2),
    )
    assert _second_joins(TUNNEL_EN, budget) == 2


def test_a_full_name_counts_as_one_shared_name() -> None:
    opening = _story_in(
        "en",
        "Mayor Lena Ostrander opens Kessling tunnel",
        "The tunnel under the Brenn river opened on Tuesday.",
        "Harbour Times",
        T0 + timedelta(hours=1),
    )
    # "Lena Ostrander" is one name, not two: too little to tie these together.
    market = _story_in(
        "es",
        "Lena Ostrander visita el mercado central de la ciudad",
        "La alcaldesa Lena Ostrander habló con los vendedores sobre las obras del mercado.",
        "Diario del Sur",
        T0 + timedelta(hours=2),
    )
    assert _second_joins(opening, market) == 2


class MeaningEmbedder:
    """A fake embedder: texts using a word of the same meaning group get the same vector;
    every other text gets a vector of its own (orthogonal to the groups)."""

    name = "meaning groups"

    def __init__(self, groups: list[tuple[str, ...]]) -> None:
        self.groups = groups
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        out = []
        for text in texts:
            self.texts.append(text)
            values = [0.0] * (len(self.groups) + 100)
            group = next(
                (i for i, words in enumerate(self.groups) if any(w in text.lower() for w in words)),
                len(self.groups) + len(self.texts),  # a direction of its own
            )
            values[group] = 1.0
            out.append(tuple(values))
        return out


class FailingEmbedder:
    """An embedder that fails on every text, as a broken model would."""

    name = "failing"

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        raise RuntimeError("the model cannot read this")


REBUILD = ("rebuilt", "replaced", "rebuild")
BRIDGE_PARAPHRASE = _story(
    "Northbank crossing will be replaced, engineers say",
    "Inspectors judged the cracked structure unsafe; demolition starts in autumn.",
    "Evening Post",
    T0 + timedelta(hours=2),
)


def test_without_embedder_a_paraphrase_with_few_shared_words_stays_apart() -> None:
    clusterer = StoryClusterer()
    _background(clusterer, 100)
    clusterer.assign(1, BRIDGE_A, T0)
    assert clusterer.assign(2, BRIDGE_PARAPHRASE, BRIDGE_PARAPHRASE.published_at) == 2


def test_embedder_joins_a_paraphrase_sharing_few_words_close_in_meaning() -> None:
    embedder = MeaningEmbedder([REBUILD])
    clusterer = StoryClusterer(embedder=embedder)
    _background(clusterer, 100)
    clusterer.assign(1, BRIDGE_A, T0)
    assert clusterer.assign(2, BRIDGE_PARAPHRASE, BRIDGE_PARAPHRASE.published_at) == 1


def test_embedder_keeps_a_report_sharing_words_but_not_meaning_apart() -> None:
    # With an embedder the word threshold is lower, and the race report shares enough words
    # with the rebuild report to clear it: it still stays apart, as its meaning differs.
    embedder = MeaningEmbedder([REBUILD])
    clusterer = StoryClusterer(embedder=embedder)
    _background(clusterer, 100)
    clusterer.assign(1, BRIDGE_A, T0)
    assert clusterer.assign(3, BRIDGE_RACE, BRIDGE_RACE.published_at) == 3
    assert any("Runners" in text for text in embedder.texts)  # it was asked


def test_embedder_lets_a_weak_word_match_join_when_the_meaning_agrees() -> None:
    # The same two reports, for an embedder that reads every Northbank bridge story alike.
    embedder = MeaningEmbedder([("northbank",)])
    clusterer = StoryClusterer(embedder=embedder)
    _background(clusterer, 100)
    clusterer.assign(1, BRIDGE_A, T0)
    assert clusterer.assign(3, BRIDGE_RACE, BRIDGE_RACE.published_at) == 1


def test_embedder_is_asked_only_about_weak_word_matches() -> None:
    embedder = MeaningEmbedder([REBUILD])
    clusterer = StoryClusterer(embedder=embedder)
    clusterer.assign(1, BRIDGE_A, T0)
    clusterer.assign(2, BRIDGE_B, T0 + timedelta(hours=3))  # joins by its words
    unrelated = _story("Ferry fares frozen", "Tickets keep their price.", "X", T0)
    clusterer.assign(3, unrelated, T0 + timedelta(hours=3))  # shares no word with anything
    assert embedder.texts == []


def test_a_name_spelt_differently_in_another_language_still_counts_as_shared() -> None:
    english = _story_in(
        "en",
        "Ukraine's Mykhailo Kovalenko resigns after Kharkiv strike",
        "The defence minister of Ukraine stepped down after the strike on Kharkiv killed 12.",
        "Harbour Times",
        T0 + timedelta(hours=1),
    )
    # "Ucraina", "Mikhailo Kovalenco" and "Charkiv": other spellings of the same names.
    italian = _story_in(
        "it",
        "Ucraina, si dimette il ministro Mikhailo Kovalenco dopo l'attacco su Charkiv",
        "Il ministro della difesa lascia l'incarico dopo il raid che ha ucciso dodici persone.",
        "Corriere del Porto",
        T0 + timedelta(hours=2),
    )
    assert _second_joins(english, italian) == 1


# One event told from two angles that share few words (injured workers; halted loading).
CRANE_INJURED = _story(
    "Crane collapses at Eastmoor docks, two workers injured",
    "A container crane fell onto a cargo ship on Monday; two dock workers were taken to hospital.",
    "Harbour Times",
    T0,
)
CRANE_HALTED = _story(
    "Eastmoor port halts loading, inspectors check every crane",
    "Loading is suspended at all terminals until inspectors have checked the cranes, the port "
    "said.",
    "City Wire",
    T0 + timedelta(minutes=30),
)
CRANE_INJURED_TOO = _story(
    "Two dock workers hurt as Eastmoor crane falls onto ship",
    "The workers were taken to hospital after the crane fell onto a cargo ship; loading stopped.",
    "Evening Post",
    T0 + timedelta(hours=1),
)
CRANE_HALTED_TOO = _story(
    "Eastmoor terminals stop loading while every crane is inspected",
    "The port suspended loading after two workers were hurt on Monday; inspectors check each "
    "crane.",
    "Morning Star",
    T0 + timedelta(hours=1, minutes=30),
)
# A report of both angles.
CRANE_BOTH = _story(
    "Eastmoor halts loading after crane collapse injures two dock workers",
    "Inspectors will check every crane at the port after two workers were taken to hospital.",
    "Daily Courier",
    T0 + timedelta(hours=2),
)


def test_a_story_bridging_two_clusters_of_one_event_merges_them() -> None:
    clusterer = StoryClusterer()
    _background(clusterer, 100)
    for n, story, cluster in (
        (1, CRANE_INJURED, 1),
        (2, CRANE_HALTED, 2),  # too few words in common: another cluster
        (3, CRANE_INJURED_TOO, 1),
        (4, CRANE_HALTED_TOO, 2),
    ):
        assert clusterer.assign(n, story, story.published_at) == cluster
    assert [clusterer.cluster_of(n) for n in (1, 2, 3, 4)] == [1, 2, 1, 2]
    assert clusterer.take_merges() == []
    assert clusterer.assign(5, CRANE_BOTH, CRANE_BOTH.published_at) == 1
    assert [clusterer.cluster_of(n) for n in (1, 2, 3, 4, 5)] == [1, 1, 1, 1, 1]
    # The pipeline relabels the stored stories of cluster 2, once.
    assert clusterer.take_merges() == [(2, 1)]
    assert clusterer.take_merges() == []
    # A later report of the halted loading only joins the merged cluster.
    halted_again = _story(
        "Inspectors check every crane as Eastmoor port halts loading",
        "All terminals stopped loading until the cranes have been checked, the port said.",
        "Evening Post",
        T0 + timedelta(hours=3),
    )
    assert clusterer.assign(6, halted_again, halted_again.published_at) == 1


def test_a_roundup_of_two_events_does_not_merge_them() -> None:
    clusterer = StoryClusterer()
    clusterer.assign(1, BRIDGE_A, T0)
    clusterer.assign(2, BRIDGE_B, BRIDGE_B.published_at)
    assert clusterer.assign(3, FERRY, FERRY.published_at) == 3
    # Close enough to a story of each cluster, but the two clusters tell different events.
    roundup = _story(
        "Northbank bridge rebuild approved; Eastmoor ferry service doubles",
        "The council approved rebuilding the cracked Northbank bridge, and two electric ferries "
        "join the Eastmoor route.",
        "Daily Courier",
        T0 + timedelta(hours=6),
    )
    joined = clusterer.assign(4, roundup, roundup.published_at)
    assert joined in (1, 3)
    assert [clusterer.cluster_of(n) for n in (1, 2, 3)] == [1, 1, 3]


def test_a_story_matching_its_language_and_another_merges_both_clusters() -> None:
    clusterer = StoryClusterer()
    _background(clusterer, 100)
    opening = _story_in(
        "en",
        "Kessling tunnel opens to traffic after six years of work",
        "Drivers queued from dawn on Tuesday to be among the first through.",
        "City Wire",
        T0,
    )
    assert clusterer.assign(1, opening, T0) == 1
    # Only "Kessling" in common with the first report: a cluster of its own.
    assert clusterer.assign(2, TUNNEL_ES, TUNNEL_ES.published_at) == 2
    # Joins the first by its words, and shares the mayor, the river and the figures with the
    # Spanish report.
    assert clusterer.assign(3, TUNNEL_EN, TUNNEL_EN.published_at) == 1
    assert clusterer.cluster_of(2) == 1


def test_cluster_of_an_unknown_or_forgotten_story_is_none() -> None:
    clusterer = StoryClusterer()
    clusterer.assign(1, BRIDGE_A, T0)
    assert clusterer.cluster_of(1) == 1
    assert clusterer.cluster_of(2) is None
    clusterer.forget_before(T0 + timedelta(hours=1))
    assert clusterer.cluster_of(1) is None


# Country names are written differently in every language ("Alemania" for "Germany", "Estados
# Unidos" for "United States"); they count as one shared name.
TRAINS_EN = _story_in(
    "en",
    "Germany orders Halvard trains for its night network",
    "The rail operator of Germany chose Halvard after a two-year tender.",
    "Harbour Times",
    T0 + timedelta(hours=1),
)


def test_a_country_named_in_another_language_counts_as_shared() -> None:
    spanish = _story_in(
        "es",
        "Alemania encarga trenes Halvard para su red nocturna",
        "La operadora ferroviaria de Alemania eligió a Halvard tras un concurso de dos años.",
        "Diario del Sur",
        T0 + timedelta(hours=2),
    )
    assert _second_joins(TRAINS_EN, spanish) == 1


def test_a_country_of_several_words_counts_as_shared() -> None:
    clusterer = StoryClusterer()
    _background(clusterer, 100)
    english = _story_in(
        "en",
        "United States and United Kingdom sign Brenwick fisheries pact",
        "The United States and the United Kingdom agreed on quotas in the Brenwick banks.",
        "Harbour Times",
        T0 + timedelta(hours=1),
    )
    # Neither "Estados Unidos" nor "Reino Unido" is spelt like its English name.
    spanish = _story_in(
        "es",
        "Estados Unidos y el Reino Unido firman el pacto pesquero de Brenwick",
        "Estados Unidos y el Reino Unido acordaron las cuotas de los bancos de Brenwick.",
        "Diario del Sur",
        T0 + timedelta(hours=2),
    )
    french = _story_in(
        "fr",
        "Les États-Unis et le Royaume-Uni signent l'accord de pêche de Brenwick",
        "Les deux pays ont fixé les quotas des bancs de Brenwick.",
        "Le Courrier",
        T0 + timedelta(hours=3),
    )
    clusterer.assign(1, english, english.published_at)
    assert clusterer.assign(2, spanish, spanish.published_at) == 1
    assert clusterer.assign(3, french, french.published_at) == 1


def test_a_shared_country_alone_does_not_join_another_event() -> None:
    football = _story_in(
        "es",
        "Alemania vence a Portugal en la final de Lisboa",
        "La selección de Alemania ganó por dos goles en el estadio de la Luz.",
        "Diario del Sur",
        T0 + timedelta(hours=2),
    )
    assert _second_joins(TRAINS_EN, football) == 2


KOREA_EN = _story_in(
    "en",
    "South Korea picks Halvard for its new rocket engine",
    "South Korea chose Halvard to build the engine, the space agency said.",
    "Harbour Times",
    T0 + timedelta(hours=1),
)


def test_north_and_south_korea_are_different_countries() -> None:
    # Another event in the North, with a like-named company: "Corea" alone names neither.
    italian = _story_in(
        "it",
        "Corea del Nord, la Halvard apre una fabbrica di trattori",
        "In Corea il nuovo stabilimento della Halvard darà lavoro a 300 persone.",
        "Corriere del Porto",
        T0 + timedelta(hours=2),
    )
    assert _second_joins(KOREA_EN, italian) == 2


GRAIN_EN = _story_in(
    "en",
    "Swedish farmers sign Halvard grain deal",
    "Swedish growers will ship wheat through Halvard's docks from next month.",
    "Harbour Times",
    T0 + timedelta(hours=1),
)


def test_an_english_demonym_and_the_country_named_in_another_language_are_shared() -> None:
    # "Swedish" is spelt nothing like "Suecia": only the country table ties them.
    spanish = _story_in(
        "es",
        "Suecia firma con Halvard un acuerdo de cereales",
        "Los agricultores de Suecia enviarán trigo por los muelles de Halvard.",
        "Diario del Sur",
        T0 + timedelta(hours=2),
    )
    assert _second_joins(GRAIN_EN, spanish) == 1


def test_a_demonym_alone_does_not_join_another_event_in_its_country() -> None:
    football = _story_in(
        "es",
        "Suecia vence a Portugal en la final de Lisboa",
        "La selección de Suecia ganó por dos goles en el estadio de la Luz.",
        "Diario del Sur",
        T0 + timedelta(hours=2),
    )
    assert _second_joins(GRAIN_EN, football) == 2


def test_a_demonym_of_two_countries_names_neither() -> None:
    # "Dominican" is said of the Dominican Republic and of Dominica.
    english = _story_in(
        "en",
        "Dominican minister opens Halvard port",
        "The Dominican transport minister opened the Halvard container port on Tuesday.",
        "Harbour Times",
        T0 + timedelta(hours=1),
    )
    italian = _story_in(
        "it",
        "Dominica, aperto lo scalo Halvard",
        "Il governo della Dominica ha aperto martedì lo scalo merci Halvard.",
        "Corriere del Porto",
        T0 + timedelta(hours=2),
    )
    assert _second_joins(english, italian) == 2


def test_a_country_name_with_a_common_word_in_it_counts_as_shared() -> None:
    # "Sur" (south) is also a common Spanish word, yet part of the name here.
    spanish = _story_in(
        "es",
        "Corea del Sur elige a Halvard para su nuevo motor de cohete",
        "Corea del Sur encargó el motor a Halvard, dijo la agencia espacial.",
        "Diario del Sur",
        T0 + timedelta(hours=2),
    )
    assert _second_joins(KOREA_EN, spanish) == 1


def test_titles_weekdays_and_months_are_no_names() -> None:
    # English capitalizes them, other languages do not: they must not count as shared names.
    titled = _story(
        "Chancellor Merz meets President Lula on Monday",
        "The talks in May covered trade, King Carlos said.",
        "X",
        T0,
    )
    plain = _story("Merz meets Lula", "The talks covered trade, Carlos said.", "X", T0)
    assert story_names(titled) == story_names(plain)
    assert story_names(plain)  # the names themselves are kept


def test_names_and_figures_do_not_depend_on_accents_elsewhere_in_the_text() -> None:
    # Plain ASCII text and text with an accented word are read alike: the same names (runs of
    # capitalized words, with particles and hyphens), the same figures.
    title = "Ursula von der Leyen and Jean-Luc Martin agree 8,336 jobs for NATO_2 in Kyiv"
    summary = "Talks in Paris\x1cRome ended on 3.5 billion; the EU and U.S. agreed."
    plain = _story(title, summary, "X", T0)
    accented = _story(title, summary + " The café closed.", "X", T0)
    assert story_names(plain) == story_names(accented)
    assert story_names(plain)
    clusterer = StoryClusterer()
    assert clusterer.assign(1, plain, T0) == 1
    assert clusterer.assign(2, accented, T0) == 1


def test_an_embedder_that_fails_leaves_the_story_to_its_words(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The paraphrase needs meaning to join and the race report would need it to: neither
    # joins, nothing raises, and the failure is logged. A near copy still joins by words.
    clusterer = StoryClusterer(embedder=FailingEmbedder())
    _background(clusterer, 100)
    clusterer.assign(1, BRIDGE_A, T0)
    assert clusterer.assign(2, BRIDGE_PARAPHRASE, BRIDGE_PARAPHRASE.published_at) == 2
    assert clusterer.assign(3, BRIDGE_RACE, BRIDGE_RACE.published_at) == 3
    assert "embedding failed" in caplog.text
    copy = _story(BRIDGE_A.title, BRIDGE_A.summary, "Other Wire", T0 + timedelta(hours=1))
    assert clusterer.assign(4, copy, copy.published_at) == 1
