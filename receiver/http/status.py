"""``GET /api/v1/status``: what a running regdeploy is doing, for people and the CLI.

Whether the database answers, which deployers are on (and why) and whether each orchestrator
answered when the inventory last listed it (listing it again if that is stale or old), what
waits in the queue (pending events and the age of the oldest, planned, running and waiting
deploys), the freezes that are on, and when the reconciler last ran. It answers 200 whatever it
finds: ``status`` is ``ok`` when the database and every deployer answer, ``degraded``
otherwise. ``current_status`` gathers it, for this route and for the console's overview.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from receiver import version
from receiver.background.inventory import ListingState
from receiver.background.reconciler import LEASE
from receiver.decide.rules.release import Freeze
from receiver.errors import StoreError
from receiver.http.keys import CONFIG, SERVICES, STORE
from receiver.http.shapes import (
    deployer_health_json,
    freeze_json,
    queue_json,
    reconciler_json,
    switches_json,
)
from receiver.store.records import Backlog, Deployment, DeploymentStatus, LeaseState

#: The running deploys listed at most.
RUNNING_LISTED = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    """What a running regdeploy is doing. ``database_error``: why the database did not answer
    (None when it did; the queue, the running deploys, the lease and the freezes are then
    known)."""

    database_error: str | None
    listings: tuple[ListingState, ...]
    backlog: Backlog | None
    running: tuple[Deployment, ...]
    lease: LeaseState | None
    freezes: tuple[Freeze, ...]

    @property
    def ok(self) -> bool:
        return self.database_error is None and all(s.error is None for s in self.listings)


async def current_status(app: web.Application) -> Status:
    """The database, each deployer's last listing (listed again if stale), the queue and the
    reconciler's lease."""
    inventory = app[SERVICES].inventory
    await inventory.fresh()
    listings = tuple(inventory.states())
    store = app[STORE]
    try:
        backlog = await store.backlog.snapshot()
        running = await store.deployments.list_deployments(
            limit=RUNNING_LISTED, status=DeploymentStatus.RUNNING.value
        )
        lease = await store.leases.get_lease(LEASE)
        freezes = await store.releases.list_freezes()
    except StoreError as exc:
        return Status(database_error=str(exc), listings=listings, backlog=None, running=(),
                      lease=None, freezes=())  # fmt: skip
    return Status(
        database_error=None,
        listings=listings,
        backlog=backlog,
        running=tuple(running),
        lease=lease,
        freezes=tuple(freezes),
    )


async def status(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    found = await current_status(request.app)
    reachable = found.database_error is None
    return web.json_response(
        {
            "status": "ok" if found.ok else "degraded",
            "version": version(),
            "database": {
                "embedded": config.database.url is None,
                "reachable": reachable,
                "message": found.database_error,
            },
            "deployers": [deployer_health_json(s) for s in found.listings],
            "deployer_switches": switches_json(config),
            "dry_run": config.dry_run,
            "worker": {"enabled": config.worker.enabled},
            "queue": queue_json(found.backlog, found.running) if found.backlog else None,
            "freezes": [freeze_json(f) for f in found.freezes],
            "reconciler": reconciler_json(found.lease, interval=config.reconcile_interval_seconds),
        }
    )


def routes() -> list[web.RouteDef]:
    return [web.get("/api/v1/status", status)]
