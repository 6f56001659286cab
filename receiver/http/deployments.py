"""``/api/v1/deployments``: every decided deploy and skip, with its attempts."""

from __future__ import annotations

from aiohttp import web

from handlers.errors import UnknownDeployment
from receiver.http.inputs import query_choice, query_limit, whole_number
from receiver.http.keys import STORE
from receiver.http.shapes import attempt_json, deployment_json
from receiver.store.records import DeploymentStatus

_STATUSES = tuple(s.value for s in DeploymentStatus)
_MAX_ID = 2**63 - 1  # bigint


async def list_deployments(request: web.Request) -> web.Response:
    status = query_choice(request, "status", _STATUSES)
    deployments = await request.app[STORE].deployments.list_deployments(
        limit=query_limit(request),
        repository_name=request.query.get("repository") or None,
        target_key=request.query.get("target") or None,
        status=status,
    )
    return web.json_response({"deployments": [deployment_json(d) for d in deployments]})


async def get_deployment(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    number = whole_number(raw, at_most=_MAX_ID)
    if number is None:
        raise UnknownDeployment(f"no deployment {raw[:40]}")
    deployments = request.app[STORE].deployments
    deployment = await deployments.get_deployment(number)
    attempts = await deployments.list_attempts(deployment.id)
    return web.json_response(
        {**deployment_json(deployment), "attempts": [attempt_json(a) for a in attempts]}
    )


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/deployments", list_deployments),
        web.get("/api/v1/deployments/{id}", get_deployment),
    ]
