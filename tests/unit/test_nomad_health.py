"""A Nomad job's health by its latest deployment and its allocations, as a person reads it
(``deployers.nomad_health``: ``judge``, ``other_image``), from the shapes Nomad's HTTP API
answers (``AllocListStub`` with its ``TaskStates``, ``Deployment``) (tables)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deployers.base import Health, HealthState
from deployers.nomad_health import (
    ACTIVE,
    NomadAllocation,
    NomadJobScope,
    NomadRollout,
    NomadTaskRun,
    judge,
    other_image,
)
from handlers.references import ImageRef, parse_reference

A1 = "1a2b3c4d-0000-4000-8000-000000000001"
A2 = "5e6f7a8b-0000-4000-8000-000000000002"
A3 = "9c0d1e2f-0000-4000-8000-000000000003"
A4 = "d4c3b2a1-0000-4000-8000-000000000004"
REPO = "registry.example/team/app"
NEW = f"{REPO}:1.1@sha256:{'2' * 64}"
OLD = f"{REPO}:1.0@sha256:{'1' * 64}"
EXCEEDED = 'Exceeded allowed attempts 2 in interval 30m0s and mode is "fail"'


def event(kind: str, display: str = "") -> dict[str, Any]:
    """A ``TaskEvent`` as the client reports it."""
    return {"Type": kind, "DisplayMessage": display, "Time": 1_700_000_000_000_000_000}


STARTED = [event("Received", "Task received by client"), event("Started", "Task started by client")]
CRASHED = [
    *STARTED,
    event("Terminated", "Exit Code: 1"),
    event("Restarting", "Task restarting in 15s"),
    event("Started", "Task started by client"),
    event("Terminated", "Exit Code: 1"),
    event("Not Restarting", EXCEEDED),
]
OOM = [*STARTED, event("Terminated", "Exit Code: 137"), event("Started", "Task started by client")]


def task(
    state: str = "running",
    *,
    failed: bool = False,
    restarts: int = 0,
    events: Sequence[Mapping[str, Any]] = STARTED,
) -> dict[str, Any]:
    """A ``TaskState``."""
    return {"State": state, "Failed": failed, "Restarts": restarts, "Events": list(events)}


def alloc(
    alloc_id: str = A1,
    *,
    group: str = "web",
    version: int = 4,
    desired: str = "run",
    client: str = "running",
    healthy: bool | None = True,
    tasks: Mapping[str, Mapping[str, Any]] | None = None,
    words: str = "Tasks are running",
) -> NomadAllocation:
    """An allocation as ``GET /v1/job/:id/allocations`` lists it (its deployment's health:
    ``healthy``, None when not reported)."""
    status = None if healthy is None else {"Healthy": healthy, "Canary": False}
    return NomadAllocation.read(
        {
            "ID": alloc_id,
            "TaskGroup": group,
            "JobVersion": version,
            "DesiredStatus": desired,
            "ClientStatus": client,
            "ClientDescription": words,
            "DeploymentStatus": status,
            "TaskStates": dict(tasks) if tasks is not None else {"server": task()},
        }
    )


def crashed(alloc_id: str = A1, **options: Any) -> NomadAllocation:
    """An allocation whose task ``server`` crashed out of its restart policy."""
    dead = task("dead", failed=True, restarts=2, events=CRASHED)
    return alloc(alloc_id, client="failed", healthy=False, tasks={"server": dead},
                 words="Failed tasks", **options)  # fmt: skip


def restarted(alloc_id: str = A1, times: int = 1, **options: Any) -> NomadAllocation:
    return alloc(alloc_id, tasks={"server": task(restarts=times, events=OOM)}, **options)


def deployment(
    status: str = "successful",
    *,
    version: int = 4,
    healthy: int = 2,
    desired: int = 2,
    description: str = "Deployment completed successfully",
) -> NomadRollout:
    """The job's latest deployment (``GET /v1/job/:id/deployment``) for group ``web``."""
    groups = {"web": {"HealthyAllocs": healthy, "DesiredTotal": desired}}
    raw = {"JobVersion": version, "Status": status, "StatusDescription": description,
           "TaskGroups": groups}  # fmt: skip
    return NomadRollout.read(raw, ["web"])


JOB = NomadJobScope(name="app", version=4, counts={"web": 2})
BOTH = [alloc(A1), alloc(A2)]


# (id, job, deployment, allocations, state, words)
CASES: list[tuple[str, NomadJobScope, NomadRollout | None, list[NomadAllocation], str, str]] = [
    ("stopped", NomadJobScope(name="app", version=4, counts={"web": 2}, stopped=True),
     deployment(), BOTH, "failed", "job app is stopped"),
    ("successful deployment, all healthy", JOB, deployment(), BOTH,
     "healthy", "2 allocations of version 4 running and healthy"),
    ("one allocation", NomadJobScope(name="app", version=4, counts={"web": 1}), deployment(),
     [alloc(A1)], "healthy", "1 allocation of version 4 running and healthy"),
    ("no deployment (no update block)", JOB, None, [alloc(A1, healthy=None),
     alloc(A2, healthy=None)], "healthy", "2 allocations of version 4 running"),
    ("the deployment is an older version's", JOB, deployment("running", version=3),
     [alloc(A1, healthy=None), alloc(A2, healthy=None)],
     "healthy", "2 allocations of version 4 running"),
    ("an older version's deployment failed", JOB,
     deployment("failed", version=3, description="Failed due to unhealthy allocations"),
     BOTH, "healthy", "2 allocations of version 4 running"),
    ("deployment running", JOB, deployment("running", healthy=1), BOTH,
     "pending", "deployment running: 1 of 2 healthy"),
    ("deployment running, an allocation crashed: Nomad decides", JOB,
     deployment("running", healthy=1), [crashed(A1), alloc(A2)],
     "pending", "deployment running: 1 of 2 healthy"),
    ("deployment failed", JOB,
     deployment("failed", healthy=1, description="Failed due to unhealthy allocations"),
     [crashed(A1), alloc(A2)], "failed",
     "deployment failed: Failed due to unhealthy allocations; allocation 1a2b3c4d failed: "
     f"task server: {EXCEEDED} (Exit Code: 1)"),
    ("deployment cancelled", JOB,
     deployment("cancelled", description="Cancelled due to newer version of job"), BOTH,
     "failed", "deployment cancelled: Cancelled due to newer version of job"),
    ("an allocation failed after a successful deployment", JOB, deployment(),
     [alloc(A1), crashed(A2)], "failed",
     f"allocation 5e6f7a8b failed: task server: {EXCEEDED} (Exit Code: 1)"),
    ("an allocation lost with its node", JOB, deployment(),
     [alloc(A1, client="lost", tasks={}, words="alloc is lost since its node is down"),
      alloc(A2)], "failed", "allocation 1a2b3c4d lost: alloc is lost since its node is down"),
    ("lost, saying nothing", JOB, deployment(),
     [alloc(A1, client="lost", tasks={}, words=""), alloc(A2)],
     "failed", "allocation 1a2b3c4d lost: lost"),
    ("failed, no task failed: the task that said something", JOB, deployment(),
     [alloc(A1, client="failed", words="Failed tasks",
            tasks={"server": task("dead", events=[*STARTED, event("Killed", "Task killed")])}),
      alloc(A2)], "failed", "allocation 1a2b3c4d failed: task server: Task killed"),
    ("the first failure by allocation id", JOB, deployment(),
     [crashed(A2), alloc(A1, client="lost", tasks={}, words="node down")],
     "failed", "allocation 1a2b3c4d lost: node down"),
    ("a task restarted once", JOB, deployment(), [restarted(A1), alloc(A2)],
     "failed", "allocation 1a2b3c4d: task server restarted 1 time (Exit Code: 137)"),
    ("a task restarted twice", JOB, deployment(), [alloc(A1), restarted(A2, 2)],
     "failed", "allocation 5e6f7a8b: task server restarted 2 times (Exit Code: 137)"),
    ("restarted without an exit", JOB, deployment(),
     [alloc(A1, tasks={"server": task(restarts=1)}), alloc(A2)],
     "failed", "allocation 1a2b3c4d: task server restarted 1 time"),
    ("unhealthy in its deployment", JOB, deployment(), [alloc(A1, healthy=False), alloc(A2)],
     "failed", "allocation 1a2b3c4d is unhealthy in its deployment"),
    ("fewer running than the count", JOB, deployment(), [alloc(A1)],
     "pending", "1 of 2 allocations of version 4 running"),
    ("none running yet", JOB, None, [], "pending", "0 of 2 allocations of version 4 running"),
    ("a group short, counted over the groups",
     NomadJobScope(name="app", version=4, counts={"web": 2, "worker": 1}), None,
     [alloc(A1), alloc(A2), alloc(A3, group="worker", client="pending", tasks={})],
     "pending", "2 of 3 allocations of version 4 running"),
    ("one more still starting", JOB, None,
     [alloc(A1), alloc(A2), alloc(A3, client="pending", healthy=None, tasks={})],
     "pending", "allocation 9c0d1e2f pending"),
    ("health not reported yet", JOB, deployment(), [alloc(A1), alloc(A2, healthy=None)],
     "pending", "allocation 5e6f7a8b: health not reported yet"),
    ("others are not looked at: older version, stopping, another group", JOB, deployment(),
     [alloc(A1), alloc(A2), crashed(A3, version=3), restarted(A4, desired="stop"),
      crashed(A4, group="batch")],
     "healthy", "2 allocations of version 4 running and healthy"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("job", "rollout", "allocations", "state", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_judge(
    job: NomadJobScope,
    rollout: NomadRollout | None,
    allocations: list[NomadAllocation],
    state: str,
    words: str,
) -> None:
    health = judge(job=job, deployment=rollout, allocations=allocations)
    assert (health.state, health.words) == (HealthState(state), words)


@pytest.mark.parametrize("status", sorted(ACTIVE))
def test_every_active_deployment_is_pending_with_its_progress(status: str) -> None:
    health = judge(job=JOB, deployment=deployment(status, healthy=0), allocations=BOTH)
    assert (health.state, health.words) == (
        HealthState.PENDING,
        f"deployment {status}: 0 of 2 healthy",
    )


def test_the_marks_are_each_current_allocation_with_its_restarts() -> None:
    sidecar = {"server": task(restarts=1, events=OOM), "log": task(restarts=2, events=OOM)}
    allocations = [alloc(A2), alloc(A1, tasks=sidecar), alloc(A3, version=3)]
    health = judge(job=JOB, deployment=deployment("running"), allocations=allocations)
    assert health == Health(
        state=HealthState.PENDING, words="deployment running: 2 of 2 healthy",
        marks=f"{A1}:3,{A2}:0",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "allocations"),
    [
        ("a task restarted", [restarted(A1), alloc(A2)]),
        ("an allocation replaced", [alloc(A3), alloc(A2)]),
        ("an allocation gone", [alloc(A2)]),
    ],
)
def test_the_marks_change_when_what_runs_changes(
    change: str, allocations: list[NomadAllocation]
) -> None:
    before = judge(job=JOB, deployment=deployment(), allocations=BOTH)
    after = judge(job=JOB, deployment=deployment(), allocations=allocations)
    assert before.marks == f"{A1}:0,{A2}:0"
    assert after.marks != before.marks, change


def test_a_stopped_job_has_no_marks() -> None:
    stopped = NomadJobScope(name="app", version=4, counts={"web": 2}, stopped=True)
    assert judge(job=stopped, deployment=None, allocations=BOTH).marks == ""


# (id, task state as the client reports it, what a person reads)
TASK_WORDS = [
    ("the last event", task(), "task server: Task started by client"),
    ("no event: its state", task("pending", events=[]), "task server: pending"),
    ("the last exit after the last event", task("dead", failed=True, events=CRASHED),
     f"task server: {EXCEEDED} (Exit Code: 1)"),
    ("the last event is the exit",
     task("dead", events=[*STARTED, event("Terminated", "Exit Code: 2")]),
     "task server: Exit Code: 2"),
    ("an event without words: its type", task(events=[event("Driver")]), "task server: Driver"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "words"), [case[1:] for case in TASK_WORDS], ids=[case[0] for case in TASK_WORDS]
)
def test_a_task_in_words(raw: dict[str, Any], words: str) -> None:
    assert NomadTaskRun.read("server", raw).words == words


@pytest.mark.parametrize(("groups", "counted"), [(["web"], (2, 3)), (["db"], (3, 4))])
def test_a_deployment_counts_the_targets_groups_else_all(
    groups: list[str], counted: tuple[int, int]
) -> None:
    states = {
        "web": {"HealthyAllocs": 2, "DesiredTotal": 3},
        "worker": {"HealthyAllocs": 1, "DesiredTotal": 1},
    }
    raw = {"JobVersion": 7, "Status": "running", "StatusDescription": "", "TaskGroups": states}
    read = NomadRollout.read(raw, groups)
    assert (read.healthy, read.desired) == counted


def test_a_job_scope_counts_the_targets_groups() -> None:
    job = {
        "ID": "app",
        "Version": 9,
        "Stop": False,
        "TaskGroups": [{"Name": "web", "Count": 3}, {"Name": "worker", "Count": 1}],
    }
    assert NomadJobScope.read(job, ["web"]) == NomadJobScope(
        name="app", version=9, counts={"web": 3}
    )


def ref(text: str) -> ImageRef:
    return parse_reference(text)


# (id, the tasks in scope on an image of the repository, every Docker task in scope, words)
OTHER_IMAGE: list[tuple[str, dict[str, str], dict[str, str], str | None]] = [
    ("every task runs its digest", {"web/server": NEW, "worker/jobs": NEW}, {}, None),
    ("the digest under another tag", {"web/server": f"{REPO}:latest@sha256:{'2' * 64}"}, {},
     None),
    ("a task on another digest", {"web/server": NEW, "worker/jobs": OLD}, {},
     f"task worker/jobs of job app runs {OLD}, not {NEW}"),
    ("a task on the tag alone", {"web/server": f"{REPO}:1.1"}, {},
     f"task web/server of job app runs {REPO}:1.1, not {NEW}"),
    ("no task of the repository", {}, {"web/log": "busybox:1.36", "web/proxy": "nginx:1.27",
     "worker/log": "busybox:1.36"},
     f"job app runs docker.io/library/busybox:1.36, docker.io/library/nginx:1.27, not {NEW}"),
    ("no Docker task at all", {}, {}, "job app has no Docker or Podman task in scope"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("ours", "others", "words"),
    [case[1:] for case in OTHER_IMAGE],
    ids=[case[0] for case in OTHER_IMAGE],
)
def test_other_image(ours: dict[str, str], others: dict[str, str], words: str | None) -> None:
    found = other_image(
        "app",
        ref(NEW),
        {name: ref(image) for name, image in ours.items()},
        {name: ref(image) for name, image in (others or ours).items()},
    )
    assert found == words


POOL = [
    alloc(A1),
    restarted(A2),
    crashed(A3),
    alloc(A4, client="pending", healthy=None, tasks={}),
    alloc("e5f6a7b8-0000-4000-8000-000000000005", healthy=None),
    crashed("f6a7b8c9-0000-4000-8000-000000000006", version=3),
]


@given(st.lists(st.sampled_from(POOL), unique=True), st.randoms())
def test_the_order_nomad_lists_allocations_in_does_not_matter(
    allocations: list[NomadAllocation], rng: Any
) -> None:
    shuffled = list(allocations)
    rng.shuffle(shuffled)
    for rollout in (None, deployment(), deployment("failed", description="Failed")):
        assert judge(job=JOB, deployment=rollout, allocations=shuffled) == judge(
            job=JOB, deployment=rollout, allocations=allocations
        )


@pytest.mark.parametrize(
    ("running", "wanted", "words"),
    [
        (f"{REPO}:1.0", f"{REPO}:1.0", None),
        (f"{REPO}:1.0", f"{REPO}:1.1",
         f"task web/server of job app runs {REPO}:1.0, not {REPO}:1.1"),
    ],
)  # fmt: skip
def test_an_image_without_a_digest_is_told_by_its_tag(
    running: str, wanted: str, words: str | None
) -> None:
    ours = {"web/server": ref(running)}
    assert other_image("app", ref(wanted), ours, ours) == words
