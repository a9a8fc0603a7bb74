"""The life cycle every loopback test server shares: bind 127.0.0.1:0, serve from a thread."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Generic, Self, TypeVar

ServerT = TypeVar("ServerT", bound=ThreadingHTTPServer)


class LoopbackServer(Generic[ServerT]):
    """Start, stop and ``with`` for a threaded HTTP server that ``make_server`` builds."""

    def __init__(self) -> None:
        self._server: ServerT | None = None
        self._thread: threading.Thread | None = None

    def make_server(self) -> ServerT:
        """Build the server, bound to 127.0.0.1 on a free port."""
        raise NotImplementedError

    def start(self) -> Self:
        """Bind and serve in a daemon thread."""
        server = self.make_server()
        server.daemon_threads = True
        # Slow handlers (a drip-fed body, a delayed answer) must not hold up stop().
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_address[1])
