"""Rollouts (``/rollouts``, ``/rollouts/{id}``): every rollout, newest first, and one rollout as
a small report: its image, where it stands, and each wave with its times and its targets (their
deployments, health, the image they ran before, their rollbacks). Both are live parts
(``receiver.console.live``): they are rendered again as the rollout moves. A rollout's notices
link to its page (``Announcer``: ``{base_url}/rollouts/{id}``).

A write-scoped session may resume a halted rollout or abandon a running or halted one, through a
confirmation page (``/rollouts/{id}/confirm``, a GET: it changes nothing) that says in words
what will happen; confirming posts it once (a one-time form token). The change is the API's
own: ``RolloutDesk.resume`` or ``abandon`` under the rollout's row lock
(``RolloutQueries.locked``), recorded with the name of the token the session was opened with.
The desk decides whether the rollout can take it, and refuses it (409) as through the API.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from handlers.references import ImageRef, parse_reference, short_digest
from receiver.console.render import SESSION, older_page, render_fragment, render_page
from receiver.console.sessions import WRITERS, change, first_time, form_text, page
from receiver.console.signin import see
from receiver.decide.rules.rollout import RolloutState, clock_span
from receiver.errors import Conflict, InvalidReference, InvalidRequest
from receiver.http.inputs import query_before, query_choice
from receiver.http.rollouts import rollout_id
from receiver.reloading import services_of
from receiver.store.records import DeploymentStatus
from receiver.store.rollout_records import Rollout

log = structlog.get_logger("regdeploy.console")

LISTED = 100
ACTIONS = ("resume", "abandon")
_STATES = tuple(s.value for s in RolloutState)


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutRequest:
    """Resuming (``resume``) or abandoning (``abandon``) a rollout, asked for by a form."""

    action: str

    def title(self, rollout: Rollout) -> str:
        image = rollout.image
        what = image.tag or short_digest(image.digest or "")
        return (
            f"{self.action.capitalize()} rollout {rollout.id} of {rollout.repository_name} {what}"
        )

    def fields(self) -> dict[str, str]:
        """The form fields that ask for this again."""
        return {"action": self.action}


@page()
async def list_rollouts(request: web.Request) -> web.Response:
    store = services_of(request.app).store
    context = await rollouts_context(request)
    context["repositories"] = [s.rules.name for s in await store.repositories.list_repositories()]
    context["states"] = _STATES
    return render_page(request, "rollouts.html", {"title": "Rollouts", **context})


async def rollouts_context(request: web.Request) -> dict[str, Any]:
    chosen = {
        "repository": request.query.get("repository") or None,
        "state": query_choice(request, "state", _STATES),
    }
    found = await services_of(request.app).store.rollouts.list(
        repository_name=chosen["repository"],
        state=chosen["state"],
        limit=LISTED,
        before=query_before(request),
    )
    return {
        "rollouts": found,
        "chosen": chosen,
        "query": request.query_string,
        "older": older_page(request, [r.id for r in found], LISTED),
    }


async def rollouts_part(request: web.Request) -> str:
    return render_fragment(request, "_rollouts.html", await rollouts_context(request))


@page()
async def show_rollout(request: web.Request) -> web.Response:
    context = await rollout_context(request)
    title = f"Rollout {context['rollout'].id}"
    return render_page(request, "rollout.html", {"title": title, **context})


async def rollout_context(request: web.Request) -> dict[str, Any]:
    raw = request.match_info.get("id") or request.query.get("id", "")
    found = await services_of(request.app).store.rollouts.get(rollout_id(raw))
    return {
        "rollout": found,
        "offered": offered(found),
        "soak": clock_span(found.policy.soak),
        "before": {t.key: _image(t.previous_image) for t in found.targets},
    }


async def rollout_part(request: web.Request) -> str:
    return render_fragment(request, "_rollout.html", await rollout_context(request))


@page(scopes=WRITERS)
async def confirm_form(request: web.Request) -> web.Response:
    requested = requested_action(request.query.get("action", ""))
    found = await services_of(request.app).store.rollouts.get(rollout_id(request.match_info["id"]))
    if requested.action not in offered(found):
        state = "rolling back" if found.rolling_back else found.state.value.replace("_", " ")
        raise Conflict(f"rollout {found.id} is {state}: there is nothing to {requested.action}")
    waiting = [t for t in found.targets if t.deployment_status is DeploymentStatus.WAITING]
    context = {
        "title": requested.title(found),
        "rollout": found,
        "requested": requested,
        "waiting": len(waiting),
        "soak": clock_span(found.policy.soak),
        "once": secrets.token_urlsafe(16),
    }
    return render_page(request, "rollout_confirm.html", context)


@change(scopes=WRITERS)
async def confirm(request: web.Request) -> web.Response:
    services = services_of(request.app)
    number = rollout_id(request.match_info["id"])
    requested = requested_action(form_text(request, "action"))
    back = f"/rollouts/{number}"
    if not await first_time(request):
        return see(back)
    actor = request[SESSION].token_name
    desk = services.rollout_desk
    act = desk.resume if requested.action == "resume" else desk.abandon
    done = await services.store.rollouts.locked(number, lambda r: act(r, actor=actor))
    log.info("console_rollout", rollout=number, action=requested.action, token=actor)
    await services.store.sessions.set_flash(
        request[SESSION].id_hash, f"Rollout {number}: {done.words}"
    )
    return see(back)


def offered(rollout: Rollout) -> tuple[str, ...]:
    """The buttons a rollout's page shows: Resume for a halted rollout that is not rolling back,
    Abandon for a running or halted one. They only keep buttons off a page that could not use
    them: the rollout desk decides (a rollout that changed meanwhile is refused, 409)."""
    if rollout.rolling_back:
        return ()
    if rollout.state is RolloutState.HALTED:
        return ACTIONS
    if rollout.state is RolloutState.RUNNING:
        return ("abandon",)
    return ()


def requested_action(action: str) -> RolloutRequest:
    """What a form asks of a rollout, or a 400 saying what is wrong."""
    if action not in ACTIONS:
        raise InvalidRequest(f"action must be one of {', '.join(ACTIONS)}", field="action")
    return RolloutRequest(action=action)


def _image(reference: str | None) -> ImageRef | None:
    """The image a target ran before, for the ``image`` filters (None: not known)."""
    try:
        return parse_reference(reference) if reference else None
    except InvalidReference:
        return None
