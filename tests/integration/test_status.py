"""``GET /api/v1/status``: database, deployers, queue and reconciler, through the real app and a
real PostgreSQL (the database going away is in ``test_api``'s outage test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deployers.base import Deployers, DeployResult, Health, Running, Target, Workload
from handlers.references import ImageName, ImageRef
from receiver import version
from receiver.app import init_app
from receiver.background import inventory
from receiver.errors import DeployerUnavailable
from receiver.store import Store
from receiver.store.records import Plan
from tests.support.api import Client, ClientFactory
from tests.support.decisions import record_plans
from tests.support.pushes import NAME, REGISTRY, WEB, digest, push, repository
from tests.support.recording import RecordingDeployer
from tests.support.settings import READ_TOKEN, api_headers, make_config

KEYS = {
    "status",
    "version",
    "database",
    "deployers",
    "deployer_switches",
    "dry_run",
    "worker",
    "queue",
    "freezes",
    "reconciler",
    "configuration",
    "processes",
}


@dataclass
class Unanswering:
    """A deployer whose orchestrator fails (``error``) or never answers."""

    kind: str
    error: Exception | None = None

    async def workloads(self) -> list[Workload]:
        if self.error is not None:
            raise self.error
        await asyncio.sleep(3600)
        return []

    async def changes(self) -> AsyncIterator[None]:
        return
        yield

    async def current(self, target: Target, name: ImageName) -> Running | None:
        return None

    async def deploy(self, target: Target, image: ImageRef) -> DeployResult:
        raise AssertionError("not called")

    async def health(self, target: Target, image: ImageRef) -> Health:
        raise AssertionError("not called")

    async def platforms(self, target: Target) -> Mapping[str, int]:
        if self.error is not None:
            raise DeployerUnavailable(str(self.error), kind=self.kind) from self.error
        await asyncio.sleep(3600)
        return {}

    def close(self) -> None:
        pass


async def started(
    aiohttp_client: ClientFactory, db_uri: str, *deployers: Any, **overrides: Any
) -> Client:
    config = make_config(
        db_uri, registry=REGISTRY, confirm_digests=False, repositories=[repository()], **overrides
    )
    return await aiohttp_client(init_app(config, deployers=Deployers(deployers)))


async def get_status(client: Client) -> Any:
    response = await client.get("/api/v1/status", headers=api_headers(READ_TOKEN))
    assert response.status == 200, await response.text()
    return await response.json()


async def test_a_healthy_service_says_ok_and_what_waits(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    client = await started(aiohttp_client, db_uri, RecordingDeployer())
    await push(client, "1.0.0", 1)  # the worker is off: it stays pending

    answer = await get_status(client)

    assert set(answer) == KEYS
    assert (answer["status"], answer["version"], answer["dry_run"]) == ("ok", version(), False)
    assert answer["database"] == {"embedded": False, "reachable": True, "message": None}
    assert answer["deployers"] == [{"kind": "recording", "reachable": True, "message": None}]
    assert answer["deployer_switches"] == [
        {"name": "docker", "on": False, "why": "no deployers.docker section, DOCKER_HOST is unset"},
        {"name": "nomad", "on": False, "why": "no nomad section and NOMAD_ADDR is unset"},
    ]
    assert answer["worker"] == {"enabled": False}
    queue = answer["queue"]
    assert (queue["pending_events"], queue["planned_deploys"], queue["running_deploys"]) == (
        1,
        0,
        0,
    )
    assert 0 <= queue["oldest_pending_age_seconds"] < 60
    assert datetime.fromisoformat(queue["oldest_pending_at"]) <= datetime.now(UTC)
    assert queue["running"] == []
    assert (queue["waiting_deploys"], answer["freezes"]) == (0, [])
    assert answer["reconciler"] == {
        "enabled": False,
        "interval_seconds": 0,
        "holder": None,
        "last_round_at": None,
        "next_round_at": None,
    }


async def test_running_deploys_are_listed(
    aiohttp_client: ClientFactory, db_uri: str, store: Store
) -> None:
    client = await started(aiohttp_client, db_uri, RecordingDeployer())
    image = ImageRef(
        name=ImageName(registry=REGISTRY, repository=NAME), tag="1.0.0", digest=digest(1)
    )
    plan = Plan(
        target=WEB, repository_name=NAME, image=image, deploy=True, reason="r", trigger="manual"
    )
    await record_plans(store, [plan])
    claimed = await store.deployments.claim_deployment(worker="elsewhere", now=datetime.now(UTC))
    assert claimed is not None

    queue = (await get_status(client))["queue"]

    assert (queue["planned_deploys"], queue["running_deploys"]) == (0, 1)
    [running] = queue["running"]
    assert (running["id"], running["status"], running["target_key"]) == (
        claimed.id,
        "running",
        WEB.key,
    )


async def test_a_deployer_that_fails_or_does_not_answer_makes_it_degraded(
    aiohttp_client: ClientFactory, db_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inventory, "LISTING_SECONDS", 0.2)
    client = await started(
        aiohttp_client,
        db_uri,
        Unanswering(kind="swarm", error=RuntimeError("cannot reach the engine at unix:///x")),
        Unanswering(kind="nomad"),
        RecordingDeployer(),
    )

    answer = await get_status(client)

    assert answer["status"] == "degraded"
    assert answer["deployers"] == [
        {
            "kind": "swarm",
            "reachable": False,
            "message": "the swarm deployer did not answer: cannot reach the engine at unix:///x",
        },
        {
            "kind": "nomad",
            "reachable": False,
            "message": "the nomad deployer did not answer: no answer within 0.2 s",
        },
        {"kind": "recording", "reachable": True, "message": None},
    ]


async def test_the_reconciler_s_last_round_comes_from_its_lease(
    aiohttp_client: ClientFactory, db_uri: str, store: Store
) -> None:
    client = await started(aiohttp_client, db_uri, reconciler={"interval_seconds": 600})
    assert await store.leases.acquire_lease("reconciler", holder="host-1", seconds=1200)

    reconciler = (await get_status(client))["reconciler"]

    assert (reconciler["enabled"], reconciler["interval_seconds"], reconciler["holder"]) == (
        True,
        600,
        "host-1",
    )
    last = datetime.fromisoformat(reconciler["last_round_at"])
    assert abs(last - datetime.now(UTC)) < timedelta(seconds=30)
    assert datetime.fromisoformat(reconciler["next_round_at"]) - last == timedelta(seconds=600)


async def test_a_configured_deployer_family_says_why_it_is_on(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    client = await started(aiohttp_client, db_uri, nomad={"address": "http://127.0.0.1:9"})
    switches = (await get_status(client))["deployer_switches"]
    assert {"name": "nomad", "on": True, "why": "the nomad section"} in switches
