"""The background worker: decides pending events and runs due deployments.

Any number of workers (in any number of processes) may share one database. Each wakes on
``LISTEN/NOTIFY`` and polls anyway every ``poll_interval_seconds``, so a lost notification
only delays work. Events are decided one at a time, each inside its own claim; deployments run
concurrently, at most one per target (the database enforces it).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime

import structlog

from handlers.errors import DeployerUnavailable
from receiver.background.dispatcher import Dispatcher
from receiver.background.loop import PolledLoop
from receiver.decide.planner import Planner
from receiver.store.connector import Listener
from receiver.store.deployments import DeploymentQueries

log = structlog.get_logger("regdeploy.worker")

MAX_CONCURRENT_DEPLOYS = 8
DRAIN_SECONDS = 20.0


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
        poll_seconds: float,
        stall_seconds: float,
        listen: Callable[[], Listener] | None,
    ) -> None:
        super().__init__(poll_seconds=poll_seconds, listen=listen)
        self._deployments = deployments
        self._planner = planner
        self._dispatcher = dispatcher
        self._stall_seconds = stall_seconds
        self._running: set[asyncio.Task[object]] = set()

    async def round(self) -> None:
        await self.work_once()

    async def next_due(self) -> datetime | None:
        """Sooner than the next poll when a planned retry falls due."""
        return await self._deployments.next_due()

    async def finish(self) -> None:
        await self._drain()

    async def work_once(self) -> None:
        """One round: recover stalled deploys, decide every pending event, start due deploys."""
        recovered = await self._deployments.recover_stalled(stall_seconds=self._stall_seconds)
        if recovered:
            log.warning("deploys_recovered", deployments=recovered)
        try:
            while await self._decide_one():
                pass
        except DeployerUnavailable as exc:
            # The event stays pending for the next round; deploys already decided go ahead.
            log.warning("decisions_deferred", error=str(exc))
        await self._start_due()

    async def _decide_one(self) -> bool:
        async with self._deployments.claim_event() as claim:
            if claim is None:
                return False
            claim.plans.extend(await self._planner.plan_event(claim.event))
            for plan in claim.plans:
                log.info(
                    "deploy_planned" if plan.deploy else "deploy_skipped",
                    event_id=claim.event.id,
                    target=plan.target.key,
                    image=str(plan.image),
                    reason=plan.reason,
                )
        return True

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
