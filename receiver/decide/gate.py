"""The release gate: release control's rules (``receiver.decide.rules.release``) applied to what
is decided and to what waits.

Deciding attaches to each intent the rules of its target (``attach``): its watched repository's
``windows``, ``min_age``, ``settle``, ``approvals`` and ``approval_deadline``, overridden by the
workload's own labels or job meta (``regdeploy.window`` ...). ``record`` judges each intent
against the freezes and last pushes read inside the transaction that stores it, so that one
that must wait is stored ``waiting``; the decider and the repository actions record through it.

What waits is judged again when it falls due (``release_due``, run by the launcher in every
process: each waiting deploy is held by one process at a time), when a vote is cast and when a
freeze is lifted (``receiver.decide.desk``). Every judgement is made at the time of the
injected clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

import structlog

from deployers.base import Target
from notifiers.base import Kind
from receiver.clock import Clock
from receiver.decide.announcer import Announcer, RolloutNews
from receiver.decide.rollouts import RolloutShaper
from receiver.decide.rules.release import (
    Candidate,
    ReleaseOutcome,
    ReleaseRules,
    ReleaseVerdict,
    Vote,
    judge_release,
    overridden,
)
from receiver.errors import ReleaseRuleError
from receiver.metrics import Metrics
from receiver.store.decisions import DecisionRecorder
from receiver.store.events import EventQueries
from receiver.store.notices import OutboxEntry
from receiver.store.records import Deployment, DeploymentStatus, JudgedPlan, Plan
from receiver.store.releases import ReleaseQueries, ReleaseState, WaitBatch, Waiting
from receiver.store.rollout_records import RolloutDraft

log = structlog.get_logger("regdeploy.release")

#: Waiting deploys judged in one transaction.
BATCH = 50


class WorkloadLabels(Protocol):
    """Where a configured target's own labels are read (the inventory)."""

    def workload(self, key: str) -> Target | None: ...


class ReleaseGate:
    def __init__(
        self,
        *,
        releases: ReleaseQueries,
        events: EventQueries,
        rules: Mapping[str, ReleaseRules],
        labels: WorkloadLabels | None,
        clock: Clock,
        announcer: Announcer,
        metrics: Metrics,
        shaper: RolloutShaper | None = None,
    ) -> None:
        """``shaper``: makes rollouts of the intents of repositories with rollout rules."""
        self._shaper = shaper
        self._releases = releases
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

    async def attach(
        self,
        plans: Sequence[Plan],
        *,
        pushed: Mapping[int, datetime] | None = None,
        forced_by: str | None = None,
    ) -> list[Plan]:
        """``plans`` with the rules each intent waits by, when its image was pushed (``pushed``
        by event id, else the catalog's time) and who forced it past the windows. An intent
        whose workload's labels cannot be read is a skip, with the reason."""
        attached = []
        for plan in plans:
            if not plan.deploy:
                attached.append(plan)
                continue
            try:
                rules = self.rules_for(plan.repository_name, plan.target)
            except ReleaseRuleError as exc:
                skip = dataclasses.replace(plan, deploy=False, reason=f"not deployed: {exc}")
                attached.append(skip)
                continue
            when = (pushed or {}).get(plan.event_id or 0) or await self._pushed_at(plan, rules)
            attached.append(
                dataclasses.replace(plan, release=rules, pushed_at=when, forced_by=forced_by)
            )
        return attached

    async def record(
        self,
        recorder: DecisionRecorder,
        plans: Sequence[Plan],
        *,
        stage: int = 0,
        promoted_from: int | None = None,
        approvals: int = 0,
    ) -> list[int]:
        """Judge ``plans`` now, against what ``recorder`` reads once their targets are locked,
        and have it write them; the ids of the intents (planned, or waiting). The intents of a
        repository with rollout rules become a rollout of ``stage`` first
        (``receiver.decide.rollouts``); ``approvals``: what its first wave needs (a promotion's
        ``promote.approvals``)."""
        drafts: list[RolloutDraft] = []
        if self._shaper is not None:
            plans, drafts = self._shaper.shape(plans, stage=stage, promoted_from=promoted_from)
        if approvals:
            plans = [_with_approvals(plan, approvals) for plan in plans]
        now = self.clock.now()
        state = await recorder.release_state(plans)
        judged = judge_plans(plans, state, now=now)
        return await recorder.write(judged, now=now, rollouts=drafts, announce=self._started)

    def _started(self, rollout_id: int, draft: RolloutDraft, anchor: int) -> list[OutboxEntry]:
        news = RolloutNews(
            rollout_id=rollout_id,
            anchor=anchor,
            kind=Kind.ROLLOUT_STARTED,
            repository=draft.repository_name,
            stage=draft.stage,
            image=draft.image,
            targets=sum(len(w) for w in draft.waves),
            reason=f"{draft.image.tag or draft.image.digest} ({draft.trigger})",
            words=draft.words,
            notify=draft.notify,
        )
        self._metrics.rollout_started()
        return self._announcer.rollout(news)

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
                    verdict = judge_waiting(item, batch.state, now=now)
                    if await self.settle(batch, item, verdict) is DeploymentStatus.PLANNED:
                        released.append(item.deployment.id)
            if len(batch.items) < BATCH or not fresh:
                return released

    async def next_due(self) -> datetime | None:
        """When (by the clock) a waiting deploy falls due: now, when one's wait is not
        announced yet."""
        due, unannounced = await self._releases.next_due()
        return self.clock.now() if unannounced else due

    async def settle(
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

    # -- what waits, now ---------------------------------------------------------------------

    async def verdicts(self, deployments: Sequence[Deployment]) -> dict[int, ReleaseVerdict]:
        """What each waiting deploy of ``deployments`` waits for, now."""
        waiting = [d for d in deployments if d.status is DeploymentStatus.WAITING]
        if not waiting:
            return {}
        votes = await self._releases.votes([d.id for d in waiting])
        state = await self._releases.state({d.image.name for d in waiting})
        now = self.clock.now()
        return {
            d.id: judge_waiting(_waiting(d, votes.get(d.id, ()), state), state, now=now)
            for d in waiting
        }

    async def verdict_with(self, deployment: Deployment, votes: tuple[Vote, ...]) -> ReleaseVerdict:
        """What ``deployment`` would wait for now if ``votes`` were cast on it."""
        state = await self._releases.state({deployment.image.name})
        now = self.clock.now()
        return judge_waiting(_waiting(deployment, votes, state), state, now=now)


def _with_approvals(plan: Plan, approvals: int) -> Plan:
    """``plan`` needing ``approvals`` when it is of a rollout's first wave (no gate)."""
    if not plan.deploy or plan.rollout is None or plan.gate:
        return plan
    rules = dataclasses.replace(plan.release, approvals=max(plan.release.approvals, approvals))
    return dataclasses.replace(plan, release=rules)


def judge_plans(plans: Sequence[Plan], state: ReleaseState, *, now: datetime) -> list[JudgedPlan]:
    """Each of ``plans`` decided at ``now``, an intent with release control's verdict against
    ``state`` (a skip has none)."""
    return [
        JudgedPlan(plan=plan, verdict=_judge_intent(plan, state, now) if plan.deploy else None)
        for plan in plans
    ]


def _judge_intent(plan: Plan, state: ReleaseState, now: datetime) -> ReleaseVerdict:
    candidate = Candidate(
        rules=plan.release,
        repository=plan.repository_name,
        decided_at=now,
        pushed_at=plan.pushed_at,
        last_push_at=state.last_pushes.get(plan.image.name),
        forced=plan.forced_by is not None,
        gate=plan.gate,
    )
    return judge_release(candidate, freezes=state.freezes, now=now)


def judge_waiting(item: Waiting, state: ReleaseState, *, now: datetime) -> ReleaseVerdict:
    """What a stored deploy waits for at ``now``, with its votes, against ``state``."""
    d = item.deployment
    candidate = Candidate(
        rules=d.release,
        repository=d.repository_name,
        decided_at=d.decided_at or d.created_at,
        pushed_at=d.pushed_at,
        last_push_at=item.last_push_at,
        forced=d.forced_by is not None,
        votes=item.votes,
        held_until=d.held_until,
        hold_words=d.hold_words,
        hold_kind="signature" if "signature" in d.wait_kinds else "scan",
        gate=d.gate,
    )
    return judge_release(candidate, freezes=state.freezes, now=now)


def _waiting(d: Deployment, votes: tuple[Vote, ...], state: ReleaseState) -> Waiting:
    return Waiting(deployment=d, votes=votes, last_push_at=state.last_pushes.get(d.image.name))
