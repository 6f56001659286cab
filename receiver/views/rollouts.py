"""A rollout as the API, the CLI and the console show it: its waves, each with its targets,
their deployments, health and rollbacks (``receiver.views.rollout_answers``)."""

from __future__ import annotations

from datetime import datetime

from receiver.decide.promotion import Promoted
from receiver.store.rollout_records import Rollout, RolloutTarget
from receiver.views.rollout_answers import (
    PromotionJson,
    RolloutJson,
    RolloutTargetJson,
    RolloutWaveJson,
)
from receiver.views.shapes import iso


def rollout_json(rollout: Rollout) -> RolloutJson:
    image = rollout.image
    return {
        "id": rollout.id,
        "repository": rollout.repository_name,
        "stage": rollout.stage or None,
        "image": str(image),
        "tag": image.tag or "",
        "digest": image.digest or "",
        "state": rollout.state.value,
        "rolling_back": rollout.rolling_back,
        "words": rollout.words,
        "reason": rollout.reason,
        "trigger": rollout.trigger,
        "event_id": rollout.event_id,
        "wave": rollout.wave,
        "waves": [
            RolloutWaveJson(
                number=wave.number,
                state=wave.state.value,
                targets=[_target_json(t) for t in rollout.of_wave(wave.number)],
                started_at=_iso(wave.started_at),
                healthy_since=_iso(wave.healthy_since),
                finished_at=_iso(wave.finished_at),
            )
            for wave in rollout.waves
        ],
        "soak_seconds": rollout.policy.soak.total_seconds(),
        "on_failure": rollout.policy.on_failure.value,
        "promoted_from": rollout.promoted_from,
        "promote_at": _iso(rollout.promote_at),
        "created_at": iso(rollout.created_at),
        "updated_at": iso(rollout.updated_at),
        "finished_at": _iso(rollout.finished_at),
    }


def promotion_json(promoted: Promoted) -> PromotionJson:
    return {
        "source": promoted.source,
        "stage": promoted.stage,
        "image": str(promoted.image),
        "deployments": list(promoted.deployments),
        "forced": promoted.forced,
    }


def _target_json(target: RolloutTarget) -> RolloutTargetJson:
    status, rollback = target.deployment_status, target.rollback_status
    return {
        "key": target.key,
        "kind": target.target.kind,
        "name": target.target.name,
        "deployment_id": target.deployment_id,
        "status": status.value if status else None,
        "message": target.deployment_message,
        "previous_image": target.previous_image,
        "health": target.health,
        "rollback_id": target.rollback_id,
        "rollback_status": rollback.value if rollback else None,
    }


def _iso(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None
