"""The reconciler: asks the registries what the notifications may have missed.

Registries lose queued notifications when they restart (Distribution keeps its queue in memory;
Harbor gives up after three attempts). Every ``interval`` the reconciler lists the tags of each
watched repository (Registry HTTP API v2: tags list, manifest HEAD) and records every tag whose
digest differs from the catalog as an event of source ``reconciler``, which then goes through
the same decisions as a notification. One process at a time does this, by a lease in PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from handlers.events import RECONCILER, Action, Event
from handlers.references import ImageName
from receiver.background.loop import PolledLoop
from receiver.clock import Clock
from receiver.errors import RegistryError
from receiver.metrics import Metrics
from receiver.registry.client import RegistryClient
from receiver.store.events import EventQueries
from receiver.store.leases import Lease, LeaseQueries
from receiver.store.repositories import RepositoryQueries

log = structlog.get_logger("regdeploy.reconciler")

LEASE = "reconciler"
#: The lease is taken for this many intervals at each round (``/api/v1/status`` reads it back).
LEASE_ROUNDS = 2


class Reconciler(PolledLoop):
    """Reconciles now and then every ``interval_seconds``, while this process holds the lease."""

    name = "reconciler"

    def __init__(
        self,
        *,
        repositories: RepositoryQueries,
        events: EventQueries,
        leases: LeaseQueries,
        registries: RegistryClient,
        interval_seconds: float,
        holder: str,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        super().__init__(poll_seconds=interval_seconds, listen=None, clock=clock)
        self._repositories = repositories
        self._events = events
        self._leases = leases
        self._registries = registries
        self._interval = interval_seconds
        self._holder = holder
        # The repositories whose last reconcile failed, with why (said once, not every round).
        self._failures: dict[ImageName, str] = {}
        self._metrics = metrics

    async def round(self) -> None:
        seconds = self._interval * LEASE_ROUNDS
        if await self._leases.acquire_lease(LEASE, holder=self._holder, seconds=seconds):
            await self.reconcile_once()

    @property
    def _lease(self) -> Lease:
        return Lease(name=LEASE, holder=self._holder)

    async def reconcile_once(self) -> int:
        """One pass over every watched repository; the number of events recorded."""
        recorded = 0
        seen: set[ImageName] = set()
        for state in await self._repositories.list_repositories():
            image = state.rules.image
            if image in seen:
                continue
            seen.add(image)
            try:
                recorded += await self._reconcile(image)
            except RegistryError as exc:
                self._metrics.registry_error("reconcile")
                self._failing(image, exc)
            else:
                self._answered(image)
        self._metrics.reconciled(found=recorded)
        return recorded

    def _failing(self, image: ImageName, exc: RegistryError) -> None:
        """Say once that a repository cannot be reconciled, not at every round until it can."""
        if self._failures.get(image) != str(exc):
            self._failures[image] = str(exc)
            log.warning(
                "reconcile_repository_failed",
                image=str(image),
                error=str(exc),
                message="pushes its notifications missed are found once the registry answers",
            )

    def _answered(self, image: ImageName) -> None:
        if self._failures.pop(image, None) is not None:
            log.info("reconcile_repository_recovered", image=str(image))

    async def _reconcile(self, image: ImageName) -> int:
        catalog = await self._events.repository_tags(image)
        served = await self._served(image)
        now = self._clock.now()
        events = [
            _event(image, Action.PUSH, tag, digest, now)
            for tag, digest in sorted(served.items())
            if catalog.get(tag) != digest
        ]
        events += [
            _event(image, Action.DELETE, tag, digest, now)
            for tag, digest in sorted(catalog.items())
            if tag not in served
        ]
        if not events:
            return 0
        result = await self._events.record_notification(events=events, lease=self._lease)
        if result.accepted:
            log.info("reconcile_found", image=str(image), events=result.accepted)
        return result.accepted

    async def _served(self, image: ImageName) -> dict[str, str]:
        """Every tag the registry serves now, with its digest."""
        served: dict[str, str] = {}
        for tag in await self._registries.tags(image.registry, image.repository):
            digest = await self._registries.digest(image.registry, image.repository, tag)
            if digest is not None:
                served[tag] = digest
        return served


def _event(image: ImageName, action: Action, tag: str, digest: str, now: datetime) -> Event:
    # Recording an event updates the catalog, so a finding is not seen twice; the id still names
    # when it was found, as a tag may move away and back again.
    return Event(
        source=RECONCILER,
        event_id=f"{action.value}:{image}:{tag}@{digest}:{now.isoformat()}",
        action=action,
        registry=image.registry,
        repository=image.repository,
        tag=tag,
        digest=digest if action is Action.PUSH else None,
        media_type=None,
        actor=RECONCILER,
        occurred_at=now,
    )
