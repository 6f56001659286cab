"""``/ping`` and ``/healthz``: open, for load balancers and orchestrators."""

from __future__ import annotations

from aiohttp import web

from receiver.errors import StoreError
from receiver.reloading import services_of
from receiver.views.answers import HealthJson, MessageJson


async def ping(_: web.Request) -> web.Response:
    pong: MessageJson = {"message": "pong"}
    return web.json_response(pong)


async def healthz(request: web.Request) -> web.Response:
    try:
        await services_of(request.app).store.ping()
    except StoreError:
        down: HealthJson = {"status": "unavailable", "database": "down"}
        return web.json_response(down, status=503)
    up: HealthJson = {"status": "ok", "database": "up"}
    return web.json_response(up)


def routes() -> list[web.RouteDef]:
    # HEAD too (the document says so), for the monitors that probe with it; the API's other
    # GET routes answer GET alone, as their paths are documented.
    return [
        web.get("/ping", ping, allow_head=True),
        web.get("/healthz", healthz, allow_head=True),
    ]
