"""``/api/v1/sources``: the webhook sources, and whether their deploys are confirmed with the
registry (never their tokens)."""

from __future__ import annotations

from aiohttp import web

from receiver.reloading import services_of
from receiver.views.service import source_json


async def list_sources(request: web.Request) -> web.Response:
    config = services_of(request.app).config
    return web.json_response({"sources": [source_json(s, config) for s in config.sources]})


def routes() -> list[web.RouteDef]:
    return [web.get("/api/v1/sources", list_sources, allow_head=False)]
