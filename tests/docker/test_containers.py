"""The container deployer against a real Docker engine pulling from a real docker-registry:
what it finds and reads, and what a deploy carries over to the new container.

Each test pushes its own images to one registry shared by the module (a repository unique to
the test), runs containers on the session's private engine (emptied after every test) and
asserts what ``docker inspect`` shows after the deploy. Rollbacks, health waits, swaps cut
short and refusals are in ``test_container_swaps``.
"""

from __future__ import annotations

import platform
from pathlib import Path

import docker
import docker.errors
import docker.types
import pytest

from deployers.base import DeployOutcome, Target
from deployers.containers import ContainerDeployer
from deployers.docker_engine import DockerSettings, Engine
from handlers.references import Aliases, ImageName
from receiver.decide.trust.platforms import normalise
from receiver.errors import DeployerUnavailable
from tests.support.components import free_port
from tests.support.docker_engine import DockerEngine
from tests.support.docker_workloads import (
    ENABLED,
    SECOND,
    Repository,
    container_deployer,
    discovered,
    execute,
    inspect,
    names,
    repository_in,
    run,
    running_image,
    target,
)


async def test_discover_finds_running_opted_in_containers_of_the_repository(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient, tmp_path: Path
) -> None:
    other = repository_in(repo.registry, client, tmp_path)
    first = await repo.push("1.0.0")
    await other.push("2.0.0")
    repo.pull("1.0.0")
    other.pull("2.0.0")
    image = repo.text("1.0.0")
    labels = {**ENABLED, "regdeploy.policy": "minor", "regdeploy.notify": "ops, chat,"}
    run(client, image, "web", labels=labels)
    run(client, repo.text("1.0.0", first), "api", labels={"regdeploy.enable": "TRUE"})
    run(client, image, "plain")
    run(client, image, "off", labels={"regdeploy.enable": "false"})
    run(client, other.text("2.0.0"), "other", labels=ENABLED)
    run(client, image, "created", labels=ENABLED, start=False)
    stopped = run(client, image, "stopped", labels=ENABLED)
    client.api.stop(stopped, timeout=0)

    found = await discovered(deployer, repo.name)

    assert sorted(found, key=lambda t: t.name) == [
        Target(kind="container", name="api"),
        Target(kind="container", name="web", policy="minor", notify=("ops", "chat")),
    ]
    assert await discovered(deployer, other.name) == [Target(kind="container", name="other")]


async def test_discover_leaves_swarm_task_containers_to_the_swarm_deployer(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    await repo.push("1.0.0")
    repo.pull("1.0.0")
    task_labels = {**ENABLED, "com.docker.swarm.service.id": "abc123"}
    run(client, repo.text("1.0.0"), "web.1.abc", labels=task_labels)

    assert await discovered(deployer, repo.name) == []


async def test_current_reads_tag_and_digest(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    first, second = await repo.push("1.0.0"), await repo.push("1.1.0")
    repo.pull("1.0.0")
    repo.pull(second)
    run(client, repo.text("1.0.0"), "by-tag")
    run(client, repo.text("1.1.0", second), "by-digest")
    elsewhere = ImageName(registry=repo.registry.host, repository="team/elsewhere")

    assert await running_image(deployer, target("by-tag"), repo.name) == repo.ref("1.0.0", first)
    running = await deployer.current(target("by-tag"), repo.name)
    assert running is not None and running.since is not None  # the container's creation
    assert await running_image(deployer, target("by-digest"), repo.name) == repo.ref(
        "1.1.0", second
    )
    assert await running_image(deployer, target("by-tag"), elsewhere) is None
    assert await running_image(deployer, target("missing"), repo.name) is None


async def test_platforms_are_the_engines_own(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    await repo.push("1.0.0")
    repo.pull("1.0.0")
    run(client, repo.text("1.0.0"), "web")
    here = {normalise("linux", platform.machine()): 1}

    assert await deployer.platforms(target("web")) == here
    assert await deployer.platforms(target("missing")) == here  # it would run there too


async def test_platforms_of_an_engine_away_are_unavailable() -> None:
    engine = Engine(DockerSettings(host=f"tcp://127.0.0.1:{free_port()}", timeout_seconds=2))
    deployer = ContainerDeployer(engine=engine, aliases=Aliases.from_groups(()))
    try:
        with pytest.raises(DeployerUnavailable, match="did not answer") as caught:
            await deployer.platforms(target("web"))
    finally:
        deployer.close()
    assert caught.value.kind == "container"


async def test_deploying_the_running_digest_changes_nothing(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    first = await repo.push("1.0.0")
    repo.pull("1.0.0")
    before = run(client, repo.text("1.0.0"), "web")

    result = await deployer.deploy(target(), repo.ref("1.0.0", first))

    assert result.outcome is DeployOutcome.SUCCEEDED
    assert "already runs" in result.message
    assert names(client) == ["web"]
    assert client.api.inspect_container("web")["Id"] == before


async def test_a_deploy_keeps_the_configuration(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient, tmp_path: Path
) -> None:
    second = await repo.push_update()
    for network in ("front", "back"):
        client.networks.create(network, driver="bridge")
    bound = tmp_path / "bound"
    bound.mkdir()
    port = free_port()
    healthcheck = {"test": ["CMD-SHELL", "true"], "interval": SECOND // 2, "retries": 2}
    old_id = run(
        client,
        repo.text("1.0.0"),
        "web",
        environment={"OPERATOR": "set"},
        labels={**ENABLED, "team": "core"},
        volumes=["/data"],
        hostname="apphost",
        working_dir="/srv",
        user="1000",
        ports=[80],
        healthcheck=healthcheck,
        networking_config=client.api.create_networking_config(
            {"front": client.api.create_endpoint_config(aliases=["web-front"])}
        ),
        host={
            "binds": [f"{bound}:/config:ro", "appdata:/named"],
            "network_mode": "front",
            "restart_policy": {"Name": "unless-stopped"},
            "mem_limit": "64m",
            "port_bindings": {80: ("127.0.0.1", port)},
            "log_config": docker.types.LogConfig(type="json-file", config={"max-size": "1m"}),
        },
        start=False,
    )
    client.api.connect_container_to_network(old_id, "back", aliases=["web-back"])
    client.api.start(old_id)
    execute(client, "web", "/bin/sh", "-c", "echo kept > /data/marker", user="0")
    old = client.api.inspect_container("web")

    result = await deployer.deploy(target(), repo.ref("1.1.0", second))

    assert result.outcome is DeployOutcome.SUCCEEDED, result.message
    new = client.api.inspect_container("web")
    assert new["Id"] != old_id
    assert new["State"]["Running"]
    assert new["State"]["Health"]["Status"] == "healthy"
    config, host = new["Config"], new["HostConfig"]
    assert config["Image"] == repo.text("1.1.0", second)
    assert "OPERATOR=set" in config["Env"]
    assert "VERSION=1.1.0" in config["Env"]
    assert "VERSION=1.0.0" not in config["Env"]
    assert config["Labels"] == {**ENABLED, "team": "core"}
    assert (config["Hostname"], config["WorkingDir"], config["User"]) == ("apphost", "/srv", "1000")
    assert config["Healthcheck"] == old["Config"]["Healthcheck"]
    assert config["Cmd"] == ["/bin/sleep", "infinity"]
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert host["Memory"] == 64 * 1024 * 1024
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert new["NetworkSettings"]["Ports"]["80/tcp"] == host["PortBindings"]["80/tcp"]
    mounts = {m["Destination"]: m for m in new["Mounts"]}
    old_mounts = {m["Destination"]: m for m in old["Mounts"]}
    assert mounts["/config"]["Source"] == str(bound)
    assert not mounts["/config"]["RW"]
    assert mounts["/named"]["Name"] == "appdata"
    assert mounts["/data"]["Name"] == old_mounts["/data"]["Name"]
    assert execute(client, "web", "/bin/busybox", "cat", "/data/marker") == "kept"
    networks = new["NetworkSettings"]["Networks"]
    assert sorted(networks) == ["back", "front"]
    assert "web-front" in networks["front"]["Aliases"]
    assert "web-back" in networks["back"]["Aliases"]
    assert old_id[:12] not in networks["front"]["Aliases"] + networks["back"]["Aliases"]
    assert inspect(client, old_id) is None
    assert names(client) == ["web"]


async def test_a_container_naming_a_registry_alias_keeps_that_spelling(
    docker_engine: DockerEngine, repo: Repository, client: docker.DockerClient
) -> None:
    first, second = await repo.push("1.0.0"), await repo.push("1.1.0")
    alias = f"localhost:{repo.registry.port}"
    written = f"{alias}/{repo.path}"
    client.api.pull(written, tag="1.0.0")
    run(client, f"{written}:1.0.0", "web", labels=ENABLED)
    aliases = Aliases.from_groups([(repo.registry.host, [alias])])
    with container_deployer(docker_engine, aliases=aliases) as deployer:
        assert await discovered(deployer, repo.name) == [target()]
        running = await running_image(deployer, target(), repo.name)
        assert running is not None
        assert (str(running.name), running.tag, running.digest) == (written, "1.0.0", first)
        result = await deployer.deploy(target(), repo.ref("1.1.0", second))

    assert result.outcome is DeployOutcome.SUCCEEDED, result.message
    assert client.api.inspect_container("web")["Config"]["Image"] == f"{written}:1.1.0@{second}"


async def test_an_anonymous_mount_keeps_its_data(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    """``--mount type=volume,target=/data`` names no volume either, like ``-v /data``: the
    replacement must get the old volume, not a new empty one."""
    second = await repo.push_update()
    anonymous = docker.types.Mount(target="/data", source=None, type="volume")
    run(client, repo.text("1.0.0"), "web", host={"mounts": [anonymous]})
    execute(client, "web", "/bin/sh", "-c", "echo kept > /data/marker")
    old_volume = client.api.inspect_container("web")["Mounts"][0]["Name"]

    result = await deployer.deploy(target(), repo.ref("1.1.0", second))

    assert result.outcome is DeployOutcome.SUCCEEDED, result.message
    assert client.api.inspect_container("web")["Mounts"][0]["Name"] == old_volume
    assert execute(client, "web", "/bin/busybox", "cat", "/data/marker") == "kept"


@pytest.mark.parametrize("shared", [False, True], ids=["alone", "shared"])
async def test_the_old_image_is_removed_unless_another_container_uses_it(
    docker_engine: DockerEngine, repo: Repository, client: docker.DockerClient, shared: bool
) -> None:
    second = await repo.push_update()
    run(client, repo.text("1.0.0"), "web")
    if shared:
        run(client, repo.text("1.0.0"), "sidecar")
    old_image = client.api.inspect_image(repo.text("1.0.0"))["Id"]
    with container_deployer(docker_engine, remove_old_image=True) as tidy:
        result = await tidy.deploy(target(), repo.ref("1.1.0", second))

    assert result.outcome is DeployOutcome.SUCCEEDED, result.message
    assert client.api.inspect_container("web")["Config"]["Image"] == repo.text("1.1.0", second)
    if shared:
        assert client.api.inspect_image(old_image)["Id"] == old_image
    else:
        with pytest.raises(docker.errors.ImageNotFound):
            client.api.inspect_image(old_image)
