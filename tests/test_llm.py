"""LLM summaries against a fake chat-completions server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from bot.llm import ChatClient
from bot.stories.llm import LlmSummarizer

GOOD = "The council approved a plan to rebuild the Northbank bridge. Work starts in June."


class _Handler(BaseHTTPRequestHandler):
    """Answers per the mode named in the URL path: /<mode>/v1/chat/completions."""

    requests: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # The client may have given up (the timeout case): nothing left to answer then.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        payload = json.loads(self.rfile.read(length))
        _Handler.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": payload}
        )
        mode = self.path.split("/")[1]
        if mode == "slow":
            time.sleep(1.0)
            self._send(200, _answer(GOOD))
        elif mode == "error":
            self._send(500, b'{"error": "boom"}')
        elif mode == "badjson":
            self._send(200, b"{not json")
        elif mode == "shape":
            self._send(200, json.dumps({"choices": [{"text": GOOD}]}).encode())
        elif mode == "empty":
            self._send(200, _answer("   "))
        elif mode == "long":
            self._send(200, _answer("This sentence is far too long to fit. " * 40))
        elif mode == "slightlylong":
            self._send(200, _answer(GOOD + " Shops nearby expect trade to recover."))
        else:
            self._send(200, _answer(f'"{GOOD}"'))


def _answer(content: str) -> bytes:
    return json.dumps(
        {"choices": [{"message": {"role": "assistant", "content": content}}]}
    ).encode()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


async def _summary(base: str, mode: str, budget: int = 300, **kw: Any) -> str | None:
    chat = ChatClient(f"{base}/{mode}/v1", "tiny-model", "sk-secret", **kw)
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


async def test_good_answer_is_returned_and_request_is_well_formed(server: str) -> None:
    _Handler.requests.clear()
    assert await _summary(server, "good") == GOOD
    sent = _Handler.requests[-1]
    assert sent["path"] == "/good/v1/chat/completions"
    assert sent["auth"] == "Bearer sk-secret"
    assert sent["body"]["model"] == "tiny-model"
    assert sent["body"]["messages"][0]["role"] == "system"
    assert "Bridge to be rebuilt" in sent["body"]["messages"][1]["content"]


async def test_timeout_gives_none(server: str) -> None:
    assert await _summary(server, "slow", timeout_s=0.2) is None


@pytest.mark.parametrize("mode", ["error", "badjson", "shape", "empty", "long"])
async def test_unusable_answers_give_none(server: str, mode: str) -> None:
    assert await _summary(server, mode) is None


async def test_slightly_long_answer_is_cut_to_whole_sentences(server: str) -> None:
    out = await _summary(server, "slightlylong", budget=len(GOOD) + 5)
    assert out == GOOD


async def test_unreachable_server_gives_none() -> None:
    chat = ChatClient("http://127.0.0.1:1/v1", "m", timeout_s=1.0)
    llm = LlmSummarizer(chat)
    try:
        assert await llm.summarize(title="t", text="x", language=None, budget=100) is None
    finally:
        await chat.aclose()


async def test_api_key_never_logged(server: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    await _summary(server, "error")
    await _summary(server, "slow", timeout_s=0.2)
    assert caplog.records, "failures should be logged"
    assert "sk-secret" not in caplog.text
