"""What an operator can do to a watched repository, whichever route they use.

Setting a pin deploys that tag now, whatever runs; a reset goes back to following the newest
eligible tag and deploys it; switching ``auto_deploy`` back on deploys the newest eligible image
that arrived while it was off. Every change is audited by the store. Each deploy goes through
release control (windows, cooldown, approvals, freezes: ``receiver.decide.gate``); ``force``
takes a pin's or a manual deploy past the windows, audited as ``force``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from receiver.decide.affected import rules_of
from receiver.decide.gate import ReleaseGate
from receiver.decide.planner import Explanation, Outlook, Planner
from receiver.decide.rules.decision import newest_tag
from receiver.decide.rules.policy import parse_policy
from receiver.decide.rules.versions import parse_version
from receiver.errors import UnknownTag
from receiver.store.decisions import DecisionQueries
from receiver.store.deployments import DeploymentQueries
from receiver.store.events import EventQueries
from receiver.store.records import CatalogTag, RepositoryState
from receiver.store.repositories import RepositoryQueries

log = structlog.get_logger("regdeploy.repositories")


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionResult:
    """What an action changed and started; ``trigger`` names the deploy it asked for (``pin``,
    ``reset``, ``auto_deploy_on``, ``manual``), None when it asked for none."""

    state: RepositoryState
    changed: Mapping[str, tuple[Any, Any]]
    deployments: tuple[int, ...]
    outlooks: tuple[Outlook, ...]
    trigger: str | None = None
    # Target key -> what its deploy waits for (release control), for those that wait.
    waiting: Mapping[str, str] = field(default_factory=dict)


class RepositoryActions:
    def __init__(
        self,
        *,
        repositories: RepositoryQueries,
        events: EventQueries,
        deployments: DeploymentQueries,
        decisions: DecisionQueries,
        planner: Planner,
        gate: ReleaseGate,
    ) -> None:
        self._repositories = repositories
        self._events = events
        self._deployments = deployments
        self._decisions = decisions
        self._planner = planner
        self._gate = gate

    async def change(
        self, name: str, changes: Mapping[str, Any], *, actor: str, force: bool = False
    ) -> ActionResult:
        """Apply ``changes`` (pinned_tag, auto_deploy, policy) and deploy what they call for
        (``force``: a pin's deploy past the windows)."""
        if "policy" in changes:
            parse_policy(changes["policy"])
        pin = changes.get("pinned_tag")
        if pin:
            await self._known_tag(name, pin)
        state, changed = await self._repositories.change_repository(name, changes, actor=actor)
        if trigger := _trigger(pin, changed):
            forced = force and trigger == "pin"
            return await self._deploy_now(
                state, changed, trigger=trigger, actor=actor, force=forced
            )
        return ActionResult(state=state, changed=changed, deployments=(), outlooks=())

    async def preview_change(self, name: str, changes: Mapping[str, Any]) -> ActionResult:
        """What ``change(name, changes)`` would change and deploy now, changing nothing: the
        same checks, and the outlook the deploy it calls for would be planned from."""
        if "policy" in changes:
            parse_policy(changes["policy"])
        pin = changes.get("pinned_tag")
        if pin:
            await self._known_tag(name, pin)
        state = await self._repositories.get_repository(name)
        rules = state.rules
        changed = {
            key: (old, new) for key, new in changes.items() if (old := getattr(rules, key)) != new
        }
        after = dataclasses.replace(state, rules=dataclasses.replace(rules, **changes))
        trigger = _trigger(pin, changed)
        outlooks = await self._planner.outlook(after, requested=True) if trigger else []
        return ActionResult(
            state=after, changed=changed, deployments=(), outlooks=tuple(outlooks), trigger=trigger
        )

    async def preview_deploy(self, name: str, tag: str | None) -> ActionResult:
        """What ``deploy(name, tag)`` would deploy now, deploying nothing."""
        if tag is not None:
            await self._known_tag(name, tag)
        state = await self._repositories.get_repository(name)
        outlooks = await self._planner.outlook(state, tag=tag, requested=True)
        return ActionResult(
            state=state, changed={}, deployments=(), outlooks=tuple(outlooks), trigger="manual"
        )

    async def deploy(
        self, name: str, tag: str | None, *, actor: str, force: bool = False
    ) -> ActionResult:
        """Deploy ``tag`` to every target now, whatever the pin and the policy say; without a
        tag, what the pin or the policy wants now, even with ``auto_deploy`` off (``force``:
        past the windows)."""
        if tag is not None:
            await self._known_tag(name, tag)
        state = await self._repositories.get_repository(name)
        return await self._deploy_now(
            state, {}, trigger="manual", actor=actor, tag=tag, force=force
        )

    async def outlook(self, name: str) -> list[Outlook]:
        return await self._planner.outlook(await self._repositories.get_repository(name))

    async def explain(
        self, name: str, *, target: str | None = None
    ) -> tuple[RepositoryState, list[CatalogTag], list[Explanation]]:
        """Why each target of ``name`` (or only ``target``) gets what it gets."""
        state = await self._repositories.get_repository(name)
        catalog, explanations = await self._planner.explain(state, target=target)
        return state, catalog, explanations

    async def pinned_tag_value(self, state: RepositoryState, tags: Mapping[str, str]) -> str:
        """The pin, or the newest eligible tag when there is none ("" when nothing is)."""
        if state.rules.pinned_tag:
            return state.rules.pinned_tag
        return await self.newest_eligible(state, tags)

    async def newest_eligible(self, state: RepositoryState, tags: Mapping[str, str]) -> str:
        """The newest of ``tags`` the policy and filters allow, whatever the pin ("" when
        none is)."""
        running = await self._deployments.last_deployed_tag(state.rules.name)
        unpinned = dataclasses.replace(state, rules=dataclasses.replace(state.rules, pinned_tag=""))
        return newest_tag(rules_of(unpinned), running_tag=running, tags=tags) or ""

    async def _deploy_now(
        self,
        state: RepositoryState,
        changed: Mapping[str, tuple[Any, Any]],
        *,
        trigger: str,
        actor: str,
        tag: str | None = None,
        force: bool = False,
    ) -> ActionResult:
        plans, outlooks = await self._planner.plan_repository(state, trigger=trigger, tag=tag)
        plans = await self._gate.attach(plans, forced_by=actor if force else None)
        async with self._decisions.recording() as recorder:
            ids = await self._gate.record(recorder, plans)
        name = state.rules.name
        if force:
            what = {"trigger": trigger, "tag": tag or state.rules.pinned_tag, "deployments": ids}
            await self._repositories.audit(name, actor=actor, field="force", old=None, new=what)
        log.info("repository_deploy_requested", repository=name, trigger=trigger, actor=actor,
                 deployments=ids, force=force)  # fmt: skip
        found = await self._deployments.list_deployments(limit=len(ids) or 1, ids=ids)
        verdicts = await self._gate.verdicts(found)
        return ActionResult(
            state=state,
            changed=changed,
            deployments=tuple(ids),
            outlooks=tuple(outlooks),
            trigger=trigger,
            waiting={d.target.key: verdicts[d.id].words for d in found if d.id in verdicts},
        )

    async def _known_tag(self, name: str, tag: str) -> None:
        state = await self._repositories.get_repository(name)
        if tag not in await self._events.repository_tags(state.rules.image):
            raise UnknownTag(f"tag {tag!r} of {name} is not in the registry (as far as it told)")


def _trigger(pin: str | None, changed: Mapping[str, tuple[Any, Any]]) -> str | None:
    """The deploy a change calls for: a pin (``pin``), a reset (pin ``""``), or switching
    ``auto_deploy`` on; None when it calls for none."""
    if pin is not None:
        return "reset" if pin == "" else "pin"
    if changed.get("auto_deploy", (None, False))[1] is True:
        return "auto_deploy_on"
    return None


def sorted_tags(tags: Mapping[str, str] | list[str]) -> list[str]:
    """Newest version first, then the tags that are not versions, alphabetically."""
    versions = [(v, t) for t in tags if (v := parse_version(t)) is not None]
    others = sorted(t for t in tags if parse_version(t) is None)
    return [t for _, t in sorted(versions, key=lambda vt: (vt[0], vt[1]), reverse=True)] + others
