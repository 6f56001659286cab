"""Halting a rollout, and rolling it back: what a failed wave changes, and when the rollback is
over.

A failed wave halts its rollout: no later wave starts. With ``on_failure: halt`` the later
waves' deploys wait ("rollout 7 halted at wave 1: …; resume or abandon it"). With ``rollback``
(the default) every target of the waves started so far gets a deploy of the exact image
(digest) it ran before, through the same deployer, queued past release control; the later
waves' deploys are cancelled; once every rollback deploy has ended the rollout is
``rolled_back``, with how many targets are back and why the others are not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from handlers.references import parse_reference
from receiver.decide.rules.rollout import FailureAction, RolloutState
from receiver.errors import InvalidReference
from receiver.store.notices import OutboxEntry
from receiver.store.records import DeploymentStatus, Plan
from receiver.store.rollout_records import Rollout, RolloutChange, RolloutWave, TargetChange

#: How soon a rolling-back rollout is looked at again.
AGAIN = timedelta(seconds=1)
#: A rollback deploy in one of these has ended.
_ENDED = frozenset({
    DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK,
    DeploymentStatus.CONFLICT, DeploymentStatus.DRY_RUN, DeploymentStatus.SKIPPED,
    DeploymentStatus.REFUSED, DeploymentStatus.SUPERSEDED, DeploymentStatus.CANCELLED,
    DeploymentStatus.REJECTED, DeploymentStatus.EXPIRED,
})  # fmt: skip

#: The notices of a halt or a rollback, given its words.
News = Callable[[str], Sequence[OutboxEntry]]


def halted(
    rollout: Rollout,
    failed: RolloutWave,
    targets: tuple[TargetChange, ...],
    why: str,
    *,
    now: datetime,
    verified_at: datetime | None,
    news: News,
) -> RolloutChange:
    """``rollout`` halted at its ``failed`` wave for ``why``: waiting for a person, or rolling
    back."""
    reason = f"wave {failed.number} of {len(rollout.waves)} failed: {why}"
    rollbacks, kept = (
        rollback_plans(rollout, failed.number, reason)
        if rollout.policy.on_failure is FailureAction.ROLLBACK
        else ([], [])
    )
    if not rollbacks:
        cannot = f" (nothing to roll back: {'; '.join(kept)})" if kept else ""
        words = f"halted: {reason}{cannot}; resume or abandon it"
        gate = f"rollout {rollout.id} halted at wave {failed.number}: {why}; resume or abandon it"
        held = [t for t in rollout.targets if t.wave >= failed.number and t.deployment_id]
        queued = [t.deployment_id for t in rollout.of_wave(failed.number) if t.deployment_id]
        return RolloutChange.keeping(
            rollout,
            at=now,
            state=RolloutState.HALTED,
            words=words,
            reason=reason,
            verified_at=verified_at,
            waves=(failed,),
            targets=targets,
            gates=tuple((t.deployment_id, gate) for t in held if t.deployment_id),
            stop=tuple(d for d in queued if d is not None),
            stop_words=f"not deployed: rollout {rollout.id} halted ({reason})",
            notices=tuple(news(words)),
        )
    words = f"rolling back {len(rollbacks)} target{_s(len(rollbacks))}: {reason}"
    if kept:
        words += f" ({'; '.join(kept)})"
    return RolloutChange.keeping(
        rollout,
        at=now,
        state=RolloutState.HALTED,
        words=words,
        reason=reason,
        rolling_back=True,
        next_look_at=now + AGAIN,
        verified_at=verified_at,
        waves=(failed,),
        targets=targets + _earlier(rollout, failed.number),
        cancel=f"not deployed: rollout {rollout.id} halted ({reason}) and rolled back",
        rollbacks=tuple(rollbacks),
        stop=tuple(
            t.deployment_id for t in rollout.targets if t.wave <= failed.number and t.deployment_id
        ),
        stop_words=f"not deployed: rollout {rollout.id} halted ({reason}) and rolled back",
        notices=tuple(news(words)),
    )


def rollback_progress(rollout: Rollout, *, now: datetime, news: News) -> RolloutChange:
    """A rolling-back ``rollout`` looked at ``now``: still rolling back, or ``rolled_back``
    once every rollback deploy has ended."""
    moving = [t for t in rollout.targets if t.rollback_id is not None]
    change = RolloutChange.keeping(rollout, at=now, next_look_at=now + AGAIN)
    if any(t.rollback_status not in _ENDED for t in moving):
        return change
    back = [t for t in moving if t.rollback_status is DeploymentStatus.SUCCEEDED]
    missed = [
        f"{t.key}: {t.rollback_status}: {t.rollback_message or ''}".rstrip(": ")
        for t in moving
        if t.rollback_status is not DeploymentStatus.SUCCEEDED
    ]
    words = (
        f"rolled back: {len(back)} of {len(moving)} target{_s(len(moving))} on the image they "
        f"ran before ({rollout.reason})"
    )
    if missed:
        words += "; not back: " + "; ".join(missed)
    return RolloutChange.keeping(
        rollout,
        at=now,
        state=RolloutState.ROLLED_BACK,
        words=words,
        rolling_back=False,
        notices=tuple(news(words)),
    )


def rollback_plans(rollout: Rollout, wave: int, reason: str) -> tuple[list[Plan], list[str]]:
    """A deploy of the image each target of the waves started so far ran before; and the
    targets that cannot go back exactly, with why."""
    plans: list[Plan] = []
    kept: list[str] = []
    for t in rollout.targets:
        if t.wave > wave:
            continue
        if not t.previous_image:
            kept.append(f"{t.key} ran no image of it before")
            continue
        try:
            previous = parse_reference(t.previous_image)
        except InvalidReference:
            previous = None
        if previous is None or previous.digest is None:
            kept.append(f"{t.key} ran {t.previous_image}, not a digest: not rolled back")
            continue
        if previous.digest == rollout.image.digest:
            continue
        plans.append(
            Plan(
                target=t.target,
                repository_name=rollout.repository_name,
                image=previous,
                deploy=True,
                reason=f"rollback of rollout {rollout.id}: {reason}",
                trigger="rollback",
                previous_image=str(rollout.image),
                event_id=rollout.event_id,
            )
        )
    return plans, kept


def _earlier(rollout: Rollout, wave: int) -> tuple[TargetChange, ...]:
    """The targets of the waves before ``wave`` as they stand: their rollbacks are recorded
    with them."""
    return tuple(
        TargetChange(
            key=t.key,
            marks=t.marks,
            health=t.health,
            deployment_id=t.deployment_id,
            rollback_id=t.rollback_id,
        )
        for t in rollout.targets
        if t.wave < wave
    )


def _s(count: int) -> str:
    return "" if count == 1 else "s"
