"""``/ping`` and ``/healthz``: open, for load balancers and orchestrators."""

from __future__ import annotations

from aiohttp import web

from receiver.errors import StoreError
from receiver.runtime import SERVICES
from receiver.views.answers import HealthJson, MessageJson


async def ping(_: web.Request) -> web.Response:
    pong: MessageJson = {"message": "pong"}
    return web.json_response(pong)


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[SERVICES].store.ping()
    except StoreError:
        down: HealthJson = {"status": "unavailable", "database": "down"}
        return web.json_response(down, status=503)
    up: HealthJson = {"status": "ok", "database": "up"}
    return web.json_response(up)


def routes() -> list[web.RouteDef]:
    return [web.get("/ping", ping), web.get("/healthz", healthz)]
