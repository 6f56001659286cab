"""Real pushes to a real docker-registry move real Swarm services and containers on a private
Docker engine, through the receiver, the queue and the Docker deployers; nothing in between is
mocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import docker
import docker.types
import pytest
from aiohttp.test_utils import TestServer

from receiver.app import init_app
from tests.support.docker_engine import DockerEngine
from tests.support.oci import build_image
from tests.support.polling import until
from tests.support.registry import Registry
from tests.support.settings import api_headers, make_config

SECOND = 1_000_000_000  # the engine counts durations in nanoseconds
WAIT_SECONDS = 90.0


@dataclass
class Flow:
    """A registry that notifies a running regdeploy, which deploys to the test engine."""

    registry: Registry
    engine: DockerEngine
    client: docker.DockerClient
    layout: Path
    port: int
    session: aiohttp.ClientSession

    @property
    def repo(self) -> str:
        return f"{self.registry.host}/team/app"

    async def push(
        self, tag: str, *, version: str | None = None, cmd: list[str] | None = None
    ) -> str:
        """Build an image (its content named by ``version``, default the tag) and push it."""
        digest = build_image(self.layout, tag=tag, env={"VERSION": version or tag}, cmd=cmd)
        await asyncio.to_thread(self.registry.push, self.layout, tag, "team/app")
        return digest

    async def deployments(self, **query: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/deployments"
        async with self.session.get(url, params=query, headers=api_headers()) as response:
            assert response.status == 200, await response.text()
            body: dict[str, list[dict[str, Any]]] = await response.json()
            return body["deployments"]

    async def wait_for(
        self, what: str, check: Callable[[list[dict[str, Any]]], bool], **query: str
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []

        async def seen() -> bool:
            nonlocal found
            found = await self.deployments(**query)
            return check(found)

        await until(
            what, seen, seconds=WAIT_SECONDS, interval=0.3, explain=lambda: f"deployments: {found}"
        )
        return found

    async def ended(self, what: str, target: str) -> list[dict[str, Any]]:
        """The deployments of ``target`` but the skipped ones, once one of them has ended."""
        found = await self.wait_for(
            what,
            lambda ds: any(d["status"] not in ("planned", "running", "skipped") for d in ds),
            target=target,
        )
        return [d for d in found if d["status"] != "skipped"]

    async def service_on_stable(self) -> str:
        """Push ``stable`` (version 1) and run the labelled service ``web`` on it, pinned by
        digest as ``docker stack deploy`` does; returns that image."""
        first = await self.push("stable", version="1")
        pinned = f"{self.repo}:stable@{first}"
        make_service(self.client, pinned, "web", {"regdeploy.enable": "true"})
        await wait_running(self.client, "web")
        return pinned

    async def container_on(
        self, tag: str, tmp_path: Path, *, version: str | None = None, policy: str = "minor"
    ) -> tuple[str, str]:
        """Push ``tag``, pull it and run the container ``web`` of ``make_container`` on it;
        returns the image's digest and the container's Id."""
        digest = await self.push(tag, version=version)
        await asyncio.to_thread(self.client.images.pull, self.repo, tag=tag)
        return digest, make_container(
            self.client, f"{self.repo}:{tag}", "web", tmp_path, policy=policy
        )


@pytest.fixture
async def flow_factory(
    db_uri: str,
    tmp_path: Path,
    notifying: tuple[Registry, int],
    docker_engine: DockerEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Callable[..., Any]]:
    """Start regdeploy (with the Docker deployers on the test engine) once the test has set
    up its workloads."""
    for name in ("DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"):
        monkeypatch.delenv(name, raising=False)
    reg, port = notifying
    client = docker_engine.client()
    servers: list[TestServer] = []
    session = aiohttp.ClientSession()

    async def start(**overrides: Any) -> Flow:
        config = make_config(
            db_uri,
            registry=reg.host,
            registries=[{"host": reg.host, "insecure": True}],
            worker={"poll_interval_seconds": 0.5, "retry_base_seconds": 0.2},
            deployers={
                "docker": {
                    "host": docker_engine.host,
                    "swarm": {"poll_seconds": 0.5, "rollout_timeout_seconds": 120},
                    "containers": {
                        "grace_seconds": 4,
                        "stop_timeout_seconds": 1,
                        "poll_seconds": 0.2,
                    },
                }
            },
            **overrides,
        )
        server = TestServer(init_app(config), port=port)
        await server.start_server()
        servers.append(server)
        return flow

    flow = Flow(
        registry=reg,
        engine=docker_engine,
        client=client,
        layout=tmp_path / "layout",
        port=port,
        session=session,
    )
    yield start
    for server in servers:
        await server.close()
    await session.close()
    client.close()


def service_image(client: docker.DockerClient, name: str) -> str:
    spec = client.api.inspect_service(name)["Spec"]
    image: str = spec["TaskTemplate"]["ContainerSpec"]["Image"]
    return image


def make_service(
    client: docker.DockerClient, image: str, name: str, labels: dict[str, str]
) -> None:
    client.services.create(
        image,
        name=name,
        labels=labels,
        stop_grace_period=SECOND,
        update_config=docker.types.UpdateConfig(
            parallelism=1, failure_action="rollback", monitor=2 * SECOND, order="stop-first"
        ),
        rollback_config=docker.types.RollbackConfig(parallelism=1, monitor=SECOND),
    )


async def wait_running(client: docker.DockerClient, service: str) -> None:
    tasks: list[dict[str, Any]] = []

    async def running() -> bool:
        nonlocal tasks
        tasks = await asyncio.to_thread(
            client.api.tasks, filters={"service": service, "desired-state": "running"}
        )
        return bool(tasks) and all(t["Status"]["State"] == "running" for t in tasks)

    await until(
        f"service {service} runs",
        running,
        seconds=WAIT_SECONDS,
        interval=0.3,
        explain=lambda: f"its tasks: {tasks}",
    )


async def test_a_labelled_service_follows_its_tag_and_an_unlabelled_one_stays(
    flow_factory: Callable[..., Any],
) -> None:
    flow: Flow = await flow_factory()
    pinned = await flow.service_on_stable()
    make_service(flow.client, pinned, "other", {})

    second = await flow.push("stable", version="2")
    done = await flow.wait_for(
        "the labelled service moves",
        lambda ds: any(d["status"] == "succeeded" for d in ds),
        target="swarm:web",
    )
    assert service_image(flow.client, "web") == f"{flow.repo}:stable@{second}"
    assert service_image(flow.client, "other") == pinned
    assert [d["digest"] for d in done if d["status"] == "succeeded"] == [second]
    assert await flow.deployments(target="swarm:other") == []
    version = flow.client.api.inspect_service("web")["Version"]["Index"]

    # The same digest pushed again moves nothing: it is decided, and skipped.
    await flow.push("stable", version="2")
    skipped = await flow.wait_for(
        "the same digest is skipped",
        lambda ds: any(d["status"] == "skipped" and d["digest"] == second for d in ds),
        target="swarm:web",
    )
    assert [d["reason"] for d in skipped if d["digest"] == second and d["status"] == "skipped"] == [
        f"already runs stable@{second[:19]}"
    ]
    assert flow.client.api.inspect_service("web")["Version"]["Index"] == version
    assert [d["status"] for d in await flow.deployments(target="swarm:web")].count("succeeded") == 1


async def test_a_failing_service_update_is_rolled_back_by_swarm_and_recorded_failed(
    flow_factory: Callable[..., Any],
) -> None:
    flow: Flow = await flow_factory()
    pinned = await flow.service_on_stable()

    bad = await flow.push("stable", version="broken", cmd=["/bin/sh", "-c", "exit 3"])
    failed = await flow.ended("the failed update is recorded", target="swarm:web")
    assert [d["status"] for d in failed] == ["failed"]
    assert failed[0]["digest"] == bad
    assert "rolled the update back" in failed[0]["message"]
    assert service_image(flow.client, "web") == pinned
    status = flow.client.api.inspect_service("web")["UpdateStatus"]
    assert status["State"] == "rollback_completed"


def make_container(
    client: docker.DockerClient, image: str, name: str, tmp_path: Path, *, policy: str = "minor"
) -> str:
    """A labelled container with env, labels, mounts, two networks and a restart policy;
    ``policy`` "" follows its own tag."""
    labels = {"regdeploy.enable": "true", "team": "web"}
    if policy:
        labels["regdeploy.policy"] = policy
    client.networks.create("front", driver="bridge")
    client.networks.create("back", driver="bridge")
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    container = client.containers.create(
        image,
        name=name,
        environment={"MODE": "production"},
        labels=labels,
        volumes={str(data): {"bind": "/data", "mode": "ro"}, "appstate": {"bind": "/state"}},
        network="front",
        restart_policy={"Name": "unless-stopped"},
        stop_signal="SIGKILL",
    )
    client.networks.get("back").connect(container, aliases=["api"])
    container.start()
    return str(container.id)


async def test_a_labelled_container_moves_within_its_policy_and_keeps_its_configuration(
    flow_factory: Callable[..., Any], tmp_path: Path
) -> None:
    flow: Flow = await flow_factory()
    first, old_id = await flow.container_on("1.0.0", tmp_path)

    await flow.push("2.0.0")  # not within minor: skipped
    minor = await flow.push("1.1.0")
    done = await flow.wait_for(
        "the container moves to 1.1.0",
        lambda ds: any(d["status"] == "succeeded" for d in ds),
        target="container:web",
    )
    assert [(d["tag"], d["digest"]) for d in done if d["status"] == "succeeded"] == [
        ("1.1.0", minor)
    ]
    assert [d["previous_image"] for d in done if d["status"] == "succeeded"] == [
        f"{flow.repo}:1.0.0@{first}"
    ]
    new = flow.client.api.inspect_container("web")
    assert new["Id"] != old_id
    assert new["Config"]["Image"] == f"{flow.repo}:1.1.0@{minor}"
    assert "MODE=production" in new["Config"]["Env"]
    assert "VERSION=1.1.0" in new["Config"]["Env"]  # the new image's own default
    assert new["Config"]["Labels"] == {
        "regdeploy.enable": "true",
        "regdeploy.policy": "minor",
        "team": "web",
    }
    mounts = {m["Destination"]: m for m in new["Mounts"]}
    assert mounts["/data"]["Source"] == str(tmp_path / "data")
    assert mounts["/data"]["RW"] is False
    assert mounts["/state"]["Name"] == "appstate"
    assert set(new["NetworkSettings"]["Networks"]) == {"front", "back"}
    assert "api" in new["NetworkSettings"]["Networks"]["back"]["Aliases"]
    assert new["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert new["State"]["Running"] is True
    assert [c.name for c in flow.client.containers.list(all=True)] == ["web"]


async def test_a_new_image_that_exits_at_once_is_rolled_back(
    flow_factory: Callable[..., Any], tmp_path: Path
) -> None:
    flow: Flow = await flow_factory()
    _, old_id = await flow.container_on("1.0.0", tmp_path)

    bad = await flow.push("1.1.0", cmd=["/bin/sh", "-c", "echo cannot start >&2; exit 3"])
    done = await flow.ended("the deploy is rolled back", target="container:web")
    assert [d["status"] for d in done] == ["rolled_back"]
    assert done[0]["digest"] == bad
    assert "exited with code 3" in done[0]["message"]
    assert "cannot start" in done[0]["message"]
    back = flow.client.api.inspect_container("web")
    assert back["Id"] == old_id
    assert back["State"]["Running"] is True
    assert [c.name for c in flow.client.containers.list(all=True)] == ["web"]


async def test_pushes_in_quick_succession_end_on_the_newest_with_one_superseded(
    flow_factory: Callable[..., Any], tmp_path: Path
) -> None:
    flow: Flow = await flow_factory()
    await flow.container_on("stable", tmp_path, version="1", policy="")

    # The first deploy holds the target for its grace period while two more pushes land.
    await flow.push("stable", version="2")
    await flow.wait_for(
        "the first deploy starts",
        lambda ds: any(d["status"] == "running" for d in ds),
        target="container:web",
    )
    await flow.push("stable", version="3")
    newest = await flow.push("stable", version="4")
    done = await flow.wait_for(
        "the newest digest lands",
        lambda ds: any(d["digest"] == newest and d["status"] == "succeeded" for d in ds),
        target="container:web",
    )
    statuses = sorted(d["status"] for d in done if d["status"] != "skipped")
    assert statuses == ["succeeded", "succeeded", "superseded"]
    assert flow.client.api.inspect_container("web")["Config"]["Image"].endswith(newest)
