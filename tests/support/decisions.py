"""Recording plans straight into the store, judged as the release gate judges them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from receiver.decide.gate import judge_plans
from receiver.store import Store
from receiver.store.records import Plan


async def record_plans(
    store: Store, plans: Sequence[Plan], *, now: datetime | None = None
) -> list[int]:
    """Store ``plans`` decided at ``now`` (default: the machine's time), each intent judged
    against the freezes and last pushes the store reads under its locks; the intents' ids."""
    moment = now or datetime.now(UTC)
    async with store.decisions.recording() as recorder:
        state = await recorder.release_state(plans)
        return await recorder.write(judge_plans(plans, state, now=moment), now=moment)
