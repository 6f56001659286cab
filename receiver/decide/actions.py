"""What an operator can do to a watched repository, whichever route they use.

Setting a pin deploys that tag now, whatever runs; a reset goes back to following the newest
eligible tag and deploys it; switching ``auto_deploy`` back on deploys the newest eligible image
that arrived while it was off. Every change is audited by the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from handlers.decision import newest_tag
from handlers.errors import UnknownTag
from handlers.policy import parse_policy, parse_version
from receiver.decide.planner import Outlook, Planner, rules_of
from receiver.store.decisions import DecisionQueries
from receiver.store.deployments import DeploymentQueries
from receiver.store.events import EventQueries
from receiver.store.records import RepositoryState
from receiver.store.repositories import RepositoryQueries

log = structlog.get_logger("regdeploy.repositories")


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionResult:
    state: RepositoryState
    changed: Mapping[str, tuple[Any, Any]]
    deployments: tuple[int, ...]
    outlooks: tuple[Outlook, ...]


class RepositoryActions:
    def __init__(
        self,
        *,
        repositories: RepositoryQueries,
        events: EventQueries,
        deployments: DeploymentQueries,
        decisions: DecisionQueries,
        planner: Planner,
    ) -> None:
        self._repositories = repositories
        self._events = events
        self._deployments = deployments
        self._decisions = decisions
        self._planner = planner

    async def change(self, name: str, changes: Mapping[str, Any], *, actor: str) -> ActionResult:
        """Apply ``changes`` (pinned_tag, auto_deploy, policy) and deploy what they call for."""
        if "policy" in changes:
            parse_policy(changes["policy"])
        pin = changes.get("pinned_tag")
        if pin:
            await self._known_tag(name, pin)
        state, changed = await self._repositories.change_repository(name, changes, actor=actor)
        switched_on = changed.get("auto_deploy", (None, False))[1] is True
        if pin is not None or switched_on:
            trigger = {None: "auto_deploy_on", "": "reset"}.get(pin, "pin")
            return await self._deploy_now(state, changed, trigger=trigger, actor=actor)
        return ActionResult(state=state, changed=changed, deployments=(), outlooks=())

    async def deploy(self, name: str, tag: str, *, actor: str) -> ActionResult:
        """Deploy ``tag`` to every target now, whatever the pin and the policy say."""
        await self._known_tag(name, tag)
        state = await self._repositories.get_repository(name)
        return await self._deploy_now(state, {}, trigger="manual", actor=actor, tag=tag)

    async def outlook(self, name: str) -> list[Outlook]:
        return await self._planner.outlook(await self._repositories.get_repository(name))

    async def pinned_tag_value(self, state: RepositoryState, tags: Mapping[str, str]) -> str:
        """The pin, or the newest eligible tag when there is none ("" when nothing is)."""
        if state.rules.pinned_tag:
            return state.rules.pinned_tag
        running = await self._deployments.last_deployed_tag(state.rules.name)
        return newest_tag(rules_of(state), running_tag=running, tags=tags) or ""

    async def _deploy_now(
        self,
        state: RepositoryState,
        changed: Mapping[str, tuple[Any, Any]],
        *,
        trigger: str,
        actor: str,
        tag: str | None = None,
    ) -> ActionResult:
        plans, outlooks = await self._planner.plan_repository(state, trigger=trigger, tag=tag)
        ids = await self._decisions.plan(plans)
        log.info(
            "repository_deploy_requested",
            repository=state.rules.name,
            trigger=trigger,
            actor=actor,
            deployments=ids,
        )
        return ActionResult(
            state=state, changed=changed, deployments=tuple(ids), outlooks=tuple(outlooks)
        )

    async def _known_tag(self, name: str, tag: str) -> None:
        state = await self._repositories.get_repository(name)
        if tag not in await self._events.repository_tags(state.rules.image):
            raise UnknownTag(f"tag {tag!r} of {name} is not in the registry (as far as it told)")


def sorted_tags(tags: Mapping[str, str] | list[str]) -> list[str]:
    """Newest version first, then the tags that are not versions, alphabetically."""
    versions = [(v, t) for t in tags if (v := parse_version(t)) is not None]
    others = sorted(t for t in tags if parse_version(t) is None)
    return [t for _, t in sorted(versions, key=lambda vt: (vt[0], vt[1]), reverse=True)] + others
