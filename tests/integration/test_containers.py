"""The container deployer against a real Docker engine pulling from a real docker-registry.

Each test pushes its own images to one registry shared by the module (a repository unique to
the test), runs containers on the session's private engine (emptied after every test) and
asserts what ``docker inspect`` shows after the deploy. Busybox as PID 1 ignores SIGTERM, so
every stop takes the configured 1 s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
import pytest

from deployers.base import DeployResult, Outcome, Target
from deployers.containers import ASIDE_SUFFIX, ContainerDeployer
from deployers.docker_engine import ContainerSettings, DockerSettings, Engine
from handlers.references import Aliases, ImageName, ImageRef
from tests.components import free_port, require_binary
from tests.e2e.docker_engine import DockerEngine
from tests.e2e.oci import build_image
from tests.e2e.registry import Registry

pytestmark = pytest.mark.e2e

SETTINGS = ContainerSettings(
    grace_seconds=2, stop_timeout_seconds=1, poll_seconds=0.2, health_timeout_seconds=20
)
ENABLED = {"regdeploy.enable": "true"}
SECOND = 1_000_000_000  # healthcheck durations are in nanoseconds
# The old image leaves /ok behind, which the healthcheck below looks for.
MAKES_OK = ["/bin/sh", "-c", ": > /ok; exec sleep infinity"]
CHECKS_OK = {
    "test": ["CMD-SHELL", "test -f /ok"],
    "interval": SECOND // 2,
    "timeout": 2 * SECOND,
    "retries": 2,
}
EXITS = ["/bin/sh", "-c", "echo boom >&2; exit 3"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    for tool in ("docker-registry", "skopeo", "busybox"):
        require_binary(tool)
    started = Registry(tmp_path_factory.mktemp("registry")).start()
    yield started
    started.stop()


@pytest.fixture
def client(docker_engine: DockerEngine) -> Iterator[docker.DockerClient]:
    opened = docker_engine.client()
    yield opened
    opened.close()


@dataclass
class Repository:
    """A repository on the test registry, unique to one test: pushes images and pulls them
    into the engine."""

    registry: Registry
    client: docker.DockerClient
    layout: Path
    path: str

    @property
    def name(self) -> ImageName:
        return ImageName(registry=self.registry.host, repository=self.path)

    def ref(self, tag: str, digest: str | None = None) -> ImageRef:
        return ImageRef(name=self.name, tag=tag, digest=digest)

    def text(self, tag: str, digest: str | None = None) -> str:
        return str(self.ref(tag, digest))

    async def push(self, tag: str, *, cmd: list[str] | None = None) -> str:
        """Build and push ``tag`` (its ``VERSION`` env is the tag); returns its digest."""
        env = {"REPOSITORY": self.path, "VERSION": tag}
        digest = build_image(self.layout, tag=tag, env=env, cmd=cmd)
        await asyncio.to_thread(self.registry.push, self.layout, tag, self.path)
        return digest

    def pull(self, tag_or_digest: str) -> None:
        self.client.api.pull(str(self.name), tag=tag_or_digest)


def repository_in(registry: Registry, client: docker.DockerClient, tmp_path: Path) -> Repository:
    return Repository(
        registry=registry,
        client=client,
        layout=tmp_path / f"layout-{uuid.uuid4().hex[:6]}",
        path=f"team/app-{uuid.uuid4().hex[:8]}",
    )


@pytest.fixture
def repo(registry: Registry, client: docker.DockerClient, tmp_path: Path) -> Repository:
    return repository_in(registry, client, tmp_path)


def deployer_for(engine: DockerEngine, **settings: Any) -> ContainerDeployer:
    containers = dataclasses.replace(SETTINGS, **settings)
    return ContainerDeployer(
        engine=Engine(DockerSettings(host=engine.host, containers=containers)),
        aliases=Aliases.from_groups(()),
    )


@pytest.fixture
def deployer(docker_engine: DockerEngine) -> Iterator[ContainerDeployer]:
    made = deployer_for(docker_engine)
    yield made
    made.close()


def run(
    client: docker.DockerClient,
    image: str,
    name: str,
    *,
    start: bool = True,
    host: dict[str, Any] | None = None,
    **create: Any,
) -> str:
    """Create (and start) a container the way ``docker run`` does; returns its Id."""
    created = client.api.create_container(
        image, name=name, host_config=client.api.create_host_config(**(host or {})), **create
    )
    container_id: str = created["Id"]
    if start:
        client.api.start(container_id)
    return container_id


def inspect(client: docker.DockerClient, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = client.api.inspect_container(name)
    except docker.errors.NotFound:
        return None
    return found


def names(client: docker.DockerClient) -> list[str]:
    return sorted(c["Names"][0].lstrip("/") for c in client.api.containers(all=True))


def execute(client: docker.DockerClient, name: str, *command: str, user: str = "") -> str:
    exec_id = client.api.exec_create(name, list(command), user=user)
    output: bytes = client.api.exec_start(exec_id)
    return output.decode().strip()


def target(name: str = "web") -> Target:
    return Target(kind="container", name=name)


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

    found = await deployer.discover(repo.name)

    assert sorted(found, key=lambda t: t.name) == [
        Target(kind="container", name="api"),
        Target(kind="container", name="web", policy="minor", notify=("ops", "chat")),
    ]
    assert await deployer.discover(other.name) == [Target(kind="container", name="other")]


async def test_discover_leaves_swarm_task_containers_to_the_swarm_deployer(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    await repo.push("1.0.0")
    repo.pull("1.0.0")
    task_labels = {**ENABLED, "com.docker.swarm.service.id": "abc123"}
    run(client, repo.text("1.0.0"), "web.1.abc", labels=task_labels)

    assert await deployer.discover(repo.name) == []


async def test_current_reads_tag_and_digest(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    first, second = await repo.push("1.0.0"), await repo.push("1.1.0")
    repo.pull("1.0.0")
    repo.pull(second)
    run(client, repo.text("1.0.0"), "by-tag")
    run(client, repo.text("1.1.0", second), "by-digest")
    elsewhere = ImageName(registry=repo.registry.host, repository="team/elsewhere")

    assert await deployer.current(target("by-tag"), repo.name) == repo.ref("1.0.0", first)
    assert await deployer.current(target("by-digest"), repo.name) == repo.ref("1.1.0", second)
    assert await deployer.current(target("by-tag"), elsewhere) is None
    assert await deployer.current(target("missing"), repo.name) is None


async def test_deploying_the_running_digest_changes_nothing(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    first = await repo.push("1.0.0")
    repo.pull("1.0.0")
    before = run(client, repo.text("1.0.0"), "web")

    result = await deployer.deploy(target(), repo.ref("1.0.0", first))

    assert result.outcome is Outcome.SUCCEEDED
    assert "already runs" in result.message
    assert names(client) == ["web"]
    assert client.api.inspect_container("web")["Id"] == before


async def test_a_deploy_keeps_the_configuration(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient, tmp_path: Path
) -> None:
    await repo.push("1.0.0")
    second = await repo.push("1.1.0")
    repo.pull("1.0.0")
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

    assert result.outcome is Outcome.SUCCEEDED, result.message
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
    deployer = deployer_for(docker_engine)
    deployer.aliases = Aliases.from_groups([(repo.registry.host, [alias])])
    try:
        assert await deployer.discover(repo.name) == [target()]
        running = await deployer.current(target(), repo.name)
        assert running is not None
        assert (str(running.name), running.tag, running.digest) == (written, "1.0.0", first)
        result = await deployer.deploy(target(), repo.ref("1.1.0", second))
    finally:
        deployer.close()

    assert result.outcome is Outcome.SUCCEEDED, result.message
    assert client.api.inspect_container("web")["Config"]["Image"] == f"{written}:1.1.0@{second}"


async def test_an_anonymous_mount_keeps_its_data(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    """``--mount type=volume,target=/data`` names no volume either, like ``-v /data``: the
    replacement must get the old volume, not a new empty one."""
    await repo.push("1.0.0")
    second = await repo.push("1.1.0")
    repo.pull("1.0.0")
    anonymous = docker.types.Mount(target="/data", source=None, type="volume")
    run(client, repo.text("1.0.0"), "web", host={"mounts": [anonymous]})
    execute(client, "web", "/bin/sh", "-c", "echo kept > /data/marker")
    old_volume = client.api.inspect_container("web")["Mounts"][0]["Name"]

    result = await deployer.deploy(target(), repo.ref("1.1.0", second))

    assert result.outcome is Outcome.SUCCEEDED, result.message
    assert client.api.inspect_container("web")["Mounts"][0]["Name"] == old_volume
    assert execute(client, "web", "/bin/busybox", "cat", "/data/marker") == "kept"


def assert_rolled_back(
    client: docker.DockerClient, result: DeployResult, old_id: str, *phrases: str
) -> None:
    assert result.outcome is Outcome.ROLLED_BACK, result.message
    assert not result.retryable
    for phrase in phrases:
        assert phrase in result.message
    assert names(client) == ["web"]
    back = client.api.inspect_container("web")
    assert back["Id"] == old_id
    assert back["State"]["Running"]


@pytest.mark.parametrize("restart", [None, "always"])
async def test_a_new_container_that_exits_is_rolled_back(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient, restart: str | None
) -> None:
    await repo.push("1.0.0")
    broken = await repo.push("1.1.0", cmd=EXITS)
    repo.pull("1.0.0")
    host = {"restart_policy": {"Name": restart}} if restart else {}
    old_id = run(client, repo.text("1.0.0"), "web", host=host)

    result = await deployer.deploy(target(), repo.ref("1.1.0", broken))

    # Under a restart policy the engine restarts the new container: caught by its restarts.
    phrases = ("exited with code 3", "boom") + ((" restarts)",) if restart else ())
    assert_rolled_back(client, result, old_id, *phrases)


async def test_a_crash_seen_after_a_restart_reports_its_exit_code(
    docker_engine: DockerEngine, repo: Repository, client: docker.DockerClient
) -> None:
    """A restart resets State.ExitCode to 0: the code must come from the crash itself."""
    await repo.push("1.0.0")
    # Crashes once after 0.3 s, then runs: the engine restarts it 0.1 s after the crash, long
    # before the deployer's second look at 1 s.
    once = "[ -f /ran ] && exec sleep infinity; : > /ran; echo boom >&2; sleep 0.3; exit 3"
    broken = await repo.push("1.1.0", cmd=["/bin/sh", "-c", once])
    repo.pull("1.0.0")
    old_id = run(client, repo.text("1.0.0"), "web", host={"restart_policy": {"Name": "always"}})
    slow = deployer_for(docker_engine, poll_seconds=1.0)
    try:
        result = await slow.deploy(target(), repo.ref("1.1.0", broken))
    finally:
        slow.close()

    assert_rolled_back(client, result, old_id, "boom", "exited with code 3")


async def test_a_failing_healthcheck_is_rolled_back(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    await repo.push("1.0.0", cmd=MAKES_OK)
    unhealthy = await repo.push("1.1.0")
    repo.pull("1.0.0")
    old_id = run(client, repo.text("1.0.0"), "web", healthcheck=CHECKS_OK)

    result = await deployer.deploy(target(), repo.ref("1.1.0", unhealthy))

    assert_rolled_back(client, result, old_id, "healthcheck")


async def test_a_passing_healthcheck_ends_the_wait_before_the_grace_period(
    docker_engine: DockerEngine, repo: Repository, client: docker.DockerClient
) -> None:
    await repo.push("1.0.0", cmd=MAKES_OK)
    healthy = await repo.push("1.1.0", cmd=MAKES_OK)
    repo.pull("1.0.0")
    run(client, repo.text("1.0.0"), "web", healthcheck=CHECKS_OK)
    patient = deployer_for(docker_engine, grace_seconds=60)
    started = time.monotonic()
    try:
        result = await patient.deploy(target(), repo.ref("1.1.0", healthy))
    finally:
        patient.close()

    assert result.outcome is Outcome.SUCCEEDED, result.message
    assert time.monotonic() - started < 15
    new = client.api.inspect_container("web")
    assert new["Config"]["Image"] == repo.text("1.1.0", healthy)
    assert new["State"]["Health"]["Status"] == "healthy"
    assert names(client) == ["web"]


class _Recorder:
    """The engine's API client, noting the name and arguments of each method called."""

    def __init__(self, api: Any, calls: list[tuple[str, tuple[Any, ...]]]) -> None:
        self._api, self._calls = api, calls

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._api, name)

        def recorded(*args: Any, **kwargs: Any) -> Any:
            self._calls.append((name, args))
            return method(*args, **kwargs)

        return recorded


class CutShort:
    """Stands in for ``Engine.call``: records the API calls and, once ``stop_after`` holds
    for the names called so far, parks the deploy where the test cancels it, as a kill of
    regdeploy would leave the engine."""

    def __init__(
        self, engine: Engine, stop_after: Callable[[list[str]], bool] | None = None
    ) -> None:
        self._call = engine.call
        self.stop_after = stop_after
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.parked = asyncio.Event()

    async def call(self, fn: Callable[[Any], Any]) -> Any:
        result = await self._call(lambda api: fn(_Recorder(api, self.calls)))
        if self.stop_after is not None and self.stop_after([name for name, _ in self.calls]):
            self.parked.set()
            await asyncio.Future()  # never done: cancelled here
        return result

    @classmethod
    def install(
        cls,
        deployer: ContainerDeployer,
        monkeypatch: pytest.MonkeyPatch,
        stop_after: Callable[[list[str]], bool] | None = None,
    ) -> CutShort:
        cut = cls(deployer.engine, stop_after)
        monkeypatch.setattr(deployer.engine, "call", cut.call)
        return cut


CUT_POINTS: dict[str, Callable[[list[str]], bool]] = {
    "after-rename": lambda calls: calls[-1] == "rename",
    "after-create": lambda calls: calls[-1] == "create_container_from_config",
    "in-health-wait": lambda calls: "start" in calls and calls[-1] == "inspect_container",
}


async def cut_short(
    deployer: ContainerDeployer, monkeypatch: pytest.MonkeyPatch, point: str, image: ImageRef
) -> None:
    """Start a deploy, cancel it at ``point`` and wait for the cancellation."""
    cut = CutShort.install(deployer, monkeypatch, CUT_POINTS[point])
    task = asyncio.create_task(deployer.deploy(target(), image))
    parked = asyncio.create_task(cut.parked.wait())
    await asyncio.wait([task, parked], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    assert cut.parked.is_set(), f"the deploy never reached {point}: {task}"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def swap_cut_short(
    deployer: ContainerDeployer,
    repo: Repository,
    client: docker.DockerClient,
    monkeypatch: pytest.MonkeyPatch,
    point: str,
) -> tuple[str, str, str]:
    """``web`` on 1.0.0, a deploy of 1.1.0 cut short at ``point``; checks what the engine is
    left with and returns (old Id, first digest, second digest)."""
    first, second = await repo.push("1.0.0"), await repo.push("1.1.0")
    repo.pull("1.0.0")
    # On a user network: the test engine runs without a default bridge (--bridge=none), and
    # there a container on the default network that was stopped and started again cannot be
    # renamed while it runs ("sandbox ... not found"); engines with a bridge rename it fine.
    client.networks.create("apps", driver="bridge")
    old_id = run(client, repo.text("1.0.0"), "web", labels=ENABLED, host={"network_mode": "apps"})

    await cut_short(deployer, monkeypatch, point, repo.ref("1.1.0", second))

    aside = client.api.inspect_container("web" + ASIDE_SUFFIX)
    assert aside["Id"] == old_id
    assert aside["State"]["Running"] is (point != "in-health-wait")
    holder = inspect(client, "web")
    if point == "after-rename":
        assert holder is None
    else:
        assert holder is not None
        assert holder["Config"]["Image"] == repo.text("1.1.0", second)
        assert holder["State"]["Running"] is (point == "in-health-wait")
    return old_id, first, second


@pytest.mark.parametrize("point", list(CUT_POINTS))
async def test_the_next_deploy_repairs_a_swap_cut_short(
    docker_engine: DockerEngine,
    deployer: ContainerDeployer,
    repo: Repository,
    client: docker.DockerClient,
    monkeypatch: pytest.MonkeyPatch,
    point: str,
) -> None:
    old_id, _, second = await swap_cut_short(deployer, repo, client, monkeypatch, point)
    restarted = deployer_for(docker_engine)
    recorded = CutShort.install(restarted, monkeypatch)
    try:
        # Seen once, under its own name, whichever of its two containers runs now.
        assert await restarted.discover(repo.name) == [target()]
        result = await restarted.deploy(target(), repo.ref("1.1.0", second))
    finally:
        restarted.close()

    assert result.outcome is Outcome.SUCCEEDED, result.message
    renames = [args for name, args in recorded.calls if name == "rename"]
    assert renames[:2] == [(old_id, "web"), (old_id, "web" + ASIDE_SUFFIX)]
    assert names(client) == ["web"]
    new = client.api.inspect_container("web")
    assert new["Id"] != old_id
    assert new["State"]["Running"]
    assert new["Config"]["Image"] == repo.text("1.1.0", second)


@pytest.mark.parametrize(
    "point",
    [
        "after-rename",
        "after-create",
        "in-health-wait",
    ],
)
async def test_current_reports_the_old_image_while_a_swap_is_cut_short(
    docker_engine: DockerEngine,
    deployer: ContainerDeployer,
    repo: Repository,
    client: docker.DockerClient,
    monkeypatch: pytest.MonkeyPatch,
    point: str,
) -> None:
    _, first, _ = await swap_cut_short(deployer, repo, client, monkeypatch, point)
    restarted = deployer_for(docker_engine)
    try:
        assert await restarted.current(target(), repo.name) == repo.ref("1.0.0", first)
    finally:
        restarted.close()


async def test_repair_puts_the_old_container_back(
    docker_engine: DockerEngine,
    deployer: ContainerDeployer,
    repo: Repository,
    client: docker.DockerClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old_id, _, _ = await swap_cut_short(deployer, repo, client, monkeypatch, "in-health-wait")
    restarted = deployer_for(docker_engine)
    try:
        assert await restarted.repair("web") is True
        assert names(client) == ["web"]
        back = client.api.inspect_container("web")
        assert back["Id"] == old_id
        assert back["State"]["Running"]
        assert await restarted.repair("web") is False
        assert await restarted.repair("missing") is False
    finally:
        restarted.close()
    assert client.api.inspect_container("web")["Id"] == old_id


async def test_a_container_removed_on_stop_is_refused(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    await repo.push("1.0.0")
    second = await repo.push("1.1.0")
    repo.pull("1.0.0")
    old_id = run(client, repo.text("1.0.0"), "web", host={"auto_remove": True})

    result = await deployer.deploy(target(), repo.ref("1.1.0", second))

    assert result.outcome is Outcome.FAILED
    assert not result.retryable
    assert "--rm" in result.message
    assert names(client) == ["web"]
    untouched = client.api.inspect_container("web")
    assert untouched["Id"] == old_id
    assert untouched["State"]["Running"]
    assert untouched["Config"]["Image"] == repo.text("1.0.0")


async def test_an_image_the_registry_lacks_fails_and_leaves_the_container(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    await repo.push("1.0.0")
    repo.pull("1.0.0")
    old_id = run(client, repo.text("1.0.0"), "web")
    absent = "sha256:" + "0" * 64

    result = await deployer.deploy(target(), repo.ref("1.1.0", absent))

    assert result.outcome is Outcome.FAILED
    assert result.retryable
    assert "could not pull" in result.message
    assert names(client) == ["web"]
    assert client.api.inspect_container("web")["Id"] == old_id


@pytest.mark.parametrize("shared", [False, True], ids=["alone", "shared"])
async def test_the_old_image_is_removed_unless_another_container_uses_it(
    docker_engine: DockerEngine, repo: Repository, client: docker.DockerClient, shared: bool
) -> None:
    await repo.push("1.0.0")
    second = await repo.push("1.1.0")
    repo.pull("1.0.0")
    run(client, repo.text("1.0.0"), "web")
    if shared:
        run(client, repo.text("1.0.0"), "sidecar")
    old_image = client.api.inspect_image(repo.text("1.0.0"))["Id"]
    tidy = deployer_for(docker_engine, remove_old_image=True)
    try:
        result = await tidy.deploy(target(), repo.ref("1.1.0", second))
    finally:
        tidy.close()

    assert result.outcome is Outcome.SUCCEEDED, result.message
    assert client.api.inspect_container("web")["Config"]["Image"] == repo.text("1.1.0", second)
    if shared:
        assert client.api.inspect_image(old_image)["Id"] == old_image
    else:
        with pytest.raises(docker.errors.ImageNotFound):
            client.api.inspect_image(old_image)


async def test_a_restarted_container_the_engine_cannot_rename_running_is_stopped_first(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    """This engine has no default bridge: a container on the default network that was
    restarted has lost its sandbox and cannot be renamed while it runs."""
    await repo.push("1.0.0")
    second = await repo.push("1.1.0")
    repo.pull("1.0.0")
    old_id = run(client, repo.text("1.0.0"), "web")
    client.api.stop(old_id, timeout=0)
    client.api.start(old_id)

    result = await deployer.deploy(target(), repo.ref("1.1.0", second))

    assert result.outcome is Outcome.SUCCEEDED, result.message
    assert client.api.inspect_container("web")["Config"]["Image"] == repo.text("1.1.0", second)
    assert names(client) == ["web"]


async def test_a_stopped_container_rolled_back_stays_stopped(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    await repo.push("1.0.0")
    broken = await repo.push("1.1.0", cmd=EXITS)
    repo.pull("1.0.0")
    old_id = run(client, repo.text("1.0.0"), "web", start=False)

    result = await deployer.deploy(target(), repo.ref("1.1.0", broken))

    assert result.outcome is Outcome.ROLLED_BACK, result.message
    back = client.api.inspect_container("web")
    assert back["Id"] == old_id
    assert back["State"]["Running"] is False
    assert names(client) == ["web"]
