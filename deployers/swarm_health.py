"""A Swarm service's health by Swarm's own account (pure, no I/O): the service's
``UpdateStatus`` and its tasks (``GET /services/{id}``, ``GET /tasks?filters={"service":...}``,
as the Engine API shapes them).

``SwarmDeployer.health`` reads them once it knows the service's spec runs the image; here they
are judged, in this order:

- the update: ``updating`` or ``rollback_started`` is pending; ``paused``, ``rollback_paused``
  and ``rollback_completed`` failed, in Swarm's words; ``completed`` (or no update at all) says
  nothing yet;
- the tasks on the service's image: one Swarm wants running that ``failed`` or was
  ``rejected``, or one that failed since the service's last update began (a task Swarm
  restarted after it exited: a new task replaces it), fails, with the task's error; one that is
  not running yet (``new`` ... ``starting``), or fewer running than the service's replicas, is
  pending;
- otherwise healthy. Whatever the answer, once the tasks are read it is marked by the IDs of
  the running ones: a task Swarm restarts or replaces is a new task, so the marks change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deployers.base import Health, HealthState
from handlers.payload import parse_rfc3339

# UpdateStatus.State that end an update badly, with what Swarm did.
FAILED_UPDATES = {
    "paused": "Swarm paused the update",
    "rollback_completed": "Swarm rolled the update back",
    "rollback_paused": "Swarm paused the rollback of the update",
}
# UpdateStatus.State of an update under way, with what Swarm does.
UNDER_WAY = {
    "updating": "Swarm is updating the service",
    "rollback_started": "Swarm is rolling the update back",
}
DOWN = frozenset({"failed", "rejected"})


@dataclass(frozen=True, slots=True, kw_only=True)
class SwarmTask:
    """One task of a service (``GET /tasks``)."""

    id: str
    state: str
    desired: str
    image: str
    error: str
    at: datetime | None

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> SwarmTask:
        status = raw.get("Status") or {}
        spec = (raw.get("Spec") or {}).get("ContainerSpec") or {}
        return cls(
            id=str(raw.get("ID") or ""),
            state=str(status.get("State") or ""),
            desired=str(raw.get("DesiredState") or ""),
            image=str(spec.get("Image") or ""),
            error=str(status.get("Err") or status.get("Message") or ""),
            at=parse_rfc3339(status.get("Timestamp")),
        )

    @property
    def short(self) -> str:
        return self.id[:12]  # as ``docker service ps`` shows it

    @property
    def words(self) -> str:
        said = self.error if self.error and self.error != self.state else ""
        return f"task {self.short} {self.state}" + (f": {said}" if said else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class SwarmService:
    """What health looks at in a service (``GET /services/{id}``)."""

    name: str
    image: str
    update: str
    update_words: str
    # When its last update began: the earlier of UpdateStatus.StartedAt and UpdatedAt (which
    # moves again when the update's status is written).
    since: datetime | None
    # Replicas of a replicated service; None for a global one.
    replicas: int | None

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> SwarmService:
        spec = raw.get("Spec") or {}
        status = raw.get("UpdateStatus") or {}
        replicated = (spec.get("Mode") or {}).get("Replicated")
        times = [parse_rfc3339(status.get("StartedAt")), parse_rfc3339(raw.get("UpdatedAt"))]
        return cls(
            name=str(spec.get("Name") or ""),
            image=str(
                ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image") or ""
            ),
            update=str(status.get("State") or ""),
            update_words=str(status.get("Message") or ""),
            since=min((t for t in times if t is not None), default=None),
            replicas=int(replicated.get("Replicas") or 0) if replicated is not None else None,
        )

    def failed_update(self) -> str | None:
        """What Swarm did when the last update went wrong; None when it did not."""
        if self.update not in FAILED_UPDATES:
            return None
        return f"{FAILED_UPDATES[self.update]}: {self.update_words}".removesuffix(": ")

    def update_under_way(self) -> str | None:
        """What Swarm is doing while an update or its rollback runs; None when none runs."""
        if self.update not in UNDER_WAY:
            return None
        return f"{UNDER_WAY[self.update]}: {self.update_words}".removesuffix(": ")


def judge(service: SwarmService, tasks: Sequence[SwarmTask]) -> Health:
    """The service's health from its update and its tasks (module docstring)."""
    under_way = service.update_under_way()
    if under_way is not None:
        return Health.pending(under_way)
    failed = service.failed_update()
    if failed is not None:
        return Health.failed(failed)
    ours = [t for t in tasks if t.image == service.image]
    wanted = sorted((t for t in ours if t.desired == "running"), key=lambda t: t.id)
    running = [t for t in wanted if t.state == "running"]
    marks = ",".join(t.id for t in running)
    down = next((t for t in wanted if t.state in DOWN), None) or _failed_since(service, ours)
    if down is not None:
        return Health(state=HealthState.FAILED, words=down.words, marks=marks)
    starting = next((t for t in wanted if t.state != "running"), None)
    if starting is not None:
        return Health(state=HealthState.PENDING, words=starting.words, marks=marks)
    if service.replicas is not None and len(running) < service.replicas:
        words = f"{len(running)} of {service.replicas} tasks running"
        return Health(state=HealthState.PENDING, words=words, marks=marks)
    plural = "task" if len(running) == 1 else "tasks"
    return Health(state=HealthState.HEALTHY, words=f"{len(running)} {plural} running", marks=marks)


def _failed_since(service: SwarmService, tasks: Sequence[SwarmTask]) -> SwarmTask | None:
    """The latest task that failed since the service's last update began."""
    failed = [
        (t.at, t.id, t)
        for t in tasks
        if t.state in DOWN and t.at is not None and (service.since is None or t.at >= service.since)
    ]
    return max(failed, default=(None, "", None))[2]
