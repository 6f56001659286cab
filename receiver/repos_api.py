"""Routes for watched repositories and deployments.

The registrywatcher-compatible routes (``/repos``, ``/tags/{name}``) answer exactly the shapes
existing scripts expect; the richer resources live under ``/api/v1/``. Repository names may
contain ``/``. Every route needs an API token (checked by ``api.api_auth``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from handlers.policy import PolicyError
from receiver.api import query_limit, token_name
from receiver.bodies import bad_request, json_error, json_object
from receiver.planner import Outlook
from receiver.records import Attempt, Deployment, DeploymentStatus, RepositoryState
from receiver.repository_actions import ActionResult, UnknownTag, sorted_tags
from receiver.state import ACTIONS, STORE
from receiver.store import UnknownRepository

_CHANGE_FIELDS: dict[str, type | tuple[type, ...]] = {"pinned_tag": str, "auto_deploy": bool}
_PATCH_FIELDS: dict[str, type | tuple[type, ...]] = {**_CHANGE_FIELDS, "policy": str}


# -- registrywatcher-compatible ---------------------------------------------------------------


async def list_repos(request: web.Request) -> web.Response:
    actions, store = request.app[ACTIONS], request.app[STORE]
    answer: dict[str, Any] = {}
    for state in await store.list_repositories():
        tags = await store.repository_tags(state.rules.image)
        answer[state.rules.name] = {
            "auto_deploy": state.rules.auto_deploy,
            "pinned_tag": state.rules.pinned_tag,
            "pinned_tag_value": await actions.pinned_tag_value(state, tags),
            "tags": sorted_tags(tags),
        }
    return web.json_response(answer)


async def get_tag(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        state = await request.app[STORE].get_repository(name)
    except UnknownRepository as exc:
        raise bad_request(str(exc)) from None
    return web.json_response({"repo_tag": state.rules.pinned_tag})


async def set_tag(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    changes = await json_object(request, fields=_CHANGE_FIELDS)
    result = await _act(request, lambda a: a.change(name, changes, actor=token_name(request)))
    return web.json_response({"message": _message(name, result)})


async def reset_tag(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    result = await _act(
        request, lambda a: a.change(name, {"pinned_tag": ""}, actor=token_name(request))
    )
    return web.json_response({"message": _message(name, result)})


# -- /api/v1 ----------------------------------------------------------------------------------


async def v1_list_repos(request: web.Request) -> web.Response:
    states = await request.app[STORE].list_repositories()
    return web.json_response({"repositories": [repository_json(s) for s in states]})


async def v1_get_repo(request: web.Request) -> web.Response:
    state = await _state(request)
    audit = await request.app[STORE].list_audit(state.rules.name, limit=50)
    body = repository_json(state)
    body["audit"] = [
        {
            "actor": a.actor,
            "field": a.field,
            "old": a.old_value,
            "new": a.new_value,
            "changed_at": a.changed_at.isoformat(),
        }
        for a in audit
    ]
    return web.json_response(body)


async def v1_patch_repo(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    changes = await json_object(request, fields=_PATCH_FIELDS)
    result = await _act(request, lambda a: a.change(name, changes, actor=token_name(request)))
    return web.json_response(_result_json(result))


async def v1_deploy(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    body = await json_object(request, fields={"tag": str})
    if "tag" not in body or not body["tag"]:
        raise bad_request("field 'tag' is required")
    result = await _act(request, lambda a: a.deploy(name, body["tag"], actor=token_name(request)))
    return web.json_response(_result_json(result), status=202)


async def v1_plan(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    outlooks = await _act(request, lambda a: a.outlook(name))
    return web.json_response({"repository": name, "targets": [outlook_json(o) for o in outlooks]})


async def v1_list_deployments(request: web.Request) -> web.Response:
    query = request.query
    status = query.get("status") or None
    if status is not None and status not in {s.value for s in DeploymentStatus}:
        raise bad_request(f"status must be one of {', '.join(s.value for s in DeploymentStatus)}")
    deployments = await request.app[STORE].list_deployments(
        limit=query_limit(request),
        repository_name=query.get("repository") or None,
        target_key=query.get("target") or None,
        status=status,
    )
    return web.json_response({"deployments": [deployment_json(d) for d in deployments]})


async def v1_get_deployment(request: web.Request) -> web.Response:
    raw = request.match_info["id"]
    # isdigit() alone also accepts digits int() refuses, such as "²".
    numeric = raw.isascii() and raw.isdigit()
    deployment = await request.app[STORE].find_deployment(int(raw)) if numeric else None
    if deployment is None:
        raise json_error(web.HTTPNotFound, f"no deployment {raw}")
    body = deployment_json(deployment)
    body["attempts"] = [
        attempt_json(a) for a in await request.app[STORE].list_attempts(deployment.id)
    ]
    return web.json_response(body)


def routes() -> list[web.RouteDef]:
    name = "{name:.+}"
    return [
        web.get("/repos", list_repos),
        web.post(f"/tags/{name}/reset", reset_tag),
        web.get(f"/tags/{name}", get_tag),
        web.post(f"/tags/{name}", set_tag),
        web.get("/api/v1/repos", v1_list_repos),
        web.post(f"/api/v1/repos/{name}/deploy", v1_deploy),
        web.get(f"/api/v1/repos/{name}/plan", v1_plan),
        web.get(f"/api/v1/repos/{name}", v1_get_repo),
        web.patch(f"/api/v1/repos/{name}", v1_patch_repo),
        web.get("/api/v1/deployments", v1_list_deployments),
        web.get("/api/v1/deployments/{id}", v1_get_deployment),
    ]


# -- shapes -----------------------------------------------------------------------------------


def repository_json(state: RepositoryState) -> dict[str, Any]:
    repo = state.rules
    return {
        "name": repo.name,
        "image": str(repo.image),
        "pinned_tag": repo.pinned_tag,
        "auto_deploy": repo.auto_deploy,
        "policy": repo.policy,
        "match_prerelease": repo.match_prerelease,
        "filters": [dict(f) for f in repo.filters],
        "targets": [t.as_json() for t in repo.targets],
        "changed_through_api": list(state.overrides),
        "updated_at": state.updated_at.isoformat(),
    }


def deployment_json(d: Deployment) -> dict[str, Any]:
    return {
        "id": d.id,
        "target": d.target.as_json(),
        "target_key": d.target.key,
        "repository": d.repository_name,
        "image": str(d.image),
        "tag": d.image.tag,
        "digest": d.image.digest,
        "previous_image": d.previous_image,
        "status": d.status.value,
        "reason": d.reason,
        "trigger": d.trigger,
        "message": d.message,
        "attempts": d.attempts,
        "event_id": d.event_id,
        "created_at": d.created_at.isoformat(),
        "updated_at": d.updated_at.isoformat(),
        "finished_at": d.finished_at.isoformat() if d.finished_at else None,
    }


def attempt_json(a: Attempt) -> dict[str, Any]:
    return {
        "attempt": a.attempt,
        "worker": a.worker,
        "outcome": a.outcome,
        "message": a.message,
        "started_at": a.started_at.isoformat(),
        "finished_at": a.finished_at.isoformat() if a.finished_at else None,
    }


def outlook_json(o: Outlook) -> dict[str, Any]:
    return {
        "target": o.target.as_json(),
        "running": str(o.running) if o.running else None,
        "image": str(o.image) if o.image else None,
        "deploy": o.deploy,
        "reason": o.reason,
    }


def _result_json(result: ActionResult) -> dict[str, Any]:
    return {
        "repository": repository_json(result.state),
        "changed": {k: {"old": old, "new": new} for k, (old, new) in result.changed.items()},
        "deployments": list(result.deployments),
        "targets": [outlook_json(o) for o in result.outlooks],
    }


def _message(name: str, result: ActionResult) -> str:
    parts = [
        f"{name}: "
        + (
            ", ".join(f"{k} {o!r} -> {n!r}" for k, (o, n) in result.changed.items())
            or "nothing changed"
        )
    ]
    if result.deployments:
        parts.append(f"deploying to {len(result.deployments)} target(s)")
    return "; ".join(parts)


async def _state(request: web.Request) -> RepositoryState:
    try:
        return await request.app[STORE].get_repository(request.match_info["name"])
    except UnknownRepository as exc:
        raise _not_found(str(exc)) from None


async def _act(request: web.Request, action: Any) -> Any:
    """Run ``action(actions)``, mapping the operator's mistakes to 400 (404 for an unknown
    repository under /api/v1)."""
    try:
        return await action(request.app[ACTIONS])
    except UnknownRepository as exc:
        if request.path.startswith("/api/"):
            raise _not_found(str(exc)) from None
        raise bad_request(str(exc)) from None
    except (UnknownTag, PolicyError) as exc:
        raise bad_request(str(exc)) from None


def _not_found(message: str) -> web.HTTPError:
    return json_error(web.HTTPNotFound, message)
