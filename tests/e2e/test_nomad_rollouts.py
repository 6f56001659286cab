"""Rollouts end to end: real pushes to a real docker-registry move ten Nomad jobs (the fake
agent, served in-process) through the receiver, the queue, the rollout loop and the Nomad
deployer, in waves of ``[1, 50%, 100%]`` that each soak 10 s of real time.

The jobs opt in by job meta; ``app-07`` is the canary (``regdeploy.wave: 0``), the others follow
by name. What happened is read from the fake's log of registers, not from regdeploy's own view;
the rollout's state and its notices from the API, as a person reads them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from deployers.base import Deployers
from deployers.nomad import NomadDeployer, NomadSettings
from receiver.app import init_app
from tests.support.api import Client
from tests.support.chat_capture import ChatCapture
from tests.support.history import changes, registers
from tests.support.nomad_fake import SECOND, FakeNomad, Registration, make_job, task_images
from tests.support.oci import build_image
from tests.support.polling import until
from tests.support.registry import Registry
from tests.support.settings import READ_TOKEN, api_headers, make_config

JOBS = [f"app-{i:02}" for i in range(10)]
CANARY = "app-07"
#: The jobs in the order the waves take them: the canary, then by name; 1, then 4, then 5.
WAVES = [
    [CANARY],
    ["app-00", "app-01", "app-02", "app-03"],
    ["app-04", "app-05", "app-06", "app-08", "app-09"],
]
SOAK_SECONDS = 10
#: Three waves each soaking 10 s, their deploys, and the looks between (every second).
ROLLOUT_SECONDS = 3 * SOAK_SECONDS + 30


@pytest.fixture(autouse=True)
def no_nomad_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Nomad settings leak in from the environment."""
    for name in ("NOMAD_ADDR", "NOMAD_TOKEN", "NOMAD_NAMESPACE", "NOMAD_REGION"):
        monkeypatch.delenv(name, raising=False)


@dataclass
class Fleet:
    """The registry, the ten jobs on 1.0.0 in the fake, and regdeploy watching team/app."""

    registry: Registry
    fake: FakeNomad
    client: Client
    layout: Path
    first: str  # the digest of 1.0.0, which every job runs

    @property
    def repo(self) -> str:
        return f"{self.registry.host}/team/app"

    async def push(self, tag: str, *, crashing: bool = False) -> str:
        """Build and push team/app ``tag``; its digest (made to crash first if ``crashing``)."""
        digest = build_image(self.layout, tag=tag, env={"VERSION": tag})
        if crashing:
            self.fake.crashing_images.add(digest)
        await asyncio.to_thread(self.registry.push, self.layout, tag, "team/app")
        return digest

    async def get(self, path: str) -> Any:
        response = await self.client.get(path, headers=api_headers(READ_TOKEN))
        assert response.status == 200, await response.text()
        return await response.json()

    async def rollout_ended(self, state: str) -> dict[str, Any]:
        """The one rollout, once it is ``state`` (failing at once if it ends otherwise)."""
        seen: list[dict[str, Any]] = []

        async def ended() -> dict[str, Any] | None:
            seen[:] = (await self.get("/api/v1/rollouts"))["rollouts"]
            if seen and seen[0]["state"] not in ("running", "halted"):
                assert seen[0]["state"] == state, seen[0]["words"]
                return seen[0]
            return None

        return await until(
            f"the rollout {state}",
            ended,
            seconds=ROLLOUT_SECONDS,
            interval=0.25,
            explain=lambda: f"rollouts: {[(r['state'], r['words']) for r in seen]}",
        )


def job(name: str, image: str) -> dict[str, Any]:
    meta = {"regdeploy.enable": "true", "regdeploy.policy": "minor"}
    if name == CANARY:
        meta["regdeploy.wave"] = "0"
    return make_job(name, {"web": {"server": image}}, meta=meta)


@pytest.fixture
async def fleet(
    db_uri: str, tmp_path: Path, notifying: tuple[Registry, int]
) -> AsyncIterator[Fleet]:
    registry, port = notifying
    layout, repo = tmp_path / "layout", f"{registry.host}/team/app"
    first = build_image(layout, tag="1.0.0", env={"VERSION": "1.0.0"})
    await asyncio.to_thread(registry.push, layout, "1.0.0", "team/app")
    fake = FakeNomad(rollout=lambda job: "successful")
    for name in JOBS:
        fake.add_job(job(name, f"{repo}:1.0.0@{first}"))
    async with ChatCapture("slack") as chat:
        nomad_server = TestServer(fake.app())
        await nomad_server.start_server()
        config = make_config(
            db_uri,
            registry=registry.host,
            repositories=[
                {
                    "name": "team/app",
                    "image": repo,
                    "policy": "minor",
                    "targets": [],  # the jobs opt in by job meta
                    "notify": ["chat"],
                    "rollout": {"waves": [1, "50%", "100%"], "soak": f"{SOAK_SECONDS}s"},
                }
            ],
            registries=[{"host": registry.host, "insecure": True}],
            notifiers=[{"name": "chat", "type": "slack", "url": chat.url}],
            worker={"poll_interval_seconds": 0.5},
        )
        settings = NomadSettings(address=f"http://127.0.0.1:{nomad_server.port}", poll_seconds=0.05)
        deployers = Deployers([NomadDeployer(settings=settings)])
        client: Client = TestClient(TestServer(init_app(config, deployers=deployers), port=port))
        await client.start_server()
        try:
            yield Fleet(registry=registry, fake=fake, client=client, layout=layout, first=first)
        finally:
            await client.close()
            await nomad_server.close()


def image_of(fake: FakeNomad, name: str) -> str:
    return task_images(fake.job(name))["web/server"]


def moved_to(fake: FakeNomad, digest: str) -> dict[str, list[Registration]]:
    """Each job's accepted registers that put ``digest`` on it."""
    return {name: registers(fake, name, digest) for name in JOBS}


async def test_a_good_push_moves_one_then_four_then_five_each_after_a_soak(fleet: Fleet) -> None:
    new = await fleet.push("1.1.0")
    rollout = await fleet.rollout_ended("completed")

    assert [[t["name"] for t in w["targets"]] for w in rollout["waves"]] == WAVES
    assert [w["state"] for w in rollout["waves"]] == ["healthy"] * 3
    moved = moved_to(fleet.fake, new)
    assert {name: len(made) for name, made in moved.items()} == dict.fromkeys(JOBS, 1)
    # The fake's log, in the order the registers came: 1, then 4, then 5.
    order = sorted((made[0].at, name) for name, made in moved.items())
    taken = [name for _, name in order]
    assert [sorted(taken[:1]), sorted(taken[1:5]), sorted(taken[5:])] == WAVES
    # Each wave's registers came after the wave before had been healthy for the soak: no
    # sooner than its first register + 10 s.
    firsts = [min(moved[name][0].at for name in wave) for wave in WAVES]
    for number in (1, 2):
        began = min(moved[name][0].at for name in WAVES[number])
        waited = (began - firsts[number - 1]) / SECOND
        assert waited >= SOAK_SECONDS, f"wave {number + 1} began {waited:.2f} s after wave {number}"
    for name in JOBS:
        assert image_of(fleet.fake, name) == f"{fleet.repo}:1.1.0@{new}", name
        assert [c.images["web/server"] for c in changes(fleet.fake, name)] == [
            f"{fleet.repo}:1.1.0@{new}"
        ], name
    print(
        "\nwaves began "
        + ", ".join(f"{(f - firsts[0]) / SECOND:.2f} s" for f in firsts)
        + " after the first register; completed: "
        + rollout["words"]
    )


async def test_a_crashing_canary_is_rolled_back_and_nobody_else_moves(fleet: Fleet) -> None:
    bad = await fleet.push("1.1.0", crashing=True)
    rollout = await fleet.rollout_ended("rolled_back")

    # The canary was registered with it once, then back on the exact image it ran before.
    assert [c.images["web/server"] for c in changes(fleet.fake, CANARY)] == [
        f"{fleet.repo}:1.1.0@{bad}",
        f"{fleet.repo}:1.0.0@{fleet.first}",
    ]
    assert image_of(fleet.fake, CANARY).endswith(f"@{fleet.first}")
    moved = moved_to(fleet.fake, bad)
    assert {name: len(made) for name, made in moved.items()} == {
        name: 1 if name == CANARY else 0 for name in JOBS
    }
    others = [name for name in JOBS if name != CANARY]
    assert [r.job_id for r in fleet.fake.registrations if r.job_id in others] == []
    assert all(image_of(fleet.fake, name).endswith(f"@{fleet.first}") for name in others)

    assert "wave 1 of 3 failed" in rollout["reason"], rollout["reason"]
    [canary] = rollout["waves"][0]["targets"]
    assert (canary["name"], canary["rollback_status"]) == (CANARY, "succeeded")
    assert canary["previous_image"].endswith(f"@{fleet.first}")
    waiting = [t["status"] for w in rollout["waves"][1:] for t in w["targets"]]
    assert waiting == ["cancelled"] * 9
    notices = (await fleet.get("/api/v1/notices"))["notices"]
    kinds = sorted(n["kind"] for n in notices if n["kind"].startswith("rollout_"))
    assert kinds == ["rollout_halted", "rollout_rolled_back", "rollout_started"]
    print(f"\nrolled back: {rollout['words']}")
