"""Turns events and operator actions into plans: one intent or skip per affected target.

The planner reads what each target runs (through its deployer) and the repository's catalog,
and asks ``handlers.decision`` what to do. It stores nothing itself: the caller commits the plans
(with the event they answer, or on their own).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import structlog

from deployers.base import Deployers, Running, Target
from handlers.decision import Decision, Rules, decide_push, desired_image
from handlers.errors import DeployerUnavailable, RegdeployError, UnknownTarget
from handlers.events import RECONCILER, Action
from handlers.references import Aliases, ImageName, ImageRef
from receiver.store.events import EventQueries
from receiver.store.records import CatalogTag, Plan, RepositoryState, StoredEvent
from receiver.store.repositories import RepositoryQueries

log = structlog.get_logger("regdeploy.planner")
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Affected:
    """A target and the rules that govern it."""

    target: Target
    rules: Rules
    repository_name: str | None
    notify: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Outlook:
    """What a target would get now (``/plan``): the image, or None, and why."""

    target: Target
    running: ImageRef | None
    image: ImageRef | None
    deploy: bool
    reason: str
    notify: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TagDecision:
    """What a push of one tag of the catalog would do to a target, and why."""

    tag: CatalogTag
    decision: Decision


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """Why a target gets what it gets (``/explain``): what it would get now, and what a push of
    each known tag would do. ``configured``: listed in the repository's ``targets``, rather
    than found by its label or job meta."""

    outlook: Outlook
    configured: bool
    pushes: tuple[TagDecision, ...]


class Planner:
    def __init__(
        self,
        *,
        repositories: RepositoryQueries,
        events: EventQueries,
        deployers: Deployers,
        aliases: Aliases,
    ) -> None:
        self._repositories = repositories
        self._events = events
        self._deployers = deployers
        self._aliases = aliases

    async def plan_event(self, event: StoredEvent) -> list[Plan]:
        """Plans for every target a stored push affects (deletes move nothing)."""
        pushed = event.event
        if pushed.action is not Action.PUSH or pushed.tag is None or pushed.digest is None:
            return []
        name = self._aliases.name(ImageName(registry=pushed.registry, repository=pushed.repository))
        image = ImageRef(name=name, tag=pushed.tag, digest=pushed.digest)
        # The reconciler finds what a registry serves, not when it was pushed.
        pushed_at = None if pushed.source == RECONCILER else pushed.occurred_at
        plans = []
        for affected in await self.affected(name):
            running = await self._running(affected.target, name)
            decision = self._decide(affected, running, image, pushed_at)
            previous = running.image if running else None
            plans.append(self._plan(affected, image, decision, previous, "push", event.id))
        return plans

    async def plan_repository(
        self, state: RepositoryState, *, trigger: str, tag: str | None = None
    ) -> tuple[list[Plan], list[Outlook]]:
        """Bring every target of ``state`` to what its rules (or ``tag``, manual) want now.

        Returns the plans to store (intents and skips) and the outlook of every target,
        including those for which nothing can be recorded (no eligible tag).
        """
        outlooks = await self.outlook(state, tag=tag, requested=True)
        plans = [
            Plan(
                target=o.target,
                repository_name=state.rules.name,
                image=o.image,
                deploy=o.deploy,
                reason=o.reason,
                trigger=trigger,
                previous_image=str(o.running) if o.running else None,
                notify=o.notify,
            )
            for o in outlooks
            if o.image is not None
        ]
        return plans, outlooks

    async def outlook(
        self, state: RepositoryState, *, tag: str | None = None, requested: bool = False
    ) -> list[Outlook]:
        """What each target of ``state`` would get now, and why; nothing is stored.

        ``requested``: an operator asked for a deploy now (a pin, a reset, a manual deploy),
        which ``auto_deploy`` being off does not hold back.
        """
        name = state.rules.image
        catalog = await self._events.repository_tags(name)
        outlooks = []
        for affected in await self.affected(name, only=state):
            found = await self._running(affected.target, name)
            running = found.image if found else None
            outlooks.append(
                self._outlook(affected, name, running, catalog, tag=tag, requested=requested)
            )
        return outlooks

    async def explain(
        self, state: RepositoryState, *, target: str | None = None
    ) -> tuple[list[CatalogTag], list[Explanation]]:
        """The catalog of ``state``'s repository, and for each of its targets (or only
        ``target``, by key or name) what it would get now and what a push of each tag would
        do; nothing is stored."""
        name = state.rules.image
        catalog = await self._events.repository_catalog(name)
        digests = {t.tag: t.digest for t in catalog}
        configured = {t.key for t in state.rules.targets}
        explanations = []
        for affected in await self._chosen(state, target):
            found = await self._running(affected.target, name)
            running = found.image if found else None
            pushes = tuple(
                TagDecision(
                    tag=t,
                    decision=self._decide(
                        affected,
                        found,
                        ImageRef(name=name, tag=t.tag, digest=t.digest),
                        t.pushed_at,
                    ),
                )
                for t in catalog
            )
            explanations.append(
                Explanation(
                    outlook=self._outlook(
                        affected, name, running, digests, tag=None, requested=False
                    ),
                    configured=affected.target.key in configured,
                    pushes=pushes,
                )
            )
        return catalog, explanations

    async def _chosen(self, state: RepositoryState, target: str | None) -> list[Affected]:
        """The targets of ``state``, or the one named ``target`` (by key or name)."""
        every = await self.affected(state.rules.image, only=state)
        if target is None:
            return every
        chosen = [a for a in every if target in (a.target.key, a.target.name)]
        if not chosen:
            known = ", ".join(a.target.key for a in every) or "none"
            raise UnknownTarget(f"no target {target!r} of {state.rules.name} (targets: {known})")
        return chosen

    def _outlook(
        self,
        affected: Affected,
        name: ImageName,
        running: ImageRef | None,
        catalog: Mapping[str, str],
        *,
        tag: str | None,
        requested: bool,
    ) -> Outlook:
        rules = affected.rules
        if tag is not None:
            rules = Rules(pinned_tag=tag, policy=rules.policy)
        image, why = desired_image(rules, name=name, running=running, catalog=catalog)
        if tag is not None:
            why = f"deploy of {tag} requested"
        deploy = image is not None and (running is None or running.digest != image.digest)
        kind = affected.target.kind
        if image is not None and not deploy:
            why = f"already runs {image.tag}@{image.digest}"
        elif deploy and self._deployers.get(kind) is None:
            deploy, why = False, f"no deployer for kind {kind!r} ({why})"
        elif deploy and not requested and not rules.auto_deploy:
            deploy, why = False, f"auto_deploy is off ({why})"
        return Outlook(
            target=affected.target,
            running=running,
            image=image,
            deploy=deploy,
            reason=why,
            notify=affected.notify,
        )

    async def affected(
        self, name: ImageName, *, only: RepositoryState | None = None
    ) -> list[Affected]:
        """Configured targets of the watched repositories of ``name``, then discovered ones."""
        states = (
            [only] if only is not None else await self._repositories.repositories_for_image(name)
        )
        found: dict[str, Affected] = {}
        for state in states:
            rules = rules_of(state)
            for target in state.rules.targets:
                found.setdefault(
                    target.key,
                    Affected(
                        target=target,
                        rules=rules,
                        repository_name=state.rules.name,
                        notify=_union(state.rules.notify, target.notify),
                    ),
                )
        watched = states[0] if states else None
        for deployer in self._deployers:
            for target in await _asked(deployer.kind, deployer.discover(name)):
                if target.key not in found:
                    found[target.key] = _discovered(target, watched)
        return list(found.values())

    async def _running(self, target: Target, name: ImageName) -> Running | None:
        """What ``target`` runs, under the registry's canonical name."""
        deployer = self._deployers.get(target.kind)
        if deployer is None:
            return None
        running = await _asked(target.kind, deployer.current(target, name))
        if running is None:
            return None
        image = running.image
        name = self._aliases.name(image.name)
        canonical = ImageRef(name=name, tag=image.tag, digest=image.digest)
        return Running(image=canonical, since=running.since)

    def _decide(
        self,
        affected: Affected,
        running: Running | None,
        image: ImageRef,
        pushed_at: datetime | None,
    ) -> Decision:
        if self._deployers.get(affected.target.kind) is None:
            return Decision(deploy=False, reason=f"no deployer for kind {affected.target.kind!r}")
        return decide_push(
            affected.rules,
            running=running.image if running else None,
            tag=image.tag or "",
            digest=image.digest or "",
            pushed_at=pushed_at,
            running_since=running.since if running else None,
        )

    @staticmethod
    def _plan(
        affected: Affected,
        image: ImageRef,
        decision: Decision,
        running: ImageRef | None,
        trigger: str,
        event_id: int | None,
    ) -> Plan:
        return Plan(
            target=affected.target,
            repository_name=affected.repository_name,
            image=image,
            deploy=decision.deploy,
            adopted=decision.adopt,
            reason=decision.reason,
            trigger=trigger,
            previous_image=str(running) if running else None,
            event_id=event_id,
            notify=affected.notify,
        )


async def _asked(kind: str, question: Awaitable[T]) -> T:
    """The answer of a deployer; its failure to answer is a ``DeployerUnavailable``."""
    try:
        return await question
    except RegdeployError:
        raise
    except Exception as exc:  # any orchestrator client's own errors
        raise DeployerUnavailable(f"the {kind} deployer did not answer: {exc}") from exc


def rules_of(state: RepositoryState) -> Rules:
    repo = state.rules
    return Rules.build(
        pinned_tag=repo.pinned_tag,
        auto_deploy=repo.auto_deploy,
        policy=repo.policy,
        match_prerelease=repo.match_prerelease,
        filters=repo.filters,
    )


def _discovered(target: Target, watched: RepositoryState | None) -> Affected:
    """A workload that opted in by label: its repository's rules (its own policy label wins),
    or, for a repository nobody watches, its own tag only (unless it names a policy)."""
    if watched is not None:
        rules = rules_of(watched)
        if target.policy:
            rules = Rules(
                pinned_tag=rules.pinned_tag,
                auto_deploy=rules.auto_deploy,
                policy=target.policy,
                match_prerelease=rules.match_prerelease,
                filters=rules.filters,
            )
        return Affected(
            target=target,
            rules=rules,
            repository_name=watched.rules.name,
            notify=_union(watched.rules.notify, target.notify),
        )
    rules = Rules(policy=target.policy or "force", follow_tag_only=target.policy is None)
    return Affected(target=target, rules=rules, repository_name=None, notify=target.notify)


def _union(*groups: tuple[str, ...]) -> tuple[str, ...]:
    """Names in order of first appearance, each once."""
    return tuple(dict.fromkeys(name for group in groups for name in group))
