"""Promotion from one stage to the next: the same digest, once it has passed the stage before.

A repository's ``stages`` are in order (``staging`` then ``prod``). A push rolls out to the
first; a completed rollout of a stage is promoted to the next one at ``promote_at`` (its
completion plus the next stage's ``promote.soak``), provided every target of it still runs the
digest, healthy (``due``). A person may ask for a promotion at any time (``ask``,
``regdeploy promote team/app prod``): of the digest that passed the stage before (its rollout
completed), never of another unless forced, which is audited. A promotion is a rollout of the
stage's targets (waves, soak, rollback as the repository's ``rollout:`` says), decided through
release control (the stage's windows; ``promote.approvals`` on its first wave) and stored in
the transaction that marks its source promoted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from handlers.references import ImageRef
from receiver.clock import Clock
from receiver.decide.advance import RolloutAdvancer
from receiver.decide.gate import ReleaseGate
from receiver.decide.planner import Planner
from receiver.decide.rollouts import RolloutShaper
from receiver.decide.rules.health import HealthState
from receiver.decide.rules.rollout import RolloutPlan, RolloutState
from receiver.errors import Conflict, NotFound
from receiver.store.decisions import DecisionQueries
from receiver.store.events import EventQueries
from receiver.store.repositories import RepositoryQueries
from receiver.store.rollout_records import Rollout, RolloutChange
from receiver.store.rollouts import RolloutQueries

log = structlog.get_logger("regdeploy.promotion")

#: How soon a promotion that waits for its source's targets to be healthy is looked at again.
RETRY = timedelta(seconds=5)


@dataclass(frozen=True, slots=True, kw_only=True)
class Promoted:
    """A promotion asked for: of which rollout (None: forced without one), to which stage, the
    image, and the deployments it decided."""

    source: int | None
    stage: str
    image: ImageRef
    deployments: tuple[int, ...]
    forced: bool


class Promoter:
    def __init__(
        self,
        *,
        rollouts: RolloutQueries,
        repositories: RepositoryQueries,
        events: EventQueries,
        planner: Planner,
        decisions: DecisionQueries,
        gate: ReleaseGate,
        shaper: RolloutShaper,
        advancer: RolloutAdvancer,
        clock: Clock,
    ) -> None:
        self._rollouts = rollouts
        self._repositories = repositories
        self._events = events
        self._planner = planner
        self._decisions = decisions
        self._gate = gate
        self._shaper = shaper
        self._advancer = advancer
        self._clock = clock

    async def due(self, rollout: Rollout, *, worker: str) -> None:
        """Promote ``rollout`` (completed, its ``promote_at`` passed, held by ``worker``) when
        its targets still run the digest, healthy; otherwise say why it is not (or not yet)."""
        plan = self._shaper.plan_of(rollout.repository_name)
        index = plan.stage_index(rollout.stage) if plan is not None else None
        if plan is None or index is None or index + 1 >= len(plan.stages):
            await self._source_done(rollout, f"{rollout.words}; no stage after it now", worker)
            return
        following = plan.stages[index + 1].name
        health = await self._advancer.healthy(rollout)
        if health.state is HealthState.FAILED:
            words = f"completed; not promoted to {following}: {health.words}"
            log.warning("promotion_refused", rollout=rollout.id, reason=health.words)
            await self._source_done(rollout, words, worker)
            return
        if health.state is not HealthState.HEALTHY:
            now = self._clock.now()
            change = _source_change(
                rollout, f"completed; promotion to {following} waits: {health.words}",
                at=now, next_look_at=now + RETRY, promote_at=rollout.promote_at,
            )  # fmt: skip
            await self._rollouts.record(change, worker=worker)
            return
        await self._promote(
            plan, index + 1, name=rollout.repository_name, source=rollout, image=rollout.image,
            actor=None, worker=worker,
        )  # fmt: skip

    async def ask(
        self, repository: str, stage: str, *, digest: str | None, force: bool, actor: str
    ) -> Promoted:
        """A person's promotion of ``repository`` to ``stage``: of the digest that passed the
        stage before (the newest, or ``digest``). Raises ``NotFound``, ``Conflict``."""
        plan = self._shaper.plan_of(repository)
        if plan is None or not plan.stages:
            raise Conflict(f"{repository} has no stages: nothing is promoted")
        index = plan.stage_index(stage)
        if index is None:
            names = ", ".join(s.name for s in plan.stages)
            raise NotFound(f"no stage {stage!r} of {repository} (stages: {names})")
        if index == 0:
            raise Conflict(f"{stage} is the first stage of {repository}: pushes reach it")
        before = plan.stages[index - 1].name
        source = await self._source(repository, before, digest)
        passed = source is not None and source.state is RolloutState.COMPLETED
        if not passed and not force:
            raise Conflict(_unpassed(before, digest, source))
        image = source.image if source is not None else await self._image(repository, digest)
        ids = await self._promote(
            plan, index, name=repository, source=source, image=image, actor=actor, worker=None,
            forced=not passed,
        )  # fmt: skip
        return Promoted(
            source=source.id if source else None,
            stage=stage,
            image=image,
            deployments=tuple(ids),
            forced=not passed,
        )

    async def _promote(
        self,
        plan: RolloutPlan,
        index: int,
        *,
        name: str,
        source: Rollout | None,
        image: ImageRef,
        actor: str | None,
        worker: str | None,
        forced: bool = False,
    ) -> list[int]:
        stage = plan.stages[index]
        repository = await self._repositories.get_repository(name)
        origin = f"rollout {source.id} in {source.stage}" if source else "no rollout"
        reason = f"promoted to {stage.name} from {origin}" + (f" by {actor}" if actor else "")
        plans = await self._planner.plans_to(
            repository,
            image,
            chosen=lambda t: self._shaper.stage_of(name, t) == index,
            trigger="promote",
            reason=reason,
        )
        plans = await self._gate.attach(plans)
        now = self._clock.now()
        async with self._decisions.recording() as recorder:
            ids = await self._gate.record(
                recorder, plans, stage=index, promoted_from=source.id if source else None,
                approvals=stage.promote.approvals,
            )  # fmt: skip
            if source is not None:
                by = f" by {actor}" if actor else ""
                words = (
                    f"completed; promoted to {stage.name}{by}"
                    if source.state is RolloutState.COMPLETED
                    else f"{source.words}; its digest promoted to {stage.name}{by} (forced)"
                )
                change = _source_change(source, words, at=now, next_look_at=now, promote_at=None)
                await recorder.rollout_change(change, worker=worker)
            if forced and actor is not None:
                what = {"stage": stage.name, "image": str(image), "deployments": ids,
                        "source": source.id if source else None}  # fmt: skip
                await recorder.audit(name, actor=actor, field="promote", new=what)
        log.info("rollout_promoted", repository=name, stage=stage.name, image=str(image),
                 source=source.id if source else None, actor=actor, forced=forced)  # fmt: skip
        return ids

    async def _source(self, repository: str, stage: str, digest: str | None) -> Rollout | None:
        """The rollout of ``repository``'s ``stage`` to promote from: of ``digest``, the newest;
        without one, the newest that completed, else the newest (to say why it cannot)."""
        newest: Rollout | None = None
        before: int | None = None
        while True:
            page = await self._rollouts.list(repository_name=repository, limit=50, before=before)
            for rollout in page:
                if rollout.stage != stage or digest not in (None, rollout.image.digest):
                    continue
                if digest is not None or rollout.state is RolloutState.COMPLETED:
                    return rollout
                newest = newest or rollout
            if len(page) < 50:
                return newest
            before = page[-1].id

    async def _image(self, repository: str, digest: str | None) -> ImageRef:
        """The image of ``digest`` (forced, with no rollout of it in the stage before)."""
        state = await self._repositories.get_repository(repository)
        if digest is None:
            raise Conflict("nothing has rolled out in the stage before: name the digest to force")
        catalog = await self._events.repository_catalog(state.rules.image)
        tag = next((t.tag for t in catalog if t.digest == digest), None)
        if tag is None:
            raise NotFound(f"no tag of {repository} points at {digest}")
        return ImageRef(name=state.rules.image, tag=tag, digest=digest)

    async def _source_done(self, rollout: Rollout, words: str, worker: str) -> None:
        now = self._clock.now()
        change = _source_change(rollout, words, at=now, next_look_at=now, promote_at=None)
        await self._rollouts.record(change, worker=worker)


def _source_change(
    rollout: Rollout,
    words: str,
    *,
    at: datetime,
    next_look_at: datetime,
    promote_at: datetime | None,
) -> RolloutChange:
    """The source rollout of a promotion, unchanged but for its words and promotion time."""
    return RolloutChange.keeping(
        rollout, at=at, words=words, next_look_at=next_look_at, promote_at=promote_at
    )


def _unpassed(before: str, digest: str | None, source: Rollout | None) -> str:
    what = digest or "the newest digest"
    if source is None:
        return f"{what} has not passed {before}: no rollout of it there (--force to promote anyway)"
    return (
        f"{source.image.digest} has not passed {before}: rollout {source.id} is "
        f"{source.state.value.replace('_', ' ')} ({source.words}); --force to promote anyway"
    )
