"""The launcher: starts the deploys that are due, each in a task of its own.

Deployments run concurrently, at most ``MAX_CONCURRENT_DEPLOYS`` per process and one per target
(the database enforces it across processes). The launcher wakes on ``LISTEN/NOTIFY`` for new
intents and finished deploys, so a decided deploy starts at once, whatever the decider has left
to do; it also takes over the deploys whose worker stopped sending heartbeats, and first
releases the waiting deploys that fell due (release control: ``receiver.decide.gate``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog

from receiver.background.dispatcher import Dispatcher
from receiver.background.loop import PolledLoop, end_within
from receiver.clock import Clock
from receiver.config.server import WorkerConfig
from receiver.decide.gate import ReleaseGate
from receiver.store import Listener
from receiver.store.deployments import DeploymentQueries

log = structlog.get_logger("regdeploy.launcher")

MAX_CONCURRENT_DEPLOYS = 8
DRAIN_SECONDS = 20.0


class Launcher(PolledLoop):
    name = "launcher"

    def __init__(
        self,
        *,
        deployments: DeploymentQueries,
        dispatcher: Dispatcher,
        config: WorkerConfig,
        listen: Callable[[], Listener] | None,
        gate: ReleaseGate,
        clock: Clock,
    ) -> None:
        super().__init__(poll_seconds=config.poll_interval_seconds, listen=listen, clock=clock)
        self._gate = gate
        self._deployments = deployments
        self._dispatcher = dispatcher
        self._config = config
        self._running: set[asyncio.Task[object]] = set()

    async def round(self) -> None:
        await self.launch_due()

    async def next_due(self) -> datetime | None:
        """Sooner than the next poll when a planned retry or a waiting deploy falls due."""
        due = await self._deployments.next_due()
        waits = await self._gate.next_due()
        return min((t for t in (due, waits) if t is not None), default=None)

    async def finish(self) -> None:
        await self.drain(patient=self.patient)

    async def launch_due(self) -> None:
        """Release the waits that fell due, take over stalled deploys, then start every due one
        this process has room for."""
        await _release_due(self._gate)
        stall = self._config.stall_timeout_seconds
        recovered = await self._deployments.recover_stalled(stall_seconds=stall)
        if recovered:
            log.warning("deploys_recovered", deployments=recovered)
        while len(self._running) < MAX_CONCURRENT_DEPLOYS:
            deployment = await self._deployments.claim_deployment(
                worker=self._dispatcher.worker_id, now=self._clock.now()
            )
            if deployment is None:
                return
            task: asyncio.Task[object] = asyncio.create_task(self._dispatcher.run(deployment))
            self._running.add(task)
            task.add_done_callback(self._finished)

    async def drain(self, *, patient: bool = False) -> None:
        """Give running deploys ``DRAIN_SECONDS`` to finish (``patient``: as long as they
        take, until the drain itself is cancelled); what is still running then is cancelled,
        left `running` in the database, and recovered by a later worker."""
        await end_within(set(self._running), None if patient else DRAIN_SECONDS)

    def _finished(self, task: asyncio.Task[object]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("deploy_task_failed", error=repr(task.exception()))


async def _release_due(gate: ReleaseGate) -> None:
    """Release the waits that fell due; a failure there is logged and holds back no deploy that
    is already due."""
    try:
        released = await gate.release_due()
    except Exception:  # one waiting deploy that cannot be judged must not stop the launcher
        log.exception("deploys_release_failed")
        return
    if released:
        log.info("deploys_released", deployments=released)
