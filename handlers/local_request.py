"""A python-telegram-bot request backend that talks to an in-process BotApiEmulator.

With it, the real Application and its handlers run with no network at all (``newsbot console``):

    emu = BotApiEmulator()
    Application.builder().token("1:console").request(LocalBotApiRequest(emu))
        .get_updates_request(LocalBotApiRequest(emu)).build()
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

from handlers.emulator import BotApiEmulator, error

# getUpdates waits in short slices so a cancelled poll frees its worker thread quickly.
_WAIT_SLICE_SECONDS = 0.25


def method_from_url(url: str) -> str:
    """The Bot API method name in ``.../bot<token>/<method>``."""
    return url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


class LocalBotApiRequest(BaseRequest):
    """Routes every Bot API request to ``emulator.handle`` instead of the network."""

    def __init__(self, emulator: BotApiEmulator) -> None:
        self.emulator = emulator

    @property
    def read_timeout(self) -> float | None:
        """No socket, so no read timeout of our own."""
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Answer one request from the emulator, as the Bot API would over HTTP."""
        api_method = method_from_url(url)
        # json_parameters is exactly what goes on the wire, so the emulator sees what it would
        # see over HTTP (JSON-encoded fields included).
        params: dict[str, Any] = dict(request_data.json_parameters) if request_data else {}
        if api_method == "getUpdates":
            status, body = await self._long_poll(params)
        else:
            status, body = await asyncio.to_thread(self.emulator.handle, api_method, params)
        return status, json.dumps(body).encode("utf-8")

    async def _long_poll(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """getUpdates: wait in slices, so cancelling the poller never strands a thread for long."""
        try:
            timeout = float(params.get("timeout", 0))
        except ValueError:
            return error(400, "Bad Request: wrong timeout")
        deadline = time.monotonic() + timeout
        while True:
            remaining = max(deadline - time.monotonic(), 0.0)
            sliced = {**params, "timeout": str(min(remaining, _WAIT_SLICE_SECONDS))}
            status, body = await asyncio.to_thread(self.emulator.handle, "getUpdates", sliced)
            if status != 200 or body["result"] or remaining <= _WAIT_SLICE_SECONDS:
                return status, body
