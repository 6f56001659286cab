"""The registrywatcher-compatible routes, answering exactly the shapes its scripts expect.

``GET /repos``, ``GET /tags/{name}``, ``POST /tags/{name}`` (``pinned_tag``, ``auto_deploy``)
and ``POST /tags/{name}/reset``. Their routes are named ``registrywatcher.*``, by which the
error map answers an unknown repository with registrywatcher's 400.
"""

from __future__ import annotations

from aiohttp import web

from receiver.decide.actions import ActionResult, sorted_tags
from receiver.decide.words import describe
from receiver.http.auth import token_name
from receiver.http.errors import REGISTRYWATCHER
from receiver.http.inputs import json_object
from receiver.http.repositories import CHANGE_FIELDS, NAME
from receiver.reloading import services_of
from receiver.views.answers import MessageJson, RegistrywatcherRepoJson, RegistrywatcherTagJson


async def list_repos(request: web.Request) -> web.Response:
    services = services_of(request.app)
    actions, store = services.actions, services.store
    answer: dict[str, RegistrywatcherRepoJson] = {}
    for state in await store.repositories.list_repositories():
        tags = await store.events.repository_tags(state.rules.image)
        answer[state.rules.name] = {
            "auto_deploy": state.rules.auto_deploy,
            "pinned_tag": state.rules.pinned_tag,
            "pinned_tag_value": await actions.pinned_tag_value(state, tags),
            "tags": sorted_tags(tags),
        }
    return web.json_response(answer)


async def get_tag(request: web.Request) -> web.Response:
    state = await services_of(request.app).store.repositories.get_repository(
        request.match_info["name"]
    )
    pin: RegistrywatcherTagJson = {"repo_tag": state.rules.pinned_tag}
    return web.json_response(pin)


async def set_tag(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    changes = await json_object(request, fields=CHANGE_FIELDS)
    result = await services_of(request.app).actions.change(name, changes, actor=token_name(request))
    return web.json_response(_message(request, result))


async def reset_tag(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    actions = services_of(request.app).actions
    result = await actions.change(name, {"pinned_tag": ""}, actor=token_name(request))
    return web.json_response(_message(request, result))


def routes() -> list[web.RouteDef]:
    return [
        web.get("/repos", list_repos, name=f"{REGISTRYWATCHER}repos", allow_head=False),
        web.post(f"/tags/{NAME}/reset", reset_tag, name=f"{REGISTRYWATCHER}reset"),
        web.get(f"/tags/{NAME}", get_tag, name=f"{REGISTRYWATCHER}get_tag", allow_head=False),
        web.post(f"/tags/{NAME}", set_tag, name=f"{REGISTRYWATCHER}set_tag"),
    ]


def _message(request: web.Request, result: ActionResult) -> MessageJson:
    """What changed and what was deployed, or why nothing was: the API's own words."""
    return {"message": describe(result, deployers=services_of(request.app).deployers.kinds())}
