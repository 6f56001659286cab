"""The Swarm deployer against the session's private engine (a one-node swarm) pulling from a
real docker-registry.

Each test pushes its own images (to a repository unique to the test), creates its services
through the SDK (the engine is emptied after every test) and asserts what ``docker service
inspect`` and the running tasks show. Services the test does not need running have 0
replicas. Busybox as PID 1 ignores SIGTERM, so services stop within their 1 s grace period;
with a 1 s monitor a rolling update takes a few seconds.
"""

from __future__ import annotations

import asyncio
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.types
import pytest
from structlog.testing import capture_logs

from deployers.base import DeployOutcome, DeployResult, Target
from deployers.docker_engine import DockerSettings, Engine, RegistryLogin, SwarmSettings
from deployers.swarm import SwarmDeployer
from handlers.references import Aliases, ImageName, ImageRef
from receiver.decide.trust.platforms import normalise
from tests.support.docker_engine import DockerEngine
from tests.support.docker_workloads import (
    ENABLED,
    SECOND,
    Repository,
    discovered,
    repository_in,
    running_image,
)
from tests.support.oci import build_index
from tests.support.polling import until
from tests.support.registry import Registry

SWARM = SwarmSettings(poll_seconds=0.3, rollout_timeout_seconds=60)
WAIT_SECONDS = 30.0
EXITS = ["/bin/sh", "-c", "exit 3"]
USER, PASSWORD = "deployer", "registry-password-0123"


@pytest.fixture(scope="module")
def private_registry(
    registry_tools: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """A registry that answers only HTTP Basic ``USER``/``PASSWORD``."""
    with Registry(tmp_path_factory.mktemp("private"), htpasswd=(USER, PASSWORD)) as started:
        yield started


def deployer_for(
    engine: DockerEngine, *, aliases: Aliases | None = None, **settings: Any
) -> SwarmDeployer:
    settings.setdefault("swarm", SWARM)
    return SwarmDeployer(
        engine=Engine(DockerSettings(host=engine.host, **settings)),
        aliases=aliases or Aliases.from_groups(()),
    )


@pytest.fixture
def deployer(docker_engine: DockerEngine) -> Iterator[SwarmDeployer]:
    made = deployer_for(docker_engine)
    yield made
    made.close()


def target(name: str = "web") -> Target:
    return Target(kind="swarm", name=name)


def make_service(
    client: docker.DockerClient,
    image: str,
    name: str = "web",
    *,
    labels: dict[str, str] | None = None,
    replicas: int = 1,
    **placement: Any,
) -> None:
    """A replicated service whose failed update Swarm pauses (1 s monitor, stop-first);
    ``placement``: ``constraints``, ``platforms`` (``(arch, os)`` pairs)."""
    client.services.create(
        image,
        name=name,
        labels=labels or {},
        **placement,
        mode=docker.types.ServiceMode("replicated", replicas=replicas),
        stop_grace_period=SECOND,
        update_config=docker.types.UpdateConfig(
            parallelism=1, failure_action="pause", monitor=SECOND, order="stop-first"
        ),
    )


def inspect(client: docker.DockerClient, name: str = "web") -> dict[str, Any]:
    service: dict[str, Any] = client.api.inspect_service(name)
    return service


def service_image(client: docker.DockerClient, name: str = "web") -> str:
    image: str = inspect(client, name)["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    return image


async def running_container(
    client: docker.DockerClient, image: str, service: str = "web"
) -> dict[str, Any]:
    """The container of the service's one task once it runs ``image``."""
    tasks: list[dict[str, Any]] = []

    async def container() -> dict[str, Any] | None:
        tasks[:] = await asyncio.to_thread(
            client.api.tasks, filters={"service": service, "desired-state": "running"}
        )
        running = [
            t
            for t in tasks
            if t["Status"]["State"] == "running" and t["Spec"]["ContainerSpec"]["Image"] == image
        ]
        if len(tasks) == 1 and running:
            container_id = running[0]["Status"]["ContainerStatus"]["ContainerID"]
            found: dict[str, Any] = client.api.inspect_container(container_id)
            return found
        return None

    return await until(
        f"service {service} runs {image}",
        container,
        seconds=WAIT_SECONDS,
        interval=0.2,
        explain=lambda: f"its tasks: {tasks}",
    )


async def test_discover_finds_opted_in_services_of_the_repository(
    deployer: SwarmDeployer,
    docker_engine: DockerEngine,
    client: docker.DockerClient,
    repo: Repository,
    tmp_path: Path,
) -> None:
    other = repository_in(repo.registry, client, tmp_path)
    image = repo.text("1.0.0", "sha256:" + "a" * 64)
    labels = {**ENABLED, "regdeploy.policy": "minor", "regdeploy.notify": "a, b"}
    make_service(client, image, "web", labels=labels, replicas=0)
    make_service(client, repo.text("1.0.0"), "api", labels={"regdeploy.enable": "TRUE"}, replicas=0)
    make_service(client, image, "plain", replicas=0)
    make_service(client, image, "off", labels={"regdeploy.enable": "false"}, replicas=0)
    make_service(client, other.text("1.0.0"), "other", labels=ENABLED, replicas=0)
    make_service(client, image, "acme", labels={"acme.deploy": "true"}, replicas=0)

    found = await discovered(deployer, repo.name)

    assert sorted(found, key=lambda t: t.name) == [
        Target(kind="swarm", name="api"),
        Target(kind="swarm", name="web", policy="minor", notify=("a", "b")),
    ]
    assert await discovered(deployer, other.name) == [Target(kind="swarm", name="other")]
    acme = deployer_for(docker_engine, opt_in_label="acme.deploy")
    try:
        assert await discovered(acme, repo.name) == [Target(kind="swarm", name="acme")]
    finally:
        acme.close()


async def test_current_reads_tag_and_digest(
    deployer: SwarmDeployer, client: docker.DockerClient, repo: Repository, tmp_path: Path
) -> None:
    digest = "sha256:" + "b" * 64
    other = repository_in(repo.registry, client, tmp_path)
    make_service(client, repo.text("1.0.0", digest), "web", replicas=0)
    make_service(client, other.text("1.0.0", digest), "other", replicas=0)

    assert await running_image(deployer, target(), repo.name) == repo.ref("1.0.0", digest)
    running = await deployer.current(target(), repo.name)
    assert running is not None and running.since is not None  # the service's last update
    assert await running_image(deployer, target("other"), repo.name) is None
    assert await running_image(deployer, target("missing"), repo.name) is None


async def test_a_change_made_between_read_and_update_is_a_conflict_and_is_kept(
    deployer: SwarmDeployer,
    client: docker.DockerClient,
    repo: Repository,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = await repo.push("1.0.0")
    second = await repo.push("1.1.0")
    make_service(client, repo.text("1.0.0", first), labels=ENABLED)
    await running_container(client, repo.text("1.0.0", first))
    changed = {**ENABLED, "team": "payments"}
    read = deployer._inspect
    reads = 0

    async def read_then_someone_changes_it(of: Target) -> dict[str, Any]:
        nonlocal reads
        service = await read(of)
        reads += 1
        if reads == 1:  # the deployer has read the spec: now someone else updates it
            await asyncio.to_thread(
                client.api.update_service,
                service["ID"],
                service["Version"]["Index"],
                labels=changed,
                fetch_current_spec=True,
            )
        return service

    monkeypatch.setattr(deployer, "_inspect", read_then_someone_changes_it)

    result = await deployer.deploy(target(), repo.ref("1.1.0", second))

    assert result.outcome is DeployOutcome.CONFLICT
    assert "update out of sequence" in result.message
    assert inspect(client)["Spec"]["Labels"] == changed
    assert service_image(client) == repo.text("1.0.0", first)

    again = await deployer.deploy(target(), repo.ref("1.1.0", second))

    assert again.outcome is DeployOutcome.SUCCEEDED, again
    assert inspect(client)["Spec"]["Labels"] == changed
    assert service_image(client) == repo.text("1.1.0", second)
    container = await running_container(client, repo.text("1.1.0", second))
    assert "VERSION=1.1.0" in container["Config"]["Env"]


async def test_deploying_the_digest_the_spec_has_changes_nothing(
    deployer: SwarmDeployer, client: docker.DockerClient, repo: Repository
) -> None:
    digest = "sha256:" + "c" * 64
    make_service(client, repo.text("1.0.0", digest), labels=ENABLED, replicas=0)
    version = inspect(client)["Version"]["Index"]

    result = await deployer.deploy(target(), repo.ref("1.0.0", digest))

    assert result.outcome is DeployOutcome.SUCCEEDED
    assert result.message.startswith("already runs")
    assert inspect(client)["Version"]["Index"] == version


async def test_a_service_scaled_to_zero_is_updated_at_once(
    docker_engine: DockerEngine, client: docker.DockerClient, repo: Repository
) -> None:
    first, second = "sha256:" + "d" * 64, "sha256:" + "e" * 64
    make_service(client, repo.text("1.0.0", first), labels=ENABLED, replicas=0)
    # Swarm sets no UpdateStatus for a service without tasks: success must not wait for it.
    deployer = deployer_for(
        docker_engine, swarm=SwarmSettings(poll_seconds=0.3, rollout_timeout_seconds=3)
    )
    try:
        result = await deployer.deploy(target(), repo.ref("1.1.0", second))
    finally:
        deployer.close()

    assert service_image(client) == repo.text("1.1.0", second)
    assert inspect(client).get("UpdateStatus") is None
    assert result.outcome is DeployOutcome.SUCCEEDED, result
    assert result.message == "no task to update"


async def test_an_update_swarm_pauses_fails_for_good(
    deployer: SwarmDeployer, client: docker.DockerClient, repo: Repository
) -> None:
    first = await repo.push("1.0.0")
    bad = await repo.push("1.1.0", cmd=EXITS)
    make_service(client, repo.text("1.0.0", first), labels=ENABLED)
    await running_container(client, repo.text("1.0.0", first))

    result = await deployer.deploy(target(), repo.ref("1.1.0", bad))

    assert result.outcome is DeployOutcome.FAILED
    assert result.retryable is False
    assert result.message.startswith("Swarm paused the update"), result.message
    assert inspect(client)["UpdateStatus"]["State"] == "paused"


async def deploy_from_private_registry(
    deployer: SwarmDeployer, client: docker.DockerClient, repo: Repository
) -> tuple[DeployResult, str]:
    """Run a service on an image pulled with credentials, then deploy an image the engine
    never pulled; returns the result and the deployed image as the service spells it."""
    first = await repo.push("1.0.0")
    second = await repo.push("1.1.0")
    auth = {"username": USER, "password": PASSWORD}
    await asyncio.to_thread(client.images.pull, str(repo.name), tag="1.0.0", auth_config=auth)
    # The node finds the image pinned by digest locally and runs it without pulling.
    make_service(client, repo.text("1.0.0", first), labels=ENABLED)
    await running_container(client, repo.text("1.0.0", first))
    result = await deployer.deploy(target(), repo.ref("1.1.0", second))
    return result, repo.text("1.1.0", second)


async def test_configured_registry_credentials_reach_the_node(
    docker_engine: DockerEngine,
    client: docker.DockerClient,
    private_registry: Registry,
    tmp_path: Path,
) -> None:
    repo = repository_in(private_registry, client, tmp_path)
    login = RegistryLogin(username=USER, password=PASSWORD)
    deployer = deployer_for(docker_engine, logins={private_registry.host: login})
    try:
        result, image = await deploy_from_private_registry(deployer, client, repo)
    finally:
        deployer.close()

    assert result.outcome is DeployOutcome.SUCCEEDED, result
    assert service_image(client) == image
    container = await running_container(client, image)
    assert "VERSION=1.1.0" in container["Config"]["Env"]


async def test_without_credentials_the_node_cannot_pull(
    docker_engine: DockerEngine,
    client: docker.DockerClient,
    private_registry: Registry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With an empty auth store the SDK reloads ~/.docker/config.json (or $DOCKER_CONFIG's) on
    # every update: make sure there is none, so the update carries no credentials at all.
    for variable in ("HOME", "DOCKER_CONFIG"):
        empty = tmp_path / variable.lower()
        empty.mkdir()
        monkeypatch.setenv(variable, str(empty))
    repo = repository_in(private_registry, client, tmp_path)
    deployer = deployer_for(docker_engine)
    try:
        result, image = await deploy_from_private_registry(deployer, client, repo)
    finally:
        deployer.close()

    assert result.outcome is DeployOutcome.FAILED
    assert result.retryable is False
    assert result.message.startswith("Swarm paused the update"), result.message
    errors = [t["Status"].get("Err") or "" for t in client.api.tasks(filters={"service": "web"})]
    assert f"No such image: {image}" in errors


async def test_a_missing_service_fails_for_good(
    deployer: SwarmDeployer, client: docker.DockerClient, repo: Repository, tmp_path: Path
) -> None:
    result = await deployer.deploy(target("missing"), repo.ref("1.0.0", "sha256:" + "f" * 64))

    assert result.outcome is DeployOutcome.FAILED
    assert result.retryable is False
    assert "no Swarm service" in result.message

    other = repository_in(repo.registry, client, tmp_path)
    make_service(client, other.text("1.0.0"), "other", labels=ENABLED, replicas=0)
    result = await deployer.deploy(target("other"), repo.ref("1.0.0", "sha256:" + "f" * 64))

    assert result.outcome is DeployOutcome.FAILED
    assert result.retryable is False
    assert result.message == f"service other runs no image of {repo.name}"


async def test_the_service_keeps_its_own_registry_spelling(
    docker_engine: DockerEngine, client: docker.DockerClient, repo: Repository
) -> None:
    canonical = ImageName(registry="registry.internal:5000", repository=repo.path)
    aliases = Aliases.from_groups([("registry.internal:5000", [repo.registry.host])])
    first = await repo.push("1.0.0")
    second = await repo.push("1.1.0")
    make_service(client, repo.text("1.0.0", first), labels=ENABLED)
    await running_container(client, repo.text("1.0.0", first))
    deployer = deployer_for(docker_engine, aliases=aliases)
    try:
        assert await discovered(deployer, canonical) == [target()]
        assert await running_image(deployer, target(), canonical) == repo.ref("1.0.0", first)
        result = await deployer.deploy(
            target(), ImageRef(name=canonical, tag="1.1.0", digest=second)
        )
    finally:
        deployer.close()

    assert result.outcome is DeployOutcome.SUCCEEDED, result
    assert service_image(client) == f"{repo.registry.host}/{repo.path}:1.1.0@{second}"
    container = await running_container(client, repo.text("1.1.0", second))
    assert "VERSION=1.1.0" in container["Config"]["Env"]


def placement_platforms(client: docker.DockerClient) -> list[dict[str, str]] | None:
    platforms: list[dict[str, str]] | None = (
        inspect(client)["Spec"]["TaskTemplate"].get("Placement") or {}
    ).get("Platforms")
    return platforms


# (placement constraints, whether the engine's one node satisfies them)
CONSTRAINTS = [
    ([], True),
    (["node.role==manager", "node.platform.os==linux"], True),
    ([f"node.platform.arch=={platform.machine()}"], True),
    (["node.role==worker"], False),
    (["node.labels.zone==eu-1"], False),
    (["node.platform.os!=linux"], False),
]


@pytest.mark.parametrize(("constraints", "placed"), CONSTRAINTS)
async def test_platforms_count_the_nodes_the_service_can_be_placed_on(
    deployer: SwarmDeployer,
    client: docker.DockerClient,
    repo: Repository,
    constraints: list[str],
    placed: bool,
) -> None:
    image = repo.text("1.0.0", "sha256:" + "a" * 64)
    make_service(client, image, replicas=0, constraints=constraints)

    platforms = await deployer.platforms(target())

    assert platforms == ({normalise("linux", platform.machine()): 1} if placed else {})
    assert await deployer.platforms(target("missing")) == {}


async def test_a_deploy_of_a_multi_platform_image_places_it_on_those_platforms(
    deployer: SwarmDeployer, client: docker.DockerClient, repo: Repository
) -> None:
    first = await repo.push("1.0.0")
    index = build_index(repo.layout, tag="2.0.0", platforms=("amd64", "arm64"))
    await asyncio.to_thread(repo.registry.push, repo.layout, "2.0.0", repo.path)
    make_service(client, repo.text("1.0.0", first), labels=ENABLED)
    await running_container(client, repo.text("1.0.0", first))
    assert placement_platforms(client) is None  # the SDK asks the registry nothing

    result = await deployer.deploy(target(), repo.ref("2.0.0", index))

    assert result.outcome is DeployOutcome.SUCCEEDED, result
    assert placement_platforms(client) == [
        {"Architecture": "amd64", "OS": "linux"},
        {"Architecture": "arm64", "OS": "linux"},
    ]
    await running_container(client, repo.text("2.0.0", index))


async def test_platforms_the_engine_cannot_read_stay_as_they_are(
    deployer: SwarmDeployer, client: docker.DockerClient, repo: Repository
) -> None:
    own = [("amd64", "linux")]
    make_service(client, repo.text("1.0.0", "sha256:" + "b" * 64), replicas=0, platforms=own)
    absent = "sha256:" + "c" * 64  # never pushed: the registry knows no such manifest

    with capture_logs() as logs:
        result = await deployer.deploy(target(), repo.ref("1.1.0", absent))

    assert result.outcome is DeployOutcome.SUCCEEDED, result
    assert service_image(client) == repo.text("1.1.0", absent)
    assert placement_platforms(client) == [{"Architecture": "amd64", "OS": "linux"}]
    [warning] = [e for e in logs if e["event"] == "swarm_platforms_unknown"]
    assert warning["log_level"] == "warning" and warning["image"] == repo.text("1.1.0", absent)
