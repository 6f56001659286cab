"""A background loop: rounds of work, woken by ``LISTEN/NOTIFY`` with a polling fallback.

The decider, the launcher, the outbox and the reconciler are polled loops. A round is never
cancelled half-way (a claim's transaction is left cleanly): ``stop`` ends the wait between
rounds, and ``run`` returns after the round in progress. When work falls due is read from the
injected clock, the one every loop, retry and due time reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from datetime import datetime

import structlog

from receiver.clock import Clock
from receiver.errors import StoreError
from receiver.store import Listener


async def end_within(tasks: Collection[asyncio.Task[object]], seconds: float | None) -> None:
    """Wait for ``tasks`` to end, for at most ``seconds`` (None: as long as they take); then
    cancel what still runs (all of them when this wait is itself cancelled) and wait for it."""
    try:
        if tasks:
            await asyncio.wait(tasks, timeout=seconds)
    finally:
        for task in tasks:
            task.cancel()  # a task that ended is not touched
        await asyncio.gather(*tasks, return_exceptions=True)


#: Doublings past which a backoff is at its cap whatever the base (2**1024 is no float).
_DOUBLINGS = 64


def backoff(attempts: int, *, base: float, cap: float) -> float:
    """Seconds to wait before the next try after ``attempts`` tries: doubling from ``base``,
    at most ``cap``, however many tries there were."""
    return float(min(base * 2.0 ** min(attempts - 1, _DOUBLINGS), cap))


class PolledLoop:
    """Subclasses say what a round does and when the next one is due.

    ``listen`` opens a listener whose notifications start the next round early; without one
    the loop only polls. ``clock`` says what time it is.
    """

    #: Prefix of the loop's log events (``worker_round_failed``, ...).
    name = "loop"

    def __init__(
        self, *, poll_seconds: float, listen: Callable[[], Listener] | None, clock: Clock
    ) -> None:
        self._poll_seconds = poll_seconds
        self._clock = clock
        self._listen = listen
        self._stopping = asyncio.Event()
        self._log = structlog.get_logger(f"regdeploy.{self.name}")
        #: Whether ``finish`` waits for what the loop started, however long it takes.
        self.patient = False

    def stop(self, *, patient: bool = False) -> None:
        """Finish the current round, then return from ``run``; ``patient``: ``finish`` waits
        for what the loop started (a deploy) to end, however long (a reload's old loops)."""
        self.patient = patient
        self._stopping.set()

    async def run(self) -> None:
        """Rounds until stopped; a failing round is logged and retried after the pause."""
        listener = self._listen() if self._listen is not None else None
        self._log.info(f"{self.name}_started")
        try:
            while not self._stopping.is_set():
                try:
                    await self.round()
                except StoreError as exc:
                    self._log.warning(f"{self.name}_round_failed", error=str(exc))
                except Exception:  # a bug in one round must not stop every later one
                    self._log.exception(f"{self.name}_round_crashed")
                await self._pause(listener)
        finally:
            if listener is not None:
                await listener.close()
            await self.finish()
        self._log.info(f"{self.name}_stopped")

    async def round(self) -> None:
        raise NotImplementedError

    async def next_due(self) -> datetime | None:
        """When work already known falls due (a retry), if sooner than the next poll."""
        return None

    async def finish(self) -> None:
        """After the last round."""

    async def _pause(self, listener: Listener | None) -> None:
        """Until a notification, the next due work or poll, or a stop, whichever is first."""
        idle = await self._idle_seconds()
        waits: list[asyncio.Task[bool]] = [asyncio.create_task(self._stopping.wait())]
        if listener is not None:
            waits.append(asyncio.create_task(listener.wait(idle)))
        _, pending = await asyncio.wait(
            waits,
            timeout=None if listener is not None else idle,
            return_when=asyncio.FIRST_COMPLETED,
        )
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _idle_seconds(self) -> float:
        try:
            due = await self.next_due()
        except StoreError:
            return self._poll_seconds
        if due is None:
            return self._poll_seconds
        until = (due - self._clock.now()).total_seconds()
        return max(0.05, min(self._poll_seconds, until))
