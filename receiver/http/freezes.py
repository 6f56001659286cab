"""``/api/v1/freeze``: hold every deploy of a repository (or of all of them) while a freeze is
on, and release the newest per target when it is lifted. Who froze, why and when is kept, and
audited."""

from __future__ import annotations

from aiohttp import web

from receiver.errors import InvalidRequest
from receiver.http.auth import token_name
from receiver.http.inputs import json_object
from receiver.reloading import services_of
from receiver.views.shapes import freeze_answer_json, freeze_json

_FREEZE: dict[str, type | tuple[type, ...]] = {"repository": (str, type(None)), "reason": str}
_UNFREEZE: dict[str, type | tuple[type, ...]] = {"repository": (str, type(None))}


async def list_freezes(request: web.Request) -> web.Response:
    freezes = await services_of(request.app).views.freezes()
    return web.json_response({"freezes": [freeze_json(f) for f in freezes]})


async def freeze(request: web.Request) -> web.Response:
    """``{"reason": "incident 42", "repository"?: "team/app"}``; without a repository, every
    repository is frozen."""
    body = await json_object(request, fields=_FREEZE)
    reason = body.get("reason", "")
    if not reason:
        raise InvalidRequest(
            "field 'reason' must say why (it is shown with every wait)", field="reason"
        )
    result = await services_of(request.app).desk.freeze(
        body.get("repository") or None, reason=reason, actor=token_name(request)
    )
    return web.json_response(freeze_answer_json(result))


async def unfreeze(request: web.Request) -> web.Response:
    """``{"repository"?: "team/app"}`` (or no body: the freeze of every repository)."""
    body = await json_object(request, fields=_UNFREEZE, required=0) if request.body_exists else {}
    result = await services_of(request.app).desk.unfreeze(
        body.get("repository") or None, actor=token_name(request)
    )
    return web.json_response(freeze_answer_json(result))


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/freezes", list_freezes, allow_head=False),
        web.post("/api/v1/freeze", freeze),
        web.post("/api/v1/unfreeze", unfreeze),
    ]
