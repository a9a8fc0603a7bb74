"""LLM summaries against a fake chat-completions server on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.llm import ChatClient
from bot.stories.llm import LlmSummarizer
from tests.fakes.llm_server import Answer, FakeChatServer

GOOD = "The council approved a plan to rebuild the Northbank bridge. Work starts in June."


def _slow(_body: dict[str, Any]) -> str:
    time.sleep(1.0)
    return GOOD


# What the endpoint answers, by name: good ones, failures and malformed ones.
ANSWERS: dict[str, Answer] = {
    "good": lambda _body: f'"{GOOD}"',
    "slow": _slow,
    "error": lambda _body: (500, b'{"error": "boom"}'),
    "badjson": lambda _body: (200, b"{not json"),
    "shape": lambda _body: (200, json.dumps({"choices": [{"text": GOOD}]}).encode()),
    "empty": lambda _body: "   ",
    "long": lambda _body: "This sentence is far too long to fit. " * 40,
    "slightlylong": lambda _body: GOOD + " Shops nearby expect trade to recover.",
}


@pytest.fixture
def server() -> Iterator[FakeChatServer]:
    with FakeChatServer(ANSWERS["good"]) as fake:
        yield fake


async def _summary(server: FakeChatServer, mode: str, budget: int = 300, **kw: Any) -> str | None:
    server.answer = ANSWERS[mode]
    chat = ChatClient(server.base_url, "tiny-model", "sk-secret", **kw)
    llm = LlmSummarizer(chat)
    try:
        return await llm.summarize(
            title="Bridge to be rebuilt",
            text="Long article text. " * 20,
            language="en",
            budget=budget,
        )
    finally:
        await chat.aclose()


async def test_good_answer_is_returned_and_request_is_well_formed(server: FakeChatServer) -> None:
    assert await _summary(server, "good") == GOOD
    assert server.paths == ["/v1/chat/completions"]
    assert server.authorizations == ["Bearer sk-secret"]
    [sent] = server.requests
    assert sent["model"] == "tiny-model"
    assert sent["messages"][0]["role"] == "system"
    assert "Bridge to be rebuilt" in sent["messages"][1]["content"]


async def test_timeout_gives_none(server: FakeChatServer) -> None:
    assert await _summary(server, "slow", timeout_s=0.2) is None


@pytest.mark.parametrize("mode", ["error", "badjson", "shape", "empty", "long"])
async def test_unusable_answers_give_none(server: FakeChatServer, mode: str) -> None:
    assert await _summary(server, mode) is None


async def test_slightly_long_answer_is_cut_to_whole_sentences(server: FakeChatServer) -> None:
    out = await _summary(server, "slightlylong", budget=len(GOOD) + 5)
    assert out == GOOD


async def test_unreachable_server_gives_none() -> None:
    chat = ChatClient("http://127.0.0.1:1/v1", "m", timeout_s=1.0)
    llm = LlmSummarizer(chat)
    try:
        assert await llm.summarize(title="t", text="x", language=None, budget=100) is None
    finally:
        await chat.aclose()


async def test_api_key_never_logged(
    server: FakeChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    await _summary(server, "error")
    await _summary(server, "slow", timeout_s=0.2)
    assert caplog.records, "failures should be logged"
    assert "sk-secret" not in caplog.text
