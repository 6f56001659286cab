"""``/api/v1/deployments``: every decided deploy and skip, with its attempts, what a waiting one
waits for, and the votes that approve or reject it."""

from __future__ import annotations

from aiohttp import web

from receiver.http.auth import token_name
from receiver.http.inputs import (
    deployment_id,
    json_object,
    query_before,
    query_choice,
    query_limit,
)
from receiver.reloading import services_of
from receiver.store.records import DeploymentStatus
from receiver.views.shapes import deployment_detail_json, deployment_json, vote_result_json

_STATUSES = tuple(s.value for s in DeploymentStatus)


async def list_deployments(request: web.Request) -> web.Response:
    services = services_of(request.app)
    status = query_choice(request, "status", _STATUSES)
    deployments = await services.store.deployments.list_deployments(
        limit=query_limit(request),
        repository_name=request.query.get("repository") or None,
        target_key=request.query.get("target") or None,
        status=status,
        before=query_before(request),
    )
    views = await services.views.deployments(deployments)
    return web.json_response({"deployments": [deployment_json(view) for view in views]})


async def get_deployment(request: web.Request) -> web.Response:
    services = services_of(request.app)
    view = await services.views.deployment(deployment_id(request.match_info["id"]))
    attempts = await services.store.deployments.list_attempts(view.deployment.id)
    return web.json_response(deployment_detail_json(view, attempts))


async def approve(request: web.Request) -> web.Response:
    """Approve a waiting deploy as the request's token (an ``approve`` or ``write`` scope)."""
    return await _vote(request, approve=True)


async def reject(request: web.Request) -> web.Response:
    """Reject a waiting deploy: it ends, ``rejected``."""
    return await _vote(request, approve=False)


async def _vote(request: web.Request, *, approve: bool) -> web.Response:
    number = deployment_id(request.match_info["id"])
    body = (
        await json_object(request, fields={"comment": str}, required=0)
        if request.body_exists
        else {}
    )
    desk = services_of(request.app).desk
    vote = desk.approve if approve else desk.reject
    result = await vote(number, actor=token_name(request), comment=body.get("comment", ""))
    return web.json_response(vote_result_json(result))


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/deployments", list_deployments, allow_head=False),
        web.get("/api/v1/deployments/{id}", get_deployment, allow_head=False),
        web.post("/api/v1/deployments/{id}/approve", approve),
        web.post("/api/v1/deployments/{id}/reject", reject),
    ]
