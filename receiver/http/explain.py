"""``GET /api/v1/repos/{name}/explain``: why each target of a watched repository gets what it
gets, for every tag the repository has (``?target=`` narrows it to one target, by key or name).

The planner answers with the decisions the worker would make; nothing is stored.
"""

from __future__ import annotations

from aiohttp import web

from receiver.http.keys import ACTIONS, DEPLOYERS
from receiver.http.repositories import NAME
from receiver.http.shapes import explanation_json


async def explain(request: web.Request) -> web.Response:
    state, catalog, explanations = await request.app[ACTIONS].explain(
        request.match_info["name"], target=request.query.get("target") or None
    )
    deployers = request.app[DEPLOYERS].kinds()
    return web.json_response(explanation_json(state, catalog, explanations, deployers=deployers))


def routes() -> list[web.RouteDef]:
    return [web.get(f"/api/v1/repos/{NAME}/explain", explain)]
