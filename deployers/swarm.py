"""Docker Swarm services: set the service's image and follow Swarm's own rolling update.

The spec is sent back whole with the version index it was read at, so a change someone made in
between makes the engine answer "update out of sequence": that is a conflict (read again,
decided again), never an overwrite. The service's ``UpdateConfig`` (order, parallelism,
failure_action, monitor) is left as it is: Swarm rolls out, regdeploy watches ``UpdateStatus``
until it is ``completed`` (success), ``paused`` or ``rollback_completed`` (a failed deploy,
with Swarm's message), or the rollout timeout passes.

As the Docker CLI does, an update also sets the service's ``Placement.Platforms`` to the
platforms of the new image, which the engine reads from the registry
(``GET /distribution/{name}/json``), so that Swarm places tasks only on nodes that can run it;
when the engine cannot tell, the platforms stay as they are. ``platforms`` counts the nodes the
service can be placed on (``deployers.swarm_placement``). ``health`` reads the service and its
tasks and judges them (``deployers.swarm_health``).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import docker.errors
import requests
import structlog

from deployers.base import DeployOutcome, DeployResult, Health, Running, Target, Workload
from deployers.docker_engine import (
    EngineDeployer,
    Labels,
    engine_message,
    image_of,
    reference,
)
from deployers.swarm_health import FAILED_UPDATES, SwarmService, SwarmTask, judge
from deployers.swarm_placement import SwarmNode, node_platforms, service_platforms
from handlers.payload import parse_rfc3339
from handlers.references import ImageName, ImageRef, as_written
from receiver.errors import DeployerUnavailable

log = structlog.get_logger("regdeploy.swarm")

KIND = "swarm"
_OUT_OF_SEQUENCE = "update out of sequence"


@dataclass
class SwarmDeployer(EngineDeployer):
    kind: str = KIND

    async def workloads(self) -> list[Workload]:
        """Services labelled for regdeploy, since their last update. An engine that is not a
        swarm manager has no services to offer."""
        settings = self.engine.settings
        try:
            services = await self.engine.call(
                lambda api: api.services(filters={"label": settings.opt_in_label})
            )
        except docker.errors.APIError as exc:
            if exc.status_code == 503:
                return []
            raise
        found = []
        for service in services:
            spec = service.get("Spec") or {}
            labels = Labels.read(spec.get("Labels"), settings)
            image = reference(_image_text(spec))
            if labels.enabled and image is not None:
                found.append(
                    Workload(
                        target=labels.target(KIND, spec["Name"]),
                        images=(image,),
                        since=parse_rfc3339(service.get("UpdatedAt")),
                    )
                )
        return found

    async def changes(self) -> AsyncIterator[None]:
        """A service was created, updated or removed."""
        async for _ in self.engine.events("service"):
            yield

    async def current(self, target: Target, name: ImageName) -> Running | None:
        service = await self.engine.find(lambda api: api.inspect_service(target.name))
        if service is None:
            return None
        image = image_of(_image_text(service["Spec"]), self.aliases, name)
        since = parse_rfc3339(service.get("UpdatedAt"))
        return Running(image=image, since=since) if image is not None else None

    async def deploy(self, target: Target, image: ImageRef) -> DeployResult:
        try:
            return await self._deploy(target, image)
        except docker.errors.NotFound:
            return DeployResult.failed(f"no Swarm service {target.name}", retry=False)
        except docker.errors.APIError as exc:
            if exc.status_code == 503:
                return DeployResult.failed(
                    f"the engine is not a swarm manager: {engine_message(exc)}", retry=False
                )
            return DeployResult.failed(f"the engine refused: {engine_message(exc)}", retry=True)
        except docker.errors.DockerException as exc:
            return DeployResult.failed(
                f"the Docker engine did not answer: {engine_message(exc)}", retry=True
            )

    async def platforms(self, target: Target) -> Mapping[str, int]:
        """The platforms of the active, ready nodes that satisfy the service's placement
        constraints, with how many of each; none when there is no such service. Raises
        ``DeployerUnavailable`` when the engine does not answer, or is no swarm manager (503)."""
        try:
            service = await self.engine.find(lambda api: api.inspect_service(target.name))
            if service is None:
                return {}
            nodes = await self.engine.call(lambda api: api.nodes())
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            # 503 included: not a manager, or no leader now; the check waits for the answer.
            raise _unavailable(exc) from exc
        placement = (service["Spec"].get("TaskTemplate") or {}).get("Placement") or {}
        constraints = [str(c) for c in placement.get("Constraints") or []]
        return node_platforms([SwarmNode.read(node) for node in nodes], constraints)

    async def health(self, target: Target, image: ImageRef) -> Health:
        """Whether the service runs ``image`` and Swarm counts it healthy, by its update and
        its tasks (``deployers.swarm_health``). Raises ``DeployerUnavailable`` when the engine
        does not answer, or is no swarm manager (503)."""
        try:
            found = await self.engine.find(lambda api: api.inspect_service(target.name))
            if found is None:
                return Health.failed(f"no Swarm service {target.name}")
            service = SwarmService.read(found)
            running = image_of(service.image, self.aliases, image.name)
            if running is None or running.digest != image.digest:
                words = f"service {target.name} runs {service.image}, not {image}"
                said = service.failed_update() or service.update_under_way()
                return Health.failed(f"{said}; {words}" if said else words)
            tasks = await self.engine.call(lambda api: api.tasks(filters={"service": found["ID"]}))
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise _unavailable(exc) from exc
        return judge(service, [SwarmTask.read(task) for task in tasks])

    async def _deploy(self, target: Target, image: ImageRef) -> DeployResult:
        service = await self._inspect(target)
        spec = service["Spec"]
        running = image_of(_image_text(spec), self.aliases, image.name)
        if running is None:
            return DeployResult.failed(
                f"service {target.name} runs no image of {image.name}", retry=False
            )
        if running.digest == image.digest:
            return DeployResult(outcome=DeployOutcome.SUCCEEDED, message=f"already runs {image}")
        wanted = as_written(running, image)
        before = (service.get("UpdateStatus") or {}).get("StartedAt")
        updated = copy.deepcopy(spec)
        updated["TaskTemplate"]["ContainerSpec"]["Image"] = str(wanted)
        platforms = await self._image_platforms(str(wanted))
        if platforms:
            placement = updated["TaskTemplate"].get("Placement") or {}
            updated["TaskTemplate"]["Placement"] = {**placement, "Platforms": platforms}
        version = service["Version"]["Index"]
        try:
            answer = await self.engine.call(
                lambda api: api.update_service(
                    service["ID"],
                    version,
                    task_template=updated["TaskTemplate"],
                    name=updated["Name"],
                    labels=updated.get("Labels") or {},
                    mode=updated.get("Mode"),
                    update_config=updated.get("UpdateConfig"),
                    rollback_config=updated.get("RollbackConfig"),
                    endpoint_spec=updated.get("EndpointSpec"),
                )
            )
        except docker.errors.APIError as exc:
            if _OUT_OF_SEQUENCE in engine_message(exc):
                return DeployResult(outcome=DeployOutcome.CONFLICT, message=engine_message(exc))
            raise
        log.info(
            "swarm_service_updated",
            service=target.name,
            image=str(wanted),
            version=version,
            warnings=(answer or {}).get("Warnings") or [],
        )
        return await self._follow(target, before)

    async def _follow(self, target: Target, before: str | None) -> DeployResult:
        """Poll ``UpdateStatus`` until the update this deploy started is done. A status whose
        ``StartedAt`` is the one seen before the update belongs to an earlier update."""
        settings = self.engine.settings.swarm
        deadline = time.monotonic() + settings.rollout_timeout_seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(settings.poll_seconds)
            service = await self._inspect(target)
            status = service.get("UpdateStatus") or {}
            if not status or status.get("StartedAt") == before:
                # Swarm starts no rolling update when there is no task to replace.
                if not await self._has_tasks(service["ID"]):
                    return DeployResult(
                        outcome=DeployOutcome.SUCCEEDED, message="no task to update"
                    )
                continue
            state, message = status.get("State"), status.get("Message") or ""
            if state == "completed":
                return DeployResult(outcome=DeployOutcome.SUCCEEDED, message=message)
            if state in FAILED_UPDATES:
                return DeployResult.failed(f"{FAILED_UPDATES[state]}: {message}", retry=False)
        return DeployResult.failed(
            f"the update of service {target.name} did not finish within "
            f"{settings.rollout_timeout_seconds:g} s",
            retry=False,
        )

    async def _image_platforms(self, image: str) -> list[dict[str, str]]:
        """The ``Placement.Platforms`` the Docker CLI would give a service on ``image``; none
        when the engine cannot reach the registry or read the image there."""
        try:
            answer = await self.engine.call(lambda api: api.inspect_distribution(image))
        except (docker.errors.DockerException, requests.RequestException) as exc:
            log.warning("swarm_platforms_unknown", image=image, reason=engine_message(exc))
            return []
        return service_platforms((answer or {}).get("Platforms") or [])

    async def _has_tasks(self, service_id: str) -> bool:
        tasks = await self.engine.call(
            lambda api: api.tasks(filters={"service": service_id, "desired-state": "running"})
        )
        return bool(tasks)

    async def _inspect(self, target: Target) -> dict[str, Any]:
        service: dict[str, Any] = await self.engine.call(
            lambda api: api.inspect_service(target.name)
        )
        return service


def _unavailable(exc: BaseException) -> DeployerUnavailable:
    return DeployerUnavailable(
        f"the Docker engine did not answer: {engine_message(exc)}", kind=KIND
    )


def _image_text(spec: dict[str, Any]) -> object:
    return ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image")
