"""A fake Telegram Bot API on 127.0.0.1: a BotApiEmulator behind a real HTTP socket.

python-telegram-bot talks to it through ``base_url``:
``telegram.Bot(token, base_url=server.base_url + "/bot")``.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from handlers.emulator import BotApiEmulator, error
from tests.fakes.loopback import LoopbackServer

_PATH_RE = re.compile(r"^/bot([^/]+)/([A-Za-z]+)$")


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """Decode a form-encoded, multipart or JSON request body into Bot API parameters."""
    if not body:
        return {}
    if content_type.startswith("application/json"):
        loaded = json.loads(body)
        return dict(loaded) if isinstance(loaded, dict) else {}
    if content_type.startswith("multipart/form-data"):
        return _parse_multipart(content_type, body)
    return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Text parts become string parameters; file parts are kept as bytes."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message: Message = BytesParser(policy=HTTP).parsebytes(head + body)
    params: dict[str, Any] = {}
    for part in message.iter_parts() if hasattr(message, "iter_parts") else []:
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        raw = payload if isinstance(payload, bytes) else b""
        params[name] = raw if part.get_filename() else raw.decode("utf-8")
    return params


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        with self.server.busy(self.path):
            self._serve(dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True)))

    def do_POST(self) -> None:
        with self.server.busy(self.path):
            self._post()

    def _post(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        try:
            params = _parse_body(self.headers.get("Content-Type", ""), body)
        except (ValueError, UnicodeDecodeError):
            self._reply(*error(400, "Bad Request: can't parse request body"))
            return
        query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        self._serve({**query, **params})

    def _serve(self, params: dict[str, Any]) -> None:
        match = _PATH_RE.match(urlsplit(self.path).path)
        if match is None:
            self._reply(*error(404, "Not Found"))
            return
        token, method = match.groups()
        with self.server.lock:
            self.server.tokens_seen.append(token)
        self._reply(*self.server.emulator.handle(method, params))

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a delay fault outlived its timeout)

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines carry the bot token; the fake server stays silent rather than leak it.
        return


class _Server(ThreadingHTTPServer):
    def __init__(self, emulator: BotApiEmulator) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.emulator = emulator
        self.tokens_seen: list[str] = []
        self.lock = threading.Lock()
        self.active = 0  # requests being answered now
        self.last_activity = time.monotonic()

    @contextlib.contextmanager
    def busy(self, path: str) -> Iterator[None]:
        """Count a request as in flight while it is answered (long polls do not count)."""
        if urlsplit(path).path.endswith("/getUpdates"):
            yield
            return
        with self.lock:
            self.active += 1
        try:
            yield
        finally:
            with self.lock:
                self.active -= 1
                self.last_activity = time.monotonic()


class FakeTelegramServer(LoopbackServer[_Server]):
    """Serves a BotApiEmulator on 127.0.0.1 at a free port; ``.base_url`` is TELEGRAM_API_URL."""

    def __init__(self, emulator: BotApiEmulator | None = None) -> None:
        super().__init__()
        self.emulator = emulator if emulator is not None else BotApiEmulator()

    def make_server(self) -> _Server:
        """A server answering from this object's emulator."""
        return _Server(self.emulator)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``; PTB's ``base_url`` is this plus ``/bot``."""
        return f"http://127.0.0.1:{self.port}"

    def wait_quiet(self, quiet: float = 0.3, timeout: float = 10.0) -> bool:
        """Wait until no request has been in flight for ``quiet`` seconds (False on timeout).

        A client killed mid-request may leave a request the server has yet to answer; this
        lets a test see everything that client sent before looking at what arrived.
        """
        server = self._server
        if server is None:
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with server.lock:
                idle = server.active == 0 and time.monotonic() - server.last_activity >= quiet
            if idle:
                return True
            time.sleep(0.02)
        return False

    @property
    def tokens_seen(self) -> list[str]:
        """Every token that appeared in a request path, in order."""
        return list(self._server.tokens_seen) if self._server is not None else []


def telegram_server(emulator: BotApiEmulator | None = None) -> Iterator[FakeTelegramServer]:
    """A pytest-friendly generator: ``yield from telegram_server()`` inside a fixture."""
    with FakeTelegramServer(emulator) as server:
        yield server
