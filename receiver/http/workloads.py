"""``/api/v1/workloads``: what runs where, as the inventory lists it (the same inventory the
decisions read)."""

from __future__ import annotations

from aiohttp import web

from receiver.http.keys import SERVICES
from receiver.http.shapes import entry_json, listing_json


async def list_workloads(request: web.Request) -> web.Response:
    inventory = request.app[SERVICES].inventory
    await inventory.fresh()
    return web.json_response(
        {
            "deployers": [listing_json(state) for state in inventory.states()],
            "workloads": [entry_json(entry) for entry in inventory.entries()],
        }
    )


def routes() -> list[web.RouteDef]:
    return [web.get("/api/v1/workloads", list_workloads)]
