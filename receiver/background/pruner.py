"""The pruner: keeps what regdeploy stores of unusable notifications within its retention.

Each source keeps its newest ``retention.rejected_payloads.keep`` rejected bodies (the store
drops the oldest as it stores a new one), and none older than ``days``: every
``PRUNE_SECONDS`` one process, by a lease in PostgreSQL, drops those, and what a lowered
``keep`` no longer allows.
"""

from __future__ import annotations

import structlog

from receiver.background.loop import PolledLoop
from receiver.clock import Clock
from receiver.config.limits import Kept
from receiver.store.events import EventQueries
from receiver.store.leases import LeaseQueries

log = structlog.get_logger("regdeploy.pruner")

LEASE = "pruner"
#: Seconds between two rounds.
PRUNE_SECONDS = 60.0


class Pruner(PolledLoop):
    name = "pruner"

    def __init__(
        self,
        *,
        events: EventQueries,
        leases: LeaseQueries,
        kept: Kept,
        holder: str,
        clock: Clock,
        interval_seconds: float = PRUNE_SECONDS,
    ) -> None:
        super().__init__(poll_seconds=interval_seconds, listen=None, clock=clock)
        self._events = events
        self._leases = leases
        self._kept = kept
        self._holder = holder
        self._interval = interval_seconds

    async def round(self) -> None:
        if await self._leases.acquire_lease(LEASE, holder=self._holder, seconds=self._interval):
            await self.prune_once()

    async def prune_once(self) -> int:
        """Drop the rejections beyond what is kept; how many."""
        before = self._clock.now() - self._kept.age
        pruned = await self._events.prune_rejections(keep=self._kept.keep, before=before)
        if pruned:
            log.info("rejections_pruned", rows=pruned, keep=self._kept.keep, days=self._kept.days)
        return pruned
