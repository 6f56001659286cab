"""``/api/v1/rollouts``: every rollout with its waves and targets; a halted one resumed or
abandoned by a person; and ``/api/v1/repos/{name}/promote``, a promotion asked for."""

from __future__ import annotations

from aiohttp import web

from receiver.decide.rules.rollout import RolloutState
from receiver.errors import InvalidRequest, UnknownRollout
from receiver.http.auth import token_name
from receiver.http.inputs import json_object, query_before, query_choice, query_limit, record_id
from receiver.http.repositories import NAME
from receiver.reloading import services_of
from receiver.views.rollouts import promotion_json, rollout_json

_STATES = tuple(s.value for s in RolloutState)


def rollout_id(raw: str) -> int:
    return record_id(raw, unknown=UnknownRollout, what="rollout")


async def list_rollouts(request: web.Request) -> web.Response:
    services = services_of(request.app)
    rollouts = await services.store.rollouts.list(
        repository_name=request.query.get("repository") or None,
        state=query_choice(request, "state", _STATES),
        limit=query_limit(request),
        before=query_before(request),
    )
    return web.json_response({"rollouts": [rollout_json(r) for r in rollouts]})


async def get_rollout(request: web.Request) -> web.Response:
    services = services_of(request.app)
    rollout = await services.store.rollouts.get(rollout_id(request.match_info["id"]))
    return web.json_response(rollout_json(rollout))


async def resume(request: web.Request) -> web.Response:
    """Go on with a halted rollout: its halted wave deploys again where it failed, and soaks."""
    return await _asked(request, "resume")


async def abandon(request: web.Request) -> web.Response:
    """Stop a running or halted rollout where it is: what waits for its later waves ends."""
    return await _asked(request, "abandon")


async def _asked(request: web.Request, action: str) -> web.Response:
    """What a person asks of a rollout (``resume``, ``abandon``), as the request's token, under
    the rollout's row lock (the rollout desk says whether it can take it)."""
    services = services_of(request.app)
    desk = services.rollout_desk
    act = desk.resume if action == "resume" else desk.abandon
    actor = token_name(request)
    number = rollout_id(request.match_info["id"])
    rollout = await services.store.rollouts.locked(number, lambda r: act(r, actor=actor))
    return web.json_response(rollout_json(rollout))


async def promote(request: web.Request) -> web.Response:
    """Promote the digest that passed the stage before to ``stage`` (``force``: one that did
    not, audited)."""
    body = await json_object(
        request, fields={"stage": str, "digest": str, "force": bool}, required=1
    )
    if not body.get("stage"):
        raise InvalidRequest("field 'stage' is required", field="stage")
    services = services_of(request.app)
    promoted = await services.promoter.ask(
        request.match_info["name"],
        body["stage"],
        digest=body.get("digest") or None,
        force=bool(body.get("force")),
        actor=token_name(request),
    )
    return web.json_response(promotion_json(promoted), status=202)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/rollouts", list_rollouts, allow_head=False),
        web.get("/api/v1/rollouts/{id}", get_rollout, allow_head=False),
        web.post("/api/v1/rollouts/{id}/resume", resume),
        web.post("/api/v1/rollouts/{id}/abandon", abandon),
        web.post(f"/api/v1/repos/{NAME}/promote", promote),
    ]
