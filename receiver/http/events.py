"""``/api/v1/events``, ``/api/v1/catalog`` and ``/api/v1/rejections``: what the registries
told regdeploy, as stored.

Each list is a page of at most ``MAX_LIMIT`` entries, newest first: ``?before=ID`` (the last id
of a page) gives the next one; the catalog's pages are of repositories, ``?after=REGISTRY/REPO``.
A list shows a rejection's reason cut short; ``/api/v1/rejections/{id}`` has the whole (capped)
reason and what was kept of the body.
"""

from __future__ import annotations

from aiohttp import web

from handlers.references import parse_name
from receiver.errors import InvalidReference, InvalidRequest, UnknownRejection
from receiver.http.inputs import query_before, query_choice, query_limit, record_id
from receiver.reloading import services_of
from receiver.store.records import EventStatus
from receiver.views.answers import CatalogJson, EventListJson, RejectionListJson
from receiver.views.shapes import (
    catalog_json,
    event_json,
    rejection_detail_json,
    rejection_json,
)

_STATUSES = tuple(s.value for s in EventStatus)


async def list_events(request: web.Request) -> web.Response:
    events = await services_of(request.app).store.events.list_events(
        limit=query_limit(request),
        repository=request.query.get("repository") or None,
        source=request.query.get("source") or None,
        status=query_choice(request, "status", _STATUSES),
        before=query_before(request),
    )
    answer: EventListJson = {"events": [event_json(e) for e in events]}
    return web.json_response(answer)


async def catalog(request: web.Request) -> web.Response:
    after = request.query.get("after") or None
    try:
        start = parse_name(after) if after is not None else None
    except InvalidReference:
        raise InvalidRequest(
            "after must be a repository, as REGISTRY/PATH", field="after"
        ) from None
    tags = await services_of(request.app).store.events.list_tags(
        limit=query_limit(request), after=start
    )
    answer: CatalogJson = {"repositories": catalog_json(tags)}
    return web.json_response(answer)


async def list_rejections(request: web.Request) -> web.Response:
    rejections = await services_of(request.app).store.events.list_rejections(
        limit=query_limit(request),
        source=request.query.get("source") or None,
        before=query_before(request),
    )
    answer: RejectionListJson = {"rejections": [rejection_json(r) for r in rejections]}
    return web.json_response(answer)


async def get_rejection(request: web.Request) -> web.Response:
    number = record_id(request.match_info["id"], unknown=UnknownRejection, what="rejection")
    found = await services_of(request.app).store.events.get_rejection(number)
    return web.json_response(rejection_detail_json(found))


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/events", list_events, allow_head=False),
        web.get("/api/v1/catalog", catalog, allow_head=False),
        web.get("/api/v1/rejections", list_rejections, allow_head=False),
        web.get("/api/v1/rejections/{id}", get_rejection, allow_head=False),
    ]
