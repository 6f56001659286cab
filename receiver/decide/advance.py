"""Advancing rollouts: one look at a rollout, and what it changes (``RolloutChange``).

A look at a running rollout reads how the deploys of its current wave went, asks each target's
orchestrator whether it is healthy (``Deployer.health``), probes ``verify.http`` while the wave
soaks, and judges (``receiver.decide.rules.rollout.judge_wave``): wait, start the soak (the
marks are recorded), start the next wave (its gates are lifted: release control judges its
deploys again at once), complete, or halt. A halt with ``on_failure: rollback`` queues, for
every target of the waves started so far, a deploy of the exact image (digest) it ran before,
through the same deployer, and cancels the waiting waves; a look at a rolling-back rollout ends
it once those deploys have ended. A completed rollout of a stage is promoted to the next stage
once it has run healthy there for ``promote.soak`` (``receiver.decide.promotion``).

Nothing here holds the rollout: the loop that calls ``look`` claimed it, and the store writes
what it returns only while that claim holds (``receiver.store.rollouts``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog

from deployers.base import Deployers
from notifiers.base import Kind
from receiver.clock import Clock
from receiver.decide.announcer import Announcer, RolloutNews
from receiver.decide.rollback import halted, rollback_progress
from receiver.decide.rollouts import RolloutShaper
from receiver.decide.rules.health import Health, HealthState
from receiver.decide.rules.rollout import (
    RolloutState,
    Settled,
    Stage,
    TargetLook,
    WaveAction,
    WaveLook,
    WaveState,
    clock_span,
    judge_wave,
    settled,
)
from receiver.decide.verify import Verifier
from receiver.errors import DeployerUnavailable
from receiver.metrics import Metrics
from receiver.store.notices import OutboxEntry
from receiver.store.records import DeploymentStatus
from receiver.store.rollout_records import (
    Rollout,
    RolloutChange,
    RolloutTarget,
    RolloutWave,
    TargetChange,
)

log = structlog.get_logger("regdeploy.rollouts")

#: How often a rollout is looked at, at most and at least.
LOOK_MIN = timedelta(seconds=1)
LOOK_MAX = timedelta(seconds=15)


class RolloutAdvancer:
    def __init__(
        self,
        *,
        deployers: Deployers,
        shaper: RolloutShaper,
        announcer: Announcer,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self._shaper = shaper
        self._deployers = deployers
        self._announcer = announcer
        self._metrics = metrics
        self._clock = clock
        self._verifier = Verifier()

    async def close(self) -> None:
        await self._verifier.close()

    async def look(self, rollout: Rollout) -> RolloutChange:
        """What a look at ``rollout`` (running, or rolling back) changes now."""
        now = self._clock.now()
        if rollout.rolling_back:
            return self._rollback_progress(rollout, now)
        wave = rollout.wave_row(rollout.wave)
        targets = rollout.of_wave(rollout.wave)
        looks = await self._looks(rollout, targets, soaking=wave.healthy_since is not None)
        done = all(look.settled is Settled.DONE for look in looks)
        # Not before the wave (re)started: a resumed wave's health timeout counts from there.
        ended = [t for t in (_settled_at(targets), wave.started_at) if t is not None]
        settled_at = max(ended, default=None) if done else None
        failure, verified_at = await self._verify(rollout, wave, looks, now)
        view = WaveLook(
            number=wave.number,
            count=len(rollout.waves),
            soak=rollout.policy.soak,
            health_timeout=rollout.policy.health_timeout,
            settled_at=wave.settled_at or settled_at,
            healthy_since=wave.healthy_since,
            verify_failure=failure,
        )
        verdict = judge_wave(view, looks, now=now)
        wave = dataclasses.replace(wave, settled_at=view.settled_at)
        if verdict.action is WaveAction.FAIL:
            return self._halt(rollout, wave, looks, verdict.words, now, verified_at)
        if verdict.action is WaveAction.ADVANCE:
            return self._advance(rollout, wave, looks, verdict.words, now)
        soak = verdict.action is WaveAction.SOAK
        if soak:
            wave = dataclasses.replace(wave, state=WaveState.SOAKING, healthy_since=now)
        elif view.settled_at is None:
            wave = dataclasses.replace(wave, state=WaveState.DEPLOYING)
        return RolloutChange.keeping(
            rollout,
            at=now,
            words=verdict.words,
            next_look_at=now + _interval(rollout),
            verified_at=verified_at,
            waves=(wave,),
            targets=_changes(targets, looks, baseline=soak),
        )

    # -- looking ----------------------------------------------------------------------------

    async def _looks(
        self, rollout: Rollout, targets: Sequence[RolloutTarget], *, soaking: bool
    ) -> list[TargetLook]:
        looks = [_deploy_look(t) for t in targets]
        if any(look.settled is not Settled.DONE for look in looks):
            return looks
        healths = await asyncio.gather(
            *(
                self._health(rollout, t) if look.deployed else _none()
                for t, look in zip(targets, looks, strict=True)
            )
        )
        return [
            dataclasses.replace(look, health=health, baseline=t.marks if soaking else None)
            for t, look, health in zip(targets, looks, healths, strict=True)
        ]

    async def _health(self, rollout: Rollout, target: RolloutTarget) -> Health | None:
        deployer = self._deployers.get(target.target.kind)
        if deployer is None:
            return Health.failed(f"no deployer for kind {target.target.kind!r}")
        try:
            return await deployer.health(target.target, rollout.image)
        except DeployerUnavailable as exc:
            log.warning("health_unknown", rollout=rollout.id, target=target.key, error=str(exc))
            return Health.unknown(str(exc))
        except Exception as exc:  # an orchestrator's surprise is a wait, never an advance
            log.exception("health_failed", rollout=rollout.id, target=target.key)
            return Health.unknown(f"{type(exc).__name__}: {exc}")

    async def _verify(
        self, rollout: Rollout, wave: RolloutWave, looks: Sequence[TargetLook], now: datetime
    ) -> tuple[str | None, datetime | None]:
        """Probe ``verify.http`` while the wave's targets are healthy, once per interval: what
        failed (None: it passed, or was not due), and when it was last probed."""
        check = rollout.policy.verify
        if check is None or wave.healthy_since is None:
            return None, rollout.verified_at
        if rollout.verified_at is not None and now - rollout.verified_at < check.interval:
            return None, rollout.verified_at
        if any(
            look.health is None or look.health.state is not HealthState.HEALTHY
            for look in looks
            if look.deployed
        ):
            return None, rollout.verified_at
        return await self._verifier.probe(check), now

    # -- judging ----------------------------------------------------------------------------

    def _advance(
        self,
        rollout: Rollout,
        wave: RolloutWave,
        looks: Sequence[TargetLook],
        words: str,
        now: datetime,
    ) -> RolloutChange:
        healthy = dataclasses.replace(wave, state=WaveState.HEALTHY, finished_at=now)
        targets = _changes(rollout.of_wave(wave.number), looks, baseline=False)
        if wave.number >= len(rollout.waves):
            return self._complete(rollout, healthy, targets, now)
        following = dataclasses.replace(
            rollout.wave_row(wave.number + 1), state=WaveState.DEPLOYING, started_at=now
        )
        lift = tuple(t.deployment_id for t in rollout.of_wave(following.number) if t.deployment_id)
        return RolloutChange.keeping(
            rollout,
            at=now,
            wave=following.number,
            words=f"{words}; wave {following.number} of {len(rollout.waves)} deploying",
            next_look_at=now + _interval(rollout),
            verified_at=None,
            waves=(healthy, following),
            targets=targets,
            lift=lift,
        )

    def _complete(
        self,
        rollout: Rollout,
        wave: RolloutWave,
        targets: tuple[TargetChange, ...],
        now: datetime,
    ) -> RolloutChange:
        count = len(rollout.targets)
        words = f"completed: {count} target{'s' if count != 1 else ''} on {rollout.image.tag}, " + (
            f"each wave healthy for {clock_span(rollout.policy.soak)}"
            if rollout.policy.soak
            else "each wave healthy"
        )
        promote_at = None
        following = self._next_stage(rollout)
        if following is not None:
            promote_at = now + following.promote.soak
            words += (
                f"; promoted to {following.name} once it has run here healthy for "
                f"{clock_span(following.promote.soak)}"
            )
        return RolloutChange.keeping(
            rollout,
            at=now,
            state=RolloutState.COMPLETED,
            words=words,
            next_look_at=promote_at or now,
            waves=(wave,),
            targets=targets,
            notices=tuple(self._news(rollout, Kind.ROLLOUT_COMPLETED, words)),
            promote_at=promote_at,
        )

    def _next_stage(self, rollout: Rollout) -> Stage | None:
        plan = self._shaper.plan_of(rollout.repository_name)
        index = plan.stage_index(rollout.stage) if plan is not None else None
        if plan is None or index is None or index + 1 >= len(plan.stages):
            return None
        return plan.stages[index + 1]

    async def healthy(self, rollout: Rollout) -> Health:
        """Whether every target of ``rollout`` still runs its image, healthy: the first that
        does not (failed, pending or unknown), or a healthy answer for all."""
        for target in rollout.targets:
            if target.deployment_status is DeploymentStatus.DRY_RUN:
                continue
            health = await self._health(rollout, target)
            if health is None or health.state is not HealthState.HEALTHY:
                said = health.words if health is not None else "no deployer"
                state = health.state if health is not None else HealthState.FAILED
                return Health(state=state, words=f"{target.key}: {said}")
        return Health(state=HealthState.HEALTHY, words=f"{len(rollout.targets)} targets healthy")

    def _halt(
        self,
        rollout: Rollout,
        wave: RolloutWave,
        looks: Sequence[TargetLook],
        why: str,
        now: datetime,
        verified_at: datetime | None,
    ) -> RolloutChange:
        return halted(
            rollout,
            dataclasses.replace(wave, state=WaveState.FAILED, finished_at=now),
            _changes(rollout.of_wave(wave.number), looks, baseline=False),
            why,
            now=now,
            verified_at=verified_at,
            news=lambda words: self._news(rollout, Kind.ROLLOUT_HALTED, words),
        )

    def _rollback_progress(self, rollout: Rollout, now: datetime) -> RolloutChange:
        return rollback_progress(
            rollout,
            now=now,
            news=lambda words: self._news(rollout, Kind.ROLLOUT_ROLLED_BACK, words),
        )

    # -- helpers ----------------------------------------------------------------------------

    def _news(self, rollout: Rollout, kind: Kind, words: str) -> list[OutboxEntry]:
        """The notices of ``kind``, filed under the current wave's first deployment (a second
        halt after a resume is filed under the resumed deploy: each is sent)."""
        anchor = next((t.deployment_id for t in rollout.of_wave(rollout.wave) if t.deployment_id),
                      None)  # fmt: skip
        if anchor is None:
            return []
        return self._announcer.rollout(
            RolloutNews(
                rollout_id=rollout.id,
                anchor=anchor,
                kind=kind,
                repository=rollout.repository_name,
                stage=rollout.stage,
                image=rollout.image,
                targets=len(rollout.targets),
                reason=f"{rollout.image.tag or rollout.image.digest} ({rollout.trigger})",
                words=words,
                notify=rollout.notify,
            )
        )

    def recorded(self, before: Rollout, change: RolloutChange) -> None:
        """Log and count what a look changed, once it is written (a look another process took
        over meanwhile is neither)."""
        old = before.wave_row(before.wave)
        ended = next((w for w in change.waves if w.number == old.number), None)
        if ended is not None and ended.finished_at is not None and old.started_at is not None:
            seconds = (ended.finished_at - old.started_at).total_seconds()
            self._metrics.wave_ended(outcome=ended.state.value, seconds=seconds)
        if change.wave != before.wave:
            log.info("rollout_wave_started", rollout=before.id, wave=change.wave)
        if change.state is before.state and change.rolling_back == before.rolling_back:
            return
        if change.state is RolloutState.COMPLETED:
            log.info("rollout_completed", rollout=before.id, targets=len(before.targets))
            self._metrics.rollout_ended("completed")
        elif change.state is RolloutState.HALTED and before.state is RolloutState.RUNNING:
            log.warning("rollout_halted", rollout=before.id, wave=before.wave,
                        reason=change.reason)  # fmt: skip
            self._metrics.rollout_ended("halted")
        elif change.state is RolloutState.ROLLED_BACK:
            back = sum(t.rollback_status is DeploymentStatus.SUCCEEDED for t in before.targets)
            log.warning("rollout_rolled_back", rollout=before.id, back=back)
            self._metrics.rollout_ended("rolled_back")
            self._metrics.rolled_back(back)


async def _none() -> None:
    return None


def _deploy_look(target: RolloutTarget) -> TargetLook:
    status = target.deployment_status
    if status is None:
        return TargetLook(key=target.key, settled=Settled.FAILED, words="its deployment is gone")
    words = target.deployment_message or status.value
    if status is not DeploymentStatus.SUCCEEDED:
        words = f"{status.value}: {words}" if words != status.value else status.value
    return TargetLook(
        key=target.key,
        settled=settled(status.value),
        words=words,
        deployed=status is not DeploymentStatus.DRY_RUN,
    )


def _settled_at(targets: Sequence[RolloutTarget]) -> datetime | None:
    times = [t.deployment_finished_at for t in targets if t.deployment_finished_at is not None]
    return max(times, default=None)


def _changes(
    targets: Sequence[RolloutTarget], looks: Sequence[TargetLook], *, baseline: bool
) -> tuple[TargetChange, ...]:
    """What a look says of each target: its health words, and at the soak's start its marks."""
    return tuple(
        TargetChange(
            key=t.key,
            marks=(look.health.marks if baseline and look.health else t.marks),
            health=(look.health.words if look.health else t.health),
            deployment_id=t.deployment_id,
            rollback_id=t.rollback_id,
        )
        for t, look in zip(targets, looks, strict=True)
    )


def _interval(rollout: Rollout) -> timedelta:
    """How soon to look again: a twentieth of the soak, within 1 s and 15 s (and no later than
    ``verify``'s interval)."""
    every = rollout.policy.soak / 20
    if rollout.policy.verify is not None:
        every = min(every, rollout.policy.verify.interval)
    return min(max(every, LOOK_MIN), LOOK_MAX)
