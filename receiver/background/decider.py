"""The decider: turns pending events into plans (intents to deploy, skips), repository by
repository.

Any number of deciders (in any number of processes) may share one database. Each wakes on
``LISTEN/NOTIFY`` for new events and polls anyway every ``poll_interval_seconds``, so a lost
notification only delays work. It first settles in bulk what needs no decision (deletes, pushes
of images that no watched repository and no opted-in workload uses); then it claims the pending
events of one repository at a time, oldest first, and decides them together against what the
inventory says runs now, so that a burst of pushes to one repository is one decision. Deploys
are the launcher's (``receiver.background.launcher``): deciding never waits for them.

Events whose decision fails are tried again after a pause while other repositories' events go
ahead. An orchestrator or registry that does not answer is waited for as long as it takes; any
other failure marks them failed, with the reason, after ``DECISION_ATTEMPTS`` tries. An event
that names something no registry could serve is failed at once.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime

import structlog

from handlers.events import Action, event_problem
from receiver.background.inventory import Inventory
from receiver.background.loop import PolledLoop, backoff
from receiver.bounds import capped
from receiver.clock import Clock
from receiver.config.server import WorkerConfig
from receiver.decide.gate import ReleaseGate
from receiver.decide.planner import Planner
from receiver.decide.words import unplanned
from receiver.errors import DeployerUnavailable, RegistryUnavailable, StoreError
from receiver.metrics import Metrics
from receiver.store import Listener
from receiver.store.decisions import DecisionQueries, EventBatch
from receiver.store.records import EventStatus, StoredEvent

log = structlog.get_logger("regdeploy.decider")

DECISION_ATTEMPTS = 3
# Failures that go away by themselves: the events wait, however long that takes.
_TRANSIENT = (DeployerUnavailable, RegistryUnavailable)


def worker_id() -> str:
    """Names this process in claims, attempts and leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Decider(PolledLoop):
    name = "decider"

    def __init__(
        self,
        *,
        decisions: DecisionQueries,
        planner: Planner,
        inventory: Inventory,
        config: WorkerConfig,
        listen: Callable[[], Listener] | None,
        metrics: Metrics,
        gate: ReleaseGate,
        clock: Clock,
        reason_bytes: int,
    ) -> None:
        """``reason_bytes``: how much of why a decision failed is kept."""
        super().__init__(poll_seconds=config.poll_interval_seconds, listen=listen, clock=clock)
        self._metrics = metrics
        self._gate = gate
        self._reason_bytes = reason_bytes
        self._decisions = decisions
        self._planner = planner
        self._inventory = inventory
        self._config = config

    async def round(self) -> None:
        await self.decide_due()

    async def next_due(self) -> datetime | None:
        """Sooner than the next poll when a deferred event falls due."""
        return await self._decisions.next_event_due()

    async def decide_due(self) -> int:
        """Decide every event that is due; how many batches that took. Events that move no
        workload are settled in bulk before each batch: under a steady stream of pushes the
        batches never end, and those events would otherwise be claimed one repository at a
        time, ahead of the pushes that do move something."""
        batches = 0
        while True:
            await self._settle_unused()
            if not await self._decide_next():
                return batches
            batches += 1

    async def _settle_unused(self) -> None:
        try:
            in_use = await self._inventory.images_in_use()
        except DeployerUnavailable:
            return
        if in_use is not None and (settled := await self._decisions.settle_unused(in_use=in_use)):
            log.info("events_settled", events=settled, reason="no workload uses their images")

    async def _decide_next(self) -> bool:
        """Decide the next repository's due events; False when none is due."""
        claimed: list[StoredEvent] = []
        try:
            async with self._decisions.claim_events(now=self._clock.now()) as batch:
                if batch is None:
                    return False
                claimed = batch.events
                await self._decide(batch)
        except StoreError:
            raise  # the database itself: this round ends, the events stay pending
        except Exception as exc:  # a decision that failed must not hold every later one back
            if not claimed:
                raise
            await self._defer(claimed, exc)
        return True

    async def _decide(self, batch: EventBatch) -> None:
        valid = []
        for stored in batch.events:
            if (problem := event_problem(stored.event)) is not None:
                log.warning("event_failed", event_id=stored.id, reason=problem)
                self._metrics.event_failed(stored.event.source)
                batch.failures[stored.id] = problem
            else:
                valid.append(stored)
        plans = await self._planner.plan_events(valid)
        # The rules each intent waits by (windows, approvals...), judged as it is recorded.
        pushed = {e.id: e.event.occurred_at for e in valid}
        plans = await self._gate.attach(plans, pushed=pushed)
        await self._gate.record(batch.recorder, plans)
        self._metrics.decided(plans)
        planned = {plan.event_id for plan in plans}
        # The events of a batch are of one repository: why one moved nothing is why all did.
        why: dict[Action, str] = {}
        for stored in valid:
            if stored.id not in planned:
                action = stored.event.action
                if action not in why:
                    watched, deployers = await self._planner.unplanned_facts(stored.event)
                    why[action] = unplanned(stored.event, watched=watched, deployers=deployers)
                batch.notes[stored.id] = why[action]
        for plan in plans:
            log.info(
                "deploy_planned" if plan.deploy else "deploy_skipped",
                event_id=plan.event_id,
                target=plan.target.key,
                image=str(plan.image),
                reason=plan.reason,
            )

    async def _defer(self, events: list[StoredEvent], exc: Exception) -> None:
        transient = isinstance(exc, _TRANSIENT)
        self._metrics.decision_error(exc)
        attempts = max(event.attempts for event in events) + 1
        final = not transient and attempts >= DECISION_ATTEMPTS
        reason = capped(f"{type(exc).__name__}: {exc}", self._reason_bytes)
        config = self._config
        seconds = backoff(attempts, base=config.retry_base_seconds, cap=config.retry_max_seconds)
        statuses = await self._decisions.defer_events(
            [event.id for event in events],
            reason=reason,
            seconds=seconds,
            final=final,
            now=self._clock.now(),
        )
        fields = {"events": [e.id for e in events], "attempts": attempts, "reason": reason}
        if EventStatus.FAILED in statuses:
            log.error("event_failed", **fields)
            for event in events:
                self._metrics.event_failed(event.event.source)
        elif transient:
            log.warning("decision_deferred", retry_in=seconds, **fields)
        else:
            log.warning("decision_failed", retry_in=seconds, exc_info=exc, **fields)
