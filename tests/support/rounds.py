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

from aiohttp import web

from receiver.background.outbox import Outbox
from receiver.background.worker import Worker
from receiver.config.loading import Config
from receiver.http.keys import CONFIG, SERVICES
from receiver.runtime import build_outbox, build_worker


def without_loops(config: Config) -> Config:
    """``config`` with the background loops (worker, outbox, reconciler) turned off."""
    return dataclasses.replace(config, worker=dataclasses.replace(config.worker, enabled=False))


def worker_of(app: web.Application) -> Worker:
    """The worker of the started ``app``, as the service builds it."""
    return build_worker(app[SERVICES], app[CONFIG])


async def work_rounds(worker: Worker, rounds: int) -> None:
    """``rounds`` rounds of ``worker``, then wait for the deploys they started to end."""
    for _ in range(rounds):
        await worker.work_once()
    await worker.finish()


def outbox_of(app: web.Application) -> Outbox:
    """The outbox of the started ``app``, as the service builds it."""
    return build_outbox(app[SERVICES], app[CONFIG])


async def send_rounds(outbox: Outbox, rounds: int) -> int:
    """``rounds`` rounds of ``outbox``; how many notices they delivered."""
    delivered = 0
    for _ in range(rounds):
        delivered += await outbox.send_due()
    return delivered
