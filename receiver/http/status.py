"""``GET /api/v1/status``: what a running regdeploy is doing, for people and the CLI.

Whether the database answers, which deployers are on (and why) and whether each orchestrator
answered when the inventory last listed it (listing it again if that is stale or old), what
waits in the queue (pending events and the age of the oldest, planned, running and waiting
deploys), the freezes that are on, and when the reconciler last ran. It answers 200 whatever it
finds: ``status`` is ``ok`` when the database and every deployer answer, ``degraded``
otherwise. The read model (``receiver.views.reads``) gathers it, for this route and for the
console's overview.
"""

from __future__ import annotations

from aiohttp import web

from receiver.reloading import RUNNING
from receiver.views.service import status_json


async def status(request: web.Request) -> web.Response:
    now = request.app[RUNNING]
    services = now.services
    found = await services.views.status()
    running = await services.views.deployments(found.running)
    answer = status_json(found, config=services.config, running=running, process=now.process)
    return web.json_response(answer)


def routes() -> list[web.RouteDef]:
    return [web.get("/api/v1/status", status, allow_head=False)]
