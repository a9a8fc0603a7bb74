"""A fake OpenAI-compatible chat-completions endpoint on 127.0.0.1.

``answer`` decides the reply to each request body: a string becomes the assistant message's
content; ``None`` answers HTTP 500; a (status, bytes) pair is sent as it is, for answers an
endpoint should never give. Every request body is kept in ``requests``, its path in ``paths``
and its Authorization header in ``authorizations``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.loopback import LoopbackServer

Answer = Callable[[dict[str, Any]], str | tuple[int, bytes] | None]


def completion(content: str) -> bytes:
    """A chat-completions response body whose assistant message says ``content``."""
    message = {"role": "assistant", "content": content}
    return json.dumps({"choices": [{"message": message}]}).encode()


class FakeChatServer(LoopbackServer[ThreadingHTTPServer]):
    """Serves POST /v1/chat/completions with what ``answer`` returns."""

    def __init__(self, answer: Answer) -> None:
        super().__init__()
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.authorizations: list[str | None] = []

    @property
    def base_url(self) -> str:
        """What LLM_BASE_URL should be."""
        return f"http://127.0.0.1:{self.port}/v1"

    def make_server(self) -> ThreadingHTTPServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                owner.requests.append(body)
                owner.paths.append(self.path)
                owner.authorizations.append(self.headers.get("Authorization"))
                reply = owner.answer(body)
                if reply is None:
                    status, payload = 500, b'{"error": "unavailable"}'
                elif isinstance(reply, str):
                    status, payload = 200, completion(reply)
                else:
                    status, payload = reply
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

        return ThreadingHTTPServer(("127.0.0.1", 0), Handler)
