"""``/api/v1/deployments``: every decided deploy and skip, with its attempts, what a waiting one
waits for, and the votes that approve or reject it."""

from __future__ import annotations

from aiohttp import web

from receiver.errors import UnknownDeployment
from receiver.http.auth import token_name
from receiver.http.inputs import json_object, query_choice, query_limit, whole_number
from receiver.http.keys import RELEASE, STORE
from receiver.http.shapes import attempt_json, deployment_json, vote_result_json
from receiver.store.records import Deployment, DeploymentStatus

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
    return web.json_response({"deployments": await shown(request, deployments)})


async def get_deployment(request: web.Request) -> web.Response:
    deployments = request.app[STORE].deployments
    deployment = await deployments.get_deployment(_id(request))
    attempts = await deployments.list_attempts(deployment.id)
    [shape] = await shown(request, [deployment])
    return web.json_response({**shape, "attempts": [attempt_json(a) for a in attempts]})


async def approve(request: web.Request) -> web.Response:
    """Approve a waiting deploy as the request's token (an ``approve`` or ``write`` scope)."""
    return await _vote(request, approve=True)


async def reject(request: web.Request) -> web.Response:
    """Reject a waiting deploy: it ends, ``rejected``."""
    return await _vote(request, approve=False)


async def _vote(request: web.Request, *, approve: bool) -> web.Response:
    deployment_id = _id(request)
    body = (
        await json_object(request, fields={"comment": str}, required=0)
        if request.body_exists
        else {}
    )
    release = request.app[RELEASE]
    vote = release.approve if approve else release.reject
    result = await vote(deployment_id, actor=token_name(request), comment=body.get("comment", ""))
    return web.json_response(vote_result_json(result))


async def shown(request: web.Request, deployments: list[Deployment]) -> list[dict[str, object]]:
    """``deployments`` as JSON, each waiting one with what it waits for now."""
    release = request.app[RELEASE]
    verdicts = await release.verdicts(deployments)
    votes = await release.votes(deployments)
    return [
        deployment_json(d, verdict=verdicts.get(d.id), votes=votes.get(d.id, ()))
        for d in deployments
    ]


def _id(request: web.Request) -> int:
    raw = request.match_info["id"]
    number = whole_number(raw, at_most=_MAX_ID)
    if number is None:
        raise UnknownDeployment(f"no deployment {raw[:40]}")
    return number


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/deployments", list_deployments),
        web.get("/api/v1/deployments/{id}", get_deployment),
        web.post("/api/v1/deployments/{id}/approve", approve),
        web.post("/api/v1/deployments/{id}/reject", reject),
    ]
