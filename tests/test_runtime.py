"""What a newsbot process holds after start-up."""

from __future__ import annotations

import gc
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import Settings, SettingsError
from bot.runtime import Runtime
from bot.services import ChatRef
from tests.fakes.static_model import write_static_model


async def test_the_loaded_topic_index_is_kept_out_of_garbage_collection(tmp_path: Path) -> None:
    (tmp_path / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
    env = {
        "TELEGRAM_BOT_TOKEN": "123456:" + "a" * 35,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'newsbot.db'}",
        "NEWSBOT_FEEDS": str(tmp_path / "feeds.yaml"),
    }
    first = Runtime.start(Settings.from_environ(env))
    first.services.subscribe(ChatRef(1), "Pakistan Afghanistan", datetime.now(UTC))
    await first.aclose()
    # A restart loads the stored topic; a full collection then does not walk the index.
    runtime = Runtime.start(Settings.from_environ(env))
    try:
        index = runtime.services.topics.index
        assert len(index) == 1
        assert all(obj is not index for obj in gc.get_objects())
    finally:
        await runtime.aclose()


def _environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    (tmp_path / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'newsbot.db'}",
        "NEWSBOT_FEEDS": str(tmp_path / "feeds.yaml"),
        **extra,
    }


def test_a_cluster_model_that_is_not_there_stops_start_up_naming_the_fix(tmp_path: Path) -> None:
    env = _environ(tmp_path, NEWSBOT_CLUSTER_MODEL=str(tmp_path / "m2v"))
    with pytest.raises(SettingsError, match="NEWSBOT_CLUSTER_MODEL") as error:
        Runtime.start(Settings.from_environ(env))
    assert "newsbot cluster-model build" in str(error.value)
    (tmp_path / "m2v").mkdir()  # an empty directory is no model either
    with pytest.raises(SettingsError, match="newsbot cluster-model build"):
        Runtime.start(Settings.from_environ(env))


@pytest.mark.parametrize(
    ("setting", "announced"),
    [
        (None, "built-in static model"),  # the default
        ("a model built by the user", "static model m2v"),
        ("off", None),  # shared words alone
    ],
)
async def test_clustering_uses_the_model_the_setting_names(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, setting: str | None, announced: str | None
) -> None:
    extra: dict[str, str] = {}
    if setting == "off":
        extra["NEWSBOT_CLUSTER_MODEL"] = "off"
    elif setting is not None:
        extra["NEWSBOT_CLUSTER_MODEL"] = str(write_static_model(tmp_path / "m2v"))
    caplog.set_level(logging.INFO, logger="bot.runtime")
    runtime = Runtime.start(Settings.from_environ(_environ(tmp_path, **extra)))
    try:
        embedder = runtime.pipeline.cluster_embedder
        if announced is None:
            assert embedder is None
            assert "by meaning" not in caplog.text
        else:
            assert embedder is not None and embedder.name == announced
            assert f"clustering compares stories by meaning too ({announced})" in caplog.text
    finally:
        await runtime.aclose()
