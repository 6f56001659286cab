"""``NomadDeployer.health`` against the fake Nomad: a job's health by its latest deployment and
its allocations, and the marks that change when an allocation restarts; then the fake's
allocations themselves, as Nomad's HTTP API shows them (``tests/support/nomad_allocations.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nomad
import nomad.api.exceptions as nomad_errors
import pytest
import requests
from aiohttp.test_utils import TestServer

from deployers.base import DeployOutcome, Health, HealthState, Target
from deployers.nomad import NomadDeployer, NomadSettings
from handlers.references import ImageRef, parse_reference
from receiver.errors import DeployerUnavailable
from tests.support.components import free_port
from tests.support.nomad_fake import FakeNomad, Json, make_job
from tests.support.polling import until

TOKEN = "nomad-acl-token-0123"
REPO = "registry.example/team/app"
OLD, NEW = f"{REPO}:1.0@sha256:{'1' * 64}", f"{REPO}:1.1@sha256:{'2' * 64}"
TARGET = Target(kind="nomad", name="app")

Serve = Callable[..., Awaitable[NomadDeployer]]


def ref(text: str) -> ImageRef:
    return parse_reference(text)


def app_job(image: str = OLD, **options: Any) -> Json:
    """Job ``app``: group ``web`` with task ``server`` on ``image`` and a busybox sidecar."""
    return make_job("app", {"web": {"server": image, "log": "busybox:1.36"}}, **options)


@pytest.fixture
async def serve(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Serve]:
    """A deployer of ``fake`` (served on a port of its own, ACLs on); both closed after."""
    for name in ("NOMAD_ADDR", "NOMAD_TOKEN", "NOMAD_NAMESPACE", "NOMAD_REGION"):
        monkeypatch.delenv(name, raising=False)
    opened: list[tuple[TestServer, NomadDeployer]] = []

    async def served(fake: FakeNomad, *, token: str = TOKEN) -> NomadDeployer:
        server = TestServer(fake.app())
        await server.start_server()
        settings = NomadSettings(
            address=f"http://127.0.0.1:{server.port}",
            token=token,
            poll_seconds=0.05,
            rollout_timeout_seconds=10,
        )
        deployer = NomadDeployer(settings=settings)
        opened.append((server, deployer))
        return deployer

    yield served
    for server, deployer in opened:
        deployer.close()
        await server.close()


def allocations(fake: FakeNomad, version: int) -> list[Json]:
    return [a for a in fake.allocations("app") if a["Job"]["Version"] == version]


async def test_a_job_deployed_successfully_is_healthy(serve: Serve) -> None:
    fake = FakeNomad(acl_token=TOKEN, rollout=lambda job: "successful")
    fake.add_job(app_job(count=3))
    deployer = await serve(fake)

    result = await deployer.deploy(TARGET, ref(NEW))
    health = await deployer.health(TARGET, ref(NEW))

    assert result.outcome is DeployOutcome.SUCCEEDED, result
    assert health.state is HealthState.HEALTHY, health
    assert health.words == "3 allocations of version 1 running and healthy"
    ids = sorted(a["ID"] for a in allocations(fake, 1))
    assert health.marks == ",".join(f"{i}:0" for i in ids)
    # Version 0's allocations were replaced: stopped, their tasks killed.
    assert {(a["DesiredStatus"], a["ClientStatus"]) for a in allocations(fake, 0)} == {
        ("stop", "complete")
    }
    assert await deployer.health(TARGET, ref(NEW)) == health  # nothing changed since


async def test_pending_while_the_deployment_runs(serve: Serve) -> None:
    fake = FakeNomad(acl_token=TOKEN)  # no rollout rule: deployments run until ended here
    fake.add_job(app_job())
    deployer = await serve(fake)
    deploying = asyncio.create_task(deployer.deploy(TARGET, ref(NEW)))

    async def pending() -> Health | None:
        health = await deployer.health(TARGET, ref(NEW))
        return health if health.state is HealthState.PENDING else None

    health = await until("the deploy is pending", pending, seconds=10, interval=0.05)
    assert health.words == "deployment running: 0 of 1 healthy"
    [alloc] = allocations(fake, 1)
    assert alloc["ClientStatus"] == "running" and alloc["DeploymentStatus"] is None

    fake.complete_deployments(successful=True)
    assert (await deploying).outcome is DeployOutcome.SUCCEEDED
    healthy = await deployer.health(TARGET, ref(NEW))
    assert healthy.state is HealthState.HEALTHY and healthy.marks == health.marks


async def test_an_image_that_crashes_fails_the_deployment(serve: Serve) -> None:
    fake = FakeNomad(acl_token=TOKEN, rollout=lambda job: "successful", crashing_images={NEW})
    fake.add_job(app_job())
    deployer = await serve(fake)

    result = await deployer.deploy(TARGET, ref(NEW))
    health = await deployer.health(TARGET, ref(NEW))

    [alloc] = allocations(fake, 1)
    failed = (
        f"allocation {alloc['ID'][:8]} failed: task server: Exceeded allowed attempts 2 in "
        'interval 30m0s and mode is "fail" (Exit Code: 1)'
    )
    assert result.outcome is DeployOutcome.FAILED
    # Nomad's words, then which allocation failed and how, as ``nomad alloc status`` says it.
    assert result.message == f"Failed due to unhealthy allocations: {failed}"
    assert health.state is HealthState.FAILED
    assert health.words == f"deployment failed: Failed due to unhealthy allocations; {failed}"


async def test_a_crash_without_a_deployment_is_read_from_the_allocations(serve: Serve) -> None:
    digest = NEW.rpartition("@")[2]  # a crashing image may be named by its digest
    fake = FakeNomad(acl_token=TOKEN, crashing_images={digest})
    fake.add_job(app_job(update=False, count=2))
    deployer = await serve(fake)

    result = await deployer.deploy(TARGET, ref(NEW))
    health = await deployer.health(TARGET, ref(NEW))

    assert result.outcome is DeployOutcome.SUCCEEDED  # Nomad placed them: that is all it says
    first = min(a["ID"] for a in allocations(fake, 1))
    assert health.state is HealthState.FAILED
    assert health.words.startswith(f"allocation {first[:8]} failed: task server: Exceeded")
    assert health.words.endswith("(Exit Code: 1)")


async def test_a_crash_reverted_by_nomad_runs_the_old_image(serve: Serve) -> None:
    fake = FakeNomad(acl_token=TOKEN, rollout=lambda job: "successful", crashing_images={NEW})
    fake.add_job(app_job(auto_revert=True))
    deployer = await serve(fake)

    result = await deployer.deploy(TARGET, ref(NEW))

    assert result.outcome is DeployOutcome.ROLLED_BACK
    failed = await deployer.health(TARGET, ref(NEW))
    assert failed == Health.failed(f"task web/server of job app runs {OLD}, not {NEW}")

    async def healthy() -> Health | None:
        health = await deployer.health(TARGET, ref(OLD))
        return health if health.state is HealthState.HEALTHY else None

    # The reverted version rolls out in a deployment of its own.
    reverted = await until("the old image is healthy again", healthy, seconds=10, interval=0.05)
    assert reverted.words == "1 allocation of version 2 running and healthy"


async def test_a_restart_changes_the_marks_and_fails(serve: Serve) -> None:
    fake = FakeNomad(acl_token=TOKEN, rollout=lambda job: "successful")
    fake.add_job(app_job(count=2))
    deployer = await serve(fake)
    before = await deployer.health(TARGET, ref(OLD))
    assert before.state is HealthState.HEALTHY

    restarted = fake.restart_allocation("app")
    after = await deployer.health(TARGET, ref(OLD))

    assert after.state is HealthState.FAILED
    assert after.words == (
        f"allocation {restarted['ID'][:8]}: task server restarted 1 time (Exit Code: 1)"
    )
    assert after.marks != before.marks
    assert f"{restarted['ID']}:1" in after.marks.split(",")
    events = [e["Type"] for e in restarted["TaskStates"]["server"]["Events"]]
    assert events[-3:] == ["Terminated", "Restarting", "Started"]


async def test_a_job_that_runs_another_image_or_none_fails(serve: Serve) -> None:
    fake = FakeNomad(acl_token=TOKEN)
    fake.add_job(app_job())
    fake.add_job(make_job("other", {"web": {"server": "registry.example/team/other:2.0"}}))
    deployer = await serve(fake)

    assert await deployer.health(TARGET, ref(NEW)) == Health.failed(
        f"task web/server of job app runs {OLD}, not {NEW}"
    )
    other = await deployer.health(Target(kind="nomad", name="other"), ref(NEW))
    assert other == Health.failed(f"job other runs registry.example/team/other:2.0, not {NEW}")
    missing = await deployer.health(Target(kind="nomad", name="nothing"), ref(NEW))
    assert missing == Health.failed("job nothing not found in namespace default")


async def test_a_target_narrowed_to_a_group_counts_that_group_only(serve: Serve) -> None:
    fake = FakeNomad(acl_token=TOKEN, namespaces=["shop"])
    job = make_job("app", {"web": {"server": OLD}, "jobs": {"worker": NEW}}, namespace="shop")
    fake.add_job(job, "shop")
    deployer = await serve(fake)
    web = Target(kind="nomad", name="app", options={"namespace": "shop", "group": "web"})

    health = await deployer.health(web, ref(OLD))

    [alloc] = [a for a in fake.allocations("app", "shop") if a["TaskGroup"] == "web"]
    assert health.state is HealthState.HEALTHY
    assert health.marks == f"{alloc['ID']}:0"


async def test_nomad_away_or_refusing_the_token_is_unavailable(serve: Serve) -> None:
    fake = FakeNomad(acl_token=TOKEN)
    fake.add_job(app_job())
    refused = await serve(fake, token="not-the-token")
    away = NomadDeployer(settings=NomadSettings(address=f"http://127.0.0.1:{free_port()}"))

    with pytest.raises(DeployerUnavailable, match="refused the ACL token") as raised:
        await refused.health(TARGET, ref(OLD))
    assert raised.value.kind == "nomad"
    try:
        with pytest.raises(DeployerUnavailable, match="Nomad did not answer"):
            await away.health(TARGET, ref(OLD))
    finally:
        away.close()


# ---------------------------------------------------------------------- the fake's allocations


async def call(function: Callable[[], Any]) -> Any:
    """python-nomad blocks: run it in a thread, as the deployer does."""
    return await asyncio.to_thread(function)


async def test_the_fake_lists_stubs_and_reads_whole_allocations() -> None:
    fake = FakeNomad(acl_tokens={"shop-only": ["shop"]}, namespaces=["shop"])
    fake.add_job(app_job())
    server = TestServer(fake.app())
    await server.start_server()
    session = requests.Session()
    client = nomad.Nomad(
        host="127.0.0.1", port=server.port, session=session, token="shop-only", namespace="shop"
    )
    try:
        assert await call(lambda: client.job.get_allocations("app")) == []  # none in shop
        [alloc] = fake.allocations("app")
        with pytest.raises(nomad_errors.BaseNomadException) as raised:
            await call(lambda: client.allocation.get_allocation(alloc["ID"]))
        assert raised.value.nomad_resp.status_code == 500
        assert raised.value.nomad_resp.text == f'Unknown allocation "{alloc["ID"]}"'
        with pytest.raises(nomad_errors.URLNotFoundNomadException):
            await call(lambda: client.allocation.get_allocation("no-such-allocation"))
        fake.acl_tokens["shop-only"] = frozenset({"shop", "default"})
        [listed] = await call(lambda: client.job.get_allocations("app", namespace="default"))
        whole = await call(lambda: client.allocation.get_allocation(alloc["ID"]))
    finally:
        session.close()
        await server.close()

    assert set(listed) == STUB_FIELDS
    assert listed["JobVersion"] == 0 and listed["JobType"] == "service"
    assert whole["Job"]["Version"] == 0 and whole["DeploymentID"]
    assert whole["Name"] == "app.web[0]" and whole["NodeName"] == "dev-1"
    assert whole["ClientStatus"] == "running" and whole["DeploymentStatus"]["Healthy"] is True
    server_state = whole["TaskStates"]["server"]
    assert [e["DisplayMessage"] for e in server_state["Events"]] == [
        "Task received by client",
        "Building Task Directory",
        "Task started by client",
    ]


# nomad/structs AllocListStub (AllocatedResources only with ?resources=true)
STUB_FIELDS = {
    "ID", "EvalID", "Name", "Namespace", "NodeID", "NodeName", "JobID", "JobType",
    "JobVersion", "TaskGroup", "DesiredStatus", "DesiredDescription", "ClientStatus",
    "ClientDescription", "DesiredTransition", "TaskStates", "DeploymentStatus",
    "FollowupEvalID", "NextAllocation", "RescheduleTracker", "PreemptedAllocations",
    "PreemptedByAllocation", "CreateIndex", "ModifyIndex", "CreateTime", "ModifyTime",
}  # fmt: skip


async def test_the_fake_updates_in_place_what_did_not_change_and_kills_siblings() -> None:
    fake = FakeNomad(rollout=lambda job: "successful", crashing_images={NEW})
    fake.add_job(app_job(count=2))
    [first, second] = fake.allocations("app")
    scaled = fake.job("app")
    scaled["TaskGroups"][0]["Count"] = 3
    fake.add_job(scaled)  # the same tasks, one more: the two are updated in place

    kept = {a["ID"]: a for a in fake.allocations("app")}
    assert {first["ID"], second["ID"]} <= set(kept) and len(kept) == 3
    assert {a["Job"]["Version"] for a in kept.values()} == {1}
    assert {a["ClientStatus"] for a in kept.values()} == {"running"}

    crashing = fake.job("app")
    crashing["TaskGroups"][0]["Tasks"][0]["Config"]["image"] = NEW
    crashing["TaskGroups"][0]["RestartPolicy"]["Mode"] = "fail"
    fake.add_job(crashing, stable=True)

    replaced = [a for a in fake.allocations("app") if a["Job"]["Version"] == 2]
    assert len(replaced) == 3 and {a["PreviousAllocation"] for a in replaced} == set(kept)
    for alloc in replaced:
        assert alloc["ClientStatus"] == "failed"
        assert alloc["DeploymentStatus"]["Healthy"] is False
        server, log = alloc["TaskStates"]["server"], alloc["TaskStates"]["log"]
        assert (server["State"], server["Failed"], server["Restarts"]) == ("dead", True, 2)
        assert (log["State"], log["Failed"]) == ("dead", False)
        assert log["Events"][-3]["DisplayMessage"] == 'Task\'s sibling "server" failed'
    assert fake.latest_deployment("app")["Status"] == "failed"  # type: ignore[index]
