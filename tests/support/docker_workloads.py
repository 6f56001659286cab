"""Helpers for the tests that move real Swarm services and containers on the private engine
(``tests.support.docker_engine``) with images from a real docker-registry.

A ``Repository`` is a repository unique to one test on a shared registry: it builds and pushes
images whose ``VERSION`` env is their tag, and pulls them into the engine. The rest are thin
calls on the engine's API client, written as ``docker run`` / ``docker inspect`` would, and a
container deployer on the test engine with short waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from deployers.base import Deployer, Target
from deployers.containers import ContainerDeployer
from deployers.docker_engine import ContainerSettings, DockerSettings, Engine
from deployers.swarm import SwarmDeployer
from handlers.references import Aliases, ImageName, ImageRef
from tests.support.docker_engine import DockerEngine
from tests.support.oci import build_image
from tests.support.registry import Registry

SECOND = 1_000_000_000  # the engine counts durations in nanoseconds
ENABLED = {"regdeploy.enable": "true"}
CONTAINER_SETTINGS = ContainerSettings(
    grace_seconds=2, stop_timeout_seconds=1, poll_seconds=0.2, health_timeout_seconds=20
)


@dataclass
class Repository:
    """A repository on a test registry, unique to one test: pushes images and pulls them into
    the engine."""

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

    async def push_update(
        self, *, old_cmd: list[str] | None = None, new_cmd: list[str] | None = None
    ) -> str:
        """Push 1.0.0, pulled into the engine for the container the test runs, and 1.1.0, left
        in the registry for the deploy; returns the digest of 1.1.0."""
        await self.push("1.0.0", cmd=old_cmd)
        new = await self.push("1.1.0", cmd=new_cmd)
        self.pull("1.0.0")
        return new


def repository_in(registry: Registry, client: docker.DockerClient, tmp_path: Path) -> Repository:
    suffix = uuid.uuid4().hex[:8]
    return Repository(
        registry=registry,
        client=client,
        layout=tmp_path / f"layout-{suffix}",
        path=f"team/app-{suffix}",
    )


# -- standalone containers ----------------------------------------------------------------


@contextlib.contextmanager
def container_deployer(
    engine: DockerEngine, *, aliases: Aliases | None = None, **settings: Any
) -> Iterator[ContainerDeployer]:
    """A container deployer on ``engine`` (``CONTAINER_SETTINGS`` with ``settings`` changed),
    closed on leaving."""
    containers = dataclasses.replace(CONTAINER_SETTINGS, **settings)
    deployer = ContainerDeployer(
        engine=Engine(DockerSettings(host=engine.host, containers=containers)),
        aliases=aliases or Aliases.from_groups(()),
    )
    try:
        yield deployer
    finally:
        deployer.close()


def target(name: str = "web") -> Target:
    """The standalone container ``name`` as a deploy target."""
    return Target(kind="container", name=name)


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
    """``docker inspect`` of container ``name``; None when there is none."""
    try:
        found: dict[str, Any] = client.api.inspect_container(name)
    except docker.errors.NotFound:
        return None
    return found


def names(client: docker.DockerClient) -> list[str]:
    """The names of all containers on the engine, running or not, sorted."""
    return sorted(c["Names"][0].lstrip("/") for c in client.api.containers(all=True))


def execute(client: docker.DockerClient, name: str, *command: str, user: str = "") -> str:
    """``docker exec`` in container ``name``; its output, stripped."""
    exec_id = client.api.exec_create(name, list(command), user=user)
    output: bytes = client.api.exec_start(exec_id)
    return output.decode().strip()


async def running_image(deployer: Deployer, target: Target, name: ImageName) -> ImageRef | None:
    """The image ``deployer`` says ``target`` runs (``current`` without since when)."""
    running = await deployer.current(target, name)
    return running.image if running is not None else None


async def discovered(deployer: SwarmDeployer | ContainerDeployer, name: ImageName) -> list[Target]:
    """The workloads ``deployer`` lists that run an image of ``name``, as the inventory reads
    its listing."""
    return [w.target for w in await deployer.workloads() if w.running(name, deployer.aliases)]
