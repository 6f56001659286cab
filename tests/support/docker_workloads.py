"""Helpers for the tests that move real Swarm services and containers on the private engine
(``tests.support.docker_engine``) with images from a real docker-registry.

A ``Repository`` is a repository unique to one test on a shared registry: it builds and pushes
images whose ``VERSION`` env is their tag (with more of an image's configuration, ``LABEL``,
``VOLUME``, ``HEALTHCHECK``..., through ``docker commit``), and pulls them into the engine. The
rest are thin calls on the engine's API client, written as ``docker run`` / ``docker inspect``
would, a container deployer on the test engine with short waits, and what tests compare of a
container (``configuration``) or wait for of its health (``health_until``). A
``ComposeProject`` runs the real ``docker-compose`` on the test engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from deployers.base import Deployer, Health, HealthState, Target
from deployers.containers import ContainerDeployer
from deployers.docker_engine import ContainerSettings, DockerSettings, Engine
from deployers.swarm import SwarmDeployer
from handlers.references import Aliases, ImageName, ImageRef
from tests.support.components import require_binary
from tests.support.docker_engine import DockerEngine
from tests.support.oci import build_image
from tests.support.polling import until
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

    async def push_configured(
        self,
        tag: str,
        changes: Sequence[str],
        *,
        cmd: list[str] | None = None,
        config: dict[str, Any] | None = None,
    ) -> str:
        """Push ``tag`` as ``push`` builds it, with the Dockerfile instructions ``changes``
        (``LABEL a=b``, ``VOLUME /cache``, ``USER``...) and the image ``config`` keys those
        cannot set (``Healthcheck``, ``StopSignal``) applied by ``docker commit`` on the engine,
        which pushes it; returns its digest. The engine keeps it under ``tag``."""
        await self.push(f"{tag}-base", cmd=cmd)
        self.pull(f"{tag}-base")
        api = self.client.api
        created = api.create_container(self.text(f"{tag}-base"))
        try:
            api.commit(
                created["Id"],
                repository=str(self.name),
                tag=tag,
                changes=list(changes),
                conf=config,
            )
        finally:
            api.remove_container(created["Id"])
        for line in api.push(str(self.name), tag=tag, stream=True, decode=True):
            if "error" in line:
                raise RuntimeError(f"docker push {self.text(tag)}: {line['error']}")
            digest = (line.get("aux") or {}).get("Digest")
            if digest:
                pushed: str = digest
                return pushed
        raise RuntimeError(f"docker push {self.text(tag)} named no digest")

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
    engine: DockerEngine,
    *,
    aliases: Aliases | None = None,
    compose_rewrite: frozenset[ImageName] = frozenset(),
    **settings: Any,
) -> Iterator[ContainerDeployer]:
    """A container deployer on ``engine`` (``CONTAINER_SETTINGS`` with ``settings`` changed),
    closed on leaving."""
    containers = dataclasses.replace(CONTAINER_SETTINGS, **settings)
    deployer = ContainerDeployer(
        engine=Engine(DockerSettings(host=engine.host, containers=containers)),
        aliases=aliases or Aliases.from_groups(()),
        compose_rewrite=compose_rewrite,
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


async def health_until(
    deployer: ContainerDeployer,
    target: Target,
    image: ImageRef,
    state: HealthState,
    *,
    seconds: float = 30,
) -> Health:
    """``deployer.health`` once it reports ``state`` (a bounded poll)."""
    seen: list[Health] = []

    async def reported() -> Health | None:
        health = await deployer.health(target, image)
        seen.append(health)
        return health if health.state is state else None

    return await until(
        f"{target.name} is {state}",
        reported,
        seconds=seconds,
        interval=0.2,
        explain=lambda: f"it was {seen[-1]}" if seen else "",
    )


def configuration(container: dict[str, Any]) -> dict[str, Any]:
    """What a rollback must give back of a container (``docker inspect``): its image (by Id: a
    deploy names it by digest), what its configuration and host configuration set, its mounts
    and its networks with their aliases (but its own short Id, which every container has)."""
    config, host = container["Config"], container["HostConfig"]
    own = container["Id"][:12]
    networks = container["NetworkSettings"]["Networks"]
    return {
        "Image": container["Image"],
        "Config": {
            key: config.get(key)
            for key in (
                *("Env", "Cmd", "Entrypoint", "Labels", "User", "WorkingDir", "Healthcheck"),
                *("ExposedPorts", "Volumes", "StopSignal"),
            )
        },
        "HostConfig": {
            key: host.get(key)
            for key in ("RestartPolicy", "PortBindings", "Binds", "Mounts", "NetworkMode")
        },
        "Mounts": sorted(
            (m["Type"], m.get("Name") or m.get("Source"), m["Destination"], m["RW"])
            for m in container["Mounts"]
        ),
        "Networks": {
            name: sorted(a for a in settings.get("Aliases") or [] if a != own)
            for name, settings in networks.items()
        },
    }


# -- docker compose ------------------------------------------------------------------------


@dataclass
class ComposeProject:
    """A compose project: ``docker-compose.yml`` in ``directory``, run with the real
    ``docker-compose`` (v1) on the test engine from that directory, as people run it."""

    engine: DockerEngine
    directory: Path
    name: str = "shop"

    @property
    def file(self) -> Path:
        return self.directory / "docker-compose.yml"

    def container_name(self, service: str) -> str:
        """The name compose v1 gives the service's first container."""
        return f"{self.name}_{service}_1"

    def compose(self, *args: str) -> str:
        """Run ``docker-compose -p NAME ARGS``; what it wrote (progress goes to stderr)."""
        program = require_binary("docker-compose")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_"))}
        env["DOCKER_HOST"] = self.engine.host
        done = subprocess.run(
            [program, "-p", self.name, *args],
            cwd=self.directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} failed: {done.stderr}")
        return done.stdout + done.stderr

    def ids(self, service: str) -> list[str]:
        """``docker-compose ps -q SERVICE``: the Ids of the service's containers."""
        return self.compose("ps", "-q", service).split()
