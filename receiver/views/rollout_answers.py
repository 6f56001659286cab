"""The shapes of the rollout answers (``/api/v1/rollouts``, a promotion), held against
``openapi.yaml`` as ``receiver.views.answers`` is (``tests/unit/test_answers.py``)."""

# Evaluated at once, as in ``receiver.views.answers``.
from typing import TypedDict


class RolloutTargetJson(TypedDict):
    key: str
    kind: str
    name: str
    deployment_id: int | None
    status: str | None
    message: str | None
    previous_image: str | None
    health: str | None
    rollback_id: int | None
    rollback_status: str | None


class RolloutWaveJson(TypedDict):
    number: int
    state: str
    targets: list[RolloutTargetJson]
    started_at: str | None
    healthy_since: str | None
    finished_at: str | None


class RolloutJson(TypedDict):
    id: int
    repository: str
    stage: str | None
    image: str
    tag: str
    digest: str
    state: str
    rolling_back: bool
    words: str
    reason: str | None
    trigger: str
    event_id: int | None
    wave: int
    waves: list[RolloutWaveJson]
    soak_seconds: float
    on_failure: str
    promoted_from: int | None
    promote_at: str | None
    created_at: str
    updated_at: str
    finished_at: str | None


class RolloutListJson(TypedDict):
    rollouts: list[RolloutJson]


class PromotionJson(TypedDict):
    source: int | None
    stage: str
    image: str
    deployments: list[int]
    forced: bool
