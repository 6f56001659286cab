"""A Nomad job's health by Nomad's own account (pure, no I/O): its latest deployment
(``GET /v1/job/:id/deployment``) and its allocations (``GET /v1/job/:id/allocations``, each an
``AllocListStub`` with its ``TaskStates``), as ``nomad/structs`` shapes them.

``NomadDeployer.health`` reads them once it knows the job's tasks in scope run the image; here
they are judged, in this order:

- the latest deployment, when it rolls out the job's current version: active (``running``,
  ``pending``, ``paused``, ``blocked``, ``initializing``, ``unblocking``) is pending, with how
  many of its allocations are healthy; ``failed`` or ``cancelled`` is failed, in its own words;
  ``successful`` says nothing yet. A version without a deployment (no update block with
  ``max_parallel``) is judged from its allocations alone;
- the allocations of the current version that Nomad wants running (``DesiredStatus`` ``run``)
  in the target's groups: one ``failed`` or ``lost`` fails (with its task's last event, as
  ``nomad alloc status`` shows it), so does a task that restarted, and one the deployment
  reported unhealthy; one still ``pending``, fewer running than the group's ``Count``, or (in a
  deployment) one whose health is not reported yet is pending;
- otherwise healthy. Whatever the answer, once the allocations are read it is marked by each
  one's ID and restart count: a restart, a replacement or a reschedule changes the marks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from deployers.base import Health, HealthState
from handlers.references import ImageRef

ACTIVE = frozenset({"running", "pending", "paused", "blocked", "initializing", "unblocking"})
ENDED_BADLY = frozenset({"failed", "cancelled"})
DOWN = frozenset({"failed", "lost"})


@dataclass(frozen=True, slots=True, kw_only=True)
class NomadTaskRun:
    """One task of an allocation as its client reports it (``TaskState``)."""

    name: str
    state: str
    failed: bool
    restarts: int
    # The last event's DisplayMessage, and the last exit's when that came before it.
    last: str
    exit: str

    @classmethod
    def read(cls, name: str, raw: Mapping[str, Any]) -> NomadTaskRun:
        events = [e for e in raw.get("Events") or [] if isinstance(e, Mapping)]
        said = [str(e.get("DisplayMessage") or e.get("Type") or "") for e in events]
        exits = [s for e, s in zip(events, said, strict=True) if e.get("Type") == "Terminated"]
        return cls(
            name=name,
            state=str(raw.get("State") or ""),
            failed=bool(raw.get("Failed")),
            restarts=int(raw.get("Restarts") or 0),
            last=said[-1] if said else "",
            exit=exits[-1] if exits else "",
        )

    @property
    def words(self) -> str:
        """``task web: Exceeded allowed attempts... (Exit Code: 1)``."""
        said = self.last or self.state
        if self.exit and self.exit != said:
            said = f"{said} ({self.exit})"
        return f"task {self.name}: {said}"


@dataclass(frozen=True, slots=True, kw_only=True)
class NomadAllocation:
    """One allocation of a job, as ``GET /v1/job/:id/allocations`` lists it."""

    id: str
    group: str
    version: int
    desired: str
    client: str
    client_words: str
    # DeploymentStatus.Healthy: None until the client reports it (or outside a deployment).
    healthy: bool | None
    tasks: tuple[NomadTaskRun, ...]

    @classmethod
    def read(cls, stub: Mapping[str, Any]) -> NomadAllocation:
        states = stub.get("TaskStates") or {}
        healthy = (stub.get("DeploymentStatus") or {}).get("Healthy")
        return cls(
            id=str(stub.get("ID") or ""),
            group=str(stub.get("TaskGroup") or ""),
            version=int(stub.get("JobVersion") or 0),
            desired=str(stub.get("DesiredStatus") or ""),
            client=str(stub.get("ClientStatus") or ""),
            client_words=str(stub.get("ClientDescription") or ""),
            healthy=healthy if isinstance(healthy, bool) else None,
            tasks=tuple(NomadTaskRun.read(str(n), s) for n, s in sorted(states.items())),
        )

    @property
    def short(self) -> str:
        return self.id[:8]

    @property
    def mark(self) -> str:
        return f"{self.id}:{sum(task.restarts for task in self.tasks)}"

    def failure(self) -> str | None:
        """What went wrong with it, in a person's words; None when nothing did."""
        if self.client in DOWN:
            failed = [t for t in self.tasks if t.failed] or [t for t in self.tasks if t.last]
            said = failed[0].words if failed else self.client_words or self.client
            return f"allocation {self.short} {self.client}: {said}"
        restarted = next((t for t in self.tasks if t.restarts > 0), None)
        if restarted is not None:
            times = f"{restarted.restarts} time" + ("s" if restarted.restarts > 1 else "")
            exited = f" ({restarted.exit})" if restarted.exit else ""
            return f"allocation {self.short}: task {restarted.name} restarted {times}{exited}"
        if self.healthy is False:
            return f"allocation {self.short} is unhealthy in its deployment"
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class NomadRollout:
    """A job's latest deployment (``GET /v1/job/:id/deployment``), over the target's groups."""

    version: int
    status: str
    description: str
    healthy: int
    desired: int

    @classmethod
    def read(cls, raw: Mapping[str, Any], groups: Iterable[str]) -> NomadRollout:
        states = raw.get("TaskGroups") or {}
        ours = [states[g] for g in groups if g in states] or list(states.values())
        return cls(
            version=int(raw.get("JobVersion") or 0),
            status=str(raw.get("Status") or ""),
            description=str(raw.get("StatusDescription") or ""),
            healthy=sum(int(s.get("HealthyAllocs") or 0) for s in ours),
            desired=sum(int(s.get("DesiredTotal") or 0) for s in ours),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class NomadJobScope:
    """What the job wants of the target's groups: its version and each group's count."""

    name: str
    version: int
    counts: Mapping[str, int]
    stopped: bool = False

    @classmethod
    def read(cls, job: Mapping[str, Any], groups: Iterable[str]) -> NomadJobScope:
        wanted = set(groups)
        return cls(
            name=str(job.get("ID") or ""),
            version=int(job.get("Version") or 0),
            counts={
                str(g.get("Name")): int(g.get("Count") or 0)
                for g in job.get("TaskGroups") or []
                if g.get("Name") in wanted
            },
            stopped=bool(job.get("Stop")),
        )


def other_image(
    job: str, image: ImageRef, ours: Mapping[str, ImageRef], others: Mapping[str, ImageRef]
) -> str | None:
    """Why the job does not run ``image``: ``ours``, its tasks in scope (``group/task``) that
    run an image of its repository, must all run its digest; None when they do. ``others``:
    every Docker or Podman task in scope, to say what it runs instead."""
    wrong = next(((name, ref) for name, ref in ours.items() if not _same(ref, image)), None)
    if wrong is not None:
        return f"task {wrong[0]} of job {job} runs {wrong[1]}, not {image}"
    if ours:
        return None
    if not others:
        return f"job {job} has no Docker or Podman task in scope"
    return f"job {job} runs {', '.join(sorted({str(ref) for ref in others.values()}))}, not {image}"


def _same(running: ImageRef, image: ImageRef) -> bool:
    """By digest; an image without one by its tag (a task that runs one by tag alone)."""
    if image.digest is not None or running.digest is not None:
        return running.digest == image.digest
    return running.tag == image.tag


def judge(
    *,
    job: NomadJobScope,
    deployment: NomadRollout | None,
    allocations: Sequence[NomadAllocation],
) -> Health:
    """The job's health from its latest deployment and its allocations (module docstring)."""
    if job.stopped:
        return Health.failed(f"job {job.name} is stopped")
    current = sorted(
        (
            a
            for a in allocations
            if a.version == job.version and a.desired == "run" and a.group in job.counts
        ),
        key=lambda a: a.id,
    )
    marks = ",".join(sorted(a.mark for a in current))
    failure = next((f for a in current if (f := a.failure()) is not None), None)
    deployed = deployment is not None and deployment.version == job.version
    if deployment is not None and deployed:
        if deployment.status in ACTIVE:
            progress = f"{deployment.healthy} of {deployment.desired} healthy"
            words = f"deployment {deployment.status}: {progress}"
            return Health(state=HealthState.PENDING, words=words, marks=marks)
        if deployment.status in ENDED_BADLY:
            words = f"deployment {deployment.status}: {deployment.description}"
            words += f"; {failure}" if failure else ""
            return Health(state=HealthState.FAILED, words=words, marks=marks)
    if failure is not None:
        return Health(state=HealthState.FAILED, words=failure, marks=marks)
    waiting = _waiting(job, current, deployed=deployed)
    if waiting is not None:
        return Health(state=HealthState.PENDING, words=waiting, marks=marks)
    plural = "allocation" if len(current) == 1 else "allocations"
    words = f"{len(current)} {plural} of version {job.version} running"
    words += " and healthy" if deployed else ""
    return Health(state=HealthState.HEALTHY, words=words, marks=marks)


def _waiting(
    job: NomadJobScope, current: Sequence[NomadAllocation], *, deployed: bool
) -> str | None:
    """Why the allocations are not all up yet, or None when they are."""
    running = [a for a in current if a.client == "running"]
    wanted = sum(job.counts.values())
    short = [g for g, n in job.counts.items() if sum(a.group == g for a in running) < n]
    if short:
        return f"{len(running)} of {wanted} allocations of version {job.version} running"
    starting = next((a for a in current if a.client != "running"), None)
    if starting is not None:
        return f"allocation {starting.short} {starting.client}"
    unreported = next((a for a in running if deployed and a.healthy is None), None)
    if unreported is not None:
        return f"allocation {unreported.short}: health not reported yet"
    return None
