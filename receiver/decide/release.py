"""Release control, as the API, the console and the background loops use it: the rules a
decided deploy waits by, releasing what falls due, approving, rejecting, freezing, and the words
of every wait.

Deciding attaches to each intent the rules of its target (``gate``): its watched repository's
``windows``, ``min_age``, ``settle``, ``approvals`` and ``approval_deadline``, overridden by the
workload's own labels or job meta (``regdeploy.window`` ...); the store judges it when it is
recorded (``receiver.store.decisions``), so that one that must wait is stored ``waiting``. What
waits is judged again when it falls due (``release_due``, run by the launcher in every process:
each waiting deploy is held by one process at a time), when a vote is cast and when a freeze is
lifted; judging is ``receiver.decide.rules.release.judge``, at the time of the injected clock.

Console and API call the same functions: ``approve``, ``reject``, ``freeze``, ``unfreeze``,
``freezes``, and ``verdicts`` for the words of each wait; the console's confirmation of a vote
asks ``preview_vote`` what the vote would do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import structlog

from deployers.base import Target
from receiver.clock import Clock
from receiver.decide.announcer import Announcer
from receiver.decide.rules.release import (
    Freeze,
    ReleaseOutcome,
    ReleaseRules,
    ReleaseVerdict,
    Vote,
    judge_release,
    overridden,
)
from receiver.errors import NotWaiting, ReleaseRuleError
from receiver.metrics import Metrics
from receiver.store.deployments import DeploymentQueries
from receiver.store.events import EventQueries
from receiver.store.records import Deployment, DeploymentStatus, Plan
from receiver.store.releases import EVERYTHING, Gate, ReleaseQueries, WaitBatch, Waiting
from receiver.store.repositories import RepositoryQueries

log = structlog.get_logger("regdeploy.release")

#: Waiting deploys judged in one transaction.
BATCH = 50


class WorkloadLabels(Protocol):
    """Where a configured target's own labels are read (the inventory)."""

    def workload(self, key: str) -> Target | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteResult:
    """A vote and where it left the deploy: ``counted`` false when the token had voted so
    already; ``verdict``: the deploy's state after it; ``status``: its status after it."""

    deployment: Deployment
    counted: bool
    verdict: ReleaseVerdict
    status: DeploymentStatus
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VotePreview:
    """What a vote would do, changing nothing: whether it would count, and the verdict after."""

    counted: bool
    verdict: ReleaseVerdict


@dataclass(frozen=True, slots=True, kw_only=True)
class FreezeResult:
    """What a freeze or an unfreeze changed, in words, and the freezes on now."""

    changed: Freeze | None
    freezes: tuple[Freeze, ...]
    released: tuple[int, ...]
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetRelease:
    """One target's release control: its rules in words (or why they cannot be read), and
    the deploy that waits for it, if one does, with what it waits for and its votes."""

    rules: tuple[str, ...]
    waiting: Deployment | None = None
    verdict: ReleaseVerdict | None = None
    votes: tuple[Vote, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RepositoryRelease:
    """A repository's release control (``/explain``): the freezes that hold it, and each
    target's rules and waiting deploy, by target key."""

    freezes: tuple[Freeze, ...]
    targets: Mapping[str, TargetRelease]


class ReleaseControl:
    def __init__(
        self,
        *,
        releases: ReleaseQueries,
        deployments: DeploymentQueries,
        repositories: RepositoryQueries,
        events: EventQueries,
        rules: Mapping[str, ReleaseRules],
        labels: WorkloadLabels | None,
        clock: Clock,
        announcer: Announcer,
        metrics: Metrics,
    ) -> None:
        self._releases = releases
        self._deployments = deployments
        self._repositories = repositories
        self._events = events
        self._rules = rules
        self._labels = labels
        self.clock = clock
        self._announcer = announcer
        self._metrics = metrics

    # -- deciding ---------------------------------------------------------------------------

    def rules_for(self, repository: str | None, target: Target) -> ReleaseRules:
        """The rules of ``target``: its repository's, overridden by its own labels (a
        configured target's are read from the inventory). Raises ``ReleaseRuleError``."""
        base = self._rules.get(repository or "", ReleaseRules())
        labels = target.release
        if not labels and self._labels is not None:
            found = self._labels.workload(target.key)
            labels = found.release if found is not None else labels
        return overridden(base, labels)

    async def gate(
        self,
        plans: Sequence[Plan],
        *,
        pushed: Mapping[int, datetime] | None = None,
        forced_by: str | None = None,
    ) -> list[Plan]:
        """``plans`` with the rules each intent waits by, when its image was pushed (``pushed``
        by event id, else the catalog's time) and who forced it past the windows. An intent
        whose workload's labels cannot be read is a skip, with the reason."""
        gated = []
        for plan in plans:
            if not plan.deploy:
                gated.append(plan)
                continue
            try:
                rules = self.rules_for(plan.repository_name, plan.target)
            except ReleaseRuleError as exc:
                gated.append(dataclasses.replace(plan, deploy=False, reason=f"not deployed: {exc}"))
                continue
            when = (pushed or {}).get(plan.event_id or 0) or await self._pushed_at(plan, rules)
            gated.append(
                dataclasses.replace(plan, release=rules, pushed_at=when, forced_by=forced_by)
            )
        return gated

    async def _pushed_at(self, plan: Plan, rules: ReleaseRules) -> datetime | None:
        """When the registry last pushed the plan's tag with its digest (for a cooldown)."""
        if not rules.min_age:
            return None
        catalog = await self._events.repository_catalog(plan.image.name)
        found = (t for t in catalog if (t.tag, t.digest) == (plan.image.tag, plan.image.digest))
        return next((t.pushed_at for t in found), None)

    # -- releasing ---------------------------------------------------------------------------

    async def release_due(self) -> list[int]:
        """Judge every waiting deploy that is due (or not announced yet) that no other process
        holds; the ids released."""
        released: list[int] = []
        seen: set[int] = set()
        while True:
            now = self.clock.now()
            async with self._releases.claim_due(now=now, limit=BATCH) as batch:
                fresh = [item for item in batch.items if item.deployment.id not in seen]
                for item in fresh:
                    seen.add(item.deployment.id)
                    verdict = judge_release(item.candidate(), freezes=batch.gate.freezes, now=now)
                    if await self._settle(batch, item, verdict) is DeploymentStatus.PLANNED:
                        released.append(item.deployment.id)
            if len(batch.items) < BATCH or not fresh:
                return released

    async def next_due(self) -> datetime | None:
        """When (by the machine's clock, which the loops wait by) a waiting deploy falls due."""
        due, unannounced = await self._releases.next_due()
        wall = datetime.now(UTC)
        if unannounced:
            return wall
        return None if due is None else wall + (due - self.clock.now())

    async def _settle(
        self, batch: WaitBatch, item: Waiting, verdict: ReleaseVerdict
    ) -> DeploymentStatus:
        """Record ``verdict`` on ``item`` with its notices; the status it has now."""
        d = item.deployment
        if verdict.outcome is ReleaseOutcome.RELEASE:
            words = "released" + (
                f" (waited for: {', '.join(d.wait_kinds)})" if d.wait_kinds else ""
            )
            if not await batch.release(item, message=words):
                return DeploymentStatus.SUPERSEDED
            await batch.announce(self._announcer.released(d, words))
            self._ended(d, "released", words)
            return DeploymentStatus.PLANNED
        if verdict.outcome is not ReleaseOutcome.WAIT:
            status = DeploymentStatus(verdict.outcome.value)
            if await batch.end(item, status, verdict.words):
                ended = dataclasses.replace(d, status=status)
                finished = self.clock.now()
                await batch.announce(
                    self._announcer.outcome(ended, status, verdict.words, finished=finished)
                )
                self._ended(d, status.value, verdict.words)
            return status
        await batch.keep(item, verdict)
        if not d.announced:
            await batch.announce(self._announcer.waiting(d, verdict.words))
            self._metrics.started_waiting(verdict.kinds)
            log.info("deploy_waiting", deployment=d.id, target=d.target.key, waits=verdict.words)
        return DeploymentStatus.WAITING

    def _ended(self, deployment: Deployment, outcome: str, words: str) -> None:
        self._metrics.ended_waiting(outcome)
        log.info(f"deploy_{outcome}", deployment=deployment.id, target=deployment.target.key,
                 message=words)  # fmt: skip

    # -- voting ------------------------------------------------------------------------------

    async def approve(self, deployment_id: int, *, actor: str, comment: str = "") -> VoteResult:
        """``actor`` (an API token's name) approves a waiting deploy; the same token twice
        counts once. Raises ``NotWaiting`` unless it waits, for approvals."""
        return await self._vote(deployment_id, actor=actor, approve=True, comment=comment)

    async def reject(self, deployment_id: int, *, actor: str, comment: str = "") -> VoteResult:
        """``actor`` rejects a waiting deploy (whatever it waits for): it ends, ``rejected``."""
        return await self._vote(deployment_id, actor=actor, approve=False, comment=comment)

    async def _vote(
        self, deployment_id: int, *, actor: str, approve: bool, comment: str
    ) -> VoteResult:
        async with self._releases.hold(deployment_id) as batch:
            [item] = batch.items
            d = item.deployment
            _votable(d, approve=approve)
            now = self.clock.now()
            counted, voted = await batch.vote(
                item, actor=actor, approve=approve, comment=comment, at=now
            )
            verdict = judge_release(voted.candidate(), freezes=batch.gate.freezes, now=now)
            status = await self._settle(batch, voted, verdict)
        if counted:
            self._metrics.voted(approve=approve)
        log.info("deploy_voted", deployment=d.id, actor=actor, approve=approve, counted=counted)
        message = _vote_words(d, actor=actor, approve=approve, counted=counted, verdict=verdict)
        return VoteResult(
            deployment=d, counted=counted, verdict=verdict, status=status, message=message
        )

    async def preview_vote(
        self, deployment: Deployment, *, actor: str, approve: bool
    ) -> VotePreview:
        """What ``actor``'s approval (``approve``) or rejection of ``deployment`` would do now,
        changing nothing. Raises ``NotWaiting`` as the vote itself would."""
        _votable(deployment, approve=approve)
        now = self.clock.now()
        cast = (await self._releases.votes([deployment.id])).get(deployment.id, ())
        counted = not approve or all(v.actor != actor for v in cast)
        if counted:
            others = tuple(v for v in cast if v.actor != actor)
            cast = (*others, Vote(actor=actor, approve=approve, at=now))
        gate = await self._releases.gate({deployment.image.name})
        return VotePreview(counted=counted, verdict=_judged(deployment, cast, gate, now))

    # -- freezing ----------------------------------------------------------------------------

    async def freeze(self, repository: str | None, *, reason: str, actor: str) -> FreezeResult:
        """Hold every deploy decided from now on of ``repository`` (None: of every repository)
        until it is unfrozen, audited."""
        if repository is not None:
            await self._repositories.get_repository(repository)  # UnknownRepository: 404
        changed = await self._releases.freeze(
            repository or EVERYTHING, reason=reason, actor=actor, at=self.clock.now()
        )
        log.info("frozen", repository=repository, actor=actor, reason=reason)
        freezes = tuple(await self._releases.list_freezes())
        what = repository or "every repository"
        return FreezeResult(
            changed=changed, freezes=freezes, released=(), message=f"{what}: {changed.describe()}"
        )

    async def unfreeze(self, repository: str | None, *, actor: str) -> FreezeResult:
        """Lift the freeze; what it held is judged again at once (the newest per target goes,
        unless something else holds it)."""
        lifted = await self._releases.unfreeze(
            repository or EVERYTHING, actor=actor, at=self.clock.now()
        )
        what = repository or "every repository"
        if lifted is None:
            message = f"{what} was not frozen"
            return FreezeResult(changed=None, freezes=tuple(await self.freezes()), released=(),
                                message=message)  # fmt: skip
        log.info("unfrozen", repository=repository, actor=actor)
        released = tuple(await self.release_due())
        ids = ", ".join(str(i) for i in released)
        message = f"{what}: unfrozen by {actor}" + (f"; released {ids}" if released else "")
        return FreezeResult(
            changed=lifted, freezes=tuple(await self.freezes()), released=released, message=message
        )

    async def freezes(self) -> list[Freeze]:
        return await self._releases.list_freezes()

    # -- showing -----------------------------------------------------------------------------

    async def verdicts(self, deployments: Sequence[Deployment]) -> dict[int, ReleaseVerdict]:
        """What each waiting deploy of ``deployments`` waits for, now."""
        waiting = [d for d in deployments if d.status is DeploymentStatus.WAITING]
        if not waiting:
            return {}
        votes = await self._releases.votes([d.id for d in waiting])
        gate = await self._releases.gate({d.image.name for d in waiting})
        now = self.clock.now()
        return {d.id: _judged(d, votes.get(d.id, ()), gate, now) for d in waiting}

    async def explain(self, repository: str, targets: Sequence[Target]) -> RepositoryRelease:
        """Why deploys of ``repository`` to ``targets`` wait, or would: the freezes, each
        target's rules, and its waiting deploy with what it waits for now."""
        waiting = await self._deployments.list_deployments(
            limit=1000, repository_name=repository, status=DeploymentStatus.WAITING.value
        )
        verdicts = await self.verdicts(waiting)
        votes = await self.votes(waiting)
        by_target = {d.target.key: d for d in waiting}
        found = {}
        for target in targets:
            try:
                rules = tuple(self.rules_for(repository, target).describe())
            except ReleaseRuleError as exc:
                rules = (f"not deployed: {exc}",)
            d = by_target.get(target.key)
            found[target.key] = TargetRelease(
                rules=rules,
                waiting=d,
                verdict=verdicts.get(d.id) if d else None,
                votes=votes.get(d.id, ()) if d else (),
            )
        freezes = tuple(f for f in await self.freezes() if f.holds(repository))
        return RepositoryRelease(freezes=freezes, targets=found)

    async def votes(self, deployments: Sequence[Deployment]) -> dict[int, tuple[Vote, ...]]:
        """The votes cast on those of ``deployments`` that needed approvals."""
        return await self._releases.votes([d.id for d in deployments if d.release.approvals])


def _judged(d: Deployment, votes: tuple[Vote, ...], gate: Gate, now: datetime) -> ReleaseVerdict:
    """What ``d`` waits for at ``now``, with ``votes`` cast, against ``gate``."""
    waiting = Waiting(deployment=d, votes=votes, last_push_at=gate.last_pushes.get(d.image.name))
    return judge_release(waiting.candidate(), freezes=gate.freezes, now=now)


def _votable(d: Deployment, *, approve: bool) -> None:
    """Raise ``NotWaiting`` unless ``d`` waits (for approvals, to be approved)."""
    if d.status is not DeploymentStatus.WAITING:
        raise NotWaiting(f"deployment {d.id} is {d.status.value}, not waiting")
    if approve and not d.release.approvals:
        raise NotWaiting(f"deployment {d.id} does not wait for approvals")


def _vote_words(
    d: Deployment, *, actor: str, approve: bool, counted: bool, verdict: ReleaseVerdict
) -> str:
    """``deployment 7 (team/app 1.2.0 to container:web): approved by admin; waits for: 1 of 2
    approvals (admin)``."""
    what = (
        f"deployment {d.id} ({d.repository_name or d.image.name} {d.image.tag} to {d.target.key})"
    )
    done = ("approved by " if approve else "rejected by ") + actor
    if not counted:
        done = f"{actor} had {'approved' if approve else 'rejected'} it already"
    if verdict.outcome is ReleaseOutcome.RELEASE:
        return f"{what}: {done}; released: it deploys now"
    if verdict.outcome is ReleaseOutcome.WAIT:
        return f"{what}: {done}; waits for: {verdict.words}"
    if verdict.outcome is ReleaseOutcome.REJECTED and counted:
        return f"{what}: {verdict.words}"
    return f"{what}: {done}; {verdict.words}"
