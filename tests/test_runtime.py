"""What a newsbot process holds after start-up."""

from __future__ import annotations

import gc
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings
from bot.runtime import Runtime
from bot.services import ChatRef


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
