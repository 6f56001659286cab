"""``/api/v1/repos``: watched repositories, their plans, and what an operator does to them.

Repository names may contain ``/``.
"""

from __future__ import annotations

from aiohttp import web

from receiver.errors import InvalidRequest
from receiver.http.auth import token_name
from receiver.http.inputs import json_object
from receiver.runtime import SERVICES
from receiver.views.answers import PlanJson, RepositoryWithAuditJson
from receiver.views.shapes import audit_json, outlook_json, repository_json, result_json

NAME = "{name:.+}"
CHANGE_FIELDS: dict[str, type | tuple[type, ...]] = {"pinned_tag": str, "auto_deploy": bool}
# ``force``: a pin's deploy goes past the deploy windows (audited).
_PATCH_FIELDS: dict[str, type | tuple[type, ...]] = {**CHANGE_FIELDS, "policy": str, "force": bool}


async def list_repositories(request: web.Request) -> web.Response:
    states = await request.app[SERVICES].store.repositories.list_repositories()
    return web.json_response({"repositories": [repository_json(s) for s in states]})


async def get_repository(request: web.Request) -> web.Response:
    repositories = request.app[SERVICES].store.repositories
    state = await repositories.get_repository(request.match_info["name"])
    audit = await repositories.list_audit(state.rules.name, limit=50)
    shown: RepositoryWithAuditJson = {
        **repository_json(state),
        "audit": [audit_json(a) for a in audit],
    }
    return web.json_response(shown)


async def change_repository(request: web.Request) -> web.Response:
    changes = await json_object(request, fields=_PATCH_FIELDS)
    force = changes.pop("force", False)
    services = request.app[SERVICES]
    result = await services.actions.change(
        request.match_info["name"], changes, actor=token_name(request), force=force
    )
    return web.json_response(result_json(result, deployers=services.deployers.kinds()))


async def deploy(request: web.Request) -> web.Response:
    """Deploy ``tag`` now; without one (an empty object, or no body), what the pin or the
    policy wants now; ``force``: past the deploy windows (audited). The answer's ``message``
    says why a target gets nothing, or what its deploy waits for."""
    body = (
        await json_object(request, fields={"tag": str, "force": bool}, required=0)
        if request.body_exists
        else {}
    )
    if "tag" in body and not body["tag"]:
        raise InvalidRequest(
            "field 'tag' must not be empty (leave it out to deploy what the rules want)",
            field="tag",
        )
    services = request.app[SERVICES]
    result = await services.actions.deploy(
        request.match_info["name"],
        body.get("tag"),
        actor=token_name(request),
        force=body.get("force", False),
    )
    return web.json_response(result_json(result, deployers=services.deployers.kinds()), status=202)


async def plan(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    outlooks = await request.app[SERVICES].actions.outlook(name)
    planned: PlanJson = {"repository": name, "targets": [outlook_json(o) for o in outlooks]}
    return web.json_response(planned)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/repos", list_repositories),
        web.post(f"/api/v1/repos/{NAME}/deploy", deploy),
        web.get(f"/api/v1/repos/{NAME}/plan", plan),
        web.get(f"/api/v1/repos/{NAME}", get_repository),
        web.patch(f"/api/v1/repos/{NAME}", change_repository),
    ]
