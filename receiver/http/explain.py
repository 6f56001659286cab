"""``GET /api/v1/repos/{name}/explain``: why each target of a watched repository gets what it
gets, for every tag the repository has (``?target=`` narrows it to one target, by key or name).

The planner answers with the decisions the worker would make; nothing is stored. Release
control adds the freezes that hold the repository, each target's release rules and the deploy
that waits for it, with what it waits for (the same words as everywhere).
"""

from __future__ import annotations

from aiohttp import web

from receiver.http.repositories import NAME
from receiver.reloading import services_of
from receiver.views.shapes import explanation_json


async def explain(request: web.Request) -> web.Response:
    services = services_of(request.app)
    state, catalog, explanations = await services.actions.explain(
        request.match_info["name"], target=request.query.get("target") or None
    )
    deployers = services.deployers.kinds()
    targets = [e.outlook.target for e in explanations]
    release = await services.views.release_of(state.rules.name, targets)
    return web.json_response(
        explanation_json(state, catalog, explanations, deployers=deployers, release=release)
    )


def routes() -> list[web.RouteDef]:
    return [web.get(f"/api/v1/repos/{NAME}/explain", explain, allow_head=False)]
