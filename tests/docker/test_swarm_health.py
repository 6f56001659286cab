"""``SwarmDeployer.health`` against the session's private engine (a one-node swarm), with images
from a real docker-registry: a service's health by its update and its tasks, and the marks that
change when Swarm replaces a task.

Each test pushes its own images and creates its services through the SDK (the engine is emptied
after every test). Busybox as PID 1 ignores SIGTERM, so tasks stop within their 1 s grace
period; with a 1 s monitor a rolling update takes a few seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import docker
import docker.types
import pytest

from deployers.base import DeployOutcome, Health, HealthState, Target
from deployers.docker_engine import DockerSettings, Engine, SwarmSettings
from deployers.swarm import SwarmDeployer
from handlers.references import Aliases, ImageRef, parse_reference
from receiver.errors import DeployerUnavailable
from tests.support.components import free_port
from tests.support.docker_engine import DockerEngine
from tests.support.docker_workloads import SECOND, Repository
from tests.support.polling import until

WAIT_SECONDS = 60.0
EXITS = ["/bin/sh", "-c", "echo boom >&2; exit 3"]
TARGET = Target(kind="swarm", name="web")


@pytest.fixture
def swarm(docker_engine: DockerEngine) -> Iterator[SwarmDeployer]:
    made = SwarmDeployer(
        engine=Engine(
            DockerSettings(
                host=docker_engine.host,
                swarm=SwarmSettings(poll_seconds=0.3, rollout_timeout_seconds=60),
            )
        ),
        aliases=Aliases.from_groups(()),
    )
    yield made
    made.close()


def create_service(client: docker.DockerClient, image: str, *, replicas: int = 1) -> None:
    """Replicated service ``web`` whose failed update Swarm pauses (1 s monitor, stop-first),
    restarting a task that exits after 0.5 s."""
    client.services.create(
        image,
        name="web",
        mode=docker.types.ServiceMode("replicated", replicas=replicas),
        stop_grace_period=SECOND,
        restart_policy=docker.types.RestartPolicy(condition="any", delay=SECOND // 2),
        update_config=docker.types.UpdateConfig(
            parallelism=1, failure_action="pause", monitor=SECOND, order="stop-first"
        ),
    )


async def health_until(
    swarm: SwarmDeployer, image: ImageRef, state: HealthState, what: str
) -> Health:
    """Service ``web``'s health, as the deployer sees it for ``image``, once it is ``state``."""
    seen: list[Health] = []

    async def check() -> Health | None:
        health = await swarm.health(TARGET, image)
        seen.append(health)
        return health if health.state is state else None

    return await until(
        what, check, seconds=WAIT_SECONDS, interval=0.3, explain=lambda: f"last seen: {seen[-1:]}"
    )


def running_tasks(client: docker.DockerClient) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = client.api.tasks(
        filters={"service": "web", "desired-state": "running"}
    )
    return [t for t in tasks if t["Status"]["State"] == "running"]


async def test_a_running_service_is_healthy(
    swarm: SwarmDeployer, client: docker.DockerClient, repo: Repository
) -> None:
    digest = await repo.push("1.0.0")
    create_service(client, repo.text("1.0.0", digest), replicas=2)

    health = await health_until(
        swarm, repo.ref("1.0.0", digest), HealthState.HEALTHY, "the service runs"
    )

    assert health.words == "2 tasks running"
    assert health.marks == ",".join(sorted(t["ID"] for t in running_tasks(client)))


async def test_an_update_to_an_image_that_exits_at_start_fails(
    swarm: SwarmDeployer, client: docker.DockerClient, repo: Repository
) -> None:
    first = await repo.push("1.0.0")
    bad = await repo.push("1.1.0", cmd=EXITS)
    create_service(client, repo.text("1.0.0", first))
    await health_until(swarm, repo.ref("1.0.0", first), HealthState.HEALTHY, "it runs")

    result = await swarm.deploy(TARGET, repo.ref("1.1.0", bad))
    health = await swarm.health(TARGET, repo.ref("1.1.0", bad))

    assert result.outcome is DeployOutcome.FAILED, result
    assert health.state is HealthState.FAILED
    assert health.words.startswith("Swarm paused the update: update paused due to failure")


async def test_a_service_whose_tasks_exit_fails(
    swarm: SwarmDeployer, client: docker.DockerClient, repo: Repository
) -> None:
    bad = await repo.push("1.0.0", cmd=EXITS)
    create_service(client, repo.text("1.0.0", bad))

    health = await health_until(swarm, repo.ref("1.0.0", bad), HealthState.FAILED, "it failed")

    assert health.words.endswith("failed: task: non-zero exit (3)"), health


async def test_a_task_swarm_replaces_changes_the_marks(
    swarm: SwarmDeployer, client: docker.DockerClient, repo: Repository
) -> None:
    digest = await repo.push("1.0.0")
    create_service(client, repo.text("1.0.0", digest))
    before = await health_until(
        swarm, repo.ref("1.0.0", digest), HealthState.HEALTHY, "the service runs"
    )
    [task] = running_tasks(client)

    await asyncio.to_thread(client.api.kill, task["Status"]["ContainerStatus"]["ContainerID"])

    async def replaced() -> Health | None:
        health = await swarm.health(TARGET, repo.ref("1.0.0", digest))
        return health if health.marks not in ("", before.marks) else None

    after = await until("a new task runs", replaced, seconds=WAIT_SECONDS, interval=0.3)
    assert after.state is HealthState.FAILED
    assert after.words == f"task {task['ID'][:12]} failed: task: non-zero exit (137)"
    assert after.marks == ",".join(t["ID"] for t in running_tasks(client))


async def test_a_service_on_another_image_or_none_fails(
    swarm: SwarmDeployer, client: docker.DockerClient, repo: Repository
) -> None:
    old, new = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    create_service(client, repo.text("1.0.0", old), replicas=0)

    health = await swarm.health(TARGET, repo.ref("1.1.0", new))
    missing = await swarm.health(Target(kind="swarm", name="missing"), repo.ref("1.1.0", new))

    assert health == Health.failed(
        f"service web runs {repo.text('1.0.0', old)}, not {repo.text('1.1.0', new)}"
    )
    assert missing == Health.failed("no Swarm service missing")


async def test_an_engine_that_does_not_answer_is_unavailable() -> None:
    away = SwarmDeployer(
        engine=Engine(DockerSettings(host=f"tcp://127.0.0.1:{free_port()}", timeout_seconds=2)),
        aliases=Aliases.from_groups(()),
    )
    image = parse_reference("registry.example/team/app:1.0@sha256:" + "a" * 64)
    try:
        with pytest.raises(DeployerUnavailable, match="did not answer") as raised:
            await away.health(TARGET, image)
    finally:
        away.close()
    assert raised.value.kind == "swarm"
