"""The container deployer's ``health`` against a real Docker engine, and the exactness of a
rollback: a deploy back to the digest a container ran before gives back the container it was.

Set up as in ``test_containers``: images from a real docker-registry, containers on the
session's private engine (emptied after every test). Waits are bounded polls of ``health``.
"""

from __future__ import annotations

from pathlib import Path

import docker
import pytest

from deployers.base import DeployOutcome, HealthState
from deployers.containers import ASIDE_SUFFIX, ContainerDeployer
from deployers.docker_engine import DockerSettings, Engine
from handlers.references import Aliases, ImageName, ImageRef, short_image
from receiver.errors import DeployerUnavailable
from tests.support.components import free_port
from tests.support.docker_workloads import (
    ENABLED,
    SECOND,
    Repository,
    configuration,
    health_until,
    run,
    running_image,
    target,
)

NAME = ImageName(registry="registry.test", repository="team/app")
DIGEST = "sha256:" + "0" * 64
EXITS = ["/bin/sh", "-c", "echo boom >&2; exit 3"]
# Exits once, 0.3 s after its first start, and runs from its second start on.
CRASHES_ONCE = ["/bin/sh", "-c", "[ -f /ran ] && exec sleep infinity; : > /ran; sleep 0.3; exit 3"]


def marks_of(client: docker.DockerClient, name: str) -> str:
    """The marks ``health`` should give: the container's Id, restart count and start time."""
    found = client.api.inspect_container(name)
    return f"{found['Id']}:{found['RestartCount']}:{found['State']['StartedAt']}"


async def test_a_running_container_of_the_image_is_healthy(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    first = await repo.push("1.0.0")
    repo.pull("1.0.0")
    run(client, repo.text("1.0.0"), "web", labels=ENABLED)

    health = await deployer.health(target(), repo.ref("1.0.0", first))

    assert health.state is HealthState.HEALTHY, health.words
    assert health.words == "web is running"
    assert health.marks == marks_of(client, "web")


async def test_a_healthcheck_is_pending_while_it_starts_then_healthy(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    first = await repo.push("1.0.0")
    repo.pull("1.0.0")
    check = {"test": ["CMD-SHELL", "true"], "interval": 2 * SECOND, "retries": 1}
    run(client, repo.text("1.0.0"), "web", healthcheck=check)
    image = repo.ref("1.0.0", first)

    starting = await deployer.health(target(), image)
    healthy = await health_until(deployer, target(), image, HealthState.HEALTHY)

    assert starting.state is HealthState.PENDING, starting.words
    assert "healthcheck" in starting.words
    assert healthy.words == "web is healthy"
    assert starting.marks == healthy.marks == marks_of(client, "web")


@pytest.mark.parametrize("restart", [None, "always"])
async def test_a_process_that_exits_at_start_fails(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient, restart: str | None
) -> None:
    broken = await repo.push("1.0.0", cmd=EXITS)
    repo.pull("1.0.0")
    host = {"restart_policy": {"Name": restart}} if restart else {}
    run(client, repo.text("1.0.0"), "web", host=host)

    health = await health_until(deployer, target(), repo.ref("1.0.0", broken), HealthState.FAILED)

    # Under a restart policy it is seen restarting (its last exit) or running again (restarted).
    assert "exited with code 3" in health.words or "restarted" in health.words, health.words
    assert "last output: boom" in health.words
    assert health.marks.startswith(client.api.inspect_container("web")["Id"] + ":")


async def test_a_failing_healthcheck_fails_with_its_output(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    first = await repo.push("1.0.0")
    repo.pull("1.0.0")
    sick = {"test": ["CMD-SHELL", "echo sick; exit 1"], "interval": SECOND // 2, "retries": 1}
    run(client, repo.text("1.0.0"), "web", healthcheck=sick)

    health = await health_until(deployer, target(), repo.ref("1.0.0", first), HealthState.FAILED)

    assert health.words == "web failed its healthcheck: exit 1: sick"
    assert health.marks == marks_of(client, "web")


async def test_docker_restart_changes_the_marks(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    first = await repo.push("1.0.0")
    repo.pull("1.0.0")
    # A user network: on this engine (no default bridge) a restarted container on the default
    # network loses its sandbox.
    client.networks.create("apps", driver="bridge")
    container_id = run(client, repo.text("1.0.0"), "web", host={"network_mode": "apps"})
    image = repo.ref("1.0.0", first)
    before = await deployer.health(target(), image)

    client.api.restart(container_id, timeout=0)
    after = await deployer.health(target(), image)

    assert before.state is after.state is HealthState.HEALTHY
    assert before.marks != after.marks
    assert after.marks == marks_of(client, "web")


async def test_a_restart_by_its_restart_policy_fails_and_changes_the_marks(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    once = await repo.push("1.0.0", cmd=CRASHES_ONCE)
    repo.pull("1.0.0")
    run(client, repo.text("1.0.0"), "web", host={"restart_policy": {"Name": "always"}})
    image = repo.ref("1.0.0", once)
    first = await deployer.health(target(), image)

    restarted = await health_until(deployer, target(), image, HealthState.FAILED)

    assert first.state is HealthState.HEALTHY, first.words
    assert first.marks != restarted.marks
    assert "restarted 1 time" in restarted.words or "exited with code 3" in restarted.words


async def test_another_digest_fails(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    first, second = await repo.push("1.0.0"), await repo.push("1.1.0")
    repo.pull("1.0.0")
    run(client, repo.text("1.0.0"), "web")
    other = repo.ref("1.1.0", second)

    health = await deployer.health(target(), other)

    assert health.state is HealthState.FAILED
    shown = (short_image(repo.ref("1.0.0", first)), short_image(other))
    assert health.words == "web runs {}, not {}".format(*shown)
    assert health.marks == marks_of(client, "web")


async def test_a_missing_container_fails_and_a_swap_under_way_is_pending(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    first = await repo.push("1.0.0")
    repo.pull("1.0.0")
    image = repo.ref("1.0.0", first)

    missing = await deployer.health(target(), image)
    run(client, repo.text("1.0.0"), "web" + ASIDE_SUFFIX)
    swapping = await deployer.health(target(), image)

    assert (missing.state, missing.words) == (HealthState.FAILED, "no container web")
    assert swapping.state is HealthState.PENDING
    assert swapping.marks == ""  # whatever runs after the swap counts as a change


async def test_the_health_of_an_engine_away_is_unavailable() -> None:
    engine = Engine(DockerSettings(host=f"tcp://127.0.0.1:{free_port()}", timeout_seconds=2))
    deployer = ContainerDeployer(engine=engine, aliases=Aliases.from_groups(()))
    try:
        with pytest.raises(DeployerUnavailable, match="did not answer") as caught:
            await deployer.health(target(), ImageRef(name=NAME, tag="1.0.0", digest=DIGEST))
    finally:
        deployer.close()
    assert caught.value.kind == "container"


# Image B sets what image A leaves to the engine's defaults: a rollback must not keep any.
IMAGE_B = (
    "LABEL org.example.only-b=1",
    "ENV ONLY_B=1",
    "VOLUME /cache",
    "EXPOSE 9090",
    "WORKDIR /srv/b",
    "USER 1000",
    'CMD ["/bin/sleep", "1000000"]',
)
CONFIG_B = {
    "StopSignal": "SIGINT",
    "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": SECOND, "Retries": 2},
}


async def test_a_rollback_gives_back_the_container_it_replaced(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient, tmp_path: Path
) -> None:
    """A rollback is a deploy of the digest the container ran before the deploy it undoes."""
    first = await repo.push_configured("1.0.0", ["LABEL org.example.only-a=1", "ENV ONLY_A=1"])
    second = await repo.push_configured("1.1.0", IMAGE_B, config=CONFIG_B)
    for network in ("apps", "back"):
        client.networks.create(network, driver="bridge")
    bound = tmp_path / "bound"
    bound.mkdir()
    port = free_port()
    old_id = run(
        client,
        repo.text("1.0.0"),
        "web",
        environment={"OPERATOR": "set"},
        labels={**ENABLED, "team": "core"},
        ports=[80],
        networking_config=client.api.create_networking_config(
            {"apps": client.api.create_endpoint_config(aliases=["web-alias"])}
        ),
        host={
            "binds": [f"{bound}:/config:ro", "appdata:/named"],
            "network_mode": "apps",
            "restart_policy": {"Name": "unless-stopped"},
            "port_bindings": {80: ("127.0.0.1", port)},
        },
        start=False,
    )
    client.api.connect_container_to_network(old_id, "back", aliases=["web-back"])
    client.api.start(old_id)
    original = configuration(client.api.inspect_container("web"))
    previous = await running_image(deployer, target(), repo.name)
    assert previous == repo.ref("1.0.0", first)

    moved = await deployer.deploy(target(), repo.ref("1.1.0", second))
    on_b = client.api.inspect_container("web")
    back = await deployer.deploy(target(), previous)

    assert moved.outcome is DeployOutcome.SUCCEEDED, moved.message
    assert "ONLY_B=1" in on_b["Config"]["Env"]
    assert on_b["Config"]["Labels"]["org.example.only-b"] == "1"
    assert back.outcome is DeployOutcome.SUCCEEDED, back.message
    assert configuration(client.api.inspect_container("web")) == original
    assert await running_image(deployer, target(), repo.name) == previous
