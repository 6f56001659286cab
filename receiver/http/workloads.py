"""``/api/v1/workloads``: what runs where, as the inventory lists it (the same inventory the
decisions read)."""

from __future__ import annotations

from aiohttp import web

from receiver.reloading import services_of
from receiver.views.service import listing_json, workload_json


async def list_workloads(request: web.Request) -> web.Response:
    inventory = services_of(request.app).inventory
    await inventory.fresh()
    return web.json_response(
        {
            "deployers": [listing_json(state) for state in inventory.states()],
            "workloads": [workload_json(entry) for entry in inventory.entries()],
        }
    )


def routes() -> list[web.RouteDef]:
    return [web.get("/api/v1/workloads", list_workloads, allow_head=False)]
