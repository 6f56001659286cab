"""Standalone Docker containers: replace the container with one of the same configuration on the
new image, and put the old one back when the new one does not come up.

A swap goes:

1. pull the exact digest;
2. rename the old container aside (``NAME-regdeploy-old``); it keeps running;
3. create the new container under ``NAME`` with the old one's configuration;
4. stop the old container, start the new one;
5. wait until the new one is healthy: its healthcheck passes, or, without a healthcheck, it is
   still running (never restarted) after the grace period;
6. remove the old container (and its image, when configured).

When step 3, 4 or 5 fails, the new container is removed and the old one renamed back and
started: a rollback, recorded with the reason. A container left aside means a swap was cut short
(regdeploy was killed): the next deploy of that container first puts the old one back under its
name, then starts over. A container that docker compose created is named, labelled and tagged as
compose would recreate it (``deployers.compose``), so that ``docker-compose up -d`` leaves it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import docker.errors
import requests
import structlog

from deployers import compose
from deployers.base import (
    DeployOutcome,
    DeployResult,
    Health,
    HealthState,
    Running,
    Target,
    Workload,
)
from deployers.compose import ComposeService
from deployers.container_spec import condition, has_healthcheck, replacement
from deployers.docker_engine import (
    EngineDeployer,
    Labels,
    engine_message,
    image_of,
    reference,
)
from handlers.payload import parse_rfc3339
from handlers.references import ImageName, ImageRef, as_written, short_image
from receiver.decide.trust.platforms import normalise
from receiver.errors import DeployerUnavailable

log = structlog.get_logger("regdeploy.containers")

KIND = "container"
ASIDE_SUFFIX = "-regdeploy-old"
# Swarm task containers belong to their service: the Swarm deployer moves those.
_SWARM_TASK_LABEL = "com.docker.swarm.service.id"
_LOG_TAIL = 5
# The container events after which what runs may have changed.
_CHANGES = frozenset({"create", "start", "stop", "die", "rename", "destroy", "update"})


class _SwapFailed(Exception):
    """The new container did not come up; the message says why."""


@dataclass
class ContainerDeployer(EngineDeployer):
    """``compose_rewrite``: the repositories whose compose files a deploy to another tag
    rewrites (``compose: {rewrite: true}``), see ``deployers.compose``."""

    kind: str = KIND
    compose_rewrite: frozenset[ImageName] = field(default_factory=frozenset)

    async def workloads(self) -> list[Workload]:
        """Running containers labelled for regdeploy, since their creation.

        A container in the middle of a swap counts under its own name, with what the old one
        runs (as ``current`` says), whichever of its two containers runs at this moment: a push
        arriving meanwhile is not lost.
        """
        settings = self.engine.settings
        listed = await self.engine.call(
            lambda api: api.containers(all=True, filters={"label": settings.opt_in_label})
        )
        names = {_name(summary) for summary in listed}
        found: dict[str, Workload] = {}
        for summary in listed:
            labels = summary.get("Labels") or {}
            name = _name(summary)
            base = name.removesuffix(ASIDE_SUFFIX)
            swapping = name != base or base + ASIDE_SUFFIX in names
            if base in found or _SWARM_TASK_LABEL in labels:
                continue
            if summary.get("State") != "running" and not swapping:
                continue
            read = Labels.read(labels, settings)
            container = await self._inspect(base + ASIDE_SUFFIX if swapping else name)
            image = await self._with_digest(container) if container and read.enabled else None
            if container is not None and image is not None:
                since = parse_rfc3339(container.get("Created"))
                found[base] = Workload(target=read.target(KIND, base), images=(image,), since=since)
        return list(found.values())

    async def changes(self) -> AsyncIterator[None]:
        """A container was created, started, stopped, renamed or removed."""
        async for item in self.engine.events("container"):
            if item.get("Action") in _CHANGES:
                yield

    async def current(self, target: Target, name: ImageName) -> Running | None:
        """What the container runs; while a swap is cut short, what the old one runs (the new
        one is not proven, and the next deploy puts the old one back first)."""
        container = await self._inspect(target.name + ASIDE_SUFFIX)
        if container is None:
            container = await self._inspect(target.name)
        if container is None:
            return None
        image = await self._running(container, name)
        since = parse_rfc3339(container.get("Created"))
        return Running(image=image, since=since) if image is not None else None

    async def deploy(self, target: Target, image: ImageRef) -> DeployResult:
        try:
            return await self._deploy(target, image)
        except docker.errors.DockerException as exc:
            return DeployResult.failed(
                f"the Docker engine failed: {engine_message(exc)}", retry=True
            )

    async def platforms(self, target: Target) -> Mapping[str, int]:
        """The engine's own platform (``/info``: ``OSType``, ``Architecture``): one node, where
        the container runs whichever it is."""
        try:
            info = await self.engine.call(lambda api: api.info())
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise DeployerUnavailable(
                f"the Docker engine did not answer: {engine_message(exc)}", kind=KIND
            ) from exc
        return {normalise(str(info.get("OSType") or ""), str(info.get("Architecture") or "")): 1}

    async def health(self, target: Target, image: ImageRef) -> Health:
        """Failed when the container is missing, runs another digest, stopped or restarted, or
        its healthcheck fails; pending while a swap is under way (no marks: a swap replaces
        it) or its healthcheck starts. Marks: its Id, restart count and start time."""
        try:
            return await self._health(target.name, image)
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise DeployerUnavailable(
                f"the Docker engine did not answer: {engine_message(exc)}", kind=KIND
            ) from exc

    async def _health(self, name: str, image: ImageRef) -> Health:
        if await self._inspect(name + ASIDE_SUFFIX) is not None:
            return Health.pending(f"{name} is being replaced")
        container = await self._inspect(name)
        if container is None:
            return Health.failed(f"no container {name}")
        restarts = container.get("RestartCount") or 0
        started = (container.get("State") or {}).get("StartedAt")
        marks = f"{container['Id']}:{restarts}:{started}"
        running = await self._with_digest(container)
        if running is None or running.digest != image.digest:
            shown = short_image(running) if running is not None else "no image"
            words = f"{name} runs {shown}, not {short_image(image)}"
            return Health(state=HealthState.FAILED, words=words, marks=marks)
        seen = condition(container)
        words = f"{name} {seen.words}"
        if seen.exited and (tail := await self.engine.log_tail(container["Id"], _LOG_TAIL)):
            words += f"; last output: {tail}"
        return Health(state=seen.state, words=words, marks=marks)

    async def _deploy(self, target: Target, image: ImageRef) -> DeployResult:
        await self.repair(target.name)
        old = await self._inspect(target.name)
        if old is None:
            return DeployResult.failed(f"no container {target.name}", retry=False)
        running = await self._running(old, image.name)
        if running is None:
            return DeployResult.failed(
                f"container {target.name} runs no image of {image.name}", retry=False
            )
        if running.digest == image.digest:
            return DeployResult(outcome=DeployOutcome.SUCCEEDED, message=f"already runs {image}")
        if (old.get("HostConfig") or {}).get("AutoRemove"):
            return DeployResult.failed(
                f"container {target.name} is removed when it stops (--rm): it cannot be "
                "replaced with a way back",
                retry=False,
            )
        wanted = as_written(running, image)
        try:
            await self.engine.call(lambda api: api.pull(str(wanted.name), tag=image.digest))
        except docker.errors.APIError as exc:
            return DeployResult.failed(
                f"could not pull {wanted}: {engine_message(exc)}", retry=True
            )
        pulled = await self._inspect_image(f"{wanted.name}@{image.digest}")
        if pulled is None:
            return DeployResult.failed(f"{wanted} is not there after its pull", retry=True)
        images = (await self._inspect_image(old["Image"]), pulled)
        service = ComposeService.of((old.get("Config") or {}).get("Labels"))
        if service is not None:
            return await self._swap_composed(old, images, service, wanted, image)
        return await self._swap(target.name, old, images, str(wanted))

    async def _swap_composed(
        self,
        old: dict[str, Any],
        images: tuple[dict[str, Any] | None, dict[str, Any]],
        service: ComposeService,
        wanted: ImageRef,
        image: ImageRef,
    ) -> DeployResult:
        """A container of a compose service is replaced as compose would replace it; when that
        fails, the tag compose reads goes back to the old container's image."""
        rewrite = bool({image.name, self.aliases.name(image.name)} & self.compose_rewrite)
        change = await compose.prepare(
            self.engine,
            service,
            written=str(_image_text(old)),
            wanted=str(wanted),
            image_id=str(images[1]["Id"]),
            rewrite=rewrite,
        )
        try:
            result = await self._swap(
                _name_of(old), old, images, change.reference, labels=change.labels
            )
        except docker.errors.DockerException:
            await compose.restore_tag(self.engine, old)
            raise
        if result.outcome is not DeployOutcome.SUCCEEDED:
            await compose.restore_tag(self.engine, old)
            return result
        notes = await compose.settle(change)
        return dataclasses.replace(result, message="; ".join((result.message, *notes)))

    async def _swap(
        self,
        name: str,
        old: dict[str, Any],
        images: tuple[dict[str, Any] | None, dict[str, Any]],
        reference: str,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> DeployResult:
        """Replace ``old`` with a container on ``reference``; ``images``: the old container's
        image and the new one (``docker image inspect``)."""
        old_image, new_image = images
        new = replacement(old, old_image, reference, new_image=new_image, labels=labels)
        old_id = old["Id"]
        was_running = bool((old.get("State") or {}).get("Running"))
        await self._set_aside(old)
        log.info("container_swap_started", container=name, image=reference)
        new_id: str | None = None
        try:
            created = await self.engine.call(
                lambda api: api.create_container_from_config(dict(new.create), name=name)
            )
            new_id = str(created["Id"])
            for network, endpoint in new.networks:
                await self.engine.connect(new_id, network, endpoint)
            await self.engine.call(lambda api: api.stop(old_id, timeout=self._stop_timeout(old)))
            started = int(time.time())
            await self.engine.call(lambda api: api.start(new_id))
            await self._wait_healthy(new_id, started)
        except (_SwapFailed, docker.errors.APIError) as exc:
            reason = str(exc) if isinstance(exc, _SwapFailed) else engine_message(exc)
            await self._roll_back(name, old_id, new_id, start=was_running)
            log.warning("container_rolled_back", container=name, image=reference, reason=reason)
            return DeployResult(
                outcome=DeployOutcome.ROLLED_BACK,
                message=f"{reference} did not come up, the old container runs again: {reason}",
                retryable=False,
            )
        await self.engine.call(lambda api: api.remove_container(old_id))
        if self.engine.settings.containers.remove_old_image and old_image is not None:
            await self._remove_image(old_image["Id"])
        log.info("container_swapped", container=name, image=reference)
        return DeployResult(outcome=DeployOutcome.SUCCEEDED, message=f"{name} runs {reference}")

    async def _wait_healthy(self, container_id: str, started: int) -> None:
        settings = self.engine.settings.containers
        container = await self._inspect(container_id)
        checked = container is not None and has_healthcheck(container)
        wait = settings.health_timeout_seconds if checked else settings.grace_seconds
        deadline = time.monotonic() + wait
        while True:
            container = await self._inspect(container_id)
            if container is None:
                raise _SwapFailed("the new container disappeared")
            seen = condition(container)
            if seen.exited:
                raise _SwapFailed(await self._exit_reason(container, started))
            if seen.state is HealthState.FAILED:
                raise _SwapFailed(f"it {seen.words}")
            if checked and seen.state is HealthState.HEALTHY:
                return
            if time.monotonic() >= deadline:
                if checked:
                    raise _SwapFailed(f"it was not healthy within {wait:g} s")
                return
            await asyncio.sleep(settings.poll_seconds)

    async def _exit_reason(self, container: dict[str, Any], started: int) -> str:
        state = container.get("State") or {}
        restarts = container.get("RestartCount") or 0
        # A restart policy may have started it again already, which resets State.ExitCode:
        # the engine's "die" event keeps the code it first exited with.
        code = await self.engine.first_exit_code(container["Id"], started)
        if code is None:
            code = state.get("ExitCode")
        plural = "s" if restarts != 1 else ""
        reason = f"it exited with code {code}" + (
            f" ({restarts} restart{plural})" if restarts else ""
        )
        if state.get("Error"):
            reason += f": {state['Error']}"
        tail = await self.engine.log_tail(container["Id"], _LOG_TAIL)
        return f"{reason}; last output: {tail}" if tail else reason

    async def _set_aside(self, old: dict[str, Any]) -> None:
        """Rename the old container aside, running if it can be: some engines cannot rename a
        running container whose network sandbox they lost, and then it is stopped first."""
        aside = _name_of(old) + ASIDE_SUFFIX
        try:
            await self.engine.call(lambda api: api.rename(old["Id"], aside))
        except docker.errors.APIError as exc:
            if not (old.get("State") or {}).get("Running"):
                raise
            log.info(
                "container_stopped_to_rename", container=_name_of(old), reason=engine_message(exc)
            )
            await self.engine.call(lambda api: api.stop(old["Id"], timeout=self._stop_timeout(old)))
            await self.engine.call(lambda api: api.rename(old["Id"], aside))

    async def _roll_back(self, name: str, old_id: str, new_id: str | None, *, start: bool) -> None:
        """The new container goes; the old one gets its name back, running if it ran."""
        if new_id is not None:
            await self.engine.remove_container(new_id)
        await self.engine.call(lambda api: api.rename(old_id, name))
        if start:
            await self.engine.call(lambda api: api.start(old_id))

    async def repair(self, name: str) -> bool:
        """Finish a swap that was cut short: the old container goes back under its name and
        runs; whatever held the name meanwhile (the unproven new one) is removed."""
        aside = await self._inspect(name + ASIDE_SUFFIX)
        if aside is None:
            return False
        holder = await self._inspect(name)
        if holder is not None:
            await self.engine.remove_container(holder["Id"])
        await self.engine.call(lambda api: api.rename(aside["Id"], name))
        if not (aside.get("State") or {}).get("Running"):
            await self.engine.call(lambda api: api.start(aside["Id"]))
        if ComposeService.of((aside.get("Config") or {}).get("Labels")) is not None:
            await compose.restore_tag(self.engine, aside)
        log.warning("container_swap_repaired", container=name)
        return True

    async def _running(self, container: dict[str, Any], name: ImageName) -> ImageRef | None:
        """The image of ``name`` the container runs, with its digest (see ``_with_digest``)."""
        ref = image_of(_image_text(container), self.aliases, name)
        return await self._with_digest(container) if ref is not None else None

    async def _with_digest(self, container: dict[str, Any]) -> ImageRef | None:
        """The image the container runs, with its digest: from the reference it was created
        with, or else from the repository digests of its image."""
        ref = reference(_image_text(container))
        if ref is None or ref.digest is not None:
            return ref
        name = self.aliases.name(ref.name)
        image = await self._inspect_image(container["Image"])
        for text in (image or {}).get("RepoDigests") or []:
            known = image_of(text, self.aliases, name)
            if known is not None and known.digest:
                return ImageRef(name=ref.name, tag=ref.tag, digest=known.digest)
        return ref

    async def _remove_image(self, image_id: str) -> None:
        try:
            await self.engine.call(lambda api: api.remove_image(image_id))
        except docker.errors.APIError as exc:
            # Still used by another container, or already gone: not this deploy's business.
            log.info("container_image_kept", image=image_id, reason=engine_message(exc))

    def _stop_timeout(self, container: dict[str, Any]) -> int | None:
        configured = self.engine.settings.containers.stop_timeout_seconds
        if configured is not None:
            return configured
        own = (container.get("Config") or {}).get("StopTimeout")
        return int(own) if own is not None else None

    async def _inspect(self, name: str) -> dict[str, Any] | None:
        return await self.engine.find(lambda api: api.inspect_container(name))

    async def _inspect_image(self, image_id: str) -> dict[str, Any] | None:
        return await self.engine.find(lambda api: api.inspect_image(image_id))


def _name(summary: dict[str, Any]) -> str:
    names = summary.get("Names") or [""]
    return str(names[0]).lstrip("/")


def _name_of(container: dict[str, Any]) -> str:
    return str(container.get("Name", "")).lstrip("/")


def _image_text(container: dict[str, Any]) -> object:
    return (container.get("Config") or {}).get("Image")
