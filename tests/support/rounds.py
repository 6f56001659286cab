"""The service's background loops, built on a running app but never started, for a test to
drive round by round.

A test that must show that something does *not* happen cannot wait for it: however long it
waits, a slower machine waits less in rounds of work. It runs the loop's rounds itself instead
(``Rounds.work_once``, ``Outbox.send_due``), so it knows exactly how much work had its chance.
The loops are built as ``receiver.runtime`` builds them, on the app's store, planner, deployers
and configuration; start the app ``without_loops`` so that no loop of its own runs beside them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from aiohttp import web

from receiver.background.decider import Decider
from receiver.background.launcher import Launcher
from receiver.background.outbox import Outbox
from receiver.background.rollouts import RolloutLoop
from receiver.config.loading import Config
from receiver.reloading import services_of
from receiver.runtime import build_decider, build_launcher, build_outbox, build_rollouts


def without_loops(config: Config) -> Config:
    """``config`` with the background loops (worker, outbox, reconciler) turned off."""
    return dataclasses.replace(config, worker=dataclasses.replace(config.worker, enabled=False))


@dataclass(frozen=True)
class Rounds:
    """The decider and the launcher of an app, driven round by round: a round decides every
    event that is due, then starts every deploy that is due."""

    decider: Decider
    launcher: Launcher

    async def work_once(self) -> None:
        await self.decider.decide_due()
        await self.launcher.launch_due()

    async def finish(self) -> None:
        await self.launcher.drain()


def rollouts_of(app: web.Application) -> RolloutLoop:
    """The rollout loop of the started ``app``, as the service builds it (``round()`` looks at
    every rollout due by the app's clock)."""
    return build_rollouts(services_of(app))


def worker_of(app: web.Application) -> Rounds:
    """The decider and launcher of the started ``app``, as the service builds them."""
    services = services_of(app)
    return Rounds(build_decider(services), build_launcher(services))


async def work_rounds(worker: Rounds, rounds: int) -> None:
    """``rounds`` rounds of ``worker``, then wait for the deploys they started to end."""
    for _ in range(rounds):
        await worker.work_once()
    await worker.finish()


def outbox_of(app: web.Application) -> Outbox:
    """The outbox of the started ``app``, as the service builds it."""
    return build_outbox(services_of(app))


async def send_rounds(outbox: Outbox, rounds: int) -> int:
    """``rounds`` rounds of ``outbox``; how many notices they delivered."""
    delivered = 0
    for _ in range(rounds):
        delivered += await outbox.send_due()
    return delivered
