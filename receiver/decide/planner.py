"""Turns events and operator actions into plans: one intent or skip per affected target.

The planner reads what each target runs (from the inventory of what runs where, kept current
from the orchestrators: ``receiver.background.inventory``) and the repository's catalog,
and asks the rules (``receiver.decide.rules.decision``) what to do. It stores nothing itself:
the caller commits the plans (with the event they answer, or on their own).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import structlog

from deployers.base import Deployers, Running, Target
from handlers.events import RECONCILER, Action, Event
from handlers.references import Aliases, ImageName, ImageRef
from receiver.decide.affected import Affected, discovered, rules_of, union
from receiver.decide.rules.decision import (
    Decision,
    Rules,
    artifact_of,
    decide_push,
    desired_image,
)
from receiver.errors import UnknownTarget
from receiver.store.events import EventQueries
from receiver.store.records import CatalogTag, Plan, RepositoryState, StoredEvent
from receiver.store.repositories import RepositoryQueries

log = structlog.get_logger("regdeploy.planner")


class WhatRuns(Protocol):
    """What runs where, as the inventory knows it (``receiver.background.inventory``)."""

    async def discover(self, name: ImageName) -> list[Target]:
        """The workloads that opted in and run an image of ``name``."""
        ...

    async def current(self, target: Target, name: ImageName) -> Running | None:
        """What ``target`` runs of ``name``."""
        ...


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
        inventory: WhatRuns,
        aliases: Aliases,
    ) -> None:
        self._repositories = repositories
        self._events = events
        self._deployers = deployers
        self._inventory = inventory
        self._aliases = aliases

    async def plan_events(self, events: Sequence[StoredEvent]) -> list[Plan]:
        """Plans for the stored events of one repository, decided together (deletes move
        nothing): every push gets a plan per affected target, decided against what the target
        runs now, as it would have been one after the other; of the pushes that would deploy to
        a target, the last one does, and the earlier ones are recorded as superseded by it."""
        pushes = [(e, image) for e in events if (image := self._pushed(e)) is not None]
        if not pushes:
            return []
        name = pushes[0][1].name
        pushes = await self._signed_again(pushes)
        affected = await self.affected(name)
        running = {a.target.key: await self._running(a.target, name) for a in affected}
        plans = [
            self._plan(a, image, self._decide(a, running[a.target.key], image, _pushed_at(e)),
                       running[a.target.key], "push", e.id)
            for e, image in pushes
            for a in affected
        ]  # fmt: skip
        return _last_deploy_wins(plans)

    async def _signed_again(
        self, pushes: list[tuple[StoredEvent, ImageRef]]
    ) -> list[tuple[StoredEvent, ImageRef]]:
        """``pushes``, where cosign pushed a signature (or the referrers tag) of a digest: a
        push of each tag that points at that digest instead, decided again (a signature made
        after the push lets a refused deploy go now; an image's own push is decided as ever)."""
        signed = {image.tag: artifact_of(image.tag or "") for _, image in pushes}
        if not any(signed.values()):
            return pushes
        catalog = await self._events.repository_catalog(pushes[0][1].name)
        again: list[tuple[StoredEvent, ImageRef]] = []
        for stored, image in pushes:
            digest = signed[image.tag]
            if digest is None:
                again.append((stored, image))
                continue
            again += [
                (stored, ImageRef(name=image.name, tag=t.tag, digest=digest))
                for t in catalog
                if t.digest == digest
            ]
        return again

    def _pushed(self, stored: StoredEvent) -> ImageRef | None:
        """The image a stored push names, under its registry's canonical name."""
        pushed = stored.event
        if pushed.action is not Action.PUSH or pushed.tag is None or pushed.digest is None:
            return None
        name = self._aliases.name(ImageName(registry=pushed.registry, repository=pushed.repository))
        return ImageRef(name=name, tag=pushed.tag, digest=pushed.digest)

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

    async def plans_to(
        self,
        state: RepositoryState,
        image: ImageRef,
        *,
        chosen: Callable[[Target], bool],
        trigger: str,
        reason: str,
    ) -> list[Plan]:
        """Intents to move the targets of ``state`` that ``chosen`` picks to exactly ``image``
        (a promotion: the digest that passed the stage before); a target that runs it already,
        or cannot be moved, is a skip with the reason."""
        plans = []
        for affected in await self.affected(state.rules.image, only=state):
            target = affected.target
            if not chosen(target):
                continue
            found = await self._running(target, image.name)
            running = found.image if found else None
            why = reason
            deploy = running is None or running.digest != image.digest
            if not deploy:
                why = f"already runs {image.tag}@{image.digest}"
            elif affected.problem is not None:
                deploy, why = False, f"not deployed: {affected.problem}"
            elif self._deployers.get(target.kind) is None:
                deploy, why = False, f"no deployer for kind {target.kind!r}"
            plans.append(
                Plan(
                    target=target,
                    repository_name=state.rules.name,
                    image=image,
                    deploy=deploy,
                    reason=why,
                    trigger=trigger,
                    previous_image=str(running) if running else None,
                    notify=affected.notify,
                )
            )
        return plans

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
        if affected.problem is not None:
            why = f"not deployed: {affected.problem}"
            return Outlook(target=affected.target, running=running, image=None, deploy=False,
                           reason=why, notify=affected.notify)  # fmt: skip
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
                        notify=union(state.rules.notify, target.notify),
                    ),
                )
        watched = states[0] if states else None
        for target in await self._inventory.discover(name):
            if target.key not in found:
                found[target.key] = discovered(target, watched)
        return list(found.values())

    async def unplanned_facts(self, event: Event) -> tuple[RepositoryState | None, list[str]]:
        """What says why ``event`` gave no plan at all (``receiver.decide.words.unplanned``): the
        watched repository of its image, if any, and the kinds of deployer that are on."""
        name = self._aliases.name(ImageName(registry=event.registry, repository=event.repository))
        watched = await self._repositories.repositories_for_image(name)
        return (watched[0] if watched else None), self._deployers.kinds()

    async def _running(self, target: Target, name: ImageName) -> Running | None:
        """What ``target`` runs, under the registry's canonical name."""
        if self._deployers.get(target.kind) is None:
            return None
        running = await self._inventory.current(target, name)
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
        if affected.problem is not None:
            return Decision(deploy=False, reason=f"not deployed: {affected.problem}")
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
        running: Running | None,
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
            previous_image=str(running.image) if running else None,
            event_id=event_id,
            notify=affected.notify,
        )


def _pushed_at(stored: StoredEvent) -> datetime | None:
    """When the push was made; the reconciler finds what a registry serves, not when."""
    return None if stored.event.source == RECONCILER else stored.event.occurred_at


def _last_deploy_wins(plans: list[Plan]) -> list[Plan]:
    """Of the intents for one target, only the last stays; the others are superseded by it."""
    last = {plan.target.key: plan for plan in plans if plan.deploy}
    return [
        plan
        if not plan.deploy or last[plan.target.key] is plan
        else dataclasses.replace(
            plan,
            deploy=False,
            superseded=True,
            message=f"superseded by {_tag_at(last[plan.target.key].image)}, decided together",
        )
        for plan in plans
    ]


def _tag_at(image: ImageRef) -> str:
    return f"{image.tag}@{image.digest}"
