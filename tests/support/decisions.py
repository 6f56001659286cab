"""Recording plans straight into the store, judged as the release gate judges them, and a
deploy that waits, as the store gives it back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from deployers.base import Target
from handlers.references import parse_reference
from receiver.decide.gate import judge_plans
from receiver.store import Store
from receiver.store.records import Deployment, DeploymentStatus, Plan

#: When ``waiting_deployment`` was decided.
DECIDED_AT = datetime(2026, 12, 2, 18, 48, tzinfo=UTC)


async def record_plans(
    store: Store, plans: Sequence[Plan], *, now: datetime | None = None
) -> list[int]:
    """Store ``plans`` decided at ``now`` (default: the machine's time), each intent judged
    against the freezes and last pushes the store reads under its locks; the intents' ids."""
    moment = now or datetime.now(UTC)
    async with store.decisions.recording() as recorder:
        state = await recorder.release_state(plans)
        return await recorder.write(judge_plans(plans, state, now=moment), now=moment)


def waiting_deployment(
    target: Target, *, registry: str, notify: tuple[str, ...] = ()
) -> Deployment:
    """Deployment 7: team/app 1.2.0 (digest 2…2) of ``registry`` to ``target``, newer than the
    1.1.0 it runs, decided at ``DECIDED_AT`` and waiting; ``notify``: the notifiers it names."""
    return Deployment(
        id=7,
        target=target,
        repository_name="team/app",
        image=parse_reference(f"{registry}/team/app:1.2.0@sha256:{'2' * 64}"),
        previous_image=None,
        reason="1.2.0 is newer than running 1.1.0",
        trigger="push",
        event_id=3,
        status=DeploymentStatus.WAITING,
        message=None,
        attempts=0,
        not_before=DECIDED_AT,
        created_at=DECIDED_AT,
        updated_at=DECIDED_AT,
        finished_at=None,
        notify=notify,
    )
