"""What happened: deployments (``/deployments``, ``/deployments/{id}``), events (``/events``)
and notices (``/notices``), read from the store as the API reads them, with the same filters.
The lists of deployments and events, and one deployment's timeline, are live parts. A waiting
deploy shows what it waits for now, in release control's words,
and its votes (the read model's ``ReadModel.deployments``); its page offers to approve or
reject it (``receiver.console.release``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from receiver.console.render import older_page, render_fragment, render_page
from receiver.console.sessions import page
from receiver.errors import UnknownRejection
from receiver.http.inputs import deployment_id, query_before, query_choice, record_id
from receiver.reloading import services_of
from receiver.store.records import DeploymentStatus, EventStatus
from receiver.views.service import notifier_json

LISTED = 100
#: The newest rejections the events page shows (``/rejections`` lists them all, page by page).
REJECTIONS_SHOWN = 10
_OUTCOMES = tuple(s.value for s in DeploymentStatus)
_EVENT_STATUSES = tuple(s.value for s in EventStatus)
_NOTICE_STATUSES = ("pending", "sent", "failed")
_RECEIVED = ("accepted", "duplicate", "ignored", "rejected")


@page()
async def deployments(request: web.Request) -> web.Response:
    store = services_of(request.app).store
    context = await deployments_context(request)
    context["repositories"] = [s.rules.name for s in await store.repositories.list_repositories()]
    context["targets"] = sorted(await store.deployments.last_per_target())
    context["outcomes"] = _OUTCOMES
    return render_page(request, "deployments.html", {"title": "Deployments", **context})


async def deployments_context(request: web.Request) -> dict[str, Any]:
    chosen = {
        "repository": request.query.get("repository") or None,
        "target": request.query.get("target") or None,
        "outcome": query_choice(request, "outcome", _OUTCOMES),
    }
    services = services_of(request.app)
    found = await services.store.deployments.list_deployments(
        limit=LISTED,
        repository_name=chosen["repository"],
        target_key=chosen["target"],
        status=chosen["outcome"],
        before=query_before(request),
    )
    views = await services.views.deployments(found)
    return {
        "deployments": views,
        "chosen": chosen,
        "query": request.query_string,
        "older": older_page(request, [d.id for d in found], LISTED),
    }


async def deployments_part(request: web.Request) -> str:
    return render_fragment(request, "_deployments.html", await deployments_context(request))


@page()
async def deployment(request: web.Request) -> web.Response:
    context = await deployment_context(request)
    title = f"Deployment {context['deployment'].id}"
    return render_page(request, "deployment.html", {"title": title, **context})


async def deployment_context(request: web.Request) -> dict[str, Any]:
    raw = request.match_info.get("id") or request.query.get("id", "")
    services = services_of(request.app)
    view = await services.views.deployment(deployment_id(raw))
    return {
        "deployment": view.deployment,
        "attempts": await services.store.deployments.list_attempts(view.deployment.id),
        "verdict": view.verdict,
        "votes": view.votes,
    }


async def deployment_part(request: web.Request) -> str:
    return render_fragment(request, "_deployment.html", await deployment_context(request))


@page()
async def events(request: web.Request) -> web.Response:
    services = services_of(request.app)
    config, store = services.config, services.store
    context = await events_context(request)
    context["sources"] = [s.name for s in config.sources]
    context["statuses"] = _EVENT_STATUSES
    context["received"] = _received(request)
    context["rejections"] = await store.events.list_rejections(limit=REJECTIONS_SHOWN)
    return render_page(request, "events.html", {"title": "Events", **context})


async def events_context(request: web.Request) -> dict[str, Any]:
    chosen = {
        "repository": request.query.get("repository") or None,
        "source": request.query.get("source") or None,
        "status": query_choice(request, "status", _EVENT_STATUSES),
    }
    found = await services_of(request.app).store.events.list_events(
        limit=LISTED,
        repository=chosen["repository"],
        source=chosen["source"],
        status=chosen["status"],
        before=query_before(request),
    )
    return {
        "events": found,
        "chosen": chosen,
        "query": request.query_string,
        "older": older_page(request, [e.id for e in found], LISTED),
    }


async def events_part(request: web.Request) -> str:
    return render_fragment(request, "_events.html", await events_context(request))


def _received(request: web.Request) -> list[tuple[str, dict[str, int]]]:
    """What this process received from each source since it started, by outcome (duplicates
    are not stored: this is where they are counted)."""
    services = services_of(request.app)
    registry = services.metrics.registry
    return [
        (
            source.name,
            {
                outcome: int(
                    registry.get_sample_value(
                        "regdeploy_events_total", {"source": source.name, "outcome": outcome}
                    )
                    or 0
                )
                for outcome in _RECEIVED
            },
        )
        for source in services.config.sources
    ]


@page()
async def notices(request: web.Request) -> web.Response:
    services = services_of(request.app)
    status = query_choice(request, "status", _NOTICE_STATUSES)
    found = await services.store.notices.list_notices(
        limit=LISTED, status=status, before=query_before(request)
    )
    context = {
        "title": "Notices",
        "notices": found,
        "older": older_page(request, [n.id for n in found], LISTED),
        "notifiers": [notifier_json(n) for n in services.config.notifiers],
        "statuses": _NOTICE_STATUSES,
        "chosen": {"status": status},
    }
    return render_page(request, "notices.html", context)


@page()
async def rejections(request: web.Request) -> web.Response:
    found = await services_of(request.app).store.events.list_rejections(
        limit=LISTED, before=query_before(request)
    )
    context = {
        "title": "Rejected notifications",
        "rejections": found,
        "older": older_page(request, [r.id for r in found], LISTED),
    }
    return render_page(request, "rejections.html", context)


@page()
async def rejection(request: web.Request) -> web.Response:
    number = record_id(request.match_info["id"], unknown=UnknownRejection, what="rejection")
    found = await services_of(request.app).store.events.get_rejection(number)
    context = {
        "title": f"Rejected notification {found.id}",
        "rejection": found,
        "prefix": found.prefix.decode("utf-8", "replace"),
    }
    return render_page(request, "rejection.html", context)
