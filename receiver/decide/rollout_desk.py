"""What a person asks of a rollout (the API, the CLI, the console): resume a halted one, abandon
one; and what a deploy of a later wave waits for, said as its rollout stands now.

Each is given the rollout as it stands, read under its row lock
(``receiver.store.rollouts.RolloutQueries.locked``), and answers what to write
(``RolloutChange``), or ``Conflict`` when the rollout cannot take it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import structlog

from receiver.clock import Clock
from receiver.decide.rollouts import wave_gate
from receiver.decide.rules.release import ReleaseVerdict, WaitKind
from receiver.decide.rules.rollout import (
    RolloutState,
    Settled,
    WaveLook,
    WaveState,
    settled,
    soak_words,
)
from receiver.errors import Conflict
from receiver.metrics import Metrics
from receiver.store.records import DeploymentStatus, Plan
from receiver.store.rollout_records import Rollout, RolloutChange, RolloutTarget, TargetChange

log = structlog.get_logger("regdeploy.rollouts")


#: A deploy a person or a check said no to: a resume would deploy it past that.
_JUDGED = frozenset({DeploymentStatus.REJECTED, DeploymentStatus.EXPIRED, DeploymentStatus.REFUSED})


class RolloutDesk:
    def __init__(self, *, metrics: Metrics, clock: Clock) -> None:
        self._metrics = metrics
        self._clock = clock

    def resume(self, rollout: Rollout, *, actor: str) -> RolloutChange:
        """Go on with a halted rollout: its halted wave deploys again where a deploy failed,
        and soaks afresh. Raises ``Conflict``."""
        if rollout.state is not RolloutState.HALTED or rollout.rolling_back:
            raise Conflict(
                f"rollout {rollout.id} is {_state_words(rollout)}: only a halted rollout that "
                "was not rolled back can be resumed"
            )
        now = self._clock.now()
        number = rollout.wave
        wave = dataclasses.replace(
            rollout.wave_row(number), state=WaveState.DEPLOYING, started_at=now,
            settled_at=None, healthy_since=None, finished_at=None,
        )  # fmt: skip
        again = [t for t in rollout.of_wave(number) if settled(_status(t)) is Settled.FAILED]
        judged = [t for t in again if t.deployment_status in _JUDGED]
        if judged:
            first = judged[0]
            raise Conflict(
                f"rollout {rollout.id} cannot be resumed: the deploy of {first.key} was "
                f"{_status(first)} ({first.deployment_message or 'no message'}); resuming "
                "would deploy it past that: push or deploy again instead"
            )
        intents = tuple(
            _intent(rollout, t, trigger="resume", reason=f"rollout {rollout.id} resumed by {actor}")
            for t in again
        )
        later = [t for t in rollout.targets if t.wave > number]
        log.info("rollout_resumed", rollout=rollout.id, actor=actor, wave=number)
        return RolloutChange.keeping(
            rollout,
            at=now,
            state=RolloutState.RUNNING,
            words=f"resumed by {actor}: wave {number} of {len(rollout.waves)} deploying",
            reason=None,
            verified_at=None,
            waves=(wave,),
            targets=tuple(
                TargetChange(
                    key=t.key,
                    marks=None,
                    health=None,
                    deployment_id=t.deployment_id,
                    rollback_id=t.rollback_id,
                )
                for t in rollout.of_wave(number)
            ),
            intents=intents,
            lift=tuple(
                t.deployment_id
                for t in rollout.of_wave(number)
                if t.deployment_id is not None and t.deployment_status is DeploymentStatus.WAITING
            ),
            audit_actor=actor,
            audit_what={"rollout": rollout.id, "action": "resume", "wave": number},
            gates=tuple(
                (t.deployment_id, wave_gate(t.wave, len(rollout.waves), rollout.policy.soak))
                for t in later
                if t.deployment_id
            ),
        )

    def abandon(self, rollout: Rollout, *, actor: str) -> RolloutChange:
        """Stop a running or halted rollout where it is: its waiting waves never deploy.
        Raises ``Conflict``."""
        if rollout.state not in (RolloutState.RUNNING, RolloutState.HALTED) or rollout.rolling_back:
            raise Conflict(
                f"rollout {rollout.id} is {_state_words(rollout)}: only a running or halted "
                "rollout can be abandoned"
            )
        now = self._clock.now()
        words = f"abandoned by {actor} at wave {rollout.wave} of {len(rollout.waves)}"
        log.info("rollout_abandoned", rollout=rollout.id, actor=actor)
        self._metrics.rollout_ended("abandoned")
        return RolloutChange.keeping(
            rollout,
            at=now,
            state=RolloutState.ABANDONED,
            words=words,
            reason=words,
            cancel=f"not deployed: rollout {rollout.id} {words}",
            audit_actor=actor,
            audit_what={"rollout": rollout.id, "action": "abandon", "wave": rollout.wave},
        )


def gate_now(rollout: Rollout, key: str, *, now: datetime) -> str | None:
    """What ``key``'s deploy waits for in ``rollout`` now, in words (None: not a wave's gate,
    or the rollout no longer runs)."""
    target = next((t for t in rollout.targets if t.key == key), None)
    if target is None or rollout.state is not RolloutState.RUNNING or target.wave <= rollout.wave:
        return None
    count, soak = len(rollout.waves), rollout.policy.soak
    current = rollout.wave_row(rollout.wave)
    if target.wave == rollout.wave + 1 and current.healthy_since is not None:
        view = WaveLook(number=current.number, count=count, soak=soak,
                        health_timeout=rollout.policy.health_timeout, settled_at=None,
                        healthy_since=current.healthy_since)  # fmt: skip
        return soak_words(view, since=current.healthy_since, now=now)
    return (
        f"{wave_gate(target.wave, count, soak)}; wave {rollout.wave} of {count} is "
        f"{current.state.value}"
    )


def with_gate_words(verdict: ReleaseVerdict, words: str) -> ReleaseVerdict:
    """``verdict`` with its wave's wait said in ``words``."""
    waits = tuple(
        dataclasses.replace(w, words=words) if w.kind is WaitKind.WAVE else w for w in verdict.waits
    )
    return dataclasses.replace(verdict, waits=waits)


def _status(target: RolloutTarget) -> str:
    return target.deployment_status.value if target.deployment_status else "failed"


def _intent(rollout: Rollout, target: RolloutTarget, *, trigger: str, reason: str) -> Plan:
    return Plan(
        target=target.target,
        repository_name=rollout.repository_name,
        image=rollout.image,
        deploy=True,
        reason=reason,
        trigger=trigger,
        previous_image=target.previous_image,
        event_id=rollout.event_id,
    )


def _state_words(rollout: Rollout) -> str:
    return "rolling back" if rollout.rolling_back else rollout.state.value.replace("_", " ")
