"""The container deployer against a real Docker engine pulling from a real docker-registry:
swaps that fail and are rolled back, health waits, swaps cut short by a kill of regdeploy and
repaired, and the deploys it refuses.

Set up as in ``test_containers``. Busybox as PID 1 ignores SIGTERM, so every stop takes the
configured 1 s.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import docker
import pytest

from deployers.base import DeployOutcome, DeployResult
from deployers.containers import ASIDE_SUFFIX, ContainerDeployer
from deployers.docker_engine import Engine
from handlers.references import ImageRef
from tests.support.docker_engine import DockerEngine
from tests.support.docker_workloads import (
    ENABLED,
    SECOND,
    Repository,
    container_deployer,
    discovered,
    inspect,
    names,
    run,
    running_image,
    target,
)

# The old image leaves /ok behind, which the healthcheck below looks for.
MAKES_OK = ["/bin/sh", "-c", ": > /ok; exec sleep infinity"]
CHECKS_OK = {
    "test": ["CMD-SHELL", "test -f /ok"],
    "interval": SECOND // 2,
    "timeout": 2 * SECOND,
    "retries": 2,
}
EXITS = ["/bin/sh", "-c", "echo boom >&2; exit 3"]


def assert_rolled_back(
    client: docker.DockerClient, result: DeployResult, old_id: str, *phrases: str
) -> None:
    assert result.outcome is DeployOutcome.ROLLED_BACK, result.message
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
    broken = await repo.push_update(new_cmd=EXITS)
    host = {"restart_policy": {"Name": restart}} if restart else {}
    old_id = run(client, repo.text("1.0.0"), "web", host=host)

    result = await deployer.deploy(target(), repo.ref("1.1.0", broken))

    # Under a restart policy the engine restarts the new container: caught by its restarts.
    phrases = ("exited with code 3", "boom") + ((" restart",) if restart else ())
    assert_rolled_back(client, result, old_id, *phrases)


async def test_a_crash_seen_after_a_restart_reports_its_exit_code(
    docker_engine: DockerEngine, repo: Repository, client: docker.DockerClient
) -> None:
    """A restart resets State.ExitCode to 0: the code must come from the crash itself."""
    # Crashes once after 0.3 s, then runs: the engine restarts it 0.1 s after the crash, long
    # before the deployer's second look at 1 s.
    once = "[ -f /ran ] && exec sleep infinity; : > /ran; echo boom >&2; sleep 0.3; exit 3"
    broken = await repo.push_update(new_cmd=["/bin/sh", "-c", once])
    old_id = run(client, repo.text("1.0.0"), "web", host={"restart_policy": {"Name": "always"}})
    with container_deployer(docker_engine, poll_seconds=1.0) as slow:
        result = await slow.deploy(target(), repo.ref("1.1.0", broken))

    assert_rolled_back(client, result, old_id, "boom", "exited with code 3")


async def test_a_failing_healthcheck_is_rolled_back(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    unhealthy = await repo.push_update(old_cmd=MAKES_OK)
    old_id = run(client, repo.text("1.0.0"), "web", healthcheck=CHECKS_OK)

    result = await deployer.deploy(target(), repo.ref("1.1.0", unhealthy))

    assert_rolled_back(client, result, old_id, "healthcheck")


async def test_a_passing_healthcheck_ends_the_wait_before_the_grace_period(
    docker_engine: DockerEngine, repo: Repository, client: docker.DockerClient
) -> None:
    healthy = await repo.push_update(old_cmd=MAKES_OK, new_cmd=MAKES_OK)
    run(client, repo.text("1.0.0"), "web", healthcheck=CHECKS_OK)
    started = time.monotonic()
    with container_deployer(docker_engine, grace_seconds=60) as patient:
        result = await patient.deploy(target(), repo.ref("1.1.0", healthy))

    assert result.outcome is DeployOutcome.SUCCEEDED, result.message
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


SwapCutShort = Callable[[str], Awaitable[tuple[str, str, str]]]


@pytest.fixture
def cut_swap(
    deployer: ContainerDeployer,
    repo: Repository,
    client: docker.DockerClient,
    monkeypatch: pytest.MonkeyPatch,
) -> SwapCutShort:
    """``swap_cut_short`` with the test's deployer, repository and engine: give it the point."""
    return functools.partial(swap_cut_short, deployer, repo, client, monkeypatch)


@pytest.mark.parametrize("point", list(CUT_POINTS))
async def test_the_next_deploy_repairs_a_swap_cut_short(
    docker_engine: DockerEngine,
    repo: Repository,
    client: docker.DockerClient,
    monkeypatch: pytest.MonkeyPatch,
    cut_swap: SwapCutShort,
    point: str,
) -> None:
    old_id, _, second = await cut_swap(point)
    with container_deployer(docker_engine) as restarted:
        recorded = CutShort.install(restarted, monkeypatch)
        # Seen once, under its own name, whichever of its two containers runs now.
        assert await discovered(restarted, repo.name) == [target()]
        result = await restarted.deploy(target(), repo.ref("1.1.0", second))

    assert result.outcome is DeployOutcome.SUCCEEDED, result.message
    renames = [args for name, args in recorded.calls if name == "rename"]
    assert renames[:2] == [(old_id, "web"), (old_id, "web" + ASIDE_SUFFIX)]
    assert names(client) == ["web"]
    new = client.api.inspect_container("web")
    assert new["Id"] != old_id
    assert new["State"]["Running"]
    assert new["Config"]["Image"] == repo.text("1.1.0", second)


@pytest.mark.parametrize("point", list(CUT_POINTS))
async def test_current_reports_the_old_image_while_a_swap_is_cut_short(
    docker_engine: DockerEngine, repo: Repository, cut_swap: SwapCutShort, point: str
) -> None:
    _, first, _ = await cut_swap(point)
    with container_deployer(docker_engine) as restarted:
        assert await running_image(restarted, target(), repo.name) == repo.ref("1.0.0", first)


async def test_repair_puts_the_old_container_back(
    docker_engine: DockerEngine, client: docker.DockerClient, cut_swap: SwapCutShort
) -> None:
    old_id, _, _ = await cut_swap("in-health-wait")
    with container_deployer(docker_engine) as restarted:
        assert await restarted.repair("web") is True
        assert names(client) == ["web"]
        back = client.api.inspect_container("web")
        assert back["Id"] == old_id
        assert back["State"]["Running"]
        assert await restarted.repair("web") is False
        assert await restarted.repair("missing") is False
    assert client.api.inspect_container("web")["Id"] == old_id


async def test_a_container_removed_on_stop_is_refused(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    second = await repo.push_update()
    old_id = run(client, repo.text("1.0.0"), "web", host={"auto_remove": True})

    result = await deployer.deploy(target(), repo.ref("1.1.0", second))

    assert result.outcome is DeployOutcome.FAILED
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

    assert result.outcome is DeployOutcome.FAILED
    assert result.retryable
    assert "could not pull" in result.message
    assert names(client) == ["web"]
    assert client.api.inspect_container("web")["Id"] == old_id


async def test_a_restarted_container_the_engine_cannot_rename_running_is_stopped_first(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    """This engine has no default bridge: a container on the default network that was
    restarted has lost its sandbox and cannot be renamed while it runs."""
    second = await repo.push_update()
    old_id = run(client, repo.text("1.0.0"), "web")
    client.api.stop(old_id, timeout=0)
    client.api.start(old_id)

    result = await deployer.deploy(target(), repo.ref("1.1.0", second))

    assert result.outcome is DeployOutcome.SUCCEEDED, result.message
    assert client.api.inspect_container("web")["Config"]["Image"] == repo.text("1.1.0", second)
    assert names(client) == ["web"]


async def test_a_stopped_container_rolled_back_stays_stopped(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient
) -> None:
    broken = await repo.push_update(new_cmd=EXITS)
    old_id = run(client, repo.text("1.0.0"), "web", start=False)

    result = await deployer.deploy(target(), repo.ref("1.1.0", broken))

    assert result.outcome is DeployOutcome.ROLLED_BACK, result.message
    back = client.api.inspect_container("web")
    assert back["Id"] == old_id
    assert back["State"]["Running"] is False
    assert names(client) == ["web"]
