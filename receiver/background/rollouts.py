"""The rollout loop: looks at each rollout when it is due and writes what the look changed.

Every worker process runs one; a rollout is held by one process at a time (claimed for
``CLAIM_SECONDS`` by the database's clock, and every write is fenced on the claim), so a wave
starts once and a rollback is queued once however many processes run. Everything a rollout
knows is in the database (its waves, when each started and since when it is healthy, the marks
its targets had when the soak started): a process killed in the middle of a soak leaves the
rollout to the next look of any process, which carries on where it was. The loop wakes when a
deploy ends (``LISTEN`` on the deployments channel) and when a look is due.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from receiver.background.loop import PolledLoop
from receiver.clock import Clock
from receiver.decide.advance import RolloutAdvancer
from receiver.decide.promotion import Promoter
from receiver.decide.rules.rollout import RolloutState
from receiver.errors import Conflict
from receiver.store import Listener
from receiver.store.rollouts import RolloutQueries

log = structlog.get_logger("regdeploy.rollouts")

#: How long a process holds a rollout it looks at: longer than a look takes (its orchestrator
#: calls have their own timeouts), short enough that another process carries on soon after a
#: kill.
CLAIM_SECONDS = 30.0
#: How soon a rollout whose look failed is looked at again.
RETRY_SECONDS = 30.0


class RolloutLoop(PolledLoop):
    name = "rollouts"

    def __init__(
        self,
        *,
        rollouts: RolloutQueries,
        advancer: RolloutAdvancer,
        promoter: Promoter,
        worker_id: str,
        poll_seconds: float,
        listen: Callable[[], Listener] | None,
        clock: Clock,
    ) -> None:
        super().__init__(poll_seconds=poll_seconds, listen=listen, clock=clock)
        self._rollouts = rollouts
        self._advancer = advancer
        self._promoter = promoter
        self._worker = worker_id

    async def round(self) -> None:
        """Look at every rollout that is due, each once; one whose look fails is looked at again
        after ``RETRY_SECONDS``, and the others meanwhile."""
        seen: set[int] = set()
        while True:
            claimed = await self._rollouts.claim(
                worker=self._worker, now=self._clock.now(), seconds=CLAIM_SECONDS, seen=seen
            )
            if claimed is None:
                return
            seen.add(claimed)
            try:
                await self.look(claimed)
            except Exception:  # one rollout's failure must not hold back the others
                log.exception("rollout_look_failed", rollout=claimed)
                later = self._clock.now() + timedelta(seconds=RETRY_SECONDS)
                await self._rollouts.defer(claimed, worker=self._worker, at=later)
            finally:
                await self._rollouts.release(claimed, worker=self._worker)

    async def look(self, rollout_id: int) -> None:
        rollout = await self._rollouts.get(rollout_id)
        if not (rollout.state is RolloutState.RUNNING or rollout.rolling_back
                or rollout.promote_at is not None):  # fmt: skip
            return  # it ended between the claim and the read (a push, a person)
        if rollout.state is RolloutState.COMPLETED and rollout.promote_at is not None:
            if rollout.promote_at > self._clock.now():
                return  # due by the database's clock, not yet by regdeploy's
            try:
                await self._promoter.due(rollout, worker=self._worker)
            except Conflict as exc:  # another process took it over meanwhile
                log.warning("rollout_look_lost", rollout=rollout_id, error=str(exc))
            return
        change = await self._advancer.look(rollout)
        if not await self._rollouts.record(change, worker=self._worker):
            log.warning("rollout_look_lost", rollout=rollout_id)
            return
        self._advancer.recorded(rollout, change)
        if change.words != rollout.words:
            log.info("rollout_look", rollout=rollout_id, state=change.state.value,
                     wave=change.wave, words=change.words)  # fmt: skip

    async def next_due(self) -> datetime | None:
        return await self._rollouts.next_due()

    async def finish(self) -> None:
        await self._advancer.close()
