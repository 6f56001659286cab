"""Release control in the console: approving or rejecting a waiting deploy
(``/deployments/{id}/confirm``), and freezing or unfreezing a repository or every one
(``/freezes/confirm``).

As every change of the console, each goes through a confirmation page (a GET: it changes
nothing) that says what will happen, from what release control itself answers
(``ReleaseDesk.preview_vote``, the waits of the deploys a freeze would hold); confirming
posts it once (a one-time form token). The changes are the API's own (``ReleaseDesk``),
recorded with the name of the token the session was opened with: a vote by a token that may
approve (``approve`` or ``write`` scope), a freeze by a write-scoped one.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from aiohttp import web

from receiver.console.render import SESSION, render_page, repository_page
from receiver.console.sessions import APPROVERS, WRITERS, change, first_time, form_text, page
from receiver.console.signin import see
from receiver.errors import InvalidRequest
from receiver.http.inputs import deployment_id
from receiver.reloading import services_of
from receiver.store.records import DeploymentStatus

log = structlog.get_logger("regdeploy.console")

VOTES = ("approve", "reject")
FREEZES = ("freeze", "unfreeze")
_FREEZE_FIELDS = ("action", "repository", "reason")
#: The waiting deploys a freeze's confirmation lists at most.
LISTED = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class FreezeRequest:
    """A freeze (``freeze``) or an unfreeze asked for by a form, of ``repository`` (None: of
    every repository), with the ``reason`` a freeze is shown with."""

    freeze: bool
    repository: str | None
    reason: str = ""

    @property
    def what(self) -> str:
        return self.repository or "every repository"

    def title(self) -> str:
        return f"{'Freeze' if self.freeze else 'Unfreeze'} {self.what}"

    def fields(self) -> dict[str, str]:
        """The form fields that ask for this again."""
        action = "freeze" if self.freeze else "unfreeze"
        return {"action": action, "repository": self.repository or "", "reason": self.reason}


@page(scopes=APPROVERS)
async def vote_form(request: web.Request) -> web.Response:
    approve = approving(request.query.get("action", ""))
    services = services_of(request.app)
    view = await services.views.deployment(deployment_id(request.match_info["id"]))
    deployment = view.deployment
    actor = request[SESSION].token_name
    preview = await services.desk.preview_vote(deployment, actor=actor, approve=approve)
    context = {
        "title": f"{'Approve' if approve else 'Reject'} deployment {deployment.id}",
        "deployment": deployment,
        "action": VOTES[0] if approve else VOTES[1],
        "preview": preview,
        "verdict": view.verdict,
        "once": secrets.token_urlsafe(16),
    }
    return render_page(request, "vote.html", context)


@change(scopes=APPROVERS)
async def vote(request: web.Request) -> web.Response:
    services = services_of(request.app)
    number = deployment_id(request.match_info["id"])
    approve = approving(form_text(request, "action"))
    comment = form_text(request, "comment").strip()
    back = f"/deployments/{number}"
    if not await first_time(request):
        return see(back)
    session, desk = request[SESSION], services.desk
    cast = desk.approve if approve else desk.reject
    result = await cast(number, actor=session.token_name, comment=comment)
    log.info("console_vote", deployment=number, approve=approve, counted=result.counted,
             token=session.token_name)  # fmt: skip
    await services.store.sessions.set_flash(session.id_hash, result.message)
    return see(back)


@page(scopes=WRITERS)
async def freeze_form(request: web.Request) -> web.Response:
    requested = requested_freeze(request.query)
    services = services_of(request.app)
    store = services.store
    if requested.repository is not None:
        await store.repositories.get_repository(requested.repository)  # 404 if not watched
    waiting = await store.deployments.list_deployments(
        limit=LISTED, repository_name=requested.repository, status=DeploymentStatus.WAITING.value
    )
    freezes = await services.views.freezes(requested.repository)
    context = {
        "title": requested.title(),
        "requested": requested,
        "freezes": freezes,
        "frozen": any(f.repository == requested.repository for f in freezes),
        "waiting": await services.views.deployments(waiting),
        "once": secrets.token_urlsafe(16),
    }
    return render_page(request, "freeze.html", context)


@change(scopes=WRITERS)
async def freeze(request: web.Request) -> web.Response:
    services = services_of(request.app)
    requested = requested_freeze({k: form_text(request, k) for k in _FREEZE_FIELDS})
    back = repository_page(requested.repository) if requested.repository else "/"
    if not await first_time(request):
        return see(back)
    session, desk = request[SESSION], services.desk
    if requested.freeze:
        result = await desk.freeze(
            requested.repository, reason=requested.reason, actor=session.token_name
        )
    else:
        result = await desk.unfreeze(requested.repository, actor=session.token_name)
    log.info("console_freeze", repository=requested.repository, freeze=requested.freeze,
             token=session.token_name)  # fmt: skip
    await services.store.sessions.set_flash(session.id_hash, result.message)
    return see(back)


def approving(action: str) -> bool:
    """Whether the form approves (``approve``) or rejects (``reject``); a 400 otherwise."""
    if action not in VOTES:
        raise InvalidRequest(f"action must be one of {', '.join(VOTES)}", field="action")
    return action == VOTES[0]


def requested_freeze(values: Mapping[str, str]) -> FreezeRequest:
    """The freeze or unfreeze a form asks for, or a 400 saying what is wrong."""
    action = values.get("action", "")
    if action not in FREEZES:
        raise InvalidRequest(f"action must be one of {', '.join(FREEZES)}", field="action")
    repository = values.get("repository", "").strip() or None
    reason = values.get("reason", "").strip()
    if action == "freeze" and not reason:
        raise InvalidRequest("say why: the reason is shown with every wait", field="reason")
    return FreezeRequest(freeze=action == "freeze", repository=repository, reason=reason)
