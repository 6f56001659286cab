"""``/api/v1/events``, ``/api/v1/catalog`` and ``/api/v1/rejections``: what the registries
told regdeploy, as stored."""

from __future__ import annotations

from aiohttp import web

from receiver.http.inputs import query_choice, query_limit
from receiver.runtime import SERVICES
from receiver.store.records import EventStatus
from receiver.views.shapes import catalog_json, event_json, rejection_json

_STATUSES = tuple(s.value for s in EventStatus)


async def list_events(request: web.Request) -> web.Response:
    events = await request.app[SERVICES].store.events.list_events(
        limit=query_limit(request),
        repository=request.query.get("repository") or None,
        source=request.query.get("source") or None,
        status=query_choice(request, "status", _STATUSES),
    )
    return web.json_response({"events": [event_json(e) for e in events]})


async def catalog(request: web.Request) -> web.Response:
    tags = await request.app[SERVICES].store.events.list_tags()
    return web.json_response({"repositories": catalog_json(tags)})


async def list_rejections(request: web.Request) -> web.Response:
    rejections = await request.app[SERVICES].store.events.list_rejections(
        limit=query_limit(request)
    )
    return web.json_response({"rejections": [rejection_json(r) for r in rejections]})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/events", list_events),
        web.get("/api/v1/catalog", catalog),
        web.get("/api/v1/rejections", list_rejections),
    ]
