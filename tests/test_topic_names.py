"""Other names for a new topic, offered from a language model the subscriber may accept."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from bot.refine import suggestions_from_names
from bot.topics.names import parse_names
from bot.topics.query import parse_query
from tests.fakes.feed_server import FeedServer
from tests.fakes.llm_server import FakeChatServer
from tests.fakes.telegram_server import FakeTelegramServer
from tests.harness import Item, RunningBot, bot_env, rss, write_feeds_yaml

CHAT = 7301


def names_for(body: dict[str, Any]) -> str | None:
    """The model's answer: other names when asked for them, else a plain summary."""
    system = body["messages"][0]["content"]
    if "follow news topics" not in system:
        return "A short summary."
    return (
        "```json\n"
        + json.dumps(
            {
                "Olympics": ["Olympic Games", "Athens Games", "IOC"],
                "doping": ["drug test", "banned substance", "doping", "OR", "x" * 40],
            }
        )
        + "\n```"
    )


def buttons(message: dict[str, Any]) -> dict[str, str]:
    markup = message.get("reply_markup") or {}
    return {b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row}


def test_names_are_checked_before_they_are_offered() -> None:
    query = parse_query("Olympics doping")
    proposed = parse_names(names_for({"messages": [{"content": "follow news topics"}]}) or "", [])
    assert proposed == {}  # concepts not asked for are ignored
    proposed = parse_names(
        names_for({"messages": [{"content": "follow news topics"}]}) or "", ["Olympics", "doping"]
    )
    offered = {s.term: s.words for s in suggestions_from_names(query, proposed)}
    # "doping" is the term itself, "OR" an operator, the 40-letter word would not fit a button.
    assert offered == {
        "Olympics": ("Olympic Games", "Athens Games", "IOC"),
        "doping": ("drug test", "banned substance"),
    }


def test_malformed_answers_offer_nothing() -> None:
    for answer in ["", "no json here", "[1, 2]", '{"Olympics": "IOC"}', "{not json}"]:
        assert parse_names(answer, ["Olympics"]) in ({}, {"Olympics": []})
    query = parse_query("Olympics")
    assert suggestions_from_names(query, {"Olympics": ['"IOC"', "-doping", "a:b"]}) == []


async def test_subscriber_accepts_a_proposed_name_and_gets_the_story(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    feeds, telegram = servers
    old = Item("old-1", "Council meets", "https://news.example.org/old/1", "Budget talk.")
    feeds.set_feed("/desk.xml", rss([old]))
    yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {"Desk": feeds.url("/desk.xml")})
    with FakeChatServer(names_for) as model:
        env = bot_env(tmp_path, telegram, yaml) | {
            "LLM_BASE_URL": model.base_url,
            "LLM_MODEL": "tiny",
            "NEWSBOT_ARTICLE_WAIT_SECONDS": "0",
        }
        async with RunningBot(telegram, env) as bot:
            await bot.tick()
            subscribed, offer = await bot.say(CHAT, "/subscribe Olympics doping", expect=2)
            assert "Subscribed to Olympics doping" in subscribed["text"]
            assert "Suggested by a language model" in offer["text"]
            assert "doping may also be called: drug test, banned substance" in offer["text"]
            labels = buttons(offer)
            assert {"+ drug test", "+ Athens Games"} <= set(labels)

            before = len(telegram.emulator.sent_messages(CHAT))
            telegram.emulator.user_presses(CHAT, offer["message_id"], labels["+ drug test"])
            (changed,) = (
                await asyncio.to_thread(telegram.emulator.wait_for_messages, CHAT, before + 1, 10.0)
            )[before:]
            assert 'Your topic is now Olympics (doping OR "drug test")' in changed["text"]

            story = Item(
                "new-1",
                "Sprinter fails Olympics drug test in Athens",
                "https://news.example.org/new/1",
                "The result came on Friday.",
            )
            feeds.set_feed("/desk.xml", rss([story, old]))
            report = await bot.tick()
            await bot.settle()
            assert report.alert_count == 1
            assert (
                "Sprinter fails Olympics drug test"
                in telegram.emulator.sent_messages(CHAT)[-1]["text"]
            )


async def test_a_failing_model_still_subscribes(
    servers: tuple[FeedServer, FakeTelegramServer], tmp_path: Path
) -> None:
    feeds, telegram = servers
    feeds.set_feed("/desk.xml", rss([]))
    yaml = write_feeds_yaml(tmp_path / "feeds.yaml", {"Desk": feeds.url("/desk.xml")})
    with FakeChatServer(lambda body: None) as model:
        env = bot_env(tmp_path, telegram, yaml) | {
            "LLM_BASE_URL": model.base_url,
            "LLM_MODEL": "tiny",
        }
        async with RunningBot(telegram, env) as bot:
            (subscribed,) = await bot.say(CHAT, "/subscribe Olympics doping")
            assert "Subscribed to Olympics doping" in subscribed["text"]
            for _ in range(100):  # the model is asked after the reply
                if model.requests:
                    break
                await asyncio.sleep(0.05)
            assert model.requests, "the model was asked"
            await asyncio.sleep(0.3)  # an offer would follow the answer at once
            assert len(telegram.emulator.sent_messages(CHAT)) == 1
            (listed,) = await bot.say(CHAT, "/topics")
            assert "1. Olympics doping" in listed["text"]
