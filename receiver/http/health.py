"""``/ping`` and ``/healthz``: open, for load balancers and orchestrators."""

from __future__ import annotations

from aiohttp import web

from receiver.errors import StoreError
from receiver.http.keys import STORE


async def ping(_: web.Request) -> web.Response:
    return web.json_response({"message": "pong"})


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[STORE].ping()
    except StoreError:
        return web.json_response({"status": "unavailable", "database": "down"}, status=503)
    return web.json_response({"status": "ok", "database": "up"})


def routes() -> list[web.RouteDef]:
    return [web.get("/ping", ping), web.get("/healthz", healthz)]
