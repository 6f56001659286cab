"""The service's background loops, built on a running app but never started, for a test to
drive round by round.

A test that must show that something does *not* happen cannot wait for it: however long it
waits, a slower machine waits less in rounds of work. It runs the loop's rounds itself instead
(``Worker.work_once``, ``Outbox.send_due``), so it knows exactly how much work had its chance.
The loops are built as ``receiver.runtime`` builds them, on the app's store, planner, deployers
and configuration; start the app ``without_loops`` so that no loop of its own runs beside them.
"""

from __future__ import annotations

import dataclasses

import aiohttp
from aiohttp import web

from receiver.background.dispatcher import Dispatcher
from receiver.background.outbox import Outbox
from receiver.background.worker import Worker, worker_id
from receiver.config.loading import Config
from receiver.decide.announcer import Announcer
from receiver.http.keys import CONFIG, DEPLOYERS, PLANNER, REGISTRIES, STORE
from receiver.registry.confirm import RegistryDigests
from receiver.runtime import build_notifiers


def without_loops(config: Config) -> Config:
    """``config`` with the background loops (worker, outbox, reconciler) turned off."""
    return dataclasses.replace(config, worker=dataclasses.replace(config.worker, enabled=False))


def worker_of(app: web.Application) -> Worker:
    """The worker of the started ``app``."""
    config, store = app[CONFIG], app[STORE]
    dispatcher = Dispatcher(
        deployments=store.deployments,
        notices=store.notices,
        deployers=app[DEPLOYERS],
        config=config.worker,
        digests=RegistryDigests(app[REGISTRIES], config),
        worker_id=worker_id(),
        dry_run=config.dry_run,
        announcer=Announcer(config.notifiers),
    )
    return Worker(
        deployments=store.deployments,
        planner=app[PLANNER],
        dispatcher=dispatcher,
        poll_seconds=config.worker.poll_interval_seconds,
        stall_seconds=config.worker.stall_timeout_seconds,
        listen=None,
    )


async def work_rounds(worker: Worker, rounds: int) -> None:
    """``rounds`` rounds of ``worker``, then wait for the deploys they started to end."""
    for _ in range(rounds):
        await worker.work_once()
    await worker.finish()


def outbox_of(app: web.Application, session: aiohttp.ClientSession) -> Outbox:
    """The outbox of the started ``app``, its notifiers sending through ``session``."""
    config = app[CONFIG]
    return Outbox(
        notices=app[STORE].notices,
        notifiers=build_notifiers(config, session),
        config=config.outbox,
        listen=None,
    )


async def send_rounds(outbox: Outbox, rounds: int) -> int:
    """``rounds`` rounds of ``outbox``; how many notices they delivered."""
    delivered = 0
    for _ in range(rounds):
        delivered += await outbox.send_due()
    return delivered
