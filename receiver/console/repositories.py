"""Repositories (``/repositories``, ``/repositories/{name}``): each watched repository with its
rules, targets, newest eligible tag and known tags, and the forms to change them; one
repository's page adds the freezes that hold it and the switch to freeze it
(``receiver.console.release``).

Every change goes through a confirmation page (``/repositories/{name}/confirm``, a GET: it
changes nothing) that says what will happen, from the same planner outlook the change's deploy
would be planned from; confirming posts it once (a one-time form token: the same form sent again
changes nothing more). The changes are the API's own (``RepositoryActions``), audited with the
name of the token the session was opened with.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web
from yarl import URL

from receiver.console.render import SESSION, render_page, repository_page
from receiver.console.sessions import WRITERS, change, first_time, form_text, page
from receiver.console.signin import see
from receiver.decide.actions import ActionResult, sorted_tags
from receiver.decide.planner import Outlook
from receiver.decide.trust.checks import TagTrust
from receiver.decide.words import describe, foresee
from receiver.errors import DeployerUnavailable, InvalidRequest
from receiver.reloading import services_of
from receiver.store.records import AuditEntry, CatalogTag, RepositoryState

log = structlog.get_logger("regdeploy.console")

ACTIONS_OFFERED = ("pin", "unpin", "auto-deploy", "policy", "deploy")


@dataclass(frozen=True, slots=True, kw_only=True)
class Card:
    """One repository as the page shows it. ``outlooks`` None: a deployer did not answer
    (``problem`` says which)."""

    state: RepositoryState
    tags: tuple[CatalogTag, ...]
    newest_eligible: str
    outlooks: tuple[Outlook, ...] | None
    problem: str | None = None
    audit: tuple[AuditEntry, ...] = ()
    # The newest tags as the trust checks see them (the repository's own page only).
    surveyed: tuple[TagTrust, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Requested:
    """A change asked for by a form: ``changes`` for ``RepositoryActions.change``, or (action
    ``deploy``) the tag to deploy (None: what the rules want)."""

    action: str
    changes: Mapping[str, Any] = field(default_factory=dict)
    tag: str | None = None

    def title(self, name: str) -> str:
        if self.action == "pin":
            return f"Pin {name} to {self.changes['pinned_tag']}"
        if self.action == "unpin":
            return f"Unpin {name}: follow the newest eligible tag"
        if self.action == "auto-deploy":
            return f"Switch auto-deploy of {name} {'on' if self.changes['auto_deploy'] else 'off'}"
        if self.action == "policy":
            return f"Change the policy of {name} to {self.changes['policy']}"
        return f"Deploy {self.tag or 'what the rules want'} of {name} now"

    def fields(self) -> dict[str, str]:
        """The form fields that ask for this again."""
        found = {"action": self.action}
        if self.action == "pin":
            found["tag"] = self.changes["pinned_tag"]
        if "auto_deploy" in self.changes:
            found["value"] = "on" if self.changes["auto_deploy"] else "off"
        if "policy" in self.changes:
            found["policy"] = self.changes["policy"]
        if self.tag:
            found["tag"] = self.tag
        return found


@page()
async def list_repositories(request: web.Request) -> web.Response:
    states = await services_of(request.app).store.repositories.list_repositories()
    cards = [await _card(request, state) for state in states]
    return render_page(request, "repositories.html", {"title": "Repositories", "cards": cards})


@page()
async def show_repository(request: web.Request) -> web.Response:
    services = services_of(request.app)
    store = services.store
    state = await store.repositories.get_repository(request.match_info["name"])
    audit = await store.repositories.list_audit(state.rules.name, limit=20)
    card = dataclasses.replace(
        await _card(request, state, audit=audit),
        surveyed=tuple(await services.views.tag_trust(state)),
    )
    freezes = await services.views.freezes(state.rules.name)
    context = {"title": state.rules.name, "card": card, "freezes": freezes}
    return render_page(request, "repository.html", context)


@page(scopes=WRITERS)
async def confirm_form(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    requested = requested_change(request.query)
    result = await _preview(request, name, requested)
    context = {
        "title": requested.title(name),
        "name": name,
        "requested": requested,
        "result": result,
        "sentences": foresee(result),
        "once": secrets.token_urlsafe(16),
    }
    return render_page(request, "confirm.html", context)


@change()
async def confirm(request: web.Request) -> web.Response:
    services = services_of(request.app)
    name = request.match_info["name"]
    session = request[SESSION]
    requested = requested_change({k: form_text(request, k) for k in _FIELDS})
    if not await first_time(request):
        return see(repository_page(name))
    actions = services.actions
    if requested.action == "deploy":
        result = await actions.deploy(name, requested.tag, actor=session.token_name)
    else:
        result = await actions.change(name, requested.changes, actor=session.token_name)
    log.info("console_change", repository=name, action=requested.action, token=session.token_name)
    message = describe(result, deployers=services.deployers.kinds())
    await services.store.sessions.set_flash(session.id_hash, message)
    if result.deployments:
        return see(str(URL("/deployments").with_query(repository=name)))
    return see(repository_page(name))


_FIELDS = ("action", "tag", "value", "policy")


def requested_change(values: Mapping[str, str]) -> Requested:
    """The change a form asks for (``action`` and its value), or a 400 saying what is wrong."""
    action = values.get("action", "")
    if action not in ACTIONS_OFFERED:
        raise InvalidRequest(f"action must be one of {', '.join(ACTIONS_OFFERED)}", field="action")
    tag = values.get("tag", "")
    if action == "pin":
        if not tag:
            raise InvalidRequest("choose the tag to pin", field="tag")
        return Requested(action=action, changes={"pinned_tag": tag})
    if action == "unpin":
        return Requested(action=action, changes={"pinned_tag": ""})
    if action == "auto-deploy":
        value = values.get("value", "")
        if value not in ("on", "off"):
            raise InvalidRequest("auto-deploy is switched on or off", field="value")
        return Requested(action=action, changes={"auto_deploy": value == "on"})
    if action == "policy":
        policy = values.get("policy", "").strip()
        if not policy:
            raise InvalidRequest("give the policy", field="policy")
        return Requested(action=action, changes={"policy": policy})
    return Requested(action=action, tag=tag or None)


async def _preview(request: web.Request, name: str, requested: Requested) -> ActionResult:
    actions = services_of(request.app).actions
    if requested.action == "deploy":
        return await actions.preview_deploy(name, requested.tag)
    return await actions.preview_change(name, requested.changes)


async def _card(
    request: web.Request, state: RepositoryState, *, audit: Sequence[AuditEntry] = ()
) -> Card:
    services = services_of(request.app)
    catalog = await services.store.events.repository_catalog(state.rules.image)
    order = {tag: i for i, tag in enumerate(sorted_tags([t.tag for t in catalog]))}
    tags = tuple(sorted(catalog, key=lambda t: order[t.tag]))
    newest = await services.actions.newest_eligible(state, {t.tag: t.digest for t in tags})
    try:
        outlooks: tuple[Outlook, ...] | None = tuple(await services.planner.outlook(state))
        problem = None
    except DeployerUnavailable as exc:
        outlooks, problem = None, str(exc)
    return Card(
        state=state,
        tags=tags,
        newest_eligible=newest,
        outlooks=outlooks,
        problem=problem,
        audit=tuple(audit),
    )
