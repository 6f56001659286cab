"""Where the Docker engine is and how to talk to it: shared by the Swarm and container deployers.

The Docker SDK is blocking; ``Engine.call`` runs each call in a thread so the event loop never
waits on the engine. Registry credentials from the configuration are handed to the engine with
every pull and service update (``X-Registry-Auth``), so Swarm nodes can pull private images.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import docker
import docker.constants
import docker.errors
import docker.tls
import requests

from deployers.base import Target, name_list, release_labels, tls_verify
from handlers.references import Aliases, ImageName, ImageRef, parse_reference
from receiver.errors import InvalidReference

DEFAULT_HOST = "unix:///var/run/docker.sock"
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryLogin:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerSettings:
    """How a standalone container is replaced."""

    enabled: bool = True
    # A container without a healthcheck is healthy when it still runs after this long.
    grace_seconds: float = 10.0
    # How long a container with a healthcheck has to report healthy.
    health_timeout_seconds: float = 120.0
    # How long the old container gets to stop (None: its own StopTimeout, else the engine's 10 s).
    stop_timeout_seconds: int | None = None
    remove_old_image: bool = False
    poll_seconds: float = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class SwarmSettings:
    """How a Swarm service update is followed."""

    enabled: bool = True
    rollout_timeout_seconds: float = 600.0
    poll_seconds: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DockerSettings:
    host: str = DEFAULT_HOST
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    tls_verify: bool = True
    timeout_seconds: float = 60.0
    opt_in_label: str = "regdeploy.enable"
    policy_label: str = "regdeploy.policy"
    notify_label: str = "regdeploy.notify"
    # Registry host (every alias) -> credentials.
    logins: Mapping[str, RegistryLogin] = field(
        default_factory=lambda: MappingProxyType({}), repr=False
    )
    containers: ContainerSettings = field(default_factory=ContainerSettings)
    swarm: SwarmSettings = field(default_factory=SwarmSettings)

    @property
    def uses_tls(self) -> bool:
        return bool(self.ca_file or self.client_cert) or self.host.startswith("https://")


class Engine:
    """One Docker SDK client, opened on first use and shared by both Docker deployers."""

    def __init__(self, settings: DockerSettings) -> None:
        self.settings = settings
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()

    def client(self) -> docker.DockerClient:
        with self._lock:
            if self._client is None:
                self._client = _open(self.settings)
            return self._client

    async def call(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn(api)`` in a thread, where ``api`` is the low-level ``APIClient``."""
        return await asyncio.to_thread(lambda: fn(self.client().api))

    async def find(self, fn: Callable[[Any], dict[str, Any]]) -> dict[str, Any] | None:
        """``call(fn)`` for an inspect: None when the engine has no such object."""
        try:
            return await self.call(fn)
        except docker.errors.NotFound:
            return None

    async def events(self, *types: str) -> AsyncIterator[dict[str, Any]]:
        """The engine's events of ``types`` (``service``, ``container``) as they happen, until
        the stream ends (the engine went away) or the caller stops reading."""
        stream = await self.call(lambda api: api.events(decode=True, filters={"type": list(types)}))
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        def pump() -> None:  # blocking reads, in a thread of their own
            try:
                for item in stream:
                    loop.call_soon_threadsafe(queue.put_nowait, item)
            except (docker.errors.DockerException, requests.RequestException, OSError):
                pass  # the engine went away: the stream ends
            finally:
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody reads
                    loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=pump, name="docker-events", daemon=True).start()
        try:
            while (item := await queue.get()) is not None:
                yield item
        finally:
            stream.close()

    async def log_tail(self, container_id: str, lines: int) -> str:
        """The last ``lines`` lines a container wrote (stdout and stderr), on one line."""
        try:
            raw = await self.call(
                lambda api: api.logs(container_id, stdout=True, stderr=True, tail=lines)
            )
        except docker.errors.APIError:
            return ""
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        return " | ".join(line for line in text.strip().splitlines() if line)[:300]

    async def first_exit_code(self, container_id: str, since: int) -> int | None:
        """The exit code of a container's first ``die`` event since ``since`` (epoch seconds):
        a restart policy may have started it again, which resets ``State.ExitCode``."""

        def first_die(api: Any) -> int | None:
            events = api.events(
                since=since,
                until=int(time.time()) + 1,
                filters={"container": container_id, "event": "die"},
                decode=True,
            )
            try:
                for event in events:
                    code = (event.get("Actor") or {}).get("Attributes", {}).get("exitCode")
                    if code is not None:
                        return int(code)
                return None
            finally:
                events.close()

        try:
            return await self.call(first_die)
        except (docker.errors.APIError, ValueError):
            return None

    async def connect(self, container_id: str, network: str, endpoint: Mapping[str, Any]) -> None:
        """Connect a container to ``network`` with ``endpoint`` (as inspect shows it)."""
        ipam = endpoint.get("IPAMConfig") or {}
        await self.call(
            lambda api: api.connect_container_to_network(
                container_id,
                network,
                aliases=endpoint.get("Aliases"),
                links=endpoint.get("Links"),
                ipv4_address=ipam.get("IPv4Address") or None,
                ipv6_address=ipam.get("IPv6Address") or None,
                driver_opt=endpoint.get("DriverOpts"),
            )
        )

    async def remove_container(self, container_id: str) -> None:
        """Remove a container, running or not; gone already is fine."""
        with contextlib.suppress(docker.errors.NotFound):
            await self.call(lambda api: api.remove_container(container_id, force=True))

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


@dataclass
class EngineDeployer:
    """What the Swarm and container deployers share: the engine and the registry aliases."""

    engine: Engine
    aliases: Aliases

    def close(self) -> None:
        self.engine.close()


def _open(settings: DockerSettings) -> docker.DockerClient:
    tls: docker.tls.TLSConfig | bool = False
    if settings.uses_tls:
        cert = (
            (str(settings.client_cert), str(settings.client_key))
            if settings.client_cert and settings.client_key
            else None
        )
        verify = tls_verify(settings.ca_file, settings.tls_verify)
        tls = docker.tls.TLSConfig(client_cert=cert, verify=verify)
    host = settings.host.replace("https://", "tcp://", 1)
    timeout = int(max(1, settings.timeout_seconds))
    client = docker.DockerClient(
        base_url=host, tls=tls, version=_api_version(host, tls, timeout), timeout=timeout
    )
    client.api.trust_env = False
    # The SDK sends X-Registry-Auth from its auth store with every pull and service update; the
    # configured credentials go there, beside what ~/.docker/config.json holds.
    store = client.api._auth_configs
    for host_name, login in settings.logins.items():
        store.add_auth(
            host_name,
            {"username": login.username, "password": login.password, "serveraddress": host_name},
        )
    return client


def _api_version(host: str, tls: docker.tls.TLSConfig | bool, timeout: int) -> str:
    """The engine's API version. Asked here rather than by the SDK's ``version="auto"``, which
    asks while the client still trusts the environment: ``REQUESTS_CA_BUNDLE`` would then
    replace the configured CA."""
    probe = docker.APIClient(
        base_url=host, tls=tls, version=docker.constants.MINIMUM_DOCKER_API_VERSION, timeout=timeout
    )
    probe.trust_env = False
    try:
        return str(probe.version(api_version=False)["ApiVersion"])
    except requests.RequestException as exc:
        raise docker.errors.DockerException(f"cannot reach the engine at {host}: {exc}") from exc
    finally:
        probe.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class Labels:
    """The opt-in, policy and notify labels of one workload, read with the configured keys,
    and its release control (``regdeploy.window``, ``regdeploy.min_age``, ...)."""

    enabled: bool
    policy: str | None
    notify: tuple[str, ...]
    release: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def read(cls, labels: Mapping[str, str] | None, settings: DockerSettings) -> Labels:
        labels = labels or {}
        return cls(
            enabled=str(labels.get(settings.opt_in_label, "")).strip().lower() == "true",
            policy=(labels.get(settings.policy_label) or "").strip() or None,
            notify=name_list(labels.get(settings.notify_label)),
            release=release_labels(labels),
        )

    def target(self, kind: str, name: str) -> Target:
        return Target(
            kind=kind, name=name, policy=self.policy, notify=self.notify, release=self.release
        )


def cli_environment(settings: DockerSettings) -> dict[str, str]:
    """The environment of a Docker CLI (``docker-compose``) run for regdeploy: regdeploy's own
    (the CLI may interpolate files with it), with the engine regdeploy speaks to as
    ``DOCKER_HOST`` and no other ``DOCKER_*`` or ``COMPOSE_*`` setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_"))}
    env["DOCKER_HOST"] = settings.host.replace("https://", "tcp://", 1)
    return env


def cli_tls_options(settings: DockerSettings) -> list[str]:
    """The TLS options of a Docker CLI (before its command) for the configured engine."""
    if not settings.uses_tls:
        return []
    options = ["--tlsverify" if settings.tls_verify else "--tls"]
    for option, path in (
        ("--tlscacert", settings.ca_file),
        ("--tlscert", settings.client_cert),
        ("--tlskey", settings.client_key),
    ):
        if path is not None:
            options += [option, str(path)]
    return options


def reference(text: object) -> ImageRef | None:
    """The image reference ``text`` names, or None when it names none."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return parse_reference(text)
    except InvalidReference:
        return None


def split_reference(text: str) -> tuple[str, str | None, str | None]:
    """``(repository, tag, digest)`` of a reference, each part spelled as written (``nginx``
    stays ``nginx``, where ``reference`` reads ``docker.io/library/nginx``)."""
    remainder, at, digest = text.partition("@")
    colon = remainder.rfind(":")
    if colon > remainder.rfind("/"):
        return remainder[:colon], remainder[colon + 1 :], digest if at else None
    return remainder, None, digest if at else None


def image_of(text: object, aliases: Aliases, name: ImageName) -> ImageRef | None:
    """The reference ``text`` when it names an image of repository ``name`` (registry aliases
    and Docker Hub defaults applied), else None."""
    ref = reference(text)
    return ref if ref is not None and aliases.name(ref.name) == name else None


def engine_message(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    text = explanation if explanation else str(exc)
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return str(text).strip()[:500]
