"""Live updates: server-sent events that carry parts of a page, rendered again as things change.

A page's live part (``<... sse-swap="NAME">``, with htmx's SSE extension) connects to
``/live/NAME`` with the page's own query. The stream renders that part with the same function
and template the page used, and sends it again whenever it changed. It looks again when the
database announces news (``LISTEN`` on the ``events`` and ``deployments`` channels, one
connection each for the whole process, opened when the first page connects) and at least every
``POLL_SECONDS`` (a deploy that starts is not announced). A stream ends after
``STREAM_SECONDS`` (the browser connects again), when its session ends, or when regdeploy stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping

import structlog
from aiohttp import web

from receiver.console.render import SESSION
from receiver.console.sessions import current_session
from receiver.errors import NotAuthenticated, NotFound, RegdeployError, StoreError
from receiver.http.auth import refuse_nul
from receiver.runtime import SERVICES
from receiver.store import Store

log = structlog.get_logger("regdeploy.console")

POLL_SECONDS = 2.0
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 600.0
SESSION_CHECK_SECONDS = 60.0
CHANNELS = ("events", "deployments")

#: A live part: renders its HTML for a request (with the page's query).
Fragment = Callable[[web.Request], Awaitable[str]]


class ChangeFeed:
    """Wakes the streams when the database announces news on ``CHANNELS``."""

    def __init__(self) -> None:
        self._news = asyncio.Event()
        self._closed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def start(self, store: Store) -> None:
        """Listen, unless already listening."""
        if not self._tasks and not self.closed:
            self._tasks = [asyncio.create_task(self._listen(store, c)) for c in CHANNELS]

    async def wait(self, seconds: float) -> None:
        """Until there is news, regdeploy stops, or ``seconds`` pass."""
        waits = [asyncio.create_task(e.wait()) for e in (self._news, self._closed)]
        _, pending = await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        self._closed.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _listen(self, store: Store, channel: str) -> None:
        listener = store.listener(channel)
        try:
            while not self.closed:
                if await listener.wait(KEEPALIVE_SECONDS):
                    # Wake every stream waiting now; the ones that wait next wait anew.
                    self._news.set()
                    self._news = asyncio.Event()
        finally:
            await listener.close()


FEED = web.AppKey("console_feed", ChangeFeed)


def stream_handler(
    fragments: Mapping[str, Fragment],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The handler of ``/live/{name}`` for the live parts ``fragments``."""

    async def stream(request: web.Request) -> web.StreamResponse:
        refuse_nul(request)
        name = request.match_info["name"]
        fragment = fragments.get(name)
        if fragment is None:
            raise NotFound(f"no live part {name!r}")
        session = await current_session(request)
        if session is None:
            raise NotAuthenticated("sign in first: this session ended or never began")
        request[SESSION] = session
        await fragment(request)  # a bad query is a clean 400 or 404, before the stream begins
        feed = request.app[FEED]
        feed.start(request.app[SERVICES].store)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            await _send_changes(request, response, name, fragment, feed)
        return response

    return stream


async def _send_changes(
    request: web.Request,
    response: web.StreamResponse,
    name: str,
    fragment: Fragment,
    feed: ChangeFeed,
) -> None:
    started = checked = sent_at = time.monotonic()
    last: str | None = None
    while not feed.closed and time.monotonic() - started < STREAM_SECONDS:
        if request.transport is None or request.transport.is_closing():
            return
        now = time.monotonic()
        if now - checked > SESSION_CHECK_SECONDS:
            if await current_session(request) is None:
                return
            checked = now
        html: str | None
        try:
            html = await fragment(request)
        except StoreError as exc:  # the database went away: say nothing new until it is back
            log.warning("console_stream_failed", part=name, error=str(exc))
            html = last
        except RegdeployError as exc:  # what it showed is gone (a deployment removed): end
            log.info("console_stream_ended", part=name, reason=str(exc))
            return
        if html is not None and html != last:
            await response.write(message(name, html))
            last, sent_at = html, now
        elif now - sent_at > KEEPALIVE_SECONDS:
            await response.write(b": keep-alive\n\n")
            sent_at = now
        await feed.wait(POLL_SECONDS)


def message(event: str, html: str) -> bytes:
    """One server-sent event named ``event`` carrying ``html`` (one ``data:`` per line)."""
    lines = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"event: {event}\n{lines}\n".encode()
