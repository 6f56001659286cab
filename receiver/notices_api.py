"""Routes for notifiers and the notices they sent (or could not send)."""

from __future__ import annotations

from aiohttp import web

from receiver.api import query_limit
from receiver.bodies import bad_request
from receiver.state import CONFIG, STORE

_STATUSES = ("pending", "sent", "failed")


async def list_notifiers(request: web.Request) -> web.Response:
    """The configured notifiers; URLs, tokens and passwords only as masked hints."""
    notifiers = [n.masked() for n in request.app[CONFIG].notifiers]
    return web.json_response({"notifiers": notifiers})


async def list_notices(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    if status is not None and status not in _STATUSES:
        raise bad_request(f"status must be one of {', '.join(_STATUSES)}")
    notices = await request.app[STORE].list_notices(limit=query_limit(request), status=status)
    return web.json_response(
        {
            "notices": [
                {
                    "id": n.id,
                    "notifier": n.notifier,
                    "deployment_id": n.deployment_id,
                    "kind": n.kind,
                    "status": n.status,
                    "attempts": n.attempts,
                    "last_error": n.last_error,
                    "created_at": n.created_at.isoformat(),
                    "sent_at": n.sent_at.isoformat() if n.sent_at else None,
                }
                for n in notices
            ]
        }
    )


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/notifiers", list_notifiers),
        web.get("/api/v1/notices", list_notices),
    ]
