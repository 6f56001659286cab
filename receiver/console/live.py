"""Live updates: server-sent events that carry parts of a page, rendered again as things change.

A page's live part (``<... sse-swap="NAME">``, with htmx's SSE extension) connects to
``/live/NAME`` with the page's own query. The stream renders that part with the same function
and template the page used, and sends it again whenever it changed. It looks again when the
database announces news (``LISTEN`` on the ``events`` and ``deployments`` channels, one
connection each for the whole process, opened when the first page connects) and at least every
``POLL_SECONDS`` (a deploy that starts is not announced). A stream ends after
``STREAM_SECONDS`` (the browser connects again), when regdeploy stops, and when its session
ends (the response ends; the browser's next try gets a 401):

- at once, when the session is signed out in this process (``SessionStreams.end_session``);
- within ``SESSION_CHECK_SECONDS`` when it ended anywhere else: signed out in another process
  on the same database, expired, or ended because its token's scope changed. One query asks,
  for all of this process's streams together, which of their sessions still hold, so that
  the cost does not grow with the streams and no connection is kept for it; a ``LISTEN`` would
  hold one more connection per process and still need this poll, since nothing announces an
  expiry. While the database cannot answer, streams go on: they have nothing new to send then.

A session has at most ``STREAMS_PER_SESSION`` streams open in one process; one more is refused
(409) rather than the oldest closed: the tabs that are live stay live, and htmx's SSE extension
tries the refused one again, waiting twice as long each time (up to 64 s), so that it turns live
by itself once another tab closes. Closing the oldest instead would leave a tab someone looked
at stale, and since a browser reconnects a stream that ended within seconds, four tabs would
close each other in turn for ever.
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
from receiver.errors import Conflict, NotAuthenticated, NotFound, RegdeployError, StoreError
from receiver.http.auth import refuse_nul
from receiver.reloading import services_of
from receiver.store import Store
from receiver.store.records import ConsoleSession

log = structlog.get_logger("regdeploy.console")

POLL_SECONDS = 2.0
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 600.0
#: How often this process asks whether the sessions of its streams still hold: within a second,
#: query included, a session ended elsewhere ends its streams here.
SESSION_CHECK_SECONDS = 0.5
#: The streams one session may have open in one process (a tab each; a browser keeps at most six
#: connections to one site, and pages need some of them too).
STREAMS_PER_SESSION = 3
CHANNELS = ("events", "deployments")

#: A live part: renders its HTML for a request (with the page's query).
Fragment = Callable[[web.Request], Awaitable[str]]


class LiveStream:
    """One open stream, of the session ``id_hash``: ``ended`` is set when that session ends
    (``reason`` says how)."""

    def __init__(self, id_hash: str, request: web.Request) -> None:
        self.id_hash = id_hash
        self.ended = asyncio.Event()
        self.reason = ""
        self._request = request

    @property
    def connected(self) -> bool:
        """Whether the browser still listens (it went away when its tab closed or left)."""
        transport = self._request.transport
        return transport is not None and not transport.is_closing()

    def end(self, reason: str) -> None:
        self.reason = reason
        self.ended.set()


class SessionStreams:
    """This process's open streams, by session (the hash of its id): at most
    ``STREAMS_PER_SESSION`` each, ended when their session ends."""

    def __init__(self) -> None:
        self._open: dict[str, list[LiveStream]] = {}
        self._watch: asyncio.Task[None] | None = None

    def open(self, session: ConsoleSession, request: web.Request) -> LiveStream:
        """A new stream of ``session`` for ``request``; Conflict when the session has its
        ``STREAMS_PER_SESSION`` open already."""
        # A stream whose browser went away counts no more, even before its loop notices: a tab
        # that moves from one live page to the next is not refused for the page it left.
        streams = [s for s in self._open.get(session.id_hash, ()) if s.connected]
        if len(streams) >= STREAMS_PER_SESSION:
            log.info("console_stream_refused", token=session.token_name, open=len(streams))
            raise Conflict(
                f"this session has {len(streams)} live parts open already, in other tabs: "
                "this page updates once one of them is closed"
            )
        stream = LiveStream(session.id_hash, request)
        self._open[session.id_hash] = [*streams, stream]
        return stream

    def forget(self, stream: LiveStream) -> None:
        """``stream`` ended (for whatever reason): it counts no more."""
        streams = [s for s in self._open.get(stream.id_hash, ()) if s is not stream]
        if streams:
            self._open[stream.id_hash] = streams
        else:
            self._open.pop(stream.id_hash, None)

    def end_session(self, id_hash: str, *, reason: str) -> None:
        """End the streams of the session ``id_hash`` now (it was signed out, or ended)."""
        for stream in self._open.pop(id_hash, ()):
            stream.end(reason)

    def watch(self, store: Store) -> None:
        """Check the sessions of the streams every ``SESSION_CHECK_SECONDS``, unless already
        checking."""
        if self._watch is None:
            self._watch = asyncio.create_task(self._check_sessions(store))

    async def stop(self) -> None:
        """Stop checking (regdeploy stops: the streams end as the feed closes)."""
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)

    async def _check_sessions(self, store: Store) -> None:
        failing = False
        while True:
            await asyncio.sleep(SESSION_CHECK_SECONDS)
            if not self._open:
                continue
            id_hashes = list(self._open)
            try:
                holding = await store.sessions.open_sessions(id_hashes)
            except StoreError as exc:  # nothing new to send either: check again next time
                if not failing:
                    log.warning("console_session_check_failed", error=str(exc))
                failing = True
                continue
            failing = False
            for id_hash in id_hashes:
                if id_hash not in holding:
                    self.end_session(id_hash, reason="session_ended")


class ChangeFeed:
    """Wakes the streams when the database announces news on ``CHANNELS``; ``streams`` are
    the open ones, by session."""

    def __init__(self) -> None:
        self.streams = SessionStreams()
        self._news = asyncio.Event()
        self._closed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def start(self, store: Store) -> None:
        """Listen, and check the streams' sessions, unless already doing so."""
        if not self._tasks and not self.closed:
            self._tasks = [asyncio.create_task(self._listen(store, c)) for c in CHANNELS]
            self.streams.watch(store)

    async def wait(self, seconds: float, ended: asyncio.Event) -> None:
        """Until there is news, ``ended`` is set, regdeploy stops, or ``seconds`` pass."""
        events = (self._news, self._closed, ended)
        waits = [asyncio.create_task(e.wait()) for e in events]
        _, pending = await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        self._closed.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.streams.stop()

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
        feed.start(services_of(request.app).store)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        opened = feed.streams.open(session, request)
        try:
            await response.prepare(request)
            with contextlib.suppress(ConnectionError):
                await _send_changes(request, response, name, fragment, feed, opened)
        finally:
            feed.streams.forget(opened)
        if opened.ended.is_set():
            log.debug("console_stream_ended", part=name, reason=opened.reason)
        elif not opened.connected:  # the browser left (a tab closed): no error, a debug line
            log.debug("console_stream_ended", part=name, reason="client_went_away")
        return response

    return stream


async def _send_changes(
    request: web.Request,
    response: web.StreamResponse,
    name: str,
    fragment: Fragment,
    feed: ChangeFeed,
    opened: LiveStream,
) -> None:
    started = sent_at = time.monotonic()
    last: str | None = None
    while not feed.closed and time.monotonic() - started < STREAM_SECONDS:
        if opened.ended.is_set() or not opened.connected:
            return
        now = time.monotonic()
        html: str | None
        try:
            html = await fragment(request)
        except StoreError as exc:  # the database went away: say nothing new until it is back
            log.warning("console_stream_failed", part=name, error=str(exc))
            html = last
        except RegdeployError as exc:  # what it showed is gone (a deployment removed): end
            log.info("console_stream_ended", part=name, reason=str(exc))
            return
        if opened.ended.is_set():  # the session ended while the part was rendered
            return
        if html is not None and html != last:
            await response.write(message(name, html))
            last, sent_at = html, now
        elif now - sent_at > KEEPALIVE_SECONDS:
            await response.write(b": keep-alive\n\n")
            sent_at = now
        await feed.wait(POLL_SECONDS, opened.ended)


def message(event: str, html: str) -> bytes:
    """One server-sent event named ``event`` carrying ``html`` (one ``data:`` per line)."""
    lines = "".join(f"data: {line}\n" for line in html.splitlines() or [""])
    return f"event: {event}\n{lines}\n".encode()
