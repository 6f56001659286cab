"""``/api/v1/notifiers`` and ``/api/v1/notices``: the notice channels and what they sent (or
could not send)."""

from __future__ import annotations

from aiohttp import web

from receiver.http.inputs import query_before, query_choice, query_limit
from receiver.reloading import services_of
from receiver.views.service import notifier_json
from receiver.views.shapes import notice_json

_STATUSES = ("pending", "sent", "failed")


async def list_notifiers(request: web.Request) -> web.Response:
    """The configured notifiers; URLs, tokens and passwords only as masked hints."""
    notifiers = [notifier_json(n) for n in services_of(request.app).config.notifiers]
    return web.json_response({"notifiers": notifiers})


async def list_notices(request: web.Request) -> web.Response:
    status = query_choice(request, "status", _STATUSES)
    notices = await services_of(request.app).store.notices.list_notices(
        limit=query_limit(request), status=status, before=query_before(request)
    )
    return web.json_response({"notices": [notice_json(n) for n in notices]})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/notifiers", list_notifiers, allow_head=False),
        web.get("/api/v1/notices", list_notices, allow_head=False),
    ]
