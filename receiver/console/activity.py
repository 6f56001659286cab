"""What happened: deployments (``/deployments``, ``/deployments/{id}``), events (``/events``)
and notices (``/notices``), read from the store as the API reads them, with the same filters.
The lists of deployments and events, and one deployment's timeline, are live parts. A waiting
deploy shows what it waits for now, in release control's words (``ReleaseControl.verdicts``),
and its votes; its page offers to approve or reject it (``receiver.console.release``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from receiver.console.render import render, render_fragment
from receiver.console.sessions import page
from receiver.errors import UnknownDeployment
from receiver.http.inputs import query_choice
from receiver.http.keys import CONFIG, METRICS, RELEASE, STORE
from receiver.store.records import DeploymentStatus, EventStatus

LISTED = 100
_OUTCOMES = tuple(s.value for s in DeploymentStatus)
_EVENT_STATUSES = tuple(s.value for s in EventStatus)
_NOTICE_STATUSES = ("pending", "sent", "failed")
_RECEIVED = ("accepted", "duplicate", "ignored", "rejected")
_MAX_ID = 2**63 - 1


@page()
async def deployments(request: web.Request) -> web.Response:
    store = request.app[STORE]
    context = await deployments_context(request)
    context["repositories"] = [s.rules.name for s in await store.repositories.list_repositories()]
    context["targets"] = sorted(await store.deployments.last_per_target())
    context["outcomes"] = _OUTCOMES
    return render(request, "deployments.html", {"title": "Deployments", **context})


async def deployments_context(request: web.Request) -> dict[str, Any]:
    chosen = {
        "repository": request.query.get("repository") or None,
        "target": request.query.get("target") or None,
        "outcome": query_choice(request, "outcome", _OUTCOMES),
    }
    found = await request.app[STORE].deployments.list_deployments(
        limit=LISTED,
        repository_name=chosen["repository"],
        target_key=chosen["target"],
        status=chosen["outcome"],
    )
    waits = await request.app[RELEASE].verdicts(found)
    return {"deployments": found, "waits": waits, "chosen": chosen, "query": request.query_string}


async def deployments_part(request: web.Request) -> str:
    return render_fragment(request, "_deployments.html", await deployments_context(request))


@page()
async def deployment(request: web.Request) -> web.Response:
    context = await deployment_context(request)
    title = f"Deployment {context['deployment'].id}"
    return render(request, "deployment.html", {"title": title, **context})


async def deployment_context(request: web.Request) -> dict[str, Any]:
    raw = request.match_info.get("id") or request.query.get("id", "")
    if not (raw.isascii() and raw.isdigit()) or int(raw) > _MAX_ID:
        raise UnknownDeployment(f"no deployment {raw}")
    queries, release = request.app[STORE].deployments, request.app[RELEASE]
    found = await queries.get_deployment(int(raw))
    return {
        "deployment": found,
        "attempts": await queries.list_attempts(found.id),
        "verdict": (await release.verdicts([found])).get(found.id),
        "votes": (await release.votes([found])).get(found.id, ()),
    }


async def deployment_part(request: web.Request) -> str:
    return render_fragment(request, "_deployment.html", await deployment_context(request))


@page()
async def events(request: web.Request) -> web.Response:
    config, store = request.app[CONFIG], request.app[STORE]
    context = await events_context(request)
    context["sources"] = [s.name for s in config.sources]
    context["statuses"] = _EVENT_STATUSES
    context["received"] = _received(request)
    context["rejections"] = await store.events.list_rejections(limit=LISTED)
    return render(request, "events.html", {"title": "Events", **context})


async def events_context(request: web.Request) -> dict[str, Any]:
    chosen = {
        "repository": request.query.get("repository") or None,
        "source": request.query.get("source") or None,
        "status": query_choice(request, "status", _EVENT_STATUSES),
    }
    found = await request.app[STORE].events.list_events(limit=LISTED, **chosen)
    return {"events": found, "chosen": chosen, "query": request.query_string}


async def events_part(request: web.Request) -> str:
    return render_fragment(request, "_events.html", await events_context(request))


def _received(request: web.Request) -> list[tuple[str, dict[str, int]]]:
    """What this process received from each source since it started, by outcome (duplicates
    are not stored: this is where they are counted)."""
    registry = request.app[METRICS].registry
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
        for source in request.app[CONFIG].sources
    ]


@page()
async def notices(request: web.Request) -> web.Response:
    status = query_choice(request, "status", _NOTICE_STATUSES)
    found = await request.app[STORE].notices.list_notices(limit=LISTED, status=status)
    context = {
        "title": "Notices",
        "notices": found,
        "notifiers": [n.masked() for n in request.app[CONFIG].notifiers],
        "statuses": _NOTICE_STATUSES,
        "chosen": {"status": status},
    }
    return render(request, "notices.html", context)
