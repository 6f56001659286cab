"""Rollouts end to end on a real Docker engine: real pushes to a real docker-registry move real
Swarm services and standalone containers of the session's private engine (a one-node swarm)
through the receiver, the queue, the rollout loop and the Docker deployers, in real time.

Every scenario is a repository of its own, watched by one regdeploy, and all run at once (the
file takes about as long as its slowest scenario): each workload opts in by label and runs
1.0.0 of its repository, then 1.1.0 is pushed to every repository together.

| repository    | workloads, in wave order       | what 1.1.0 does                | waves, soak    |
| ------------- | ------------------------------ | ------------------------------ | -------------- |
| team/svc      | services svc-1, svc-2          | exits at start: Swarm pauses   | [1, 100%], 5 s |
| team/svc-self | service svc-self               | exits: Swarm rolls it back     | [100%], 5 s    |
| team/crash    | container crash                | exits at start                 | [100%], 5 s    |
| team/sick     | container sick                 | fails its HEALTHCHECK          | [100%], 5 s    |
| team/good     | container good                 | passes its HEALTHCHECK         | [100%], 5 s    |
| team/late     | container late                 | exits 6 s after its start      | [100%], 10 s   |
| team/pair     | containers pair-b, pair-a (*)  | exits at start                 | [1, 100%], 5 s |

(*) by their ``regdeploy.wave`` labels, 0 and 1, against the order of their names.

The module's fixture sets all of that up, pushes, and waits until every rollout has ended; each
test then reads one scenario as a person would: the engine's ``inspect`` and events, ``GET
/api/v1/rollouts`` and ``GET /api/v1/deployments``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
import docker.types
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from receiver.app import init_app
from tests.support.components import free_port
from tests.support.docker_engine import DockerEngine, clean
from tests.support.docker_workloads import ENABLED, SECOND, Repository, names, run
from tests.support.polling import until
from tests.support.postgres import fresh_database
from tests.support.registry import Registry
from tests.support.settings import READ_TOKEN, REGISTRY_TOKEN, api_headers, make_config

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(240)]

SOAK_SECONDS = 5
#: The slowest scenario: a soak, the deploys and rollbacks around it, the looks between.
ENDED_WITHIN = 120.0
EXITS = ["/bin/sh", "-c", "echo cannot start >&2; exit 3"]
#: Runs past the container deployer's grace period (2 s), then exits during the soak.
EXITS_LATER = ["/bin/sh", "-c", "sleep 6; echo gave up >&2; exit 4"]
SICK = {"Healthcheck": {"Test": ["CMD-SHELL", "echo sick; exit 1"], "Interval": SECOND // 2}}
WELL = {"Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": SECOND // 2, "Retries": 1}}
ENDED = ("completed", "rolled_back", "abandoned")
ASIDE = "-regdeploy-old"


@dataclass
class Scenario:
    """One repository: its workloads (in wave order), the digests of 1.0.0 (``old``) and 1.1.0
    (``new``), and what each workload was before the push (a container's Id, a service's spec
    version)."""

    repo: Repository
    kind: str
    workloads: tuple[str, ...]
    waves: list[int | str]
    soak: int = SOAK_SECONDS
    old: str = ""
    new: str = ""
    before: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.repo.path

    def image(self, tag: str) -> str:
        return self.repo.text(tag)

    def entry(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "image": str(self.repo.name),
            "policy": "minor",
            "targets": [],  # the workloads opt in by label
            "rollout": {"waves": self.waves, "soak": f"{self.soak}s"},
        }


@dataclass
class Fleet:
    """The running regdeploy, the engine's client, and every scenario by its short name; when
    the set-up began (the engine's events are read from then on), when the pushes of 1.1.0
    began and when the last rollout ended."""

    client: TestClient[Any, Any]
    engine: docker.DockerClient
    scenarios: dict[str, Scenario]
    set_up_at: float = 0.0
    pushed_at: float = 0.0
    ended_at: float = 0.0

    async def get(self, path: str, **query: str) -> Any:
        response = await self.client.get(path, params=query, headers=api_headers(READ_TOKEN))
        assert response.status == 200, await response.text()
        return await response.json()

    async def rollouts(self, scenario: str) -> list[dict[str, Any]]:
        body = await self.get("/api/v1/rollouts", repository=self.scenarios[scenario].name)
        return list(body["rollouts"])

    async def deployments(self, target: str) -> list[tuple[str, str, str, str]]:
        """``target``'s deploys, oldest first: trigger, status, tag, digest."""
        return [
            (d["trigger"], d["status"], d["tag"], d["digest"]) for d in await self.deploys(target)
        ]

    async def deploys(self, target: str) -> list[dict[str, Any]]:
        """``target``'s deployments as the API answers them, oldest first, but the skipped
        ones (the ``-base`` tags of the images built through the engine are pre-releases)."""
        found = (await self.get("/api/v1/deployments", target=target))["deployments"]
        return [d for d in sorted(found, key=lambda d: d["id"]) if d["status"] != "skipped"]

    def digests_run_by(self, container: str, scenario: Scenario) -> set[str]:
        """The digests of the scenario's repository that the container's image is known by,
        as ``docker image inspect`` of its image lists them."""
        found = self.engine.api.inspect_container(container)
        image = self.engine.api.inspect_image(found["Image"])
        prefix = f"{scenario.repo.name}@"
        return {d.removeprefix(prefix) for d in image["RepoDigests"] if d.startswith(prefix)}

    def container_events(self) -> list[dict[str, Any]]:
        """The engine's container events from the set-up on."""
        return list(
            self.engine.api.events(
                since=f"{self.set_up_at:.9f}",
                until=f"{time.time():.9f}",
                decode=True,
                filters={"type": "container"},
            )
        )


def scenarios_of(registry: Registry, engine: docker.DockerClient, tmp: Path) -> dict[str, Scenario]:
    """The scenarios of the module's docstring, by the short name of their repository."""

    def scenario(
        path: str, kind: str, *workloads: str, waves: list[int | str], soak: int = SOAK_SECONDS
    ) -> Scenario:
        repo = Repository(registry=registry, client=engine, layout=tmp / path, path=f"team/{path}")
        return Scenario(repo=repo, kind=kind, workloads=workloads, waves=waves, soak=soak)

    return {
        "svc": scenario("svc", "swarm", "svc-1", "svc-2", waves=[1, "100%"]),
        "svc-self": scenario("svc-self", "swarm", "svc-self", waves=["100%"]),
        "crash": scenario("crash", "container", "crash", waves=["100%"]),
        "sick": scenario("sick", "container", "sick", waves=["100%"]),
        "good": scenario("good", "container", "good", waves=["100%"]),
        "late": scenario("late", "container", "late", waves=["100%"], soak=10),
        "pair": scenario("pair", "container", "pair-b", "pair-a", waves=[1, "100%"]),
    }


def make_service(
    client: docker.DockerClient, image: str, name: str, *, failure_action: str
) -> None:
    """A labelled one-replica service on ``image`` whose failed update Swarm pauses or rolls
    back (``failure_action``); its tasks stop within 1 s and are restarted when they exit."""
    client.services.create(
        image,
        name=name,
        labels=dict(ENABLED),
        stop_grace_period=SECOND,
        restart_policy=docker.types.RestartPolicy(condition="any", delay=SECOND // 2),
        update_config=docker.types.UpdateConfig(
            parallelism=1, failure_action=failure_action, monitor=SECOND, order="stop-first"
        ),
        rollback_config=docker.types.RollbackConfig(parallelism=1, monitor=SECOND),
    )


def make_container(client: docker.DockerClient, image: str, name: str, wave: str = "") -> str:
    """A labelled container on the ``apps`` network, restarted unless stopped; its Id."""
    labels = dict(ENABLED) | ({"regdeploy.wave": wave} if wave else {})
    return run(
        client,
        image,
        name,
        labels=labels,
        host={"network_mode": "apps", "restart_policy": {"Name": "unless-stopped"}},
    )


async def set_up_workloads(fleet: Fleet) -> None:
    """Push 1.0.0 of every repository, pull it, and run each scenario's workloads on it."""
    engine, every = fleet.engine, fleet.scenarios
    olds = await asyncio.gather(*(s.repo.push("1.0.0") for s in every.values()))
    for scenario, old in zip(every.values(), olds, strict=True):
        scenario.old = old
    await asyncio.to_thread(engine.networks.create, "apps", driver="bridge")
    for key, scenario in every.items():
        if scenario.kind == "swarm":
            pinned = f"{scenario.image('1.0.0')}@{scenario.old}"  # as docker stack deploy pins
            action = "rollback" if key == "svc-self" else "pause"
            for service in scenario.workloads:
                await asyncio.to_thread(
                    make_service, engine, pinned, service, failure_action=action
                )
            continue
        await asyncio.to_thread(scenario.repo.pull, "1.0.0")
        for wave, container in enumerate(scenario.workloads):
            label = str(wave) if key == "pair" else ""
            await asyncio.to_thread(
                make_container, engine, scenario.image("1.0.0"), container, label
            )


async def listed(fleet: Fleet) -> None:
    """Wait until regdeploy lists every workload on its 1.0.0, and Swarm runs every task."""
    wanted = {f"{s.kind}:{w}": s.old for s in fleet.scenarios.values() for w in s.workloads}
    seen: dict[str, str | None] = {}

    async def all_listed() -> bool:
        nonlocal seen
        found = (await fleet.get("/api/v1/workloads"))["workloads"]
        seen = {w["target_key"]: w["digest"] for w in found}
        tasks = await asyncio.to_thread(
            fleet.engine.api.tasks, filters={"desired-state": "running"}
        )
        return all(seen.get(k) == d for k, d in wanted.items()) and all(
            t["Status"]["State"] == "running" for t in tasks
        )

    await until(
        "regdeploy lists every workload on 1.0.0",
        all_listed,
        seconds=60,
        interval=0.3,
        explain=lambda: f"listed: {seen}",
    )


def before_push(fleet: Fleet) -> None:
    """What each workload is before the push: a container's Id, a service's spec version."""
    api = fleet.engine.api
    for scenario in fleet.scenarios.values():
        for name in scenario.workloads:
            if scenario.kind == "swarm":
                scenario.before[name] = api.inspect_service(name)["Version"]["Index"]
            else:
                scenario.before[name] = api.inspect_container(name)["Id"]


async def push_new(fleet: Fleet) -> None:
    """Push 1.1.0 of every repository at once (the images with a HEALTHCHECK are committed
    and pushed by the engine, in a thread of their own: the app shares this event loop)."""
    every = fleet.scenarios

    def configured(scenario: Scenario, config: dict[str, Any]) -> str:
        return asyncio.run(scenario.repo.push_configured("1.1.0", [], config=config))

    pushes = {
        "svc": every["svc"].repo.push("1.1.0", cmd=EXITS),
        "svc-self": every["svc-self"].repo.push("1.1.0", cmd=EXITS),
        "crash": every["crash"].repo.push("1.1.0", cmd=EXITS),
        "sick": asyncio.to_thread(configured, every["sick"], SICK),
        "good": asyncio.to_thread(configured, every["good"], WELL),
        "late": every["late"].repo.push("1.1.0", cmd=EXITS_LATER),
        "pair": every["pair"].repo.push("1.1.0", cmd=EXITS),
    }
    digests = await asyncio.gather(*pushes.values())
    for key, digest in zip(pushes, digests, strict=True):
        every[key].new = digest


async def every_rollout_ended(fleet: Fleet) -> None:
    seen: dict[str, tuple[str, str]] = {}

    async def ended() -> bool:
        found = (await fleet.get("/api/v1/rollouts"))["rollouts"]
        seen.clear()
        seen.update({r["repository"]: (r["state"], r["words"]) for r in found})
        names = [s.name for s in fleet.scenarios.values()]
        return all(seen.get(n, ("", ""))[0] in ENDED for n in names)

    await until(
        "every rollout has ended",
        ended,
        seconds=ENDED_WITHIN,
        interval=0.5,
        explain=lambda: f"rollouts: {seen}",
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fleet(
    pg_server_uri: str,
    registry_tools: None,
    docker_engine_session: DockerEngine,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Fleet]:
    """Every scenario set up on the engine, 1.1.0 pushed, every rollout ended."""
    tmp = tmp_path_factory.mktemp("rollouts")
    port = free_port()
    engine = docker_engine_session.client()
    with contextlib.ExitStack() as stack:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        for name in ("DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"):
            patch.delenv(name, raising=False)
        stack.callback(clean, docker_engine_session)
        stack.callback(engine.close)
        registry = stack.enter_context(
            Registry(
                tmp / "registry",
                notify_url=f"http://127.0.0.1:{port}/webhooks/registry",
                notify_token=REGISTRY_TOKEN,
            )
        )
        scenarios = scenarios_of(registry, engine, tmp)
        config = make_config(
            fresh_database(pg_server_uri),
            registry=registry.host,
            registries=[{"host": registry.host, "insecure": True}],
            repositories=[s.entry() for s in scenarios.values()],
            worker={"poll_interval_seconds": 0.5, "retry_base_seconds": 0.2},
            deployers={
                "docker": {
                    "host": docker_engine_session.host,
                    "swarm": {"poll_seconds": 0.5, "rollout_timeout_seconds": 60},
                    "containers": {
                        "grace_seconds": 2,
                        "health_timeout_seconds": 20,
                        "stop_timeout_seconds": 1,
                        "poll_seconds": 0.2,
                    },
                }
            },
        )
        client: TestClient[Any, Any] = TestClient(TestServer(init_app(config), port=port))
        await client.start_server()
        try:
            fleet = Fleet(client=client, engine=engine, scenarios=scenarios)
            fleet.set_up_at = time.time()
            await set_up_workloads(fleet)
            await listed(fleet)
            before_push(fleet)
            fleet.pushed_at = time.time()
            await push_new(fleet)
            await every_rollout_ended(fleet)
            fleet.ended_at = time.time()
            print(
                f"\nset up in {fleet.pushed_at - fleet.set_up_at:.1f} s; every rollout ended "
                f"{fleet.ended_at - fleet.pushed_at:.1f} s after the pushes began"
            )
            yield fleet
        finally:
            await client.close()


def only(rollouts: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(rollouts) == 1, [(r["tag"], r["state"]) for r in rollouts]
    return rollouts[0]


def wave_names(rollout: dict[str, Any]) -> list[list[str]]:
    return [[t["name"] for t in w["targets"]] for w in rollout["waves"]]


def rollback_of(scenario: Scenario) -> tuple[str, str, str, str]:
    """The deployment of a rollback to 1.0.0 that succeeded."""
    return ("rollback", "succeeded", "1.0.0", scenario.old)


def created(events: Iterable[dict[str, Any]], digest: str) -> set[str]:
    """The names of the containers created on an image of ``digest``."""
    return {
        e["Actor"]["Attributes"]["name"]
        for e in events
        if e["Action"] == "create" and digest in e["Actor"]["Attributes"].get("image", "")
    }


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


async def test_a_swarm_canary_that_exits_is_put_back_and_the_next_service_never_moves(
    fleet: Fleet,
) -> None:
    svc = fleet.scenarios["svc"]
    rollout = only(await fleet.rollouts("svc"))

    assert rollout["state"] == "rolled_back", rollout["words"]
    assert rollout["digest"] == svc.new
    assert wave_names(rollout) == [["svc-1"], ["svc-2"]]
    assert rollout["reason"].startswith("wave 1 of 2 failed: swarm:svc-1: failed: "), rollout
    assert "Swarm paused the update" in rollout["reason"]
    [canary], [later] = (w["targets"] for w in rollout["waves"])
    assert (canary["status"], canary["rollback_status"]) == ("failed", "succeeded")
    assert canary["previous_image"] == f"{svc.image('1.0.0')}@{svc.old}"
    assert (later["status"], later["rollback_id"]) == ("cancelled", None)

    # regdeploy's rollback updated the paused service back to the exact image it ran.
    spec = fleet.engine.api.inspect_service("svc-1")
    assert spec["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == (
        f"{svc.image('1.0.0')}@{svc.old}"
    )
    assert spec["UpdateStatus"]["State"] == "completed"
    tasks = fleet.engine.api.tasks(filters={"service": "svc-1", "desired-state": "running"})
    assert [
        (t["Status"]["State"], t["Spec"]["ContainerSpec"]["Image"].rsplit("@", 1)[-1])
        for t in tasks
    ] == [("running", svc.old)]
    assert await fleet.deployments("swarm:svc-1") == [
        ("push", "failed", "1.1.0", svc.new),
        rollback_of(svc),
    ]
    # The second service was never updated: its spec is the version it was.
    second = fleet.engine.api.inspect_service("svc-2")
    assert second["Version"]["Index"] == svc.before["svc-2"]
    assert second["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].endswith(f"@{svc.old}")
    assert await fleet.deployments("swarm:svc-2") == [("push", "cancelled", "1.1.0", svc.new)]


async def test_a_service_swarm_rolled_back_itself_ends_on_its_old_digest(fleet: Fleet) -> None:
    svc = fleet.scenarios["svc-self"]
    rollout = only(await fleet.rollouts("svc-self"))

    assert rollout["state"] == "rolled_back", rollout["words"]
    assert "Swarm rolled the update back" in rollout["reason"], rollout["reason"]
    service = fleet.engine.api.inspect_service("svc-self")
    assert service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] == (
        f"{svc.image('1.0.0')}@{svc.old}"
    )
    assert service["UpdateStatus"]["State"] == "rollback_completed"
    assert await fleet.deployments("swarm:svc-self") == [
        ("push", "failed", "1.1.0", svc.new),
        rollback_of(svc),
    ]
    rollback = (await fleet.deploys("swarm:svc-self"))[-1]
    assert rollback["message"].startswith(f"already runs {svc.image('1.0.0')}@{svc.old}")
    assert rollback["previous_image"] == f"{svc.image('1.1.0')}@{svc.new}"


async def test_a_container_whose_new_image_exits_at_start_runs_its_old_digest(
    fleet: Fleet,
) -> None:
    crash = fleet.scenarios["crash"]
    rollout = only(await fleet.rollouts("crash"))

    assert rollout["state"] == "rolled_back", rollout["words"]
    assert "container:crash: rolled_back: " in rollout["reason"]
    assert "exited with code 3" in rollout["reason"]
    assert "cannot start" in rollout["reason"]
    # The deployer put the old container back itself; the rollout's rollback found it there.
    container = fleet.engine.api.inspect_container("crash")
    assert container["Id"] == crash.before["crash"]
    assert container["State"]["Running"] is True
    assert fleet.digests_run_by("crash", crash) == {crash.old}
    assert await fleet.deployments("container:crash") == [
        ("push", "rolled_back", "1.1.0", crash.new),
        rollback_of(crash),
    ]
    assert not [n for n in names(fleet.engine) if n.endswith(ASIDE)]


async def test_a_container_whose_new_healthcheck_fails_runs_its_old_digest(
    fleet: Fleet,
) -> None:
    sick = fleet.scenarios["sick"]
    rollout = only(await fleet.rollouts("sick"))

    assert rollout["state"] == "rolled_back", rollout["words"]
    assert "container:sick: rolled_back: " in rollout["reason"]
    assert "failed its healthcheck: exit 1: sick" in rollout["reason"]
    container = fleet.engine.api.inspect_container("sick")
    assert container["Id"] == sick.before["sick"]
    assert container["State"]["Running"] is True
    assert "Health" not in container["State"]  # 1.0.0 has no healthcheck
    assert fleet.digests_run_by("sick", sick) == {sick.old}
    assert await fleet.deployments("container:sick") == [
        ("push", "rolled_back", "1.1.0", sick.new),
        rollback_of(sick),
    ]


async def test_a_healthy_new_image_stays_and_completes_after_the_soak(fleet: Fleet) -> None:
    good = fleet.scenarios["good"]
    rollout = only(await fleet.rollouts("good"))

    assert rollout["state"] == "completed", rollout["words"]
    [wave] = rollout["waves"]
    assert wave["state"] == "healthy"
    assert seconds_between(wave["healthy_since"], wave["finished_at"]) >= SOAK_SECONDS
    [target] = wave["targets"]
    assert (target["status"], target["rollback_id"]) == ("succeeded", None)
    assert target["health"] == "good is healthy"
    container = fleet.engine.api.inspect_container("good")
    assert container["Id"] != good.before["good"]
    assert container["Config"]["Image"] == f"{good.image('1.1.0')}@{good.new}"
    assert container["State"]["Health"]["Status"] == "healthy"
    assert container["RestartCount"] == 0
    assert fleet.digests_run_by("good", good) == {good.new}
    assert await fleet.deployments("container:good") == [("push", "succeeded", "1.1.0", good.new)]


async def test_a_container_that_fails_during_the_soak_is_recreated_on_its_old_digest(
    fleet: Fleet,
) -> None:
    late = fleet.scenarios["late"]
    rollout = only(await fleet.rollouts("late"))

    assert rollout["state"] == "rolled_back", rollout["words"]
    assert rollout["reason"].startswith("wave 1 of 1 failed: container:late"), rollout["reason"]
    # Its deploy succeeded (it ran past the grace period); the rollout's own rollback then
    # replaced it with a container of the exact digest it ran before.
    assert await fleet.deployments("container:late") == [
        ("push", "succeeded", "1.1.0", late.new),
        rollback_of(late),
    ]
    container = fleet.engine.api.inspect_container("late")
    assert container["Config"]["Image"] == f"{late.image('1.0.0')}@{late.old}"
    assert container["Id"] != late.before["late"]
    assert container["State"]["Running"] is True
    assert container["Config"]["Labels"] == ENABLED
    assert container["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert list(container["NetworkSettings"]["Networks"]) == ["apps"]
    assert fleet.digests_run_by("late", late) == {late.old}
    events = await asyncio.to_thread(fleet.container_events)
    assert created(events, late.new) == {"late"}
    assert created(events, late.old) == {"late"}


async def test_only_the_first_wave_ever_runs_a_bad_image(fleet: Fleet) -> None:
    pair = fleet.scenarios["pair"]
    rollout = only(await fleet.rollouts("pair"))

    assert rollout["state"] == "rolled_back", rollout["words"]
    # regdeploy.wave 0 goes before 1, whatever the names.
    assert wave_names(rollout) == [["pair-b"], ["pair-a"]]
    assert rollout["reason"].startswith("wave 1 of 2 failed: container:pair-b: rolled_back")
    assert await fleet.deployments("container:pair-b") == [
        ("push", "rolled_back", "1.1.0", pair.new),
        rollback_of(pair),
    ]
    assert await fleet.deployments("container:pair-a") == [("push", "cancelled", "1.1.0", pair.new)]
    for name in ("pair-a", "pair-b"):
        container = fleet.engine.api.inspect_container(name)
        assert container["Id"] == pair.before[name], name
        assert fleet.digests_run_by(name, pair) == {pair.old}, name

    events = await asyncio.to_thread(fleet.container_events)
    assert created(events, pair.new) == {"pair-b"}
    # pair-a was created and started at the set-up, and nothing happened to it since.
    touched = [
        e["Action"]
        for e in events
        if e["Actor"]["ID"] == pair.before["pair-a"]
        or e["Actor"]["Attributes"].get("name", "").startswith("pair-a")
    ]
    assert touched == ["create", "start"]
