"""team/app on ten recording targets running 1.0.0, rolled out in waves of 1, 50% and 100%
that soak 10 s, under a clock the test moves; and the rounds that drive it (decide, release,
launch, then look at every due rollout)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from deployers.base import Target
from tests.support.app import StartApp
from tests.support.clock import ManualClock
from tests.support.pushes import push, ref, repository
from tests.support.recording import RecordingDeployer
from tests.support.release import WEDNESDAY, Released, starter
from tests.support.rounds import rollouts_of

NAMES = [f"web-{i:02}" for i in range(1, 11)]
TARGETS = [Target(kind="recording", name=n) for n in NAMES]
#: The targets as ``repositories[].targets`` (and a stage's ``select.targets``) list them.
TARGET_ENTRIES = [{"kind": "recording", "name": n} for n in NAMES]
WAVES = {"waves": [1, "50%", "100%"], "soak": "10s"}

Fleet = Callable[..., Awaitable[Released]]


def fleet_starter(start_app: StartApp) -> Fleet:
    """Starts the app with team/app's rollout (``rollout`` adds to or replaces ``WAVES``; any
    other keyword adds to the repository's entry: ``stages``, ``notify``, ``targets``)."""
    start = starter(start_app)

    async def make(**rules: Any) -> Released:
        deployer = RecordingDeployer()
        for target in TARGETS:
            deployer.run(target, ref("1.0.0", 1))
        entry = repository(targets=TARGET_ENTRIES, notify=["ops"])
        entry = {**entry, **rules, "rollout": {**WAVES, **rules.get("rollout", {})}}
        return await start(clock=ManualClock(WEDNESDAY), deployer=deployer, repositories=[entry])

    return make


async def step(app: Released, rounds: int = 2) -> None:
    """Decide, release and launch (the deploys end), then look at every due rollout."""
    loop = rollouts_of(app.client.app)
    for _ in range(rounds):
        await app.rounds(1)
        await loop.round()


async def pushed(app: Released, *, rounds: int = 2) -> dict[str, Any]:
    """Push 1.1.0 and let its first wave deploy: the rollout, as the API answers."""
    await push(app.client, "1.1.0", 2)
    await step(app, rounds)
    [rollout] = (await app.get("/api/v1/rollouts"))["rollouts"]
    return dict(rollout)
