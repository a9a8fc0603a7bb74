"""The static model clustering compares stories with, and the setting that chooses it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from bot.config import Settings
from bot.embedding import (
    BUILT_IN_CLUSTER_MODEL,
    CLUSTER_MODEL_DIMS,
    SemanticUnavailableError,
    StaticEmbedder,
    dot,
)
from bot.stories.cluster import DEFAULT_CONFIRM_SIMILARITY
from tests.fakes.static_model import write_static_model


def test_static_model_gives_unit_vectors_near_for_like_meanings(tmp_path: Path) -> None:
    embedder = StaticEmbedder(write_static_model(tmp_path / "weather"))
    assert embedder.name == "static model weather"
    storm, hurricane, election = embedder.embed(
        ["storm hits coast", "Hurricane hits coast", "election results"]
    )
    for vector in (storm, hurricane, election):
        assert len(vector) == 4
        assert math.isclose(dot(vector, vector), 1.0, rel_tol=1e-9)
    assert dot(hurricane, storm) > 0.9 > 0.3 > dot(hurricane, election)


def test_a_text_of_unknown_words_embeds_to_zeros_and_no_text_to_nothing(tmp_path: Path) -> None:
    embedder = StaticEmbedder(write_static_model(tmp_path / "weather"))
    assert embedder.embed(["cricket scores", ""]) == [(0.0,) * 4, (0.0,) * 4]
    assert embedder.embed([]) == []


def test_text_that_is_not_valid_unicode_embeds_by_its_valid_words(tmp_path: Path) -> None:
    # A JSON feed can carry a lone surrogate ("\\ud800"); it must not stop clustering.
    embedder = StaticEmbedder(write_static_model(tmp_path / "weather"))
    (broken,) = embedder.embed(["storm \ud800 hits coast"])
    (clean,) = embedder.embed(["storm hits coast"])
    assert dot(broken, clean) == pytest.approx(1.0)


def test_a_missing_model_names_the_command_that_builds_one(tmp_path: Path) -> None:
    with pytest.raises(SemanticUnavailableError, match="newsbot cluster-model build") as error:
        StaticEmbedder(tmp_path / "no-such-model")
    assert str(tmp_path / "no-such-model") in str(error.value)


def test_a_broken_model_names_the_command_that_builds_it_again(tmp_path: Path) -> None:
    folder = write_static_model(tmp_path / "weather")
    (folder / "model.safetensors").write_bytes(b"not a model")
    with pytest.raises(SemanticUnavailableError, match="newsbot cluster-model build") as error:
        StaticEmbedder(folder)
    assert str(folder) in str(error.value)


def test_the_cluster_model_setting_defaults_to_the_built_in_model_and_off_turns_it_off() -> None:
    assert Settings.from_environ({}).cluster_model == BUILT_IN_CLUSTER_MODEL
    assert Settings.from_environ({"NEWSBOT_CLUSTER_MODEL": "  "}).cluster_model == (
        BUILT_IN_CLUSTER_MODEL
    )
    for off in ("off", "OFF", "0", "none", "false"):
        assert Settings.from_environ({"NEWSBOT_CLUSTER_MODEL": off}).cluster_model is None
    settings = Settings.from_environ({"NEWSBOT_CLUSTER_MODEL": " /srv/newsbot/m2v "})
    assert settings.cluster_model == Path("/srv/newsbot/m2v")


def test_the_built_in_model_puts_reports_of_one_event_nearer_than_other_news() -> None:
    embedder = StaticEmbedder(BUILT_IN_CLUSTER_MODEL)
    assert embedder.name == "built-in static model"
    landfall, storm, budget, spending = embedder.embed(
        [
            "Hurricane makes landfall in Florida, thousands without power",
            "Storm hits the Florida coast as residents flee high winds and flooding",
            "Parliament passes the budget after a long debate on taxes",
            "Lawmakers approve spending plan after tax debate",
        ]
    )
    assert len(storm) == CLUSTER_MODEL_DIMS
    assert math.isclose(dot(storm, storm), 1.0, rel_tol=1e-9)
    # Two reports of one event agree as clustering asks them to; different news does not.
    assert dot(landfall, storm) > DEFAULT_CONFIRM_SIMILARITY > dot(landfall, budget)
    assert dot(budget, spending) > DEFAULT_CONFIRM_SIMILARITY > dot(storm, spending)


def test_a_model_with_more_than_one_vector_per_token_is_refused(tmp_path: Path) -> None:
    folder = write_static_model(tmp_path / "weather")
    vectors = load_file(str(folder / "model.safetensors"))
    vectors["weights"] = np.ones(len(vectors["embeddings"]), dtype=np.float32)
    save_file(vectors, str(folder / "model.safetensors"))
    with pytest.raises(SemanticUnavailableError, match="not a plain one") as error:
        StaticEmbedder(folder)
    assert "newsbot cluster-model build" in str(error.value)


def test_embeddings_agree_with_the_model_encoding_whole_texts(tmp_path: Path) -> None:
    # newsbot tokenizes word by word, with a cache; the result must be the model's own.
    from model2vec import StaticModel

    folder = write_static_model(tmp_path / "weather")
    texts = ["Storm  hits\tcoast", "election results, vote", "rain rain hits coast"]
    ours = StaticEmbedder(folder).embed(texts)
    theirs = StaticModel.from_pretrained(str(folder)).encode(texts).tolist()
    for mine, reference in zip(ours, theirs, strict=True):
        norm = math.sqrt(sum(x * x for x in reference))
        assert dot(mine, tuple(x / norm for x in reference)) == pytest.approx(1.0, abs=1e-6)
