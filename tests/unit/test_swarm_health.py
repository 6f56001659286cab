"""A Swarm service's health by its update and its tasks, as a person reads it
(``deployers.swarm_health.judge``), from the shapes the Engine API answers (``GET
/services/{id}``, ``GET /tasks``) (tables)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deployers.base import Health, HealthState
from deployers.swarm_health import SwarmService, SwarmTask, judge

IMAGE = f"registry.example/team/app:1.1@sha256:{'2' * 64}"
OLD = f"registry.example/team/app:1.0@sha256:{'1' * 64}"
# The update began at 10:00:00 (StartedAt); its status was written again at 10:00:30.
BEFORE, STARTED, DURING, WRITTEN, AFTER = (
    "2026-12-02T09:59:50.5Z",
    "2026-12-02T10:00:00.123456789Z",
    "2026-12-02T10:00:10Z",
    "2026-12-02T10:00:30Z",
    "2026-12-02T10:01:00Z",
)
T1, T2, T3 = "t1aaaaaaaaaaaaaaaaaaaaaaa", "t2bbbbbbbbbbbbbbbbbbbbbbb", "t3ccccccccccccccccccccccc"
T4, T5 = "t4ddddddddddddddddddddddd", "t5eeeeeeeeeeeeeeeeeeeeeee"
NON_ZERO = "task: non-zero exit (3)"


def service(
    update: str | None = "completed",
    message: str = "update completed",
    *,
    replicas: int | None = 3,
    started: str | None = STARTED,
    updated: str | None = WRITTEN,
) -> SwarmService:
    """Service ``web`` on ``IMAGE`` (``replicas`` None: global), its last update ``update``
    (None: never updated)."""
    mode = {"Global": {}} if replicas is None else {"Replicated": {"Replicas": replicas}}
    raw: dict[str, Any] = {
        "ID": "9mnpnzenvg8p8tdbtq4wvbkcz",
        "Spec": {
            "Name": "web",
            "Mode": mode,
            "TaskTemplate": {"ContainerSpec": {"Image": IMAGE}},
        },
    }
    if updated is not None:
        raw["UpdatedAt"] = updated
    if update is not None:
        raw["UpdateStatus"] = {"State": update, "Message": message}
        if started is not None:
            raw["UpdateStatus"]["StartedAt"] = started
    return SwarmService.read(raw)


def task(
    task_id: str = T1,
    state: str = "running",
    *,
    desired: str = "running",
    image: str = IMAGE,
    at: str | None = DURING,
    err: str = "",
    message: str = "",
) -> SwarmTask:
    """A task as ``GET /tasks`` lists it."""
    status: dict[str, Any] = {"State": state, "Message": message}
    if err:
        status["Err"] = err
    if at is not None:
        status["Timestamp"] = at
    return SwarmTask.read(
        {
            "ID": task_id,
            "DesiredState": desired,
            "Status": status,
            "Spec": {"ContainerSpec": {"Image": image}},
        }
    )


def failed(task_id: str, *, at: str | None = DURING, desired: str = "shutdown") -> SwarmTask:
    """A task that exited: Swarm restarted it as a new task (it wants this one shut down)."""
    return task(task_id, "failed", desired=desired, at=at, err=NON_ZERO, message="started")


RUNNING = [task(T1), task(T2), task(T3)]

# (id, service, tasks, state, words)
CASES: list[tuple[str, SwarmService, list[SwarmTask], str, str]] = [
    ("updating", service("updating", "update in progress"), RUNNING,
     "pending", "Swarm is updating the service: update in progress"),
    ("updating, saying nothing", service("updating", ""), RUNNING,
     "pending", "Swarm is updating the service"),
    ("rolling back", service("rollback_started", "update rolled back due to failure"),
     RUNNING, "pending", "Swarm is rolling the update back: update rolled back due to failure"),
    ("an update under way comes first", service("updating", "update in progress"),
     [task(T1, "failed", err=NON_ZERO)], "pending",
     "Swarm is updating the service: update in progress"),
    ("paused", service("paused", "update paused due to failure or early termination of task t1"),
     RUNNING, "failed",
     "Swarm paused the update: update paused due to failure or early termination of task t1"),
    ("rolled back", service("rollback_completed", "rollback completed"), RUNNING,
     "failed", "Swarm rolled the update back: rollback completed"),
    ("rollback paused", service("rollback_paused", "rollback paused"), RUNNING,
     "failed", "Swarm paused the rollback of the update: rollback paused"),
    ("completed, every replica running", service(), RUNNING, "healthy", "3 tasks running"),
    ("never updated", service(None), RUNNING, "healthy", "3 tasks running"),
    ("an update state it does not know says nothing", service("rolling_on", "?"), RUNNING,
     "healthy", "3 tasks running"),
    ("global, one task", service(replicas=None), [task(T1)], "healthy", "1 task running"),
    ("global, two tasks", service(replicas=None), [task(T1), task(T2)],
     "healthy", "2 tasks running"),
    ("a task Swarm wants running failed", service(),
     [task(T1), task(T2, "failed", err=NON_ZERO, message="started"), task(T3)],
     "failed", "task t2bbbbbbbbbb failed: task: non-zero exit (3)"),
    ("a task rejected", service(),
     [task(T1), task(T2), task(T3, "rejected", err="No such image: registry.example/team/app")],
     "failed", "task t3cccccccccc rejected: No such image: registry.example/team/app"),
    ("failed, saying nothing", service(),
     [task(T1), task(T2), SwarmTask.read({"ID": T3, "DesiredState": "running",
      "Status": {"State": "failed"}, "Spec": {"ContainerSpec": {"Image": IMAGE}}})],
     "failed", "task t3cccccccccc failed"),
    ("a task that failed since the update, replaced", service(),
     [*RUNNING, failed(T4)], "failed", "task t4dddddddddd failed: task: non-zero exit (3)"),
    ("failed between StartedAt and the status written", service(),
     [*RUNNING, failed(T4, at="2026-12-02T10:00:00.2Z")],
     "failed", "task t4dddddddddd failed: task: non-zero exit (3)"),
    ("the latest of those that failed since", service(),
     [*RUNNING, failed(T5, at=DURING), failed(T4, at=AFTER)],
     "failed", "task t4dddddddddd failed: task: non-zero exit (3)"),
    ("a failure before the update is history", service(),
     [*RUNNING, failed(T4, at=BEFORE)], "healthy", "3 tasks running"),
    ("a failure without a time is not counted", service(),
     [*RUNNING, failed(T4, at=None)], "healthy", "3 tasks running"),
    ("the old image's tasks are not looked at", service(),
     [*RUNNING, task(T4, "failed", desired="running", image=OLD, err=NON_ZERO),
      task(T5, "starting", image=OLD)], "healthy", "3 tasks running"),
    ("when it was never updated, any failure counts", service(None, updated=None),
     [*RUNNING, failed(T4, at=BEFORE)], "failed",
     "task t4dddddddddd failed: task: non-zero exit (3)"),
    ("a failure comes before a task starting", service(),
     [task(T1, "starting"), task(T2, "failed", err=NON_ZERO), task(T3)],
     "failed", "task t2bbbbbbbbbb failed: task: non-zero exit (3)"),
    ("a task preparing", service(), [task(T1), task(T2, "preparing"), task(T3)],
     "pending", "task t2bbbbbbbbbb preparing"),
    ("the first not running, by task id", service(),
     [task(T3, "assigned"), task(T2, "pending", message="pending task scheduling"), task(T1)],
     "pending", "task t2bbbbbbbbbb pending: pending task scheduling"),
    ("fewer running than the replicas", service(), [task(T1), task(T2)],
     "pending", "2 of 3 tasks running"),
    ("none yet", service(), [], "pending", "0 of 3 tasks running"),
    ("shut down tasks are not counted as running", service(),
     [task(T1), task(T2), task(T3, "shutdown", desired="shutdown")],
     "pending", "2 of 3 tasks running"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("svc", "tasks", "state", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_judge(svc: SwarmService, tasks: list[SwarmTask], state: str, words: str) -> None:
    health = judge(svc, tasks)
    assert (health.state, health.words) == (HealthState(state), words)


@pytest.mark.parametrize(
    "state", ["new", "allocated", "pending", "assigned", "accepted", "preparing", "ready",
              "starting"],
)  # fmt: skip
def test_every_state_before_running_is_pending(state: str) -> None:
    health = judge(service(), [task(T1), task(T2), task(T3, state)])
    assert health == Health(
        state=HealthState.PENDING, words=f"task t3cccccccccc {state}", marks=f"{T1},{T2}"
    )


def test_the_marks_are_the_running_tasks_on_the_image() -> None:
    tasks = [task(T3), task(T1), failed(T4, at=BEFORE), task(T5, image=OLD), task(T2)]
    assert judge(service(), tasks) == Health(
        state=HealthState.HEALTHY, words="3 tasks running", marks=f"{T1},{T2},{T3}"
    )


def test_a_task_replaced_changes_the_marks() -> None:
    before = judge(service(), RUNNING)
    after = judge(service(), [task(T1), task(T2), task(T4)])
    assert after.state is HealthState.HEALTHY
    assert after.marks != before.marks


@pytest.mark.parametrize("update", ["updating", "paused"])
def test_an_update_answer_has_no_marks(update: str) -> None:
    assert judge(service(update, "m"), RUNNING).marks == ""


# (id, UpdateStatus.StartedAt, UpdatedAt, when the last update began)
SINCE = [
    ("the earlier: StartedAt", STARTED, WRITTEN, "2026-12-02T10:00:00.123456+00:00"),
    ("the earlier: UpdatedAt", WRITTEN, STARTED, "2026-12-02T10:00:00.123456+00:00"),
    ("UpdatedAt alone", None, WRITTEN, "2026-12-02T10:00:30+00:00"),
    ("neither", None, None, None),
]


@pytest.mark.parametrize(
    ("started", "updated", "since"), [c[1:] for c in SINCE], ids=[c[0] for c in SINCE]
)
def test_when_the_last_update_began(started: str | None, updated: str | None, since: str) -> None:
    read = service(started=started, updated=updated)
    assert (read.since.isoformat() if read.since else None) == since


def test_a_service_read_from_the_engine_api() -> None:
    assert service(replicas=5) == SwarmService(
        name="web", image=IMAGE, update="completed", update_words="update completed",
        since=service().since, replicas=5,
    )  # fmt: skip
    assert service(replicas=None).replicas is None


def test_a_failed_update_without_a_message_reads_cleanly() -> None:
    assert judge(service("paused", ""), RUNNING).words == "Swarm paused the update"


POOL = [
    task(T1),
    task(T2, "starting"),
    task(T3, "failed", err=NON_ZERO),
    failed(T4),
    failed(T5, at=AFTER),
    task("t6fffffffffffffffffffffff", image=OLD),
]


@given(st.lists(st.sampled_from(POOL), unique=True), st.randoms())
def test_the_order_the_engine_lists_tasks_in_does_not_matter(
    tasks: list[SwarmTask], rng: Any
) -> None:
    shuffled = list(tasks)
    rng.shuffle(shuffled)
    assert judge(service(), shuffled) == judge(service(), tasks)


def test_a_task_whose_message_repeats_its_state_says_it_once() -> None:
    assert task(T1, "preparing", message="preparing").words == f"task {T1[:12]} preparing"
    assert task(T1, "failed", message="started").words == f"task {T1[:12]} failed: started"
