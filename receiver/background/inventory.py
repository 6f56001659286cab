"""What runs where: the workload inventory, kept current from the orchestrators themselves.

For each deployer the inventory holds the workloads that opted in (``Deployer.workloads``) and
what each configured target of a watched repository runs (``Deployer.current``). Deciding an
event reads it, not the orchestrators, so decisions keep pace with a busy registry; the API shows
the same inventory.

It stays current three ways: each deployer's ``changes()`` (Docker's events stream, Nomad's
blocking queries on the jobs list) marks it stale, a full listing runs every
``refresh_seconds`` whatever happens, and a deploy marks its deployer stale. Stale state is never
used for a decision: the next decision lists that deployer again first (``fresh``), so a change
the orchestrator announced is always seen. A deployer whose listing fails makes the decisions
that need it wait (``DeployerUnavailable``) until it answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from deployers.base import Deployer, Deployers, Running, Target, Workload
from handlers.references import Aliases, ImageName
from receiver.background.loop import backoff
from receiver.clock import Clock
from receiver.errors import DeployerUnavailable, RegdeployError
from receiver.store.repositories import RepositoryQueries

log = structlog.get_logger("regdeploy.inventory")

# Between two looks at a deployer whose change feed ended (it is listed meanwhile anyway).
_WATCH_RETRY_SECONDS = 30.0
#: How long an orchestrator has to answer a listing: one that hangs is one that did not answer.
LISTING_SECONDS = 30.0


@dataclass(slots=True)
class _Listing:
    """One deployer's part of the inventory."""

    workloads: list[Workload] = field(default_factory=list)
    # Configured targets: (target key, repository) -> what it runs.
    configured: dict[tuple[str, ImageName], tuple[Target, Running | None]] = field(
        default_factory=dict
    )
    listed_at: datetime | None = None
    error: str | None = None
    stale: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One line of what runs where."""

    target: Target
    running: Running | None
    configured: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ListingState:
    kind: str
    listed_at: datetime | None
    error: str | None


class Inventory:
    def __init__(
        self,
        *,
        deployers: Deployers,
        repositories: RepositoryQueries,
        aliases: Aliases,
        refresh_seconds: float,
        clock: Clock,
    ) -> None:
        self._deployers = deployers
        self._clock = clock
        self._repositories = repositories
        self._aliases = aliases
        self._refresh_seconds = refresh_seconds
        self._listings = {deployer.kind: _Listing() for deployer in deployers}
        self._lock = asyncio.Lock()
        self._woken = asyncio.Event()

    # -- what decisions and the API read ----------------------------------------------------

    async def discover(self, name: ImageName) -> list[Target]:
        """The workloads that opted in and run an image of repository ``name``."""
        await self.fresh()
        return [
            workload.target
            for kind, listing in self._listings.items()
            for workload in self._usable(kind, listing).workloads
            if workload.running(name, self._aliases) is not None
        ]

    async def current(self, target: Target, name: ImageName) -> Running | None:
        """What ``target`` runs of repository ``name``; None when it runs none of it."""
        await self.fresh()
        listing = self._listings.get(target.kind)
        if listing is None:
            return None
        self._usable(target.kind, listing)
        if (found := listing.configured.get((target.key, name))) is not None:
            return found[1]
        for workload in listing.workloads:
            if workload.target.key == target.key:
                return workload.running(name, self._aliases)
        return await self._ask(target, name)  # a target no listing covers yet

    def workload(self, key: str) -> Target | None:
        """The workload of target ``key`` that opted in, as last listed (with its labels), or
        None: a configured target reads its release-control labels here."""
        for listing in self._listings.values():
            for workload in listing.workloads:
                if workload.target.key == key:
                    return workload.target
        return None

    async def images_in_use(self) -> set[ImageName] | None:
        """Every repository a workload that opted in runs, or None while some deployer's
        listing is missing (nothing can then be said about what is unused)."""
        await self.fresh()
        if any(listing.error or listing.listed_at is None for listing in self._listings.values()):
            return None
        return {
            self._aliases.name(image.name)
            for listing in self._listings.values()
            for workload in listing.workloads
            for image in workload.images
        }

    def states(self) -> list[ListingState]:
        """Each deployer's listing: when it was last listed, and why not if it failed."""
        return [
            ListingState(kind=kind, listed_at=listing.listed_at, error=listing.error)
            for kind, listing in self._listings.items()
        ]

    def entries(self) -> list[Entry]:
        """What runs where, as last listed."""
        found = [
            Entry(target=target, running=running, configured=True)
            for listing in self._listings.values()
            for target, running in listing.configured.values()
        ]
        found += [
            Entry(
                target=w.target, running=Running(image=w.images[0], since=w.since), configured=False
            )
            for listing in self._listings.values()
            for w in listing.workloads
        ]
        return sorted(found, key=lambda e: e.target.key)

    # -- keeping it current -------------------------------------------------------------------

    def changed(self, kind: str | None = None) -> None:
        """What ``kind`` (every deployer when None) runs may have changed."""
        for name, listing in self._listings.items():
            if kind is None or name == kind:
                listing.stale = True
        self._woken.set()

    async def fresh(self) -> None:
        """List again, now, every deployer that is stale or was last listed longer than
        ``refresh_seconds`` ago (a process whose inventory loop does not run still sees
        changes that way)."""
        async with self._lock:
            now = self._clock.now()
            for deployer in self._deployers:
                listing = self._listings[deployer.kind]
                old = listing.listed_at is None or (
                    (now - listing.listed_at).total_seconds() > self._refresh_seconds
                )
                if listing.stale or old:
                    await self._list(deployer, listing)

    async def run(self, stopping: asyncio.Event) -> None:
        """Watch every deployer's changes and list them again when they change, at least every
        ``refresh_seconds``, until ``stopping`` is set."""
        watchers = [asyncio.create_task(self._watch(d)) for d in self._deployers]
        try:
            while not stopping.is_set():
                with contextlib.suppress(RegdeployError):
                    await self.fresh()
                await self._pause(stopping)
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)

    async def _pause(self, stopping: asyncio.Event) -> None:
        self._woken.clear()
        waits = [asyncio.create_task(e.wait()) for e in (self._woken, stopping)]
        done, pending = await asyncio.wait(
            waits, timeout=self._refresh_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if not done:
            self.changed()  # the periodic full listing

    async def _watch(self, deployer: Deployer) -> None:
        failures = 0
        while True:
            try:
                async for _ in deployer.changes():
                    failures = 0
                    self.changed(deployer.kind)
            except Exception as exc:  # a change feed that broke: list now and then meanwhile
                log.warning("inventory_watch_failed", kind=deployer.kind, error=str(exc))
            failures += 1
            await asyncio.sleep(backoff(failures, base=1.0, cap=_WATCH_RETRY_SECONDS))

    async def _list(self, deployer: Deployer, listing: _Listing) -> None:
        try:
            async with asyncio.timeout(LISTING_SECONDS):
                targets = list(await self._configured(deployer.kind))
                # Asked together: a listing is as slow as its slowest answer, not their sum.
                workloads, running = await asyncio.gather(
                    deployer.workloads(),
                    asyncio.gather(*(deployer.current(t, name) for t, name in targets)),
                )
                configured = {
                    (target.key, name): (target, now)
                    for (target, name), now in zip(targets, running, strict=True)
                }
        except TimeoutError:
            self._failed(deployer.kind, listing, f"no answer within {LISTING_SECONDS:g} s")
            return
        except Exception as exc:  # any orchestrator client's own errors
            self._failed(deployer.kind, listing, str(exc) or type(exc).__name__)
            return
        listing.workloads, listing.configured = workloads, configured
        listing.error, listing.stale, listing.listed_at = None, False, self._clock.now()

    @staticmethod
    def _failed(kind: str, listing: _Listing, why: str) -> None:
        listing.error = f"the {kind} deployer did not answer: {why}"
        log.warning("inventory_listing_failed", kind=kind, error=why)

    async def _configured(self, kind: str) -> Iterable[tuple[Target, ImageName]]:
        """The configured targets of ``kind`` of every watched repository, with its image."""
        return [
            (target, state.rules.image)
            for state in await self._repositories.list_repositories()
            for target in state.rules.targets
            if target.kind == kind
        ]

    def _usable(self, kind: str, listing: _Listing) -> _Listing:
        if listing.error is not None or listing.listed_at is None:
            raise DeployerUnavailable(
                listing.error or f"the {kind} deployer is not listed yet", kind=kind
            )
        return listing

    async def _ask(self, target: Target, name: ImageName) -> Running | None:
        deployer = self._deployers.get(target.kind)
        if deployer is None:
            return None
        try:
            return await deployer.current(target, name)
        except RegdeployError:
            raise
        except Exception as exc:
            raise DeployerUnavailable(
                f"the {target.kind} deployer did not answer: {exc}", kind=target.kind
            ) from exc
