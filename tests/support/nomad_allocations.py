"""Allocations of the fake Nomad (``tests.support.nomad_fake``): the scheduler places them, the
clients run them, in the shapes of Nomad's HTTP API (``nomad/structs``: ``Allocation``,
``AllocListStub``, ``TaskState``, ``TaskEvent``).

* When an evaluation completes, each task group gets ``Count`` allocations of the job's version
  (a system job: one per node), named ``job.group[i]``, ``DesiredStatus`` ``run``,
  ``ClientStatus`` ``pending``, no ``TaskStates`` yet, the deployment's ID when the group rolls
  out under one. A live allocation of an older version whose tasks changed (``tasksUpdated``:
  drivers, config, env, resources, the job's, group's and task's meta... in
  ``scheduler/util.go``) is stopped (``alloc is being updated due to job update``) and replaced
  (``PreviousAllocation``); one whose tasks did not change is updated in place: its version
  moves, and with a new deployment its ``DeploymentStatus`` is cleared
  (``scheduler/generic_sched.go``). Extra ones are stopped (``alloc not needed due to job
  update``). A stopped allocation's tasks are killed at once and it is ``complete``.
  Allocations go on the ready, eligible nodes in turn, without the scheduler's feasibility
  checks; with no such node nothing is placed. Failed allocations are not rescheduled.
* The client starts an allocation at the fake's next request (or test hook read): its tasks
  run (events ``Received``, ``Task Setup``, ``Started``) and it is ``running``. A task that
  crashes exits with code 1 and restarts by its restart policy
  (``client/allocrunner/taskrunner/restarts``): with mode ``fail`` it is dead and ``Failed``
  after ``Attempts`` restarts (``Not Restarting``: ``Exceeded allowed attempts 2 in interval
  30m0s and mode is "fail"``), its sibling tasks are killed (``Sibling Task Failed``) and the
  allocation is ``failed`` (``getClientStatus`` in ``client/allocrunner/alloc_runner.go``);
  with mode ``delay`` it waits for the next interval, ``pending``. In a deployment such an
  allocation is reported unhealthy (``DeploymentStatus.Healthy`` false).
* Each ``TaskEvent`` carries the ``DisplayMessage`` that ``PopulateEventDisplayMessage`` writes.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]

SECOND = 1_000_000_000
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
UPDATING = "alloc is being updated due to job update"  # scheduler/structs/const.go
NOT_NEEDED = "alloc not needed due to job update"
WITHIN_POLICY = "Restart within policy"  # client/allocrunner/taskrunner/restarts
APPLYING_DELAY = "Exceeded allowed attempts, applying a delay"
NO_RESTARTS = "Policy allows no restarts"
TERMINAL = frozenset({"complete", "failed", "lost"})
# client/allocrunner/alloc_runner.go getClientStatus
CLIENT_DESCRIPTIONS = {
    "pending": "No tasks have started",
    "running": "Tasks are running",
    "failed": "Failed tasks",
    "complete": "All tasks have completed",
}
SERVICE_RESTARTS: Json = {"Attempts": 2, "Delay": 15 * SECOND, "Interval": 1800 * SECOND,
                          "Mode": "fail"}  # fmt: skip
# The deprecated TaskEvent fields, still sent (their values are also in Details).
_EVENT_FIELDS: Json = {
    "FailsTask": False, "RestartReason": "", "SetupError": "", "DriverError": "", "ExitCode": 0,
    "Signal": 0, "KillTimeout": 0, "KillError": "", "KillReason": "", "StartDelay": 0,
    "DownloadError": "", "ValidationError": "", "DiskLimit": 0, "FailedSibling": "",
    "VaultError": "", "TaskSignalReason": "", "TaskSignal": "", "DriverMessage": "",
    "GenericSource": "",
}  # fmt: skip
# Task fields whose change makes an update destructive (tasksUpdated), besides meta.
_DESTRUCTIVE = ("Driver", "User", "Config", "Env", "Artifacts", "Vault", "Templates", "Resources")
_STUB = ("ID", "EvalID", "Name", "Namespace", "NodeID", "NodeName", "JobID", "TaskGroup",
         "DesiredStatus", "DesiredDescription", "ClientStatus", "ClientDescription",
         "DesiredTransition", "TaskStates", "DeploymentStatus", "FollowupEvalID",
         "NextAllocation", "RescheduleTracker", "PreemptedAllocations",
         "PreemptedByAllocation", "CreateIndex", "ModifyIndex", "CreateTime",
         "ModifyTime")  # fmt: skip


class AllocationTable:
    """The ``allocs`` table: ``index`` is its last write, taken from ``next_index`` (the raft
    index of the fake)."""

    def __init__(self, next_index: Callable[[], int]) -> None:
        self._next = next_index
        self._allocs: dict[str, Json] = {}
        self.index = 1

    def get(self, alloc_id: str) -> Json | None:
        return self._allocs.get(alloc_id)

    def of_job(self, namespace: str, job_id: str, create_index: int | None = None) -> list[Json]:
        """``AllocsByJob``: by ID; only those of the job created at ``create_index`` if given."""
        return [
            alloc
            for alloc_id, alloc in sorted(self._allocs.items())
            if (alloc["Namespace"], alloc["JobID"]) == (namespace, job_id)
            and create_index in (None, alloc["Job"]["CreateIndex"])
        ]

    def reconcile(
        self, job: Json, *, eval_id: str, deployment: Json | None, nodes: Sequence[Json]
    ) -> None:
        """The scheduler brings every group of ``job`` to its count of live allocations of
        the job's version, in one plan (``deployment``: the version's running one)."""
        live = [a for a in self.of_job(job["Namespace"], job["ID"]) if _live(a)]
        plans = {}
        for group in job["TaskGroups"] if nodes else []:
            ours = sorted((a for a in live if a["TaskGroup"] == group["Name"]), key=_slot)
            count = len(nodes) if job["Type"] in ("system", "sysbatch") else group["Count"]
            plans[group["Name"]] = _plan(job, group, ours, count)
        if not any(any(plan) for plan in plans.values()):
            return
        index = self.index = self._next()
        now = time.time_ns()
        for group in job["TaskGroups"]:
            in_place, stopped, place = plans[group["Name"]]
            rolls = deployment is not None and group["Name"] in deployment["TaskGroups"]
            deployment_id = deployment["ID"] if deployment is not None and rolls else ""
            for alloc in in_place:
                alloc.update(Job=copy.deepcopy(job), EvalID=eval_id, ModifyTime=now)
                alloc.update(ModifyIndex=index, AllocModifyIndex=index)
                if alloc["DeploymentID"] != deployment_id:
                    alloc.update(DeploymentID=deployment_id, DeploymentStatus=None)
            for alloc, reason in stopped:
                _stop(alloc, reason, index, now)
            for slot, previous in place:
                node = nodes[slot % len(nodes)]
                placed = _allocation(job, group, slot, node, eval_id, index, deployment_id)
                placed["PreviousAllocation"] = previous
                self._allocs[placed["ID"]] = placed
            if deployment is not None and rolls and place:
                deployment["TaskGroups"][group["Name"]]["PlacedAllocs"] += len(place)
                deployment.update(ModifyIndex=index, ModifyTime=now)

    def run_clients(self, crashes: Callable[[Json], bool]) -> None:
        """The clients start the allocations placed since they last looked."""
        placed = [a for a in self._allocs.values() if a["TaskStates"] is None and _live(a)]
        if not placed:
            return
        index = self.index = self._next()
        now = time.time_ns()
        for alloc in placed:
            group = _group(alloc)
            crashed = next((t["Name"] for t in group["Tasks"] if crashes(t)), None)
            states = {t["Name"]: _started(t, group, crashed, now) for t in group["Tasks"]}
            _set_client_state(alloc, states, index, now)
            if alloc["DeploymentID"] and crashed is not None:
                alloc["DeploymentStatus"] = _health(False, index, now)

    def report_health(self, deployment_id: str, *, healthy: bool) -> None:
        """The clients report the health of the deployment's allocations not reported yet."""
        unreported = [
            a
            for a in self._allocs.values()
            if a["DeploymentID"] == deployment_id
            and a["ClientStatus"] == "running"
            and a["DeploymentStatus"] is None
        ]
        if unreported:
            index = self.index = self._next()
            now = time.time_ns()
            for alloc in unreported:
                alloc.update(DeploymentStatus=_health(healthy, index, now))
                alloc.update(ModifyIndex=index, ModifyTime=now)

    def unhealthy(self, deployment_id: str) -> bool:
        return any(
            a["DeploymentID"] == deployment_id
            and (a["DeploymentStatus"] or {}).get("Healthy") is False
            for a in self._allocs.values()
        )

    def restart(self, alloc: Json, task_name: str, exit_code: int) -> None:
        """A task of a running allocation exits and its client restarts it within policy."""
        index = self.index = self._next()
        now = time.time_ns()
        group = _group(alloc)
        task = _find(group["Tasks"], task_name)
        assert task is not None, f"no task {task_name} in group {group['Name']}"
        delay = _restart_policy(task, group)["Delay"]
        state = alloc["TaskStates"][task_name]
        state["Events"] += [
            terminated(now, exit_code),
            restarting(now, delay, WITHIN_POLICY),
            event("Started", "Task started by client", now),
        ]
        restarts = state["Restarts"] + 1
        state.update(Restarts=restarts, LastRestart=rfc3339(now), StartedAt=rfc3339(now))
        alloc.update(ModifyIndex=index, ModifyTime=now)


def stub(alloc: Mapping[str, Any]) -> Json:
    """``Allocation.Stub``: what ``GET /v1/job/:id/allocations`` lists of an allocation."""
    found = {name: copy.deepcopy(alloc[name]) for name in _STUB}
    found.update(JobType=alloc["Job"]["Type"], JobVersion=alloc["Job"]["Version"])
    return found


def rfc3339(nanoseconds: int) -> str:
    """A Go ``time.Time`` as JSON: RFC 3339 with nanoseconds, trailing zeros trimmed."""
    at = datetime.fromtimestamp(nanoseconds // SECOND, tz=UTC)
    fraction = f"{nanoseconds % SECOND:09d}".rstrip("0")
    return f"{at:%Y-%m-%dT%H:%M:%S}" + (f".{fraction}" if fraction else "") + "Z"


def go_duration(nanoseconds: int) -> str:
    """Go's ``time.Duration.String`` for durations of a second or more (``15s``, ``30m0s``)."""
    if nanoseconds < SECOND:
        return f"{nanoseconds / 1_000_000:g}ms" if nanoseconds else "0s"
    whole, rest = divmod(nanoseconds, SECOND)
    hours, whole = divmod(whole, 3600)
    minutes, seconds = divmod(whole, 60)
    fraction = f"{rest:09d}".rstrip("0")
    text = f"{seconds}" + (f".{fraction}" if fraction else "") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


def event(
    kind: str, display: str, at: int, details: Mapping[str, str] | None = None, **fields: Any
) -> Json:
    """A ``TaskEvent`` with its ``DisplayMessage`` and ``Details``."""
    found = {"Type": kind, "Time": at, "Message": "", "DisplayMessage": display}
    return {**found, "Details": dict(details or {}), **_EVENT_FIELDS, **fields}


def terminated(at: int, code: int) -> Json:
    details = {"exit_code": str(code), "signal": "0", "oom_killed": "false"}
    return event("Terminated", f"Exit Code: {code}", at, details, ExitCode=code)


def restarting(at: int, delay: int, reason: str) -> Json:
    said = f"Task restarting in {go_duration(delay)}"
    display = said if reason == WITHIN_POLICY else f"{reason} - {said}"
    details = {"restart_reason": reason, "start_delay": str(delay)}
    return event("Restarting", display, at, details, RestartReason=reason, StartDelay=delay)


def _plan(
    job: Json, group: Json, ours: list[Json], count: int
) -> tuple[list[Json], list[tuple[Json, str]], list[tuple[int, str]]]:
    """(updated in place, stopped with why, (slot, previous allocation) to place)."""
    in_place: list[Json] = []
    stopped = [(alloc, NOT_NEEDED) for alloc in ours[count:]]
    place: list[tuple[int, str]] = []
    for alloc in ours[:count]:
        if alloc["Job"]["Version"] == job["Version"]:
            continue
        if _tasks_updated(alloc["Job"], job, group["Name"]):
            stopped.append((alloc, UPDATING))
            place.append((_slot(alloc), alloc["ID"]))
        else:
            in_place.append(alloc)
    taken = {_slot(alloc) for alloc in ours[:count]}
    free = (slot for slot in range(count + len(ours)) if slot not in taken)
    place += [(next(free), "") for _ in range(count - len(taken))]
    return in_place, stopped, place


def _tasks_updated(old: Json, new: Json, group_name: str) -> bool:
    """``tasksUpdated`` (scheduler/util.go), for the fields the fake's jobs have."""
    before, after = _find(old["TaskGroups"], group_name), _find(new["TaskGroups"], group_name)
    if before is None or after is None or len(before["Tasks"]) != len(after["Tasks"]):
        return True
    if any(before.get(key) != after.get(key) for key in ("EphemeralDisk", "Networks", "Volumes")):
        return True
    for task in before["Tasks"]:
        other = _find(after["Tasks"], task["Name"])
        if other is None or any(task.get(k) != other.get(k) for k in _DESTRUCTIVE):
            return True
        if _meta(old, before, task) != _meta(new, after, other):
            return True
    return False


def _meta(job: Json, group: Json, task: Json) -> Json:
    """``Job.CombinedTaskMeta``: the task's meta over the group's over the job's."""
    return {**(job.get("Meta") or {}), **(group.get("Meta") or {}), **(task.get("Meta") or {})}


def _allocation(
    job: Json, group: Json, slot: int, node: Json, eval_id: str, index: int, deployment_id: str
) -> Json:
    now = time.time_ns()
    return {
        "ID": str(uuid.uuid4()), "Namespace": job["Namespace"], "EvalID": eval_id,
        "Name": f"{job['ID']}.{group['Name']}[{slot}]", "NodeID": node["ID"],
        "NodeName": node["Name"], "JobID": job["ID"], "Job": copy.deepcopy(job),
        "TaskGroup": group["Name"], "Resources": None, "SharedResources": None,
        "TaskResources": None, "AllocatedResources": _resources(group), "Metrics": None,
        "DesiredStatus": "run", "DesiredDescription": "",
        "DesiredTransition": {"Migrate": None, "Reschedule": None, "ForceReschedule": None,
                              "NoShutdownDelay": None, "MigrateDisablePlacement": None},
        "ClientStatus": "pending", "ClientDescription": "", "TaskStates": None,
        "AllocStates": None, "PreviousAllocation": "", "NextAllocation": "",
        "DeploymentID": deployment_id, "DeploymentStatus": None, "RescheduleTracker": None,
        "NetworkStatus": None, "FollowupEvalID": "", "PreemptedAllocations": None,
        "PreemptedByAllocation": "", "SigningKeyID": "", "CreateIndex": index,
        "ModifyIndex": index, "AllocModifyIndex": index, "CreateTime": now, "ModifyTime": now,
    }  # fmt: skip


def _resources(group: Json) -> Json:
    """``AllocatedResources``: what each task asked for, and the group's disk."""
    tasks = {}
    for task in group["Tasks"]:
        asked = task.get("Resources") or {}
        tasks[task["Name"]] = {"Cpu": {"CpuShares": asked.get("CPU", 100)}, "Networks": None,
                               "Memory": {"MemoryMB": asked.get("MemoryMB", 300)},
                               "Devices": None}  # fmt: skip
    disk = (group.get("EphemeralDisk") or {}).get("SizeMB", 300)
    lifecycles = {task["Name"]: task.get("Lifecycle") for task in group["Tasks"]}
    shared = {"DiskMB": disk, "Networks": None, "Ports": None}
    return {"Tasks": tasks, "TaskLifecycles": lifecycles, "Shared": shared}


def _started(task: Json, group: Json, crashed: str | None, now: int) -> Json:
    """A task's state once its client started it (and, if it crashes, ran out its policy)."""
    setup = "Building Task Directory"
    events = [
        event("Received", "Task received by client", now),
        event("Task Setup", setup, now, {"message": setup}, Message=setup),
        event("Started", "Task started by client", now),
    ]
    if crashed is None:
        return _task_state("running", events, started=now)
    if task["Name"] != crashed:
        return _killed(events, task, now, sibling=crashed)
    policy = _restart_policy(task, group)
    attempts, interval = int(policy["Attempts"]), int(policy["Interval"])
    for _ in range(attempts):
        events += [terminated(now, 1), restarting(now, policy["Delay"], WITHIN_POLICY)]
        events.append(event("Started", "Task started by client", now))
    events.append(terminated(now, 1))
    if attempts and policy["Mode"] == "delay":
        events.append(restarting(now, interval, APPLYING_DELAY))
        return _task_state("pending", events, started=now, restarts=attempts + 1)
    reason = NO_RESTARTS
    if attempts:
        reason = f"Exceeded allowed attempts {attempts} in interval {go_duration(interval)}"
        reason += ' and mode is "fail"'
    details = {"restart_reason": reason, "fails_task": "true"}
    events.append(event("Not Restarting", reason, now, details, RestartReason=reason))
    events[-1]["FailsTask"] = True
    return _task_state("dead", events, started=now, restarts=attempts, failed=True)


def _killed(events: list[Json], task: Json, now: int, *, sibling: str | None = None) -> Json:
    """A task its client kills (``killTasks``): because a sibling failed, or it was stopped."""
    timeout = int(task.get("KillTimeout") or 5 * SECOND)
    waiting = f"Sent interrupt. Waiting {go_duration(timeout)} before force killing"
    if sibling is not None:
        said = f'Task\'s sibling "{sibling}" failed'
        events = [*events, event("Sibling Task Failed", said, now, FailedSibling=sibling)]
    events = [
        *events,
        event("Killing", waiting, now, {"kill_timeout": go_duration(timeout)}, KillTimeout=timeout),
        event("Killed", "Task successfully killed", now),
    ]
    started = now if any(e["Type"] == "Started" for e in events) else None
    return _task_state("dead", events, started=started, finished=now)


def _task_state(
    state: str,
    events: list[Json],
    *,
    started: int | None,
    restarts: int = 0,
    failed: bool = False,
    finished: int | None = None,
) -> Json:
    if finished is None and state == "dead":
        finished = started
    return {
        "State": state,
        "Failed": failed,
        "Restarts": restarts,
        "LastRestart": rfc3339(started) if restarts and started else GO_ZERO_TIME,
        "StartedAt": rfc3339(started) if started else GO_ZERO_TIME,
        "FinishedAt": rfc3339(finished) if finished else GO_ZERO_TIME,
        "Events": events,
        "Paused": "",
    }


def _stop(alloc: Json, reason: str, index: int, now: int) -> None:
    """The scheduler stops an allocation; its client kills its tasks."""
    states = alloc["TaskStates"] or {}
    for task in _group(alloc)["Tasks"]:
        before = states.get(task["Name"])
        if before is None or before["State"] != "dead":
            states[task["Name"]] = _killed(before["Events"] if before else [], task, now)
    alloc.update(DesiredStatus="stop", DesiredDescription=reason, AllocModifyIndex=index)
    _set_client_state(alloc, states, index, now)


def _set_client_state(alloc: Json, states: Json, index: int, now: int) -> None:
    """``getClientStatus``: failed if a task failed, else running, pending or complete."""
    running = {state["State"] for state in states.values()}
    status = next((s for s in ("running", "pending") if s in running), "complete")
    if any(state["Failed"] for state in states.values()):
        status = "failed"
    alloc.update(TaskStates=states, ClientStatus=status, ModifyIndex=index, ModifyTime=now)
    alloc["ClientDescription"] = CLIENT_DESCRIPTIONS[status]


def _health(healthy: bool, index: int, now: int) -> Json:
    return {"Healthy": healthy, "Timestamp": rfc3339(now), "Canary": False, "ModifyIndex": index}


def _restart_policy(task: Json, group: Json) -> Json:
    return dict(task.get("RestartPolicy") or group.get("RestartPolicy") or SERVICE_RESTARTS)


def _group(alloc: Json) -> Json:
    found = _find(alloc["Job"]["TaskGroups"], alloc["TaskGroup"])
    assert found is not None
    return found


def _find(items: Iterable[Json], name: str) -> Json | None:
    return next((item for item in items if item["Name"] == name), None)


def _slot(alloc: Json) -> int:
    return int(alloc["Name"].rsplit("[", 1)[1].rstrip("]"))


def _live(alloc: Json) -> bool:
    return alloc["DesiredStatus"] == "run" and alloc["ClientStatus"] not in TERMINAL
