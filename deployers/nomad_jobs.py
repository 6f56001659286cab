"""A Nomad job as its JSON says it: the image a task runs, the job with tasks moved to another
image, whether it rolls out by deployment, when its version was submitted (pure, no I/O)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from handlers.references import ImageRef, as_written, parse_reference
from receiver.errors import InvalidReference


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRef:
    """A task of a job (its group and name) and the image it runs."""

    group: str
    task: str
    image: ImageRef


def task_image(task: dict[str, Any]) -> ImageRef | None:
    """The image a task's ``config.image`` names, or None (not a reference)."""
    text = (task.get("Config") or {}).get("image")
    if not isinstance(text, str):
        return None
    try:
        return parse_reference(text)
    except InvalidReference:
        return None


def with_image(job: dict[str, Any], tasks: list[TaskRef], image: ImageRef) -> dict[str, Any]:
    """The job with each task in ``tasks`` on ``image``, under the registry name the task
    already uses."""
    updated = copy.deepcopy(job)
    wanted = {(t.group, t.task): as_written(t.image, image) for t in tasks}
    for group in updated["TaskGroups"]:
        for task in group["Tasks"]:
            ref = wanted.get((group["Name"], task["Name"]))
            if ref is not None:
                task["Config"]["image"] = str(ref)
    return updated


def has_rollout(job: dict[str, Any]) -> bool:
    """A service job with an update stanza (job or group level) rolls out by deployment."""
    if job.get("Type", "service") != "service":
        return False
    stanzas = [job.get("Update")] + [g.get("Update") for g in job.get("TaskGroups") or []]
    return any(u and int(u.get("MaxParallel") or 0) > 0 for u in stanzas)


def spec_index(deployment: dict[str, Any]) -> int:
    """The job modify index of the job version a deployment rolls out."""
    return int(deployment.get("JobSpecModifyIndex") or deployment.get("JobModifyIndex") or -1)


def uses(job: dict[str, Any], stanza: str) -> bool:
    """Whether any task or group of the job has ``stanza``."""
    tasks = [t for g in job.get("TaskGroups") or [] for t in g.get("Tasks") or []]
    return any(t.get(stanza) for t in tasks) or any(
        g.get(stanza) for g in job.get("TaskGroups") or []
    )


def submitted(job: dict[str, Any]) -> datetime | None:
    """When the job's current version was submitted (``SubmitTime``, nanoseconds)."""
    submitted = job.get("SubmitTime")
    if not isinstance(submitted, int) or isinstance(submitted, bool) or submitted <= 0:
        return None
    return datetime.fromtimestamp(submitted / 1e9, tz=UTC)
