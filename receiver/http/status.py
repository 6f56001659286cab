"""``GET /api/v1/status``: what a running regdeploy is doing, for people and the CLI.

Whether the database answers, which deployers are on (and why) and whether each orchestrator
answered when the inventory last listed it (listing it again if that is stale or old), what
waits in the queue (pending events and the age of the oldest, planned, running and waiting
deploys), the freezes that are on, and when the reconciler last ran. It answers 200 whatever it
finds: ``status`` is ``ok`` when the database and every deployer answer, ``degraded``
otherwise.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from handlers.errors import StoreError
from handlers.release import Freeze
from receiver import version
from receiver.background.reconciler import LEASE
from receiver.http.keys import CONFIG, SERVICES, STORE
from receiver.http.shapes import (
    deployer_health_json,
    freeze_json,
    queue_json,
    reconciler_json,
    switches_json,
)
from receiver.store import Store
from receiver.store.records import DeploymentStatus, LeaseState

#: The running deploys listed at most.
RUNNING_LISTED = 50


async def status(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    inventory = request.app[SERVICES].inventory
    await inventory.fresh()
    listings = inventory.states()
    database, queue, lease, freezes = await _from_database(request.app[STORE])
    interval = config.reconcile_interval_seconds
    ok = database["reachable"] and all(s.error is None for s in listings)
    return web.json_response(
        {
            "status": "ok" if ok else "degraded",
            "version": version(),
            "database": {"embedded": config.database.url is None, **database},
            "deployers": [deployer_health_json(s) for s in listings],
            "deployer_switches": switches_json(config),
            "dry_run": config.dry_run,
            "worker": {"enabled": config.worker.enabled},
            "queue": queue,
            "freezes": [freeze_json(f) for f in freezes],
            "reconciler": reconciler_json(lease, interval=interval),
        }
    )


async def _from_database(
    store: Store,
) -> tuple[dict[str, Any], dict[str, Any] | None, LeaseState | None, list[Freeze]]:
    """Whether the database answers, the queue, the reconciler's lease and the freezes that are
    on (None, None, [] when it does not answer)."""
    try:
        queue = await store.backlog.snapshot()
        running = await store.deployments.list_deployments(
            limit=RUNNING_LISTED, status=DeploymentStatus.RUNNING.value
        )
        lease = await store.leases.get_lease(LEASE)
        freezes = await store.releases.list_freezes()
    except StoreError as exc:
        return {"reachable": False, "message": str(exc)}, None, None, []
    return {"reachable": True, "message": None}, queue_json(queue, running), lease, freezes


def routes() -> list[web.RouteDef]:
    return [web.get("/api/v1/status", status)]
