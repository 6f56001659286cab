"""What runs where (``/workloads``) and why (``/explain``): the inventory the decisions read,
and the planner's explanation for a repository and a target (``regdeploy explain``'s answer),
with release control's: the freezes, each target's release rules and the deploy that waits for
it, in the same words."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from receiver.console.render import render_page
from receiver.console.sessions import page
from receiver.decide.actions import sorted_tags
from receiver.decide.words import no_targets
from receiver.reloading import services_of


@page()
async def workloads(request: web.Request) -> web.Response:
    services = services_of(request.app)
    context = {
        "title": "Workloads",
        "lines": await services.views.workloads(),
        "listings": services.views.listings(),
        "deployers": services.deployers.kinds(),
    }
    return render_page(request, "workloads.html", context)


@page()
async def explain(request: web.Request) -> web.Response:
    states = await services_of(request.app).store.repositories.list_repositories()
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
    return render_page(request, "explain.html", context)


async def _explained(request: web.Request, name: str, target: str | None) -> dict[str, Any]:
    services = services_of(request.app)
    actions = services.actions
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
        "release": await services.views.release_of(state.rules.name, targets),
        "no_targets": None if every else no_targets(state, services.deployers.kinds()),
    }
