"""``POST /api/v1/reload`` (a write token): read the configuration file again and run it, or
refuse it whole (``receiver.reloading``). ``200`` says it was reloaded or held what runs
already; ``422`` says it was refused, with the file's problems in ``check-config``'s words (the
running configuration stays); ``409`` says this regdeploy was started without a file."""

from __future__ import annotations

from aiohttp import web

from receiver.errors import Conflict
from receiver.http.auth import token_name
from receiver.reloading import RUNNING, Reloaded
from receiver.views.answers import ReloadJson

#: The status of a refused reload: the request was understood, the file cannot be run.
REFUSED = 422


async def reload_config(request: web.Request) -> web.Response:
    running = request.app[RUNNING]
    if not running.reloadable:
        raise Conflict("this regdeploy was started without a configuration file to read again")
    reloaded = await running.reload(by=token_name(request))
    status = REFUSED if reloaded.outcome == "refused" else 200
    return web.json_response(reload_json(reloaded), status=status)


def reload_json(reloaded: Reloaded) -> ReloadJson:
    return {
        "outcome": reloaded.outcome,
        "path": reloaded.path,
        "fingerprint": reloaded.fingerprint,
        "previous": reloaded.previous,
        "restart_needed": list(reloaded.restart_needed),
        "problems": list(reloaded.problems),
        "message": reloaded.message,
    }


def routes() -> list[web.RouteDef]:
    return [web.post("/api/v1/reload", reload_config)]
