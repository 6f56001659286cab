"""A workload's health as its orchestrator tells it (``deployers.base.Deployer.health``), what a
rollout's soak judges (``receiver.decide.rules.rollout``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class HealthState(enum.StrEnum):
    """A workload's health by its orchestrator's account (``deployers.base.Health``)."""

    HEALTHY = "healthy"
    # Not yet: an update under way, a health check starting, a deployment not finished.
    PENDING = "pending"
    FAILED = "failed"
    # The orchestrator did not answer: nothing is concluded (a wait, never an advance).
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    """A workload's health by its orchestrator's own account, in a person's words
    (``3 allocations running and healthy``; ``allocation 1a2b3c4d restarted: exit code 1``).

    ``marks`` identify what runs now, in a form that changes when the workload restarts or is
    replaced (allocation ids with their restart counts, task ids, a container's id with its
    restart count and start time): compared during a soak, any change is a restart.
    """

    state: HealthState
    words: str
    marks: str = ""

    @classmethod
    def failed(cls, words: str) -> Health:
        return cls(state=HealthState.FAILED, words=words)

    @classmethod
    def pending(cls, words: str) -> Health:
        return cls(state=HealthState.PENDING, words=words)

    @classmethod
    def unknown(cls, words: str) -> Health:
        return cls(state=HealthState.UNKNOWN, words=words)
