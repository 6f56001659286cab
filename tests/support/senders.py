"""Registries' notification senders, as they behave when delivering to regdeploy, and a load
balancer standing for the one URL in front of several ``serve`` replicas.

``DistributionSender`` is Docker Distribution's notification endpoint
(``notifications/endpoint.go``, ``sinks.go``, ``http.go``): an in-memory queue drained by one
goroutine, so delivery is serial; every event is POSTed alone in an envelope with a 1 s client
timeout; any 2xx or 3xx answer accepts it, anything else (another status, a refused or reset
connection, a timeout) fails it; a failed event is retried, never dropped, and after
``threshold`` consecutive failures each retry waits ``backoff`` (1 s) after the last failure
(go-events' ``Breaker``). The queue lives in memory only: a registry that restarts loses it.

``HarborSender`` is Harbor's job service running webhook jobs
(``src/jobservice/job/impl/notification``): several jobs at a time, a 3 s client timeout, only
2xx succeeds (redirects are not followed), and a job that failed ``max_fails`` (3) times is
dropped. Harbor waits longer between attempts (its job queue's backoff, from 15 s up); the
pause is ``retry_seconds`` here so a test need not wait, which changes nothing regdeploy sees.

Both keep what happened to each notification: acknowledged (a success answer came back),
dropped, and how many attempts and failures it took.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from tests.support.notifications import Notification


class Balancer:
    """Round robin over the replicas' base URLs (``http://127.0.0.1:PORT``) with a passive
    health check, as nginx's ``max_fails=1 fail_timeout=…``: a replica that did not answer
    (refused, reset, timed out) gets no request for ``rest_seconds``, unless every one is
    resting. A replica that dies with requests in flight fails those requests all the same."""

    def __init__(self, bases: Sequence[str], *, rest_seconds: float = 1.0) -> None:
        self._bases = list(bases)
        self._turn = itertools.cycle(self._bases)
        self._rest_seconds = rest_seconds
        self._resting: dict[str, float] = {}  # base -> until (monotonic)

    def url(self, source: str) -> str:
        now = time.monotonic()
        for _ in self._bases:
            base = next(self._turn)
            if self._resting.get(base, 0.0) <= now:
                break
        return f"{base}/webhooks/{source}"

    def failed(self, url: str) -> None:
        """``url`` got no answer: rest its replica."""
        base = url.partition("/webhooks/")[0]
        self._resting[base] = time.monotonic() + self._rest_seconds


@dataclass
class Delivery:
    """What became of the notifications a sender was given."""

    acknowledged: list[Notification] = field(default_factory=list)
    dropped: list[Notification] = field(default_factory=list)
    attempts: int = 0
    failures: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # HTTP status -> count


async def _attempt(
    session: aiohttp.ClientSession, balancer: Balancer, notification: Notification, seconds: float
) -> int | None:
    """One POST through ``balancer``, telling it when the replica did not answer."""
    url = balancer.url(notification.source)
    status = await _post(session, url, notification, seconds)
    if status is None:
        balancer.failed(url)
    return status


async def _post(
    session: aiohttp.ClientSession, url: str, notification: Notification, seconds: float
) -> int | None:
    """POST once; the HTTP status, or None when no answer came (refused, reset, timed out)."""
    try:
        async with session.post(
            url,
            data=notification.body,
            headers=dict(notification.headers),
            timeout=aiohttp.ClientTimeout(total=seconds),
            allow_redirects=False,
        ) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return None


class DistributionSender:
    """Docker Distribution's endpoint (see the module docstring); ``write`` queues, ``run``
    delivers until ``close`` and the queue is empty."""

    def __init__(
        self,
        balancer: Balancer,
        *,
        timeout: float = 1.0,
        threshold: int = 5,
        backoff: float = 1.0,
    ) -> None:
        self.delivery = Delivery()
        self._balancer = balancer
        self._timeout = timeout
        self._threshold = threshold
        self._backoff = backoff
        self._queue: asyncio.Queue[Notification | None] = asyncio.Queue()
        self._recent = 0  # consecutive failures (the Breaker's)
        self._last_failure = 0.0

    def write(self, notification: Notification) -> None:
        self._queue.put_nowait(notification)

    def close(self) -> None:
        """No more notifications: ``run`` returns once the queued ones are delivered."""
        self._queue.put_nowait(None)

    async def run(self) -> Delivery:
        # Distribution closes idle connections after every write: each POST connects anew.
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
            while (notification := await self._queue.get()) is not None:
                await self._deliver(session, notification)
        return self.delivery

    async def _deliver(self, session: aiohttp.ClientSession, notification: Notification) -> None:
        while True:
            if self._recent >= self._threshold:
                wait = self._last_failure + self._backoff - time.monotonic()
                if wait > 0:  # the Breaker's backoff, as Distribution paces its retries
                    await asyncio.sleep(wait)
            self.delivery.attempts += 1
            status = await _attempt(session, self._balancer, notification, self._timeout)
            _count(self.delivery, status)
            if status is not None and 200 <= status < 400:
                self._recent = 0
                self.delivery.acknowledged.append(notification)
                return
            self._recent += 1
            self._last_failure = time.monotonic()
            self.delivery.failures += 1


class HarborSender:
    """Harbor's webhook jobs (see the module docstring); ``write`` queues, ``run`` delivers
    with ``concurrency`` jobs at a time until ``close`` and the queue is empty."""

    def __init__(
        self,
        balancer: Balancer,
        *,
        timeout: float = 3.0,
        max_fails: int = 3,
        retry_seconds: float = 1.0,
        concurrency: int = 3,
    ) -> None:
        self.delivery = Delivery()
        self._balancer = balancer
        self._timeout = timeout
        self._max_fails = max_fails
        self._retry_seconds = retry_seconds
        self._concurrency = concurrency
        self._queue: asyncio.Queue[Notification | None] = asyncio.Queue()

    def write(self, notification: Notification) -> None:
        self._queue.put_nowait(notification)

    def close(self) -> None:
        for _ in range(self._concurrency):
            self._queue.put_nowait(None)

    async def run(self) -> Delivery:
        async with aiohttp.ClientSession(trust_env=False) as session:
            jobs = [self._work(session) for _ in range(self._concurrency)]
            await asyncio.gather(*jobs)
        return self.delivery

    async def _work(self, session: aiohttp.ClientSession) -> None:
        while (notification := await self._queue.get()) is not None:
            await self._job(session, notification)

    async def _job(self, session: aiohttp.ClientSession, notification: Notification) -> None:
        for attempt in range(1, self._max_fails + 1):
            self.delivery.attempts += 1
            status = await _attempt(session, self._balancer, notification, self._timeout)
            _count(self.delivery, status)
            if status is not None and 200 <= status < 300:
                self.delivery.acknowledged.append(notification)
                return
            self.delivery.failures += 1
            if attempt < self._max_fails:  # Harbor's pause before a job's next try
                await asyncio.sleep(self._retry_seconds)
        self.delivery.dropped.append(notification)


def _count(delivery: Delivery, status: int | None) -> None:
    if status is not None:
        delivery.statuses[status] = delivery.statuses.get(status, 0) + 1
