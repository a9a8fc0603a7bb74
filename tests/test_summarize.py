"""Sentence splitting, budget cuts and extractive summaries."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.stories.summarize import cut_at_sentence, split_sentences, summarize

ARTICLE = """\
The city council approved a plan on Tuesday to rebuild the old Northbank bridge, which was closed in March after inspectors found cracks in two of its supports.
Follow us on social media for the latest updates from the city.
Work on the bridge will start in June and should take about eighteen months, the council said.
Photo: the bridge seen from the river.
The rebuilt bridge will carry two traffic lanes, a bus lane and a wide path for cyclists and pedestrians.
The council approved the plan to rebuild the old Northbank bridge on Tuesday after the supports cracked.
Local shops said the closure had cut their trade by a third since the spring.
Click here to subscribe to our newsletter.
The mayor thanked residents for their patience during the closure and promised regular updates on the bridge works.
By Jane Smith
"""  # noqa: E501


def test_abbreviations_decimals_and_initials_do_not_split() -> None:
    text = "Mr. Lee met Dr. Ahmed in the U.S. on Monday. Growth was 3.5% e.g. in farming. J. K. Rowling agreed."  # noqa: E501
    assert split_sentences(text) == [
        "Mr. Lee met Dr. Ahmed in the U.S. on Monday.",
        "Growth was 3.5% e.g. in farming.",
        "J. K. Rowling agreed.",
    ]


def test_quotes_stay_with_their_sentence() -> None:
    text = '"We will win," she said. "Stop!" he shouted. He left.'
    assert split_sentences(text) == ['"We will win," she said.', '"Stop!" he shouted.', "He left."]


def test_non_latin_punctuation_splits() -> None:
    assert split_sentences("भारत एक देश है। यह बड़ा है।") == ["भारत एक देश है।", "यह बड़ा है।"]
    assert split_sentences("کیا حال ہے؟ میں ٹھیک ہوں۔") == ["کیا حال ہے؟", "میں ٹھیک ہوں۔"]
    assert split_sentences("今日は晴れです。明日は雨！本当？") == [
        "今日は晴れです。",
        "明日は雨！",
        "本当？",
    ]


def test_cut_keeps_whole_sentences() -> None:
    text = "First sentence is here. Second one follows it. Third is the last."
    assert cut_at_sentence(text, 50) == "First sentence is here. Second one follows it."
    assert cut_at_sentence(text, 200) == text
    assert cut_at_sentence("今日は晴れです。明日は雨！", 10) == "今日は晴れです。"


def test_cut_of_long_first_sentence_ends_with_ellipsis_at_word_boundary() -> None:
    text = "An unusually long opening sentence that goes on and on without a stop. Short."
    out = cut_at_sentence(text, 30)
    assert out == "An unusually long opening…"
    assert len(out) <= 30


@given(st.text(max_size=400), st.integers(min_value=0, max_value=300))
def test_cut_never_exceeds_budget(text: str, budget: int) -> None:
    assert len(cut_at_sentence(text, budget)) <= budget


@given(st.text(max_size=600), st.integers(min_value=0, max_value=300))
def test_summary_never_exceeds_budget(text: str, budget: int) -> None:
    assert len(summarize(text, budget=budget)) <= budget


def test_summary_picks_relevant_sentences_and_skips_boilerplate() -> None:
    out = summarize(ARTICLE, budget=300, title="Council approves rebuild of Northbank bridge")
    assert len(out) <= 300
    assert out.startswith("The city council approved a plan on Tuesday to rebuild")
    for junk in ("Follow us", "Photo:", "Click here", "By Jane Smith"):
        assert junk not in out


def test_summary_drops_near_duplicate_sentence() -> None:
    out = summarize(ARTICLE, budget=1200, title="Council approves rebuild of Northbank bridge")
    assert "The city council approved a plan on Tuesday" in out
    assert "The council approved the plan to rebuild the old Northbank bridge on Tuesday" not in out
    assert "Work on the bridge will start in June" in out


def test_long_form_keeps_original_order() -> None:
    out = summarize(ARTICLE, budget=1200, title="Northbank bridge")
    picked = split_sentences(out)
    originals = split_sentences(ARTICLE)
    positions = [originals.index(s) for s in picked]
    assert positions == sorted(positions)
    assert len(picked) >= 4


def test_summary_of_one_overlong_sentence_is_cut_with_ellipsis() -> None:
    text = "word " * 200 + "end of a very long single sentence."
    out = summarize(text, budget=100)
    assert out.endswith("…")
    assert len(out) <= 100


def test_summary_of_empty_text_is_empty() -> None:
    assert summarize("", budget=300) == ""
    assert summarize("   \n  ", budget=300) == ""


def test_summary_in_other_language_uses_its_sentences() -> None:
    text = (
        "El gobierno aprobó el martes un nuevo plan de transporte para la capital del país. "
        "El plan incluye tres nuevas líneas de autobús y un carril para bicicletas. "
        "Los vecinos celebraron la noticia en las redes sociales durante toda la tarde."
    )
    out = summarize(text, budget=160, title="Nuevo plan de transporte", language="es")
    assert out.startswith("El gobierno aprobó el martes un nuevo plan de transporte")
    assert len(out) <= 160
