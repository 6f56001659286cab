"""The app served on a real port by an event loop of its own, in a thread, for clients that
block (schemathesis sends its requests with ``requests``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiohttp import web

from tests.support.components import free_port

T = TypeVar("T")
START_SECONDS = 60.0


class LiveApp:
    """``start`` serves ``app`` on 127.0.0.1 (its startup done); ``stop`` cleans it up."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner = web.AppRunner(app, access_log=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveApp:
        self._thread.start()
        self.run(self._runner.setup())
        self.run(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        return self

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the app's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(START_SECONDS)

    def stop(self) -> None:
        try:
            self.run(self._runner.cleanup())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(START_SECONDS)
            self._loop.close()
