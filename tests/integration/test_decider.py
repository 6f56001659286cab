"""Deciding at pace: a repository's pending pushes decided together, pushes nothing uses settled
in bulk, and the inventory of what runs where that decisions read instead of the orchestrators."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfoNotFoundError

import pytest
from aiohttp.test_utils import TestClient

from deployers.base import Target
from handlers.references import ImageName
from receiver.decide.gate import ReleaseGate
from receiver.reloading import services_of
from tests.support.api import deployments
from tests.support.app import StartApp
from tests.support.pushes import NAME, REGISTRY, WEB, push, ref
from tests.support.recording import RecordingDeployer
from tests.support.rounds import work_rounds, worker_of
from tests.support.settings import api_headers

Client = TestClient[Any, Any]
LABELLED = Target(kind="recording", name="labelled")


class CountingDeployer(RecordingDeployer):
    """Counts how often the orchestrator is asked what runs."""

    listings: int = 0
    reads: int = 0

    async def workloads(self) -> list[Any]:
        self.listings += 1
        return await super().workloads()

    async def current(self, target: Target, name: ImageName) -> Any:
        self.reads += 1
        return await super().current(target, name)


@pytest.fixture
async def idle(start_app: StartApp) -> tuple[Client, CountingDeployer]:
    """The app with its loops off (the test drives the rounds), watching team/app (target web,
    running 1.0.0) beside a workload that opted in to other/tool."""
    deployer = CountingDeployer()
    deployer.run(WEB, ref("1.0.0", 1))
    deployer.discoverable.append((LABELLED, ImageName(registry=REGISTRY, repository="other/tool")))
    deployer.run(LABELLED, f"{REGISTRY}/other/tool:stable@sha256:{'e' * 64}")
    client, _ = await start_app(deployer=deployer, worker={"enabled": False})
    return client, deployer


async def test_a_burst_of_pushes_to_one_repository_is_one_decision_and_one_deploy(
    idle: tuple[Client, CountingDeployer],
) -> None:
    client, deployer = idle
    for patch in range(1, 101):
        await push(client, f"1.0.{patch}", 100 + patch)
    worker = worker_of(client.app)
    await services_of(client.app).inventory.fresh()  # listed once, as its loop would have
    asked = (deployer.listings, deployer.reads)

    assert await worker.decider.decide_due() == 1
    assert (deployer.listings, deployer.reads) == asked  # decided from the inventory
    await work_rounds(worker, 1)

    assert deployer.deployed(WEB) == [ref("1.0.100", 200)]
    found = await deployments(client, limit="500")
    statuses = [d["status"] for d in found]
    assert statuses.count("superseded") == 99
    assert statuses.count("succeeded") == 1
    superseded = next(d for d in found if d["tag"] == "1.0.1")
    assert superseded["message"] == f"superseded by 1.0.100@sha256:{200:064x}, decided together"


async def test_pushes_no_workload_uses_are_settled_in_bulk_and_opted_in_ones_decided(
    idle: tuple[Client, CountingDeployer],
) -> None:
    client, _ = idle
    for i in range(20):
        await push(client, "1.0.0", 300 + i, f"nobody/app-{i}")
    await push(client, "stable", 400, "other/tool")
    worker = worker_of(client.app)

    assert await worker.decider.decide_due() == 1  # other/tool only: the rest needed no claim
    response = await client.get("/api/v1/events?limit=100", headers=api_headers())
    events = (await response.json())["events"]
    assert {e["status"] for e in events} == {"done"}
    unused = [e for e in events if e["repository"].startswith("nobody/")]
    assert len(unused) == 20
    assert unused[0]["reason"].startswith("no watched repository and no opted-in workload uses")
    [tool] = [d for d in await deployments(client) if d["repository"] is None]
    assert (tool["target_key"], tool["status"]) == (LABELLED.key, "planned")


async def test_pushes_nothing_uses_that_arrive_meanwhile_are_settled_not_claimed(
    idle: tuple[Client, CountingDeployer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a steady stream the batches never run out: what arrives while one is decided is
    settled in bulk before the next, not claimed one repository at a time ahead of the
    pushes that move something."""
    client, _ = idle
    await push(client, "1.1.0", 2)
    await push(client, "stable", 400, "other/tool")
    planner = services_of(client.app).planner
    plan_events = planner.plan_events
    streamed = iter(range(5))

    async def planning_while_pushes_arrive(events: Any) -> Any:
        for i in streamed:  # during the first batch only
            await push(client, "1.0.0", 500 + i, f"nobody/app-{i}")
        return await plan_events(events)

    monkeypatch.setattr(planner, "plan_events", planning_while_pushes_arrive)
    worker = worker_of(client.app)

    assert await worker.decider.decide_due() == 2  # team/app and other/tool, nothing else
    response = await client.get("/api/v1/events?limit=100", headers=api_headers())
    events = (await response.json())["events"]
    assert {e["status"] for e in events} == {"done"}
    unused = [e for e in events if e["repository"].startswith("nobody/")]
    assert [e["reason"].startswith("no watched repository") for e in unused] == [True] * 5


async def test_the_inventory_shows_what_runs_where_and_follows_changes(
    idle: tuple[Client, CountingDeployer],
) -> None:
    client, deployer = idle
    response = await client.get("/api/v1/workloads", headers=api_headers())
    body = await response.json()
    assert [d["kind"] for d in body["deployers"]] == ["recording"]
    assert body["deployers"][0]["error"] is None
    shown = {w["target_key"]: (w["configured"], w["tag"]) for w in body["workloads"]}
    assert shown == {WEB.key: (True, "1.0.0"), LABELLED.key: (False, "stable")}

    # Changed by hand; the inventory's loop, which reads the change feed, is off here: the test
    # tells the inventory as the feed would.
    deployer.run(WEB, ref("1.0.7", 7))
    services_of(client.app).inventory.changed("recording")
    response = await client.get("/api/v1/workloads", headers=api_headers())
    tags = {w["target_key"]: w["tag"] for w in (await response.json())["workloads"]}
    assert tags[WEB.key] == "1.0.7"
    await push(client, "1.0.5", 5)
    await work_rounds(worker_of(client.app), 1)
    [skip] = await deployments(client)
    assert skip["reason"] == "1.0.5 is lower than running 1.0.7"
    assert skip["repository"] == NAME


async def test_a_wait_that_cannot_be_judged_holds_back_no_due_deploy(
    idle: tuple[Client, CountingDeployer], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, deployer = idle
    await push(client, "1.1.0", 2)
    worker = worker_of(client.app)
    await worker.decider.decide_due()

    async def cannot_judge(self: ReleaseGate) -> list[int]:
        raise ZoneInfoNotFoundError("No time zone found with key Mars/Olympus")

    monkeypatch.setattr(ReleaseGate, "release_due", cannot_judge)
    await work_rounds(worker, 1)

    assert deployer.deployed(WEB) == [ref("1.1.0", 2)]


async def test_a_policy_label_that_is_no_policy_skips_its_workload_and_fails_nothing(
    start_app: StartApp,
) -> None:
    """A workload labelled ``regdeploy.policy=regexp:(a)\\1`` (a backreference: RE2 runs no
    such pattern) gets a skip saying why; the event is decided, the other target moves."""
    broken = Target(kind="recording", name="broken", policy="regexp:(a)\\1")
    deployer = RecordingDeployer()
    deployer.run(WEB, ref("1.0.0", 1))
    deployer.discoverable.append((broken, ImageName(registry=REGISTRY, repository=NAME)))
    deployer.run(broken, ref("1.0.0", 1))
    client, _ = await start_app(deployer=deployer, worker={"enabled": False})
    await push(client, "1.1.0", 2)

    await work_rounds(worker_of(client.app), 1)

    by_target = {d["target_key"]: d for d in await deployments(client)}
    assert by_target[WEB.key]["status"] == "succeeded"
    skipped = by_target[broken.key]
    assert skipped["status"] == "skipped"
    assert skipped["reason"].startswith("not deployed: its regdeploy.policy label or job meta:")
    assert "RE2 does not support" in skipped["reason"]
    response = await client.get("/api/v1/events", headers=api_headers())
    assert [e["status"] for e in (await response.json())["events"]] == ["done"]
