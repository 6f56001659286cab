"""What runs where (``/workloads``) and why (``/explain``): the inventory the decisions read,
and the planner's explanation for a repository and a target (``regdeploy explain``'s answer),
with release control's: the freezes, each target's release rules and the deploy that waits for
it, in the same words."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from receiver.console.render import render
from receiver.console.sessions import page
from receiver.decide.actions import no_targets, sorted_tags
from receiver.decide.workloads import workload_lines
from receiver.http.keys import ACTIONS, CONFIG, DEPLOYERS, PLANNER, RELEASE, SERVICES, STORE


@page()
async def workloads(request: web.Request) -> web.Response:
    inventory = request.app[SERVICES].inventory
    await inventory.fresh()
    store = request.app[STORE]
    lines = await workload_lines(
        inventory.entries(),
        planner=request.app[PLANNER],
        repositories=await store.repositories.list_repositories(),
        aliases=request.app[CONFIG].aliases,
        last=await store.deployments.last_per_target(),
    )
    context = {
        "title": "Workloads",
        "lines": lines,
        "listings": inventory.states(),
        "deployers": request.app[DEPLOYERS].kinds(),
    }
    return render(request, "workloads.html", context)


@page()
async def explain(request: web.Request) -> web.Response:
    states = await request.app[STORE].repositories.list_repositories()
    names = [s.rules.name for s in states]
    name = request.query.get("repository") or (names[0] if len(names) == 1 else "")
    target = request.query.get("target") or None
    context: dict[str, Any] = {
        "title": f"Explain {name}" if name else "Explain",
        "names": names,
        "chosen": {"repository": name, "target": target},
        "explained": None,
    }
    if name:
        context["explained"] = await _explained(request, name, target)
    return render(request, "explain.html", context)


async def _explained(request: web.Request, name: str, target: str | None) -> dict[str, Any]:
    actions = request.app[ACTIONS]
    state, catalog, explanations = await actions.explain(name, target=target)
    every = explanations if target is None else (await actions.explain(name))[2]
    order = {tag: i for i, tag in enumerate(sorted_tags([t.tag for t in catalog]))}
    targets = [e.outlook.target for e in explanations]
    return {
        "state": state,
        "tags": sorted(catalog, key=lambda t: order[t.tag]),
        "order": order,
        "explanations": [
            (e, sorted(e.pushes, key=lambda p: order[p.tag.tag])) for e in explanations
        ],
        "targets": [e.outlook.target for e in every],
        "release": await request.app[RELEASE].explain(state.rules.name, targets),
        "no_targets": None if every else no_targets(state, request.app[DEPLOYERS].kinds()),
    }
