"""The background worker: decides pending events and runs due deployments.

Any number of workers (in any number of processes) may share one database. Each wakes on
``LISTEN/NOTIFY`` and polls anyway every ``poll_interval_seconds``, so a lost notification
only delays work. Events are decided one at a time, each inside its own claim, and the events of
one repository in order; deployments run concurrently, at most one per target (the database
enforces it).

An event whose decision fails is tried again after a pause while other repositories' events go
ahead. An orchestrator or registry that does not answer is waited for as long as it takes; any
other failure marks the event failed, with the reason, after ``DECISION_ATTEMPTS`` tries. An
event that names something no registry could serve is failed at once.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime

import structlog

from handlers.errors import DeployerUnavailable, RegistryUnavailable, StoreError
from handlers.events import event_problem
from receiver.background.dispatcher import Dispatcher
from receiver.background.loop import PolledLoop, backoff
from receiver.config.server import WorkerConfig
from receiver.decide.planner import Planner
from receiver.metrics import Metrics
from receiver.store.connector import Listener
from receiver.store.deployments import DeploymentQueries
from receiver.store.records import EventStatus, Plan, StoredEvent

log = structlog.get_logger("regdeploy.worker")

MAX_CONCURRENT_DEPLOYS = 8
DRAIN_SECONDS = 20.0
DECISION_ATTEMPTS = 3
# Failures that go away by themselves: the event waits, however long that takes.
_TRANSIENT = (DeployerUnavailable, RegistryUnavailable)
_REASON_CHARS = 500


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker(PolledLoop):
    name = "worker"

    def __init__(
        self,
        *,
        deployments: DeploymentQueries,
        planner: Planner,
        dispatcher: Dispatcher,
        config: WorkerConfig,
        listen: Callable[[], Listener] | None,
        metrics: Metrics,
    ) -> None:
        super().__init__(poll_seconds=config.poll_interval_seconds, listen=listen)
        self._metrics = metrics
        self._deployments = deployments
        self._planner = planner
        self._dispatcher = dispatcher
        self._config = config
        self._running: set[asyncio.Task[object]] = set()

    async def round(self) -> None:
        await self.work_once()

    async def next_due(self) -> datetime | None:
        """Sooner than the next poll when a planned retry or a deferred event falls due."""
        return await self._deployments.next_due()

    async def finish(self) -> None:
        await self._drain()

    async def work_once(self) -> None:
        """One round: recover stalled deploys, decide every pending event, start due deploys."""
        stall = self._config.stall_timeout_seconds
        recovered = await self._deployments.recover_stalled(stall_seconds=stall)
        if recovered:
            log.warning("deploys_recovered", deployments=recovered)
        while await self._decide_one():
            pass
        await self._start_due()

    async def _decide_one(self) -> bool:
        """Decide the next due event; False when there is none."""
        claimed: StoredEvent | None = None
        try:
            async with self._deployments.claim_event() as claim:
                if claim is None:
                    return False
                claimed = claim.event
                claim.failure = event_problem(claimed.event)
                if claim.failure is not None:
                    log.warning("event_failed", event_id=claimed.id, reason=claim.failure)
                    self._metrics.event_failed(claimed.event.source)
                    return True
                claim.plans.extend(await self._planner.plan_event(claimed))
                _log_plans(claim.plans, claimed)
            self._metrics.decided(claim.plans)
        except StoreError:
            raise  # the database itself: this round ends, the event stays pending
        except Exception as exc:  # a decision that failed must not hold every later one back
            if claimed is None:
                raise
            await self._defer(claimed, exc)
        return True

    async def _defer(self, event: StoredEvent, exc: Exception) -> None:
        transient = isinstance(exc, _TRANSIENT)
        self._metrics.decision_error(exc)
        attempts = event.attempts + 1
        final = not transient and attempts >= DECISION_ATTEMPTS
        reason = f"{type(exc).__name__}: {exc}"[:_REASON_CHARS]
        config = self._config
        seconds = backoff(attempts, base=config.retry_base_seconds, cap=config.retry_max_seconds)
        status = await self._deployments.defer_event(
            event.id, reason=reason, seconds=seconds, final=final
        )
        fields = {"event_id": event.id, "attempts": attempts, "reason": reason}
        if status is EventStatus.FAILED:
            log.error("event_failed", **fields)
            self._metrics.event_failed(event.event.source)
        elif transient:
            log.warning("decision_deferred", retry_in=seconds, **fields)
        else:
            log.warning("decision_failed", retry_in=seconds, exc_info=exc, **fields)

    async def _start_due(self) -> None:
        while len(self._running) < MAX_CONCURRENT_DEPLOYS:
            deployment = await self._deployments.claim_deployment(worker=self._dispatcher.worker_id)
            if deployment is None:
                return
            task: asyncio.Task[object] = asyncio.create_task(self._dispatcher.run(deployment))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[object]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("deploy_task_failed", error=repr(task.exception()))

    async def _drain(self) -> None:
        """Give running deploys a grace period to finish; what is still running then is
        cancelled, left `running` in the database, and recovered by a later worker."""
        if not self._running:
            return
        _, pending = await asyncio.wait(self._running, timeout=DRAIN_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def _log_plans(plans: list[Plan], event: StoredEvent) -> None:
    for plan in plans:
        log.info(
            "deploy_planned" if plan.deploy else "deploy_skipped",
            event_id=event.id,
            target=plan.target.key,
            image=str(plan.image),
            reason=plan.reason,
        )
