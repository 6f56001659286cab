"""``/api/v1/repos``: watched repositories, their plans, and what an operator does to them.

Repository names may contain ``/``, so a name could swallow the path of a sub-resource: the
name of ``/api/v1/repos/team/app/deploy`` is ``team/app``, and never ``team/app/deploy``. No
route takes a name that ends in a segment of ``SUB_RESOURCES``; a method a path does not serve
is then a 405 of that path, with its own ``Allow`` (not an answer of a shorter path's route). A
repository named so cannot be addressed through the API.
"""

from __future__ import annotations

import re

from aiohttp import web

from receiver.decide.rules.policy import parse_policy
from receiver.errors import InvalidRequest, PolicyError
from receiver.http.auth import token_name
from receiver.http.inputs import json_object
from receiver.reloading import services_of
from receiver.views.answers import PlanJson, RepositoryWithAuditJson
from receiver.views.shapes import (
    audit_json,
    outlook_json,
    repository_json,
    result_json,
    tag_trust_json,
)

#: The last segments of the paths below a repository's, here and on the registrywatcher routes.
SUB_RESOURCES = ("deploy", "explain", "plan", "promote", "reset")
#: A repository name: text without NUL that does not end in ``/`` and a sub-resource (the
#: document's ``RepositoryName`` says the same, as an ECMA-262 pattern).
NAME_PATTERN = r"[^\x00]+" + "".join(f"(?<!/{segment})" for segment in SUB_RESOURCES)
NAME = f"{{name:{NAME_PATTERN}}}"
#: The policies the API takes: ``parse_policy``'s grammar (a kind in any case, or ``glob:`` or
#: ``regexp:`` and a pattern) without the white space it would strip, so that what is stored is
#: what was meant. The document's ``Policy`` says the same; RE2 still refuses some regexps.
POLICY_PATTERN = (
    r"(?:[Aa][Ll][Ll]|[Mm][Aa][Jj][Oo][Rr]|[Mm][Ii][Nn][Oo][Rr]|[Pp][Aa][Tt][Cc][Hh]"
    r"|[Ff][Oo][Rr][Cc][Ee]|(?:[Gg][Ll][Oo][Bb]|[Rr][Ee][Gg][Ee][Xx][Pp]):[^\x00]*"
    # its last character: neither NUL nor white space (what ``str.strip()`` strips)
    r"[^\x00\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])"
)
_POLICY = re.compile(POLICY_PATTERN)
CHANGE_FIELDS: dict[str, type | tuple[type, ...]] = {"pinned_tag": str, "auto_deploy": bool}
# ``force``: a pin's deploy goes past the deploy windows (audited).
_PATCH_FIELDS: dict[str, type | tuple[type, ...]] = {**CHANGE_FIELDS, "policy": str, "force": bool}


async def list_repositories(request: web.Request) -> web.Response:
    states = await services_of(request.app).store.repositories.list_repositories()
    return web.json_response({"repositories": [repository_json(s) for s in states]})


async def get_repository(request: web.Request) -> web.Response:
    services = services_of(request.app)
    repositories = services.store.repositories
    state = await repositories.get_repository(request.match_info["name"])
    audit = await repositories.list_audit(state.rules.name, limit=50)
    surveyed = await services.views.tag_trust(state)
    shown: RepositoryWithAuditJson = {
        **repository_json(state),
        "audit": [audit_json(a) for a in audit],
        "tags": [tag_trust_json(t) for t in surveyed],
    }
    return web.json_response(shown)


async def change_repository(request: web.Request) -> web.Response:
    changes = await json_object(request, fields=_PATCH_FIELDS)
    if "policy" in changes:
        _check_policy(changes["policy"])
    force = changes.pop("force", False)
    services = services_of(request.app)
    result = await services.actions.change(
        request.match_info["name"], changes, actor=token_name(request), force=force
    )
    return web.json_response(result_json(result, deployers=services.deployers.kinds()))


def _check_policy(policy: str) -> None:
    """Refuse a policy that does not parse, in ``parse_policy``'s words (a regexp RE2 does not
    run among them), or one outside ``POLICY_PATTERN``, naming the white space that is then
    all that is wrong; either names the field."""
    try:
        parse_policy(policy)
    except PolicyError as refused:
        raise InvalidRequest(str(refused), field="policy") from None
    if not _POLICY.fullmatch(policy):
        raise InvalidRequest(
            f"field 'policy' must not have white space around it or before its colon: {policy!r}",
            field="policy",
        )


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
    services = services_of(request.app)
    result = await services.actions.deploy(
        request.match_info["name"],
        body.get("tag"),
        actor=token_name(request),
        force=body.get("force", False),
    )
    return web.json_response(result_json(result, deployers=services.deployers.kinds()), status=202)


async def plan(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    outlooks = await services_of(request.app).actions.outlook(name)
    planned: PlanJson = {"repository": name, "targets": [outlook_json(o) for o in outlooks]}
    return web.json_response(planned)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/repos", list_repositories, allow_head=False),
        web.post(f"/api/v1/repos/{NAME}/deploy", deploy),
        web.get(f"/api/v1/repos/{NAME}/plan", plan, allow_head=False),
        web.get(f"/api/v1/repos/{NAME}", get_repository, allow_head=False),
        web.patch(f"/api/v1/repos/{NAME}", change_repository),
    ]
