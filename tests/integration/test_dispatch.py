"""Decide and dispatch through the real app, a real PostgreSQL and the recording deployer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from deployers.base import DeployOutcome, DeployResult, Health, Target, Workload
from handlers.references import ImageRef, parse_name
from receiver.errors import DeployerUnavailable
from receiver.reloading import services_of
from tests.support.api import Client, deployments, settle
from tests.support.app import FAST_WORKER, AppUnderTest, StartApp
from tests.support.clock import ManualClock
from tests.support.metrics import count, scrape, value
from tests.support.polling import until
from tests.support.pushes import NAME, REGISTRY, WEB, digest, push, ref, repository
from tests.support.recording import RecordingDeployer
from tests.support.rounds import work_rounds, worker_of
from tests.support.settings import READ_TOKEN, api_headers

Start = Callable[..., Awaitable[AppUnderTest]]


@pytest.fixture
def start(start_app: StartApp) -> Start:
    """Apps whose worker runs, polling and retrying quickly, and whose ``web`` runs 1.0.0
    unless ``running`` says otherwise; ``worker`` adds to that worker, ``options`` are
    ``start_app``'s."""

    async def started(
        deployer: RecordingDeployer | None = None,
        *,
        running: str | None = ref("1.0.0", 1),
        worker: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> AppUnderTest:
        return await start_app(
            deployer=deployer, running=running, worker={**FAST_WORKER, **(worker or {})}, **options
        )

    return started


async def test_minor_policy_moves_up_within_the_major_and_never_down(start: Start) -> None:
    client, deployer = await start()
    for tag, n in [("1.1.0", 2), ("2.0.0", 3), ("1.0.1", 4)]:
        await push(client, tag, n)
        await settle(client)

    assert deployer.deployed(WEB) == [ref("1.1.0", 2)]
    assert str(deployer.running[WEB.key]) == ref("1.1.0", 2)
    outcomes = {d["tag"]: (d["status"], d["reason"]) for d in await deployments(client)}
    assert outcomes == {
        "1.1.0": ("succeeded", "1.1.0 is newer than running 1.0.0"),
        "2.0.0": ("skipped", "2.0.0 is a new major version (policy minor)"),
        "1.0.1": ("skipped", "1.0.1 is lower than running 1.1.0"),
    }


async def test_same_tag_with_a_new_digest_redeploys(start: Start) -> None:
    client, deployer = await start()
    await push(client, "1.0.0", 9)
    await settle(client)
    assert deployer.deployed(WEB) == [ref("1.0.0", 9)]


async def test_pushing_what_runs_deploys_nothing(start: Start) -> None:
    client, deployer = await start()
    await push(client, "1.0.0", 1)
    [skip] = await settle(client)
    assert deployer.calls == []
    assert skip["status"] == "skipped"
    assert skip["reason"].startswith("already runs 1.0.0@sha256:")


async def test_auto_deploy_off_records_and_switching_on_deploys_the_newest(start: Start) -> None:
    client, deployer = await start(repositories=[repository(auto_deploy=False)])
    for tag, n in [("1.1.0", 2), ("1.2.0", 3), ("2.0.0", 4)]:
        await push(client, tag, n)
    found = await settle(client)
    assert deployer.calls == []
    assert {d["reason"] for d in found} == {"auto_deploy is off"}

    response = await client.post(f"/tags/{NAME}", json={"auto_deploy": True}, headers=api_headers())
    assert response.status == 200
    await settle(client)
    assert deployer.deployed(WEB) == [ref("1.2.0", 3)]


async def test_pinned_tag_holds_and_a_repush_of_it_redeploys(start: Start) -> None:
    client, deployer = await start(repositories=[repository(pinned_tag="1.0.0")])
    await push(client, "1.1.0", 2)
    await push(client, "1.0.0", 5)
    found = await settle(client)
    assert deployer.deployed(WEB) == [ref("1.0.0", 5)]
    assert {d["tag"]: d["reason"] for d in found}["1.1.0"] == "pinned to 1.0.0"


async def test_setting_a_pin_deploys_it_at_once_even_downwards(start: Start) -> None:
    client, deployer = await start(running=ref("1.1.0", 2))
    await push(client, "1.0.0", 1)
    await settle(client)
    assert deployer.calls == []

    response = await client.post(
        f"/tags/{NAME}", json={"pinned_tag": "1.0.0"}, headers=api_headers()
    )
    assert response.status == 200
    await settle(client)
    assert deployer.deployed(WEB) == [ref("1.0.0", 1)]

    response = await client.post(f"/tags/{NAME}/reset", headers=api_headers())
    assert response.status == 200
    await settle(client)
    assert deployer.deployed(WEB) == [ref("1.0.0", 1)]  # 1.0.0 is the newest it knows of


async def test_twenty_quick_pushes_deploy_one_at_a_time_and_end_on_the_newest(start: Start) -> None:
    """Every push is answered while the first deploy still runs (held by the test): a webhook
    never waits for a deploy; the pushes then end in one deploy of the newest."""
    held = asyncio.Event()
    client, deployer = await start(RecordingDeployer(held=held))
    for patch in range(1, 21):
        await push(client, f"1.0.{patch}", 100 + patch)
    assert deployer.calls == []
    held.set()
    found = await settle(client, seconds=60)

    assert deployer.max_active[WEB.key] == 1
    assert str(deployer.running[WEB.key]) == ref("1.0.20", 120)
    statuses = [d["status"] for d in found if d["status"] != "skipped"]
    assert statuses.count("succeeded") == len(deployer.calls) < 20
    assert statuses.count("superseded") >= 1
    assert deployer.calls[-1] == (WEB.key, ref("1.0.20", 120))


async def test_a_running_deploy_shows_in_the_metrics_while_it_runs(start: Start) -> None:
    client, _ = await start(RecordingDeployer(delay=1.0))
    await push(client, "1.1.0", 2)

    async def running() -> bool:
        return value(await scrape(client), "regdeploy_running_deploys") == 1

    await until("the deploy shows as running", running, seconds=10, interval=0.05)
    await settle(client)
    scraped = await scrape(client)
    assert value(scraped, "regdeploy_running_deploys") == 0
    assert count(scraped, "regdeploy_deploys_total", kind="recording", outcome="succeeded") == 1
    duration = value(scraped, "regdeploy_deploy_duration_seconds_sum", kind="recording")
    assert duration is not None and duration >= 1.0


async def test_failures_are_retried_with_backoff_until_they_succeed(start: Start) -> None:
    """The backoff is ten minutes by the service's clock: the test moves the clock past it at
    each look instead of waiting."""
    failing = DeployResult(outcome=DeployOutcome.FAILED, message="engine said no")
    clock = ManualClock(at=datetime.now(UTC))
    backoff = {"retry_base_seconds": 600, "retry_max_seconds": 600}
    client, deployer = await start(
        RecordingDeployer(scripted=[failing, failing]), clock=clock, worker=backoff
    )
    await push(client, "1.1.0", 2)

    async def retried_until_succeeded() -> list[dict[str, Any]] | None:
        if len(deployer.calls) < 3:
            clock.advance(seconds=600)
        found = await deployments(client)
        return found if [d["status"] for d in found] == ["succeeded"] else None

    [deployment] = await until(
        "the deploy succeeds on its third attempt", retried_until_succeeded, seconds=15
    )

    assert deployment["status"] == "succeeded"
    assert deployment["attempts"] == 3
    response = await client.get(f"/api/v1/deployments/{deployment['id']}", headers=api_headers())
    attempts = (await response.json())["attempts"]
    assert [(a["attempt"], a["outcome"]) for a in attempts] == [
        (1, "failed"),
        (2, "failed"),
        (3, "succeeded"),
    ]
    assert attempts[0]["message"] == "engine said no"


async def test_failures_stop_after_the_configured_attempts(start: Start) -> None:
    failing = DeployResult(outcome=DeployOutcome.FAILED, message="engine said no")
    client, deployer = await start(
        RecordingDeployer(scripted=[failing] * 5), worker={"max_attempts": 2}
    )
    await push(client, "1.1.0", 2)
    [deployment] = await settle(client)
    assert (deployment["status"], deployment["attempts"]) == ("failed", 2)
    assert len(deployer.calls) == 2
    scraped = await scrape(client)
    assert count(scraped, "regdeploy_deploys_total", kind="recording", outcome="failed") == 2
    assert count(scraped, "regdeploy_deploys_total", kind="recording", outcome="succeeded") == 0


async def test_rolled_back_is_recorded_and_not_retried(start: Start) -> None:
    rolled = DeployResult(outcome=DeployOutcome.ROLLED_BACK, message="new task exited at once")
    client, deployer = await start(RecordingDeployer(scripted=[rolled]))
    await push(client, "1.1.0", 2)
    [deployment] = await settle(client)
    assert (deployment["status"], deployment["message"]) == (
        "rolled_back",
        "new task exited at once",
    )
    assert len(deployer.calls) == 1


async def test_dry_run_records_intents_and_calls_no_deployer(start: Start) -> None:
    client, deployer = await start(dry_run=True)
    await push(client, "1.1.0", 2)
    [deployment] = await settle(client)
    assert deployment["status"] == "dry_run"
    assert deployer.calls == []


async def test_discovered_workload_of_an_unwatched_repository_follows_its_own_tag(
    start: Start,
) -> None:
    labelled = Target(kind="recording", name="labelled")
    deployer = RecordingDeployer(discoverable=[(labelled, parse_name(f"{REGISTRY}/other/svc"))])
    deployer.run(labelled, f"{REGISTRY}/other/svc:stable@{digest(1)}")
    client, _ = await start(deployer, repositories=[], running=None)

    await push(client, "stable", 7, "other/svc")
    await push(client, "2.0.0", 8, "other/svc")
    found = await settle(client)

    assert deployer.deployed(labelled) == [f"{REGISTRY}/other/svc:stable@{digest(7)}"]
    assert {d["tag"]: d["reason"] for d in found}["2.0.0"] == "the target follows tag stable only"


async def test_plan_explains_without_deploying(start: Start) -> None:
    client, deployer = await start(repositories=[repository(auto_deploy=False)])
    await push(client, "1.3.0", 3)
    await settle(client)
    response = await client.get(f"/api/v1/repos/{NAME}/plan", headers=api_headers())
    [target] = (await response.json())["targets"]
    assert target["image"] == ref("1.3.0", 3)
    assert target["deploy"] is False
    assert target["reason"].startswith("auto_deploy is off")
    assert deployer.calls == []


async def test_manual_deploy_of_a_tag(start: Start) -> None:
    client, deployer = await start()
    await push(client, "2.0.0", 3)
    await settle(client)
    response = await client.post(
        f"/api/v1/repos/{NAME}/deploy", json={"tag": "2.0.0"}, headers=api_headers()
    )
    assert response.status == 202
    await settle(client)
    assert deployer.deployed(WEB) == [ref("2.0.0", 3)]


async def test_stalled_deploy_is_recovered_and_applied_once(start: Start) -> None:
    idle, deployer = await start(worker={"enabled": False})
    store = services_of(idle.app).store
    await push(idle, "1.1.0", 2)
    assert await worker_of(idle.app).decider.decide_due() == 1
    # A worker claims the intent and dies: the claim stays `running`, its heartbeat stops.
    dead = await store.deployments.claim_deployment(worker="dead-worker", now=datetime.now(UTC))
    assert dead is not None
    assert await store.deployments.recover_stalled(stall_seconds=60) == []

    client, _ = await start(deployer, running=None, worker={"stall_timeout_seconds": 1})
    [deployment] = await settle(client)

    assert deployer.deployed(WEB) == [ref("1.1.0", 2)]
    assert (deployment["id"], deployment["status"]) == (dead.id, "succeeded")
    response = await client.get(f"/api/v1/deployments/{dead.id}", headers=api_headers())
    attempts = (await response.json())["attempts"]
    assert (attempts[0]["worker"], attempts[0]["outcome"]) == ("dead-worker", "stalled")
    assert attempts[-1]["outcome"] == "succeeded"


async def decide_all(client: Client) -> None:
    """Decide every pending event, as a worker's round does before it starts deploys."""
    await worker_of(client.app).decider.decide_due()


async def claimed_by_a_dying_worker(client: Client) -> int:
    """A worker claims the due intent and dies with it running; the intent's id."""
    dead = await services_of(client.app).store.deployments.claim_deployment(
        worker="dead-worker", now=datetime.now(UTC)
    )
    assert dead is not None
    return int(dead.id)


async def test_a_stalled_deploy_of_an_image_planned_again_meanwhile_runs_once(
    start: Start,
) -> None:
    idle, deployer = await start(worker={"enabled": False})
    await push(idle, "1.1.0", 2)
    await decide_all(idle)
    dead = await claimed_by_a_dying_worker(idle)
    await push(idle, "1.1.0", 2)  # pushed again while the dead worker's deploy "runs"
    await decide_all(idle)

    client, _ = await start(deployer, running=None, worker={"stall_timeout_seconds": 1})
    found = {d["id"]: d["status"] for d in await settle(client)}

    assert deployer.deployed(WEB) == [ref("1.1.0", 2)]
    assert found.pop(dead) == "superseded"
    assert list(found.values()) == ["succeeded"]


async def test_a_stalled_deploy_is_superseded_by_a_newer_intent_not_run_after_it(
    start: Start,
) -> None:
    idle, deployer = await start(worker={"enabled": False})
    await push(idle, "1.1.0", 2)
    await decide_all(idle)
    dead = await claimed_by_a_dying_worker(idle)
    await push(idle, "1.2.0", 3)

    client, _ = await start(deployer, running=None, worker={"stall_timeout_seconds": 1})
    found = {d["id"]: (d["status"], d["image"]) for d in await settle(client)}

    # Planned again after the newer intent, 1.1.0 would have run last and moved the target back.
    assert deployer.deployed(WEB) == [ref("1.2.0", 3)]
    assert found.pop(dead) == ("superseded", ref("1.1.0", 2))
    assert list(found.values()) == [("succeeded", ref("1.2.0", 3))]


async def test_write_routes_need_a_write_token(start: Start) -> None:
    client, _ = await start()
    writes = [
        ("POST", f"/tags/{NAME}", {"auto_deploy": False}),
        ("POST", f"/tags/{NAME}/reset", None),
        ("PATCH", f"/api/v1/repos/{NAME}", {"auto_deploy": False}),
        ("POST", f"/api/v1/repos/{NAME}/deploy", {"tag": "1.0.0"}),
    ]
    for method, path, body in writes:
        anonymous = await client.request(method, path, json=body)
        reader = await client.request(method, path, json=body, headers=api_headers(READ_TOKEN))
        assert (anonymous.status, reader.status) == (401, 403), path


@dataclass
class UnreachableEngine:
    """A deployer whose orchestrator does not answer while ``down`` is set."""

    kind: str = "engine"
    down: bool = True

    async def workloads(self) -> list[Workload]:
        if self.down:
            raise ConnectionError("connection refused")
        return []

    async def changes(self) -> AsyncIterator[None]:
        return
        yield

    async def current(self, target: Target, name: Any) -> None:
        return None

    async def deploy(self, target: Target, image: Any) -> DeployResult:
        raise AssertionError("nothing runs on this engine")

    async def health(self, target: Target, image: ImageRef) -> Health:
        raise AssertionError("no rollout here")

    async def platforms(self, target: Target) -> Mapping[str, int]:
        if self.down:
            raise DeployerUnavailable("connection refused", kind=self.kind)
        return {}

    def close(self) -> None:
        pass


async def test_an_orchestrator_that_does_not_answer_holds_the_decision_back(
    start_app: StartApp,
) -> None:
    recording, engine = RecordingDeployer(), UnreachableEngine()
    clock = ManualClock(at=datetime.now(UTC))
    # The test runs the worker's rounds itself: after five of them, nothing may be decided.
    # A pause of ten minutes between tries, by the service's clock, which the test moves.
    client, _ = await start_app(
        deployer=recording,
        deployers=[recording, engine],
        running=ref("1.0.0", 1),
        worker={"enabled": False, "retry_base_seconds": 600, "retry_max_seconds": 600},
        clock=clock,
    )
    worker = worker_of(client.app)

    await push(client, "1.1.0", 2)
    for _ in range(5):  # an orchestrator away is waited for, however many tries that takes
        await work_rounds(worker, 1)
        clock.advance(seconds=601)  # past the event's pause before it is tried again
    response = await client.get("/api/v1/events", headers=api_headers())
    [event] = (await response.json())["events"]
    assert event["status"] == "pending"
    assert event["attempts"] >= 5
    assert "the engine deployer did not answer" in event["reason"]
    assert await deployments(client) == []
    plan = await client.get(f"/api/v1/repos/{NAME}/plan", headers=api_headers())
    assert plan.status == 503
    assert "the engine deployer did not answer" in (await plan.json())["message"]
    scraped = await scrape(client)
    assert count(scraped, "regdeploy_orchestrator_errors_total", kind="engine") >= 5
    assert value(scraped, "regdeploy_pending_events") == 1

    engine.down = False
    clock.advance(seconds=601)
    await work_rounds(worker, 1)
    [deployment] = await deployments(client)
    assert deployment["status"] == "succeeded"
    assert recording.deployed(WEB) == [ref("1.1.0", 2)]
