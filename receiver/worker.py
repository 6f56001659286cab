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
from datetime import UTC, datetime

import structlog

from handlers.errors import StoreError
from receiver.dispatcher import Dispatcher
from receiver.planner import Planner
from receiver.store import Store
from receiver.store.database import Listener

log = structlog.get_logger("regdeploy.worker")

MAX_CONCURRENT_DEPLOYS = 8
DRAIN_SECONDS = 20.0


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        *,
        store: Store,
        planner: Planner,
        dispatcher: Dispatcher,
        poll_seconds: float,
        stall_seconds: float,
    ) -> None:
        self._store = store
        self._planner = planner
        self._dispatcher = dispatcher
        self._poll_seconds = poll_seconds
        self._stall_seconds = stall_seconds
        self._running: set[asyncio.Task[object]] = set()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the current round, then return from ``run``."""
        self._stopping.set()

    async def run(self) -> None:
        """Work until stopped; a failing round is logged and retried after a poll interval.

        A round is never cancelled half-way (a claim's transaction is left cleanly): ``stop``
        ends the wait between rounds.
        """
        listener = self._store.listener()
        log.info("worker_started")
        try:
            while not self._stopping.is_set():
                try:
                    await self.work_once()
                except StoreError as exc:
                    log.warning("worker_round_failed", error=str(exc))
                except Exception:  # a bug in one round must not stop every later deploy
                    log.exception("worker_round_crashed")
                await self._pause(listener)
        finally:
            await listener.close()
            await self._drain()
        log.info("worker_stopped")

    async def _pause(self, listener: Listener) -> None:
        """Until a notification, the next poll, or a stop, whichever comes first."""
        waits = [
            asyncio.create_task(listener.wait(await self._idle_seconds())),
            asyncio.create_task(self._stopping.wait()),
        ]
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def work_once(self) -> None:
        """One round: recover stalled deploys, decide every pending event, start due deploys."""
        recovered = await self._store.recover_stalled(stall_seconds=self._stall_seconds)
        if recovered:
            log.warning("deploys_recovered", deployments=recovered)
        while await self._decide_one():
            pass
        await self._start_due()

    async def _decide_one(self) -> bool:
        async with self._store.claim_event() as claim:
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
            deployment = await self._store.claim_deployment(worker=self._dispatcher.worker_id)
            if deployment is None:
                return
            task: asyncio.Task[object] = asyncio.create_task(self._dispatcher.run(deployment))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[object]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("deploy_task_failed", error=repr(task.exception()))

    async def _idle_seconds(self) -> float:
        """Until the next poll, or sooner when a planned retry falls due."""
        try:
            due = await self._store.next_due()
        except StoreError:
            return self._poll_seconds
        if due is None:
            return self._poll_seconds
        until = (due - datetime.now(UTC)).total_seconds()
        return max(0.05, min(self._poll_seconds, until))

    async def _drain(self) -> None:
        """Give running deploys a grace period to finish; what is still running then is
        cancelled, left `running` in the database, and recovered by a later worker."""
        if not self._running:
            return
        _, pending = await asyncio.wait(self._running, timeout=DRAIN_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
