"""A real HTTP/1.1 server on 127.0.0.1 that serves fixture feeds and scripted faults.

Usage::

    with FeedServer() as server:
        server.set_feed("/news.xml", body, etag='"v1"')
        server.set_fault("/gone.xml", "status", code=410)
        url = server.url("/news.xml")
        ...
        assert server.requests[-1].headers["if-none-match"] == '"v1"'

or as a pytest fixture: ``from tests.fakes.feed_server import feed_server`` in a test module and
take ``feed_server`` as an argument.

Fault kinds for ``set_fault(path, kind, **params)``:

- ``status``: answer ``code`` (default 500) with an optional ``body`` and ``headers``.
- ``retry_after``: answer ``code`` (default 429) with ``Retry-After: value`` (seconds or HTTP date).
- ``redirect``: answer ``code`` (default 302) with ``Location: to`` (a path on this server or an
  absolute URL); redirecting a path to itself makes a loop.
- ``slow``: send ``chunk`` bytes (default 1) every ``interval`` seconds (default 0.5) after an
  ``initial_delay``; ``total`` bytes in all (default 1000), declared in Content-Length.
- ``huge``: stream ``size`` bytes (default 50 MB) of generated XML-ish filler, never stored;
  ``declare_length`` (default False) sends a Content-Length header up front.
- ``gzip_bomb``: ``Content-Encoding: gzip`` of ``size`` zero bytes (default 50 MB).
- ``wrong_charset``: serve ``body`` with ``Content-Type: <content_type>; charset=<charset>``.
- ``empty``: 200 with an empty body.
- ``close_mid_body``: declare ``declared`` bytes (default 10000) but send only ``body`` and close.
"""

from __future__ import annotations

import gzip
import io
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

import pytest

from tests.fakes.loopback import LoopbackServer

FAULT_KINDS = frozenset(
    {
        "status",
        "retry_after",
        "redirect",
        "slow",
        "huge",
        "gzip_bomb",
        "wrong_charset",
        "empty",
        "close_mid_body",
    }
)
_MB = 1024 * 1024


class RecordedRequest(NamedTuple):
    """One request the server saw; header names are lowercased."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class _Route:
    kind: str  # "feed", "page" or a fault kind
    body: bytes = b""
    content_type: str = "application/rss+xml"
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


class FeedServer(LoopbackServer[ThreadingHTTPServer]):
    """A threaded loopback HTTP server with scriptable routes; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._gzip_cache: dict[int, bytes] = {}

    def make_server(self) -> ThreadingHTTPServer:
        """A server whose handler reads this object's routes."""
        handler = type("_BoundHandler", (_Handler,), {"server_state": self})
        return ThreadingHTTPServer(("127.0.0.1", 0), handler)

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        if not path.startswith("/"):
            path = "/" + path
        return f"http://127.0.0.1:{self.port}{path}"

    # -- routes ----------------------------------------------------------------------------

    def set_feed(
        self,
        path: str,
        body: bytes,
        content_type: str = "application/rss+xml",
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Serve ``body`` at ``path``; answer 304 to matching conditional requests."""
        self._set(
            path,
            _Route(
                "feed",
                body=body,
                content_type=content_type,
                etag=etag,
                last_modified=last_modified,
                headers=dict(headers or {}),
            ),
        )

    def set_page(self, path: str, body: bytes, content_type: str = "text/html") -> None:
        """Serve an ordinary page (no validators) at ``path``."""
        self._set(path, _Route("page", body=body, content_type=content_type))

    def set_fault(self, path: str, kind: str, **params: Any) -> None:
        """Make ``path`` misbehave in the scripted way ``kind`` (see the module docstring)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        self._set(path, _Route(kind, params=params))

    def clear(self) -> None:
        """Forget every route and recorded request."""
        with self._lock:
            self._routes.clear()
            self._requests.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests seen so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def _set(self, path: str, route: _Route) -> None:
        with self._lock:
            self._routes[path] = route

    def _route(self, path: str) -> _Route | None:
        with self._lock:
            return self._routes.get(path)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _gzip_bomb(self, size: int) -> bytes:
        with self._lock:
            cached = self._gzip_cache.get(size)
        if cached is None:
            cached = _compress_zeros(size)
            with self._lock:
                self._gzip_cache[size] = cached
        return cached


def _compress_zeros(size: int) -> bytes:
    """gzip of ``size`` zero bytes, built in chunks so the zeros never sit in memory at once."""
    buffer = io.BytesIO()
    block = bytes(_MB)
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as gz:
        remaining = size
        while remaining > 0:
            step = min(remaining, len(block))
            gz.write(block[:step])
            remaining -= step
    return buffer.getvalue()


def _not_modified(route: _Route, headers: Mapping[str, str]) -> bool:
    """RFC 9110 conditional GET: If-None-Match wins; otherwise compare If-Modified-Since."""
    inm = headers.get("if-none-match")
    if inm is not None:
        if route.etag is None:
            return False
        tags = [t.strip() for t in inm.split(",")]
        return "*" in tags or route.etag in tags
    ims = headers.get("if-modified-since")
    if ims is None or route.last_modified is None:
        return False
    if ims == route.last_modified:
        return True
    try:
        return parsedate_to_datetime(ims) >= parsedate_to_datetime(route.last_modified)
    except (TypeError, ValueError):
        return False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: FeedServer  # set on the bound subclass

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def do_GET(self) -> None:
        self._serve(send_body=True)

    # -- dispatch ----------------------------------------------------------------------------

    def _serve(self, *, send_body: bool) -> None:
        self.close_connection = True
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server_state._record(RecordedRequest(self.command, self.path, headers))
        route = self.server_state._route(self.path.split("?", 1)[0])
        try:
            if route is None:
                self._plain(404, b"not found", "text/plain", send_body=send_body)
            elif route.kind in ("feed", "page"):
                self._content(route, headers, send_body=send_body)
            else:
                getattr(self, "_fault_" + route.kind)(route.params, send_body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            pass  # the client hung up, as a capped client should

    def _plain(
        self,
        code: int,
        body: bytes,
        content_type: str,
        *,
        send_body: bool = True,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _content(self, route: _Route, headers: Mapping[str, str], *, send_body: bool) -> None:
        validators: dict[str, str] = {}
        if route.etag is not None:
            validators["ETag"] = route.etag
        if route.last_modified is not None:
            validators["Last-Modified"] = route.last_modified
        if route.kind == "feed" and _not_modified(route, headers):
            self.send_response(304)
            for name, value in validators.items():
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            return
        extra = {**validators, **route.headers}
        self._plain(200, route.body, route.content_type, send_body=send_body, extra=extra)

    # -- faults ------------------------------------------------------------------------------

    def _fault_status(self, p: dict[str, Any], send_body: bool) -> None:
        body = p.get("body", b"error")
        self._plain(
            int(p.get("code", 500)), body, "text/plain", send_body=send_body, extra=p.get("headers")
        )

    def _fault_retry_after(self, p: dict[str, Any], send_body: bool) -> None:
        extra = {"Retry-After": str(p.get("value", "120"))}
        self._plain(
            int(p.get("code", 429)), b"slow down", "text/plain", send_body=send_body, extra=extra
        )

    def _fault_redirect(self, p: dict[str, Any], send_body: bool) -> None:
        target = str(p["to"])
        if target.startswith("/"):
            target = self.server_state.url(target)
        self._plain(
            int(p.get("code", 302)),
            b"",
            "text/plain",
            send_body=send_body,
            extra={"Location": target},
        )

    def _fault_slow(self, p: dict[str, Any], send_body: bool) -> None:
        total = int(p.get("total", 1000))
        chunk = int(p.get("chunk", 1))
        interval = float(p.get("interval", 0.5))
        time.sleep(float(p.get("initial_delay", 0.0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(total))
        self.send_header("Connection", "close")
        self.end_headers()
        sent = 0
        while send_body and sent < total:
            step = min(chunk, total - sent)
            self.wfile.write(b" " * step)
            self.wfile.flush()
            sent += step
            time.sleep(interval)

    def _fault_huge(self, p: dict[str, Any], send_body: bool) -> None:
        size = int(p.get("size", 50 * _MB))
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        if p.get("declare_length", False):
            self.send_header("Content-Length", str(size))
        self.send_header("Connection", "close")
        self.end_headers()
        if not send_body:
            return
        block = (b'<?xml version="1.0"?><rss version="2.0"><channel>' + b"<!-- filler -->" * 4000)[
            : 64 * 1024
        ]
        sent = 0
        while sent < size:
            step = min(len(block), size - sent)
            self.wfile.write(block[:step])
            sent += step

    def _fault_gzip_bomb(self, p: dict[str, Any], send_body: bool) -> None:
        body = self.server_state._gzip_bomb(int(p.get("size", 50 * _MB)))
        self._plain(
            200,
            body,
            "application/rss+xml",
            send_body=send_body,
            extra={"Content-Encoding": "gzip"},
        )

    def _fault_wrong_charset(self, p: dict[str, Any], send_body: bool) -> None:
        content_type = f"{p.get('content_type', 'application/rss+xml')}; charset={p['charset']}"
        self._plain(200, bytes(p["body"]), content_type, send_body=send_body)

    def _fault_empty(self, p: dict[str, Any], send_body: bool) -> None:
        self._plain(
            200, b"", str(p.get("content_type", "application/rss+xml")), send_body=send_body
        )

    def _fault_close_mid_body(self, p: dict[str, Any], send_body: bool) -> None:
        body = bytes(p.get("body", b'<?xml version="1.0"?><rss version="2.0"><channel><item>'))
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(int(p.get("declared", 10000))))
        self.send_header("Connection", "close")
        self.end_headers()
        if send_body:
            self.wfile.write(body)
            self.wfile.flush()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started FeedServer, stopped after the test."""
    with FeedServer() as server:
        yield server
