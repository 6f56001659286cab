"""Rollouts as stored and as changed: a rollout with its waves and its targets (their
deployments), a rollout to start (``RolloutDraft``), and what a look at one, or a person,
changed of it (``RolloutChange``), which ``receiver.store.rollouts`` writes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deployers.base import Target
from handlers.references import ImageRef
from receiver.decide.rules.rollout import RolloutPolicy, RolloutState, WaveState
from receiver.store.notices import OutboxEntry
from receiver.store.records import DeploymentStatus, Plan


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutTarget:
    """One target of a rollout: its deployment (and how it stands), the image it ran before,
    the marks its orchestrator reported when its wave's soak started, its last health words,
    and its rollback deployment, if any."""

    key: str
    target: Target
    wave: int
    deployment_id: int | None
    deployment_status: DeploymentStatus | None = None
    deployment_message: str | None = None
    deployment_finished_at: datetime | None = None
    previous_image: str | None = None
    rollback_id: int | None = None
    rollback_status: DeploymentStatus | None = None
    rollback_message: str | None = None
    marks: str | None = None
    health: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutWave:
    number: int
    state: WaveState
    started_at: datetime | None = None
    settled_at: datetime | None = None
    healthy_since: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Rollout:
    """A rollout of ``image`` to a repository's targets (of one ``stage``; ``""`` when the
    repository has none), wave by wave; ``wave`` is the current one (1-based)."""

    id: int
    repository_name: str
    stage: str
    image: ImageRef
    event_id: int | None
    trigger: str
    policy: RolloutPolicy
    state: RolloutState
    wave: int
    words: str
    reason: str | None
    rolling_back: bool
    notify: tuple[str, ...]
    promoted_from: int | None
    forced_by: str | None
    promote_at: datetime | None
    next_look_at: datetime
    verified_at: datetime | None
    created_at: datetime
    # Bumped by every write: a look writes only over the version it read.
    version: int
    updated_at: datetime
    finished_at: datetime | None
    waves: tuple[RolloutWave, ...] = ()
    targets: tuple[RolloutTarget, ...] = ()

    def of_wave(self, number: int) -> tuple[RolloutTarget, ...]:
        return tuple(t for t in self.targets if t.wave == number)

    def wave_row(self, number: int) -> RolloutWave:
        return next(w for w in self.waves if w.number == number)


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutDraft:
    """A rollout to start with the plans it is decided with: its waves, by target key, in
    order (the first wave's plans go now; the others wait behind their gates)."""

    key: str
    repository_name: str
    stage: str
    image: ImageRef
    policy: RolloutPolicy
    waves: tuple[tuple[str, ...], ...]
    words: str
    notify: tuple[str, ...] = ()
    event_id: int | None = None
    trigger: str = "push"
    promoted_from: int | None = None
    forced_by: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetChange:
    key: str
    marks: str | None
    health: str | None
    deployment_id: int | None
    rollback_id: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutChange:
    """What a look (or a person) changed of a rollout: its own row, the waves and targets that
    changed, the gates to lift (a wave starts), the waiting deployments to cancel (with the
    words why) or to gate with new words, the rollback intents (and a resumed wave's intents)
    to queue, and the notices to send."""

    rollout_id: int
    # The version of the rollout the change was made from: written only over that one.
    version: int
    # When the look was made (by regdeploy's clock): a lifted gate is due then.
    at: datetime
    state: RolloutState
    wave: int
    words: str
    reason: str | None
    rolling_back: bool
    next_look_at: datetime
    verified_at: datetime | None
    waves: tuple[RolloutWave, ...] = ()
    targets: tuple[TargetChange, ...] = ()
    lift: tuple[int, ...] = ()
    cancel: str | None = None
    # Waiting deployments given new gate words (deployment id, words): a halt, a resume.
    gates: tuple[tuple[int, str], ...] = ()
    # A halted wave's deployments that have not run yet, and why they never will.
    stop: tuple[int, ...] = ()
    stop_words: str = ""
    # Who asked for it (a person's change), and what: kept in the repository's audit.
    audit_actor: str | None = None
    audit_what: Mapping[str, Any] | None = None
    repository: str = ""
    rollbacks: tuple[Plan, ...] = ()
    intents: tuple[Plan, ...] = ()
    notices: tuple[OutboxEntry, ...] = field(default_factory=tuple)
    # A completed stage's rollout: when it is promoted to the next stage (None: it is not).
    promote_at: datetime | None = None

    @classmethod
    def keeping(cls, rollout: Rollout, *, at: datetime, **changes: Any) -> RolloutChange:
        """A change of ``rollout`` made ``at``: what it is now, but for ``changes``."""
        kept: dict[str, Any] = {
            "state": rollout.state,
            "wave": rollout.wave,
            "words": rollout.words,
            "reason": rollout.reason,
            "rolling_back": rollout.rolling_back,
            "next_look_at": at,
            "verified_at": rollout.verified_at,
            "promote_at": rollout.promote_at,
        }
        return cls(
            rollout_id=rollout.id,
            version=rollout.version,
            repository=rollout.repository_name,
            at=at,
            **{**kept, **changes},
        )

    @property
    def ended(self) -> bool:
        return self.state in (
            RolloutState.COMPLETED, RolloutState.ROLLED_BACK, RolloutState.ABANDONED
        )  # fmt: skip
