"""A fake of the HashiCorp Nomad HTTP API, for testing what drives Nomad without a cluster.

Serve it with ``TestServer(FakeNomad().app())``. It keeps jobs, every job version, evaluations
and deployments in memory and answers as a Nomad agent (a server) does. What it reproduces,
with where in Nomad's source (hashicorp/nomad) the behaviour comes from:

* Errors are ``text/plain`` bodies with a status code (``command/agent/http.go``, ``wrap``): any
  error of an RPC that is not a coded error is a **500**, ``Permission denied`` is a 403.
  So an ``EnforceIndex`` conflict is a 500 whose body is
  ``Enforcing job modify index N: job exists with conflicting job modify index: M``
  (``nomad/job_endpoint.go``, ``Register``), also ``... 0: job already exists`` and
  ``... N: job does not exist``. python-nomad raises ``BaseNomadException`` for it.
* ``GET /v1/job/:id`` of a missing job is a 404 ``job not found``; a missing evaluation or
  deployment is a 404 ``eval not found`` / ``deployment not found``; a job without a
  deployment answers ``null`` (``command/agent/job_endpoint.go``).
* A register whose spec is unchanged makes no new version and keeps the ``JobModifyIndex``, but
  still creates an evaluation. A changed spec gets ``Version`` + 1 and ``JobModifyIndex`` =
  ``ModifyIndex`` = the raft index of the write, the evaluation is written at that same index.
* The job is canonicalised as the HTTP agent does (``api.Job.Canonicalize``): a service job
  without an update block gets the default one (``MaxParallel`` 1), a job-level block is merged
  into the groups, and the job keeps only ``Stagger`` and ``MaxParallel`` at its level. A group
  whose update block has ``MaxParallel`` 0 has no deployment.
* Registering into a namespace that does not exist is a 500
  ``job "ID" is in nonexistent namespace "NS"``; reading a job there is a plain 404 and listing
  it is an empty list. An unknown ``?region=`` is a 500 ``No path to region``.
* Deployments: the one for a new version is made when its evaluation completes, and cancels the
  job's running one (``Cancelled due to newer version of job``). A successful deployment marks
  its job version ``Stable``. A failed one with ``AutoRevert`` registers the latest stable
  version's spec as a new version (``Failed due to unhealthy allocations - rolling back to job
  version N``), whose own deployment then becomes the job's latest
  (``nomad/deploymentwatcher/deployment_watcher.go``, ``nomad/structs/deployment.go``).

Time is replaced by polls, so tests are deterministic: an evaluation completes after
``eval_polls`` reads (0: at once), a running deployment takes the ``rollout`` outcome after
``deployment_polls`` reads, or stays running until ``complete_deployments`` is called.
Where a test needs a rollout to take time, as Nomad's do (a deployment is ``running`` until its
allocations have been healthy for ``MinHealthyTime``), ``deployment_seconds`` keeps each one
running that long after it was created; then it ends whether anyone reads it or not, as Nomad's
deployment watcher ends it (the fake catches up at its next request or test hook read).
A blocking query on the jobs list (``?index=N&wait=D``) waits, as Nomad's does, until the
list's index (the last write to a job) passes ``N`` or ``D`` ends (default 5 min, at most
10 min); other blocking queries answer at once. Every job version is kept (Nomad keeps 6).

Client nodes (one dev node unless ``nodes=`` says otherwise; ``add_node(make_node(...))``) are
listed by ``GET /v1/nodes`` and read by ``GET /v1/node/:id`` in Nomad's shapes
(``tests.support.nomad_nodes``); with ACLs on, only the management token and
``node_read_tokens`` may read them (``node:read``).

Allocations (``tests.support.nomad_allocations`` says how they are placed and run): when an
evaluation of the job's current version completes, each group gets ``Count`` of them on the
ready nodes, and the previous version's are stopped (``complete``); a client starts them
(``pending`` -> ``running``) at the next request. ``GET /v1/job/:id/allocations`` lists them
as ``AllocListStub`` (only those of the job as created now, unless ``?all=true``; a job that
does not exist answers ``[]``, not a 404), with the ``allocs`` table's index
(``nomad/job_endpoint.go`` ``Job.Allocations``, ``nomad/state`` ``AllocsByJob``).
``GET /v1/allocation/:id`` reads one whole: a missing one is a 404 ``alloc not found``; one in
a namespace the token may not read is a 500 ``Unknown allocation "ID"``
(``nomad/alloc_endpoint.go`` ``GetAlloc``). A deployment's allocations are reported healthy
when it succeeds, unhealthy when it fails for them. An image in ``crashing_images`` (a
reference as the task writes it, or its digest) exits with code 1 at every start: its
allocations fail as their restart policy says and are unhealthy in their deployment, which
then fails when it ends (whatever ``rollout`` or ``complete_deployments`` says, and even with
no ``rollout``), auto-reverting as above. ``restart_allocation`` makes a task of a running
allocation exit and restart (``Restarts`` + 1), as a workload that crashes once in a soak.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import json
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from tests.support.nomad_allocations import AllocationTable, stub
from tests.support.nomad_nodes import NODE_NOT_FOUND, make_node, node_stub

Json = dict[str, Any]

SECOND = 1_000_000_000
CONFLICT_PREFIX = "Enforcing job modify index"
PERMISSION_DENIED = "Permission denied"
NO_REGION_PATH = "No path to region"
JOB_NOT_FOUND = "job not found"
ALLOC_NOT_FOUND = "alloc not found"
DEPLOYMENT_RUNNING = "Deployment is running"
DEPLOYMENT_SUCCESSFUL = "Deployment completed successfully"
DEPLOYMENT_FAILED = "Failed due to unhealthy allocations"
DEPLOYMENT_FAILED_BY_USER = "Deployment marked as failed"
DEPLOYMENT_NEWER = "Cancelled due to newer version of job"
ACTIVE_DEPLOYMENT = frozenset({"running", "paused", "pending", "initializing", "blocked"})
# Set when the server serving the fake's app shuts down (its blocking queries answer then).
_SHUTTING_DOWN = web.AppKey("shutting_down", asyncio.Event)

# api.DefaultUpdateStrategy / UpdateStrategy.Canonicalize
DEFAULT_UPDATE: Json = {
    "Stagger": 30 * SECOND,
    "MaxParallel": 1,
    "HealthCheck": "checks",
    "MinHealthyTime": 10 * SECOND,
    "HealthyDeadline": 300 * SECOND,
    "ProgressDeadline": 600 * SECOND,
    "AutoRevert": False,
    "AutoPromote": False,
    "Canary": 0,
}
ZERO_UPDATE: Json = {
    "Stagger": 0,
    "MaxParallel": 0,
    "HealthCheck": "",
    "MinHealthyTime": 0,
    "HealthyDeadline": 0,
    "ProgressDeadline": 0,
    "AutoRevert": False,
    "AutoPromote": False,
    "Canary": 0,
}
# Fields that are not part of a job's specification (structs.Job.SpecChanged).
NOT_SPEC = frozenset(
    {
        "Status",
        "StatusDescription",
        "Stable",
        "Version",
        "SubmitTime",
        "CreateIndex",
        "ModifyIndex",
        "JobModifyIndex",
        "NomadTokenID",
        "VaultToken",
        "ConsulToken",
    }
)
GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
GO_ZERO_TIME = "0001-01-01T00:00:00Z"


class NomadError(Exception):
    """An error answer: its status and plain-text body, as the agent writes them."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


@dataclass
class Registration:
    """A register request the fake received (``POST|PUT /v1/job/:id`` or ``/v1/jobs``)."""

    job_id: str
    namespace: str
    body: Json
    token: str | None
    path: str
    status: int = 0  # the HTTP status answered
    at: int = field(default_factory=time.time_ns)  # when it arrived (ns, as Nomad's times)
    version: int | None = None  # the job's version after it, when it was answered 200


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path_qs: str
    token: str | None


@dataclass
class _Tracking:
    """What the fake knows of an evaluation or deployment that Nomad would not answer."""

    reads: int = 0
    creates_deployment: bool = False


def make_job(
    job_id: str,
    groups: Mapping[str, Mapping[str, str]],
    *,
    meta: Mapping[str, str] | None = None,
    update: bool = True,
    auto_revert: bool = False,
    job_type: str = "service",
    driver: str = "docker",
    namespace: str = "default",
    count: int = 1,
) -> Json:
    """A job as ``GET /v1/job/:id`` shows it: ``groups`` maps group name -> task name -> image.

    ``update=False`` writes an update block with ``MaxParallel`` 0: no deployment (Nomad
    gives a service job without any update block the default one, which deploys).
    """
    group_update = (
        {**DEFAULT_UPDATE, "AutoRevert": auto_revert} if update and job_type == "service" else None
    )
    job_update = (
        {**ZERO_UPDATE, "Stagger": 30 * SECOND, "MaxParallel": 1}
        if group_update
        else dict(ZERO_UPDATE)
    )
    return {
        "Region": "global",
        "Namespace": namespace,
        "ID": job_id,
        "ParentID": "",
        "Name": job_id,
        "Type": job_type,
        "Priority": 50,
        "AllAtOnce": False,
        "Datacenters": ["dc1"],
        "NodePool": "default",
        "Constraints": None,
        "Affinities": None,
        "Spreads": None,
        "TaskGroups": [
            _make_group(name, tasks, group_update, driver, count) for name, tasks in groups.items()
        ],
        "Update": job_update,
        "Multiregion": None,
        "Periodic": None,
        "ParameterizedJob": None,
        "Dispatched": False,
        "Payload": None,
        "Meta": dict(meta) if meta is not None else None,
        "ConsulToken": "",
        "VaultToken": "",
        "VaultNamespace": "",
        "NomadTokenID": "",
        "Stop": False,
        "Status": "running",
        "StatusDescription": "",
        "Stable": True,
        "Version": 0,
        "SubmitTime": time.time_ns(),
        "CreateIndex": 7,
        "ModifyIndex": 7,
        "JobModifyIndex": 7,
    }


def _make_group(
    name: str, tasks: Mapping[str, str], update: Json | None, driver: str, count: int
) -> Json:
    restart = {"Attempts": 2, "Delay": 15 * SECOND, "Interval": 1800 * SECOND, "Mode": "fail"}
    return {
        "Name": name,
        "Count": count,
        "Constraints": None,
        "Affinities": None,
        "Spreads": None,
        "RestartPolicy": dict(restart),
        "ReschedulePolicy": {
            "Attempts": 0,
            "Interval": 0,
            "Delay": 30 * SECOND,
            "DelayFunction": "exponential",
            "MaxDelay": 3600 * SECOND,
            "Unlimited": True,
        },
        "EphemeralDisk": {"Sticky": False, "SizeMB": 300, "Migrate": False},
        "Update": dict(update) if update else None,
        "Migrate": {
            "MaxParallel": 1,
            "HealthCheck": "checks",
            "MinHealthyTime": 10 * SECOND,
            "HealthyDeadline": 300 * SECOND,
        },
        "Networks": None,
        "Services": None,
        "Volumes": None,
        "Scaling": None,
        "Meta": None,
        "Tasks": [
            {
                "Name": task,
                "Driver": driver,
                "User": "",
                "Config": {"image": image},
                "Env": None,
                "Services": None,
                "Vault": None,
                "Templates": None,
                "Constraints": None,
                "Affinities": None,
                "Resources": {"CPU": 100, "MemoryMB": 300, "DiskMB": 0, "Networks": None},
                "RestartPolicy": dict(restart),
                "DispatchPayload": None,
                "Lifecycle": None,
                "Meta": None,
                "KillTimeout": 5 * SECOND,
                "LogConfig": {"Disabled": False, "MaxFiles": 10, "MaxFileSizeMB": 10},
                "Artifacts": None,
                "Leader": False,
                "ShutdownDelay": 0,
                "KillSignal": "",
                "Kind": "",
                "ScalingPolicies": None,
            }
            for task, image in tasks.items()
        ],
    }


def task_images(job: Mapping[str, Any]) -> dict[str, str]:
    """``{"group/task": image}`` of a job."""
    return {
        f"{group['Name']}/{task['Name']}": (task.get("Config") or {}).get("image", "")
        for group in job.get("TaskGroups") or []
        for task in group.get("Tasks") or []
    }


class FakeNomad:
    """State and HTTP app of a fake Nomad server (see the module docstring).

    ``acl_token``: a management token; when it or ``acl_tokens`` (token -> namespaces, ``*``
    for all) is given, ACLs are on and any other token, or none, gets 403 ``Permission
    denied``. ``namespaces``: the namespaces besides ``default``. ``regions``: more regions
    besides ``region``, the agent's. ``rollout(job_version) -> "successful" | "failed"``
    decides each deployment's outcome after ``deployment_polls`` reads of it, once it has run
    for ``deployment_seconds``.
    """

    def __init__(
        self,
        *,
        acl_token: str | None = None,
        acl_tokens: Mapping[str, Collection[str]] | None = None,
        namespaces: Iterable[str] = (),
        region: str = "global",
        regions: Iterable[str] = (),
        rollout: Callable[[Json], str] | None = None,
        deployment_polls: int = 1,
        deployment_seconds: float = 0.0,
        eval_polls: int = 0,
        node_read_tokens: Collection[str] = (),
        nodes: Iterable[Mapping[str, Any]] | None = None,
        crashing_images: Iterable[str] = (),
    ) -> None:
        """``nodes``: the client nodes it starts with; by default one, as ``nomad agent -dev``
        has (linux/amd64 in dc1, pool default, the docker driver healthy).
        ``crashing_images``: images (references or digests) whose tasks exit at every start;
        the set may be changed at any time."""
        self.acl_token = acl_token
        self.acl_tokens = {token: frozenset(ns) for token, ns in (acl_tokens or {}).items()}
        self.node_read_tokens = frozenset(node_read_tokens)
        self.namespaces: set[str] = {"default", *namespaces}
        self.region = region
        self.regions: set[str] = {region, *regions}
        self.rollout = rollout
        self.deployment_polls = deployment_polls
        self.deployment_seconds = deployment_seconds
        self.eval_polls = eval_polls
        self.registrations: list[Registration] = []
        self.requests: list[RequestRecord] = []
        # One-shot hook run when the next register arrives, before its EnforceIndex check: a
        # change made between a client's read and its write.
        self.before_next_register: Callable[[], object] | None = None
        self._index = 10
        self._written = asyncio.Event()
        self._jobs: dict[tuple[str, str], Json] = {}
        self._versions: dict[tuple[str, str], list[Json]] = {}
        self._evals: dict[str, Json] = {}
        self._deployments: dict[str, Json] = {}
        self._tracking: dict[str, _Tracking] = {}
        self._meanwhile = 0
        self._nodes: dict[str, Json] = {}
        self._nodes_index = 1  # the nodes table's index: its last write
        self._allocations = AllocationTable(self._next)
        self.crashing_images: set[str] = set(crashing_images)
        for node in (make_node("dev-1"),) if nodes is None else nodes:
            self.add_node(node)

    # ------------------------------------------------------------------ test hooks

    def add_job(
        self, job: Mapping[str, Any], namespace: str = "default", *, stable: bool = True
    ) -> Json:
        """Put ``job`` in place as if it had been registered and (``stable``) deployed."""
        key = (namespace, str(job["ID"]))
        self.namespaces.add(namespace)
        region = str(job.get("Region") or self.region)
        if region == "global":
            region = self.region
        stored = self._store_version(key, _canonical_job(job, namespace, region), self._next())
        self._touch(key, Status="running")
        if stable:
            deployment = None
            if _deploys(stored):
                deployment = self._create_deployment(stored, priority=stored["Priority"])
            self._place(self._jobs[key], str(uuid.uuid4()))
            if deployment is not None:
                self._resolve(deployment, successful=True)
            else:
                self._touch(key, Stable=True)
        return self.job(key[1], namespace)

    def job(self, job_id: str, namespace: str = "default") -> Json:
        """The current job (raises ``KeyError`` if there is none)."""
        self._watch()
        return copy.deepcopy(self._jobs[(namespace, job_id)])

    def versions(self, job_id: str, namespace: str = "default") -> list[Json]:
        """Every version of the job, oldest first."""
        self._watch()
        return copy.deepcopy(self._versions.get((namespace, job_id), []))

    def deployments(self, job_id: str, namespace: str = "default") -> list[Json]:
        """The job's deployments, newest first."""
        self._watch()
        return copy.deepcopy(self._job_deployments(namespace, job_id))

    def latest_deployment(self, job_id: str, namespace: str = "default") -> Json | None:
        self._watch()
        found = self._job_deployments(namespace, job_id)
        return copy.deepcopy(found[0]) if found else None

    def evaluations(self, job_id: str, namespace: str = "default") -> list[Json]:
        """The job's evaluations, newest first."""
        return copy.deepcopy(self._job_evals(namespace, job_id))

    def evaluation(self, eval_id: str) -> Json:
        return copy.deepcopy(self._evals[eval_id])

    def deployment(self, deployment_id: str) -> Json:
        self._watch()
        return copy.deepcopy(self._deployments[deployment_id])

    def allocations(self, job_id: str, namespace: str = "default") -> list[Json]:
        """Every allocation of the job, whole, by ID."""
        self._watch()
        return copy.deepcopy(self._allocations.of_job(namespace, job_id))

    def restart_allocation(
        self,
        job_id: str,
        namespace: str = "default",
        *,
        task: str | None = None,
        exit_code: int = 1,
    ) -> Json:
        """A task (the group's first unless ``task``) of the first running allocation of the
        job's current version exits with ``exit_code`` and its client restarts it; returns the
        allocation."""
        self._watch()
        version = self._jobs[(namespace, job_id)]["Version"]
        alloc = next(
            a
            for a in self._allocations.of_job(namespace, job_id)
            if a["ClientStatus"] == "running" and a["Job"]["Version"] == version
        )
        name = task or next(iter(alloc["TaskStates"]))
        self._allocations.restart(alloc, name, exit_code)
        return copy.deepcopy(alloc)

    def change_job_meanwhile(
        self, job_id: str, namespace: str = "default", *, meta: Mapping[str, str] | None = None
    ) -> int:
        """Someone else registers a change to the job's meta; returns its new JobModifyIndex."""
        self._meanwhile += 1
        job = self.job(job_id, namespace)
        job["Meta"] = {
            **(job.get("Meta") or {}),
            **(meta or {"changed-meanwhile": str(self._meanwhile)}),
        }
        answer = self._register(namespace, job["Region"], job, enforce=False, modify_index=0)
        return int(answer["JobModifyIndex"])

    def complete_deployments(
        self,
        successful: bool = True,
        *,
        job_id: str | None = None,
        namespace: str | None = None,
    ) -> list[Json]:
        """End every running deployment (of ``job_id`` / ``namespace`` if given) now."""
        self.complete_evaluations()
        ended = []
        for deployment in list(self._deployments.values()):
            if deployment["Status"] not in ACTIVE_DEPLOYMENT:
                continue
            if job_id is not None and deployment["JobID"] != job_id:
                continue
            if namespace is not None and deployment["Namespace"] != namespace:
                continue
            self._resolve(deployment, successful=successful)
            ended.append(copy.deepcopy(deployment))
        return ended

    def add_node(self, node: Mapping[str, Any]) -> Json:
        """Register a client node (``nomad_nodes.make_node``); returns it as it is read."""
        index = self._nodes_index = self._next()
        self._nodes[str(node["ID"])] = {**copy.deepcopy(dict(node)), "CreateIndex": index,
                                         "ModifyIndex": index}  # fmt: skip
        return self.node(str(node["ID"]))

    def update_node(self, node_id: str, **changes: Any) -> Json:
        """Change fields of a node (``Status="down"``, ``Meta={...}``) at a new index."""
        self._nodes_index = self._next()
        self._nodes[node_id].update(copy.deepcopy(changes), ModifyIndex=self._nodes_index)
        return self.node(node_id)

    def remove_node(self, node_id: str) -> None:
        """Deregister a node (``nomad node purge``)."""
        del self._nodes[node_id]
        self._nodes_index = self._next()

    def node(self, node_id: str) -> Json:
        return copy.deepcopy(self._nodes[node_id])

    def complete_evaluations(self) -> None:
        for evaluation in list(self._evals.values()):
            if evaluation["Status"] == "pending":
                self._complete_eval(evaluation)

    # ------------------------------------------------------------------ HTTP app

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app[_SHUTTING_DOWN] = asyncio.Event()
        app.on_shutdown.append(self._shut_down)
        app.router.add_route("*", "/v1/jobs", self._jobs_request)
        app.router.add_route("*", "/v1/job/{tail:.+}", self._job_specific)
        app.router.add_route("*", "/v1/deployment/{tail:.+}", self._deployment_request)
        app.router.add_get("/v1/evaluation/{eval_id}", self._eval_request)
        app.router.add_route("*", "/v1/allocation/{tail:.+}", self._alloc_request)
        app.router.add_get("/v1/nodes", self._nodes_request)
        app.router.add_route("*", "/v1/node/{tail:.+}", self._node_request)
        app.router.add_get("/v1/namespaces", self._namespaces_request)
        app.router.add_get("/v1/regions", self._regions_request)
        app.router.add_get("/v1/status/leader", self._leader_request)
        return app

    async def _shut_down(self, app: web.Application) -> None:
        """A server that stops answers its blocking queries at once, as an agent that leaves
        does, rather than holding its shutdown until their wait is over."""
        app[_SHUTTING_DOWN].set()
        self._wake()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests.append(RequestRecord(request.method, request.path_qs, _token(request)))
        self._watch()
        try:
            region = request.query.get("region")
            if region and region not in self.regions:
                raise NomadError(500, NO_REGION_PATH)
            return await handler(request)
        except NomadError as error:
            return web.Response(status=error.status, text=error.text, content_type="text/plain")

    async def _jobs_request(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            return await self._list_jobs(request)
        if request.method in ("PUT", "POST"):
            return await self._register_request(request, "")
        raise NomadError(405, "Invalid method")

    async def _job_specific(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["tail"]
        get_only = {
            "/versions": self._versions_request,
            "/deployments": self._deployments_request,
            "/deployment": self._latest_deployment_request,
            "/evaluations": self._job_evals_request,
            "/allocations": self._job_allocs_request,
            "/summary": self._summary_request,
        }
        for suffix, handler in get_only.items():
            if path.endswith(suffix):
                if request.method != "GET":
                    raise NomadError(405, "Invalid method")
                return handler(request, path.removesuffix(suffix))
        for suffix in (
            "/evaluate",
            "/periodic/force",
            "/plan",
            "/dispatch",
            "/revert",
            "/stable",
            "/scale",
            "/services",
            "/submission",
            "/actions",
            "/action",
        ):
            if path.endswith(suffix):
                raise NomadError(501, f"FakeNomad does not implement {suffix}")
        if request.method == "GET":
            return self._read_job(request, path)
        if request.method in ("PUT", "POST"):
            return await self._register_request(request, path)
        if request.method == "DELETE":
            raise NomadError(501, "FakeNomad does not implement job deregistration")
        raise NomadError(405, "Invalid method")

    async def _list_jobs(self, request: web.Request) -> web.StreamResponse:
        namespace = _namespace(request)
        allowed = self._authorize(request, None if namespace == "*" else namespace)
        with_meta = _parse_bool(request.query.get("meta"), "meta")
        prefix = request.query.get("prefix", "")
        await self._block(request, lambda: self._jobs_index)
        stubs = [
            _stub(job, with_meta=bool(with_meta))
            for (ns, job_id), job in sorted(self._jobs.items())
            if (namespace in ("*", ns)) and allowed(ns) and job_id.startswith(prefix)
        ]
        return self._json(stubs, index=self._jobs_index)

    async def _block(self, request: web.Request, index: Callable[[], int]) -> None:
        """nomad/rpc.go blockingRPC: wait while ``index()`` is not past ``?index=`` and the
        ``?wait=`` time (default 5 min, capped at 10) lasts."""
        raw = request.query.get("index")
        if raw is None:
            return
        after = int(raw)
        deadline = time.monotonic() + min(_duration(request.query.get("wait", "5m")), 600.0)
        stopping = request.app[_SHUTTING_DOWN]
        while (
            index() <= after and not stopping.is_set() and (left := deadline - time.monotonic()) > 0
        ):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._written.wait(), left)

    @property
    def _jobs_index(self) -> int:
        """The jobs table's index: the last write to a job."""
        return max((job["ModifyIndex"] for job in self._jobs.values()), default=1)

    def _read_job(self, request: web.Request, job_id: str) -> web.StreamResponse:
        namespace = _namespace(request)
        self._authorize(request, namespace)
        job = self._jobs.get((namespace, job_id))
        if job is None:
            raise NomadError(404, JOB_NOT_FOUND)
        return self._json(job, index=job["ModifyIndex"])

    def _versions_request(self, request: web.Request, job_id: str) -> web.StreamResponse:
        namespace = _namespace(request)
        self._authorize(request, namespace)
        _parse_bool(request.query.get("diffs"), "diffs")
        versions = self._versions.get((namespace, job_id))
        if not versions:
            raise NomadError(404, "job versions not found")
        return self._json(
            {
                "Versions": list(reversed(versions)),
                "Diffs": None,
                "Index": self._index,
                "LastContact": 0,
                "KnownLeader": True,
                "NextToken": "",
            }
        )

    def _latest_deployment_request(self, request: web.Request, job_id: str) -> web.StreamResponse:
        namespace = _namespace(request)
        self._authorize(request, namespace)
        self._observe_job(namespace, job_id)
        found = self._job_deployments(namespace, job_id)
        if not found:
            return self._json(None)
        self._observe_deployment(found[0])
        found = self._job_deployments(namespace, job_id)
        return self._json(found[0])

    def _deployments_request(self, request: web.Request, job_id: str) -> web.StreamResponse:
        namespace = _namespace(request)
        self._authorize(request, namespace)
        self._observe_job(namespace, job_id)
        for deployment in self._job_deployments(namespace, job_id):
            self._observe_deployment(deployment)
        return self._json(self._job_deployments(namespace, job_id))

    def _job_evals_request(self, request: web.Request, job_id: str) -> web.StreamResponse:
        namespace = _namespace(request)
        self._authorize(request, namespace)
        self._observe_job(namespace, job_id)
        return self._json(self._job_evals(namespace, job_id))

    def _job_allocs_request(self, request: web.Request, job_id: str) -> web.StreamResponse:
        """GET /v1/job/:id/allocations (``?all`` is parsed leniently: anything else is false)."""
        namespace = _namespace(request)
        self._authorize(request, namespace)
        job = self._jobs.get((namespace, job_id))
        created = None if job is None or request.query.get("all") in GO_TRUE else job["CreateIndex"]
        found = self._allocations.of_job(namespace, job_id, created)
        return self._json([stub(alloc) for alloc in found], index=self._allocations.index)

    async def _alloc_request(self, request: web.Request) -> web.StreamResponse:
        """GET /v1/allocation/:id; its other endpoints are not here."""
        tail = request.match_info["tail"]
        if "/" in tail:
            raise NomadError(501, f"FakeNomad does not implement /v1/allocation/{tail}")
        if request.method != "GET":
            raise NomadError(405, "Invalid method")
        allowed = self._authorize(request, None)
        alloc = self._allocations.get(tail)
        if alloc is None:
            raise NomadError(404, ALLOC_NOT_FOUND)
        if not allowed(alloc["Namespace"]):
            raise NomadError(500, f'Unknown allocation "{tail}"')
        return self._json(alloc, index=alloc["ModifyIndex"])

    def _summary_request(self, request: web.Request, job_id: str) -> web.StreamResponse:
        namespace = _namespace(request)
        self._authorize(request, namespace)
        job = self._jobs.get((namespace, job_id))
        if job is None:
            raise NomadError(404, JOB_NOT_FOUND)
        return self._json(_summary(job))

    async def _deployment_request(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        if tail.startswith("fail/"):
            if request.method not in ("PUT", "POST"):
                raise NomadError(405, "Invalid method")
            return self._fail_deployment_request(request, tail.removeprefix("fail/"))
        if "/" in tail:
            raise NomadError(501, f"FakeNomad does not implement /v1/deployment/{tail}")
        if request.method != "GET":
            raise NomadError(405, "Invalid method")
        deployment = self._readable_deployment(request, tail)
        self._observe_deployment(deployment)
        return self._json(deployment, index=deployment["ModifyIndex"])

    def _fail_deployment_request(
        self, request: web.Request, deployment_id: str
    ) -> web.StreamResponse:
        """POST /v1/deployment/fail/:id (deploymentwatcher FailDeployment)."""
        deployment = self._readable_deployment(request, deployment_id)
        if deployment["Status"] not in ACTIVE_DEPLOYMENT:
            raise NomadError(500, "can't fail terminal deployment")
        reverted = self._resolve(
            deployment, successful=False, description=DEPLOYMENT_FAILED_BY_USER
        )
        index = deployment["ModifyIndex"]
        if reverted is None:
            job = self._jobs[(deployment["Namespace"], deployment["JobID"])]
            evaluation = self._create_eval(
                job,
                index,
                triggered_by="deployment-watcher",
                priority=deployment["EvalPriority"],
                creates_deployment=False,
                deployment_id=deployment["ID"],
            )
        else:
            evaluation = reverted[0]
        answer: Json = {
            "EvalID": evaluation["ID"],
            "EvalCreateIndex": index,
            "DeploymentModifyIndex": index,
            # the version reverted to (nomad/deploymentwatcher: rollbackJob.Version)
            "RevertedJobVersion": None if reverted is None else reverted[1],
            "Index": index,
            "LastContact": 0,
            "KnownLeader": False,
        }
        return self._json(answer, index=index)

    def _readable_deployment(self, request: web.Request, deployment_id: str) -> Json:
        allowed = self._authorize(request, _namespace(request))
        deployment = self._deployments.get(deployment_id)
        if deployment is None:
            raise NomadError(404, "deployment not found")
        if not allowed(deployment["Namespace"]):
            raise NomadError(403, PERMISSION_DENIED)
        return deployment

    async def _eval_request(self, request: web.Request) -> web.StreamResponse:
        allowed = self._authorize(request, _namespace(request))
        evaluation = self._evals.get(request.match_info["eval_id"])
        if evaluation is None:
            raise NomadError(404, "eval not found")
        if not allowed(evaluation["Namespace"]):
            raise NomadError(403, PERMISSION_DENIED)
        self._observe_eval(evaluation)
        return self._json(evaluation, index=evaluation["ModifyIndex"])

    async def _nodes_request(self, request: web.Request) -> web.StreamResponse:
        """GET /v1/nodes: the stubs, by ID (``?prefix=`` of the ID, ``?resources``, ``?os``)."""
        self._authorize_nodes(request)
        resources = bool(_parse_bool(request.query.get("resources"), "resources"))
        with_os = bool(_parse_bool(request.query.get("os"), "os"))
        prefix = request.query.get("prefix", "")
        await self._block(request, lambda: self._nodes_index)
        stubs = [
            node_stub(node, resources=resources, os=with_os)
            for node_id, node in sorted(self._nodes.items())
            if node_id.startswith(prefix)
        ]
        return self._json(stubs, index=self._nodes_index)

    async def _node_request(self, request: web.Request) -> web.StreamResponse:
        """GET /v1/node/:node_id (the full UUID); the node's other endpoints are not here."""
        tail = request.match_info["tail"]
        if "/" in tail or tail == "pools":
            raise NomadError(501, f"FakeNomad does not implement /v1/node/{tail}")
        if request.method != "GET":
            raise NomadError(405, "Invalid method")
        self._authorize_nodes(request)
        node = self._nodes.get(tail)
        if node is None:
            raise NomadError(404, NODE_NOT_FOUND)
        return self._json(node, index=node["ModifyIndex"])

    def _authorize_nodes(self, request: web.Request) -> None:
        """403 unless ACLs are off or the token may read nodes (``node:read``)."""
        if self.acl_token is None and not self.acl_tokens:
            return
        token = _token(request)
        if token is None or (token != self.acl_token and token not in self.node_read_tokens):
            raise NomadError(403, PERMISSION_DENIED)

    async def _namespaces_request(self, request: web.Request) -> web.StreamResponse:
        allowed = self._authorize(request, None)
        return self._json(
            [
                {"Name": name, "Description": "", "Quota": "", "Meta": None}
                for name in sorted(self.namespaces)
                if allowed(name)
            ]
        )

    async def _regions_request(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(sorted(self.regions))

    async def _leader_request(self, request: web.Request) -> web.StreamResponse:
        return web.json_response("127.0.0.1:4647")

    async def _register_request(self, request: web.Request, path_job_id: str) -> web.StreamResponse:
        token = _token(request)
        body = await _decode_body(request)
        job = body.get("Job")
        if not isinstance(job, dict):
            raise NomadError(400, "Job must be specified")
        job_id = job.get("ID")
        if not job_id:
            raise NomadError(400, "Job ID hasn't been provided")
        if path_job_id and job_id != path_job_id:
            raise NomadError(400, "Job ID does not match name")
        # command/agent/job_endpoint.go: namespaceForJob and regionForJob
        namespace = str(
            request.query.get("namespace")
            or body.get("Namespace")
            or job.get("Namespace")
            or "default"
        )
        region = str(request.query.get("region") or body.get("Region") or job.get("Region") or "")
        if region in ("", "global"):
            region = self.region
        record = Registration(
            job_id=str(job_id),
            namespace=namespace,
            body=copy.deepcopy(body),
            token=token,
            path=request.path_qs,
        )
        self.registrations.append(record)
        try:
            if region not in self.regions:
                raise NomadError(500, NO_REGION_PATH)
            self._authorize(request, namespace)
            hook, self.before_next_register = self.before_next_register, None
            if hook is not None:
                result = hook()
                if inspect.isawaitable(result):
                    await result
            answer = self._register(
                namespace,
                region,
                job,
                enforce=bool(body.get("EnforceIndex")),
                modify_index=int(body.get("JobModifyIndex") or 0),
                preserve_counts=bool(body.get("PreserveCounts")),
                eval_priority=int(body.get("EvalPriority") or 0),
            )
        except NomadError as error:
            record.status = error.status
            raise
        record.status = 200
        record.version = int(self._jobs[(namespace, str(job_id))]["Version"])
        return self._json(answer, index=answer["Index"])

    # ------------------------------------------------------------------ the server's logic

    def _register(
        self,
        namespace: str,
        region: str,
        job_in: Mapping[str, Any],
        *,
        enforce: bool,
        modify_index: int,
        preserve_counts: bool = False,
        eval_priority: int = 0,
    ) -> Json:
        """nomad/job_endpoint.go Job.Register, less what a fake does not need."""
        job_id = str(job_in["ID"])
        if namespace not in self.namespaces:
            raise NomadError(500, f'job "{job_id}" is in nonexistent namespace "{namespace}"')
        key = (namespace, job_id)
        existing = self._jobs.get(key)
        if enforce:
            if existing is not None:
                if modify_index == 0:
                    raise NomadError(500, f"{CONFLICT_PREFIX} 0: job already exists")
                if modify_index != existing["JobModifyIndex"]:
                    raise NomadError(
                        500,
                        f"{CONFLICT_PREFIX} {modify_index}: job exists with conflicting job "
                        f"modify index: {existing['JobModifyIndex']}",
                    )
            elif modify_index != 0:
                raise NomadError(500, f"{CONFLICT_PREFIX} {modify_index}: job does not exist")
        job = _canonical_job(job_in, namespace, region)
        if existing is not None:
            if existing["Type"] != job["Type"]:
                raise NomadError(
                    500, f'cannot update job from type "{existing["Type"]}" to "{job["Type"]}"'
                )
            if preserve_counts:
                counts = {g["Name"]: g["Count"] for g in existing["TaskGroups"]}
                for group in job["TaskGroups"]:
                    group["Count"] = counts.get(group["Name"], group["Count"])
        changed = existing is None or _spec(existing) != _spec(job)
        index = self._next()
        if changed:
            stored = self._store_version(key, job, index)
        else:
            assert existing is not None
            stored = existing
        evaluation = None
        if not (job.get("Periodic") or job.get("ParameterizedJob")):
            evaluation = self._create_eval(
                stored,
                index,
                triggered_by="job-register",
                priority=eval_priority or stored["Priority"],
                creates_deployment=changed and _deploys(stored),
            )
        return {
            "EvalID": evaluation["ID"] if evaluation else "",
            "EvalCreateIndex": index if evaluation else 0,
            "JobModifyIndex": stored["JobModifyIndex"],
            "Warnings": "",
            "Index": index,
            "LastContact": 0,
            "KnownLeader": False,
        }

    def _store_version(self, key: tuple[str, str], job: Json, index: int) -> Json:
        """nomad/state/state_store.go upsertJobImpl: a new version at ``index``."""
        existing = self._jobs.get(key)
        job = copy.deepcopy(job)
        job.update(
            Stable=False,
            SubmitTime=time.time_ns(),
            StatusDescription="",
            ModifyIndex=index,
            JobModifyIndex=index,
        )
        if existing is None:
            job.update(CreateIndex=index, Version=0, Status="pending")
        else:
            job.update(
                CreateIndex=existing["CreateIndex"],
                Version=existing["Version"] + 1,
                Status=existing["Status"],
            )
        self._jobs[key] = job
        self._versions.setdefault(key, []).append(copy.deepcopy(job))
        return job

    def _touch(self, key: tuple[str, str], version: int | None = None, **changes: Any) -> None:
        """Change non-spec fields of a job version (and the job if it is the current one)."""
        index = self._next()
        current = self._jobs[key]
        version = current["Version"] if version is None else version
        for stored in self._versions[key]:
            if stored["Version"] == version:
                stored.update(changes, ModifyIndex=index)
        if current["Version"] == version:
            current.update(changes, ModifyIndex=index)

    def _create_eval(
        self,
        job: Json,
        index: int,
        *,
        triggered_by: str,
        priority: int,
        creates_deployment: bool,
        deployment_id: str = "",
    ) -> Json:
        now = time.time_ns()
        evaluation: Json = {
            "ID": str(uuid.uuid4()),
            "Namespace": job["Namespace"],
            "Priority": priority,
            "Type": job["Type"],
            "TriggeredBy": triggered_by,
            "JobID": job["ID"],
            "JobModifyIndex": job["JobModifyIndex"],
            "NodeID": "",
            "NodeModifyIndex": 0,
            "DeploymentID": deployment_id,
            "Status": "pending",
            "StatusDescription": "",
            "Wait": 0,
            "WaitUntil": None,
            "NextEval": "",
            "PreviousEval": "",
            "BlockedEval": "",
            "RelatedEvals": None,
            "FailedTGAllocs": None,
            "ClassEligibility": None,
            "QuotaLimitReached": "",
            "EscapedComputedClass": False,
            "AnnotatePlan": False,
            "QueuedAllocations": None,
            "LeaderACL": "",
            "SnapshotIndex": 0,
            "CreateIndex": index,
            "ModifyIndex": index,
            "CreateTime": now,
            "ModifyTime": now,
        }
        self._evals[evaluation["ID"]] = evaluation
        self._tracking[evaluation["ID"]] = _Tracking(creates_deployment=creates_deployment)
        if self.eval_polls <= 0:
            self._complete_eval(evaluation)
        return evaluation

    def _complete_eval(self, evaluation: Json) -> None:
        """The scheduler ran: the job runs, and a new version gets its deployment."""
        if evaluation["Status"] != "pending":
            return
        key = (evaluation["Namespace"], evaluation["JobID"])
        job = self._jobs.get(key)
        index = self._next()
        evaluation.update(
            Status="complete",
            SnapshotIndex=evaluation["CreateIndex"],
            ModifyIndex=index,
            ModifyTime=time.time_ns(),
        )
        if job is None:
            return
        evaluation["QueuedAllocations"] = {group["Name"]: 0 for group in job["TaskGroups"]}
        if job["Status"] == "pending":
            self._touch(key, Status="running")
        tracking = self._tracking[evaluation["ID"]]
        if job["JobModifyIndex"] != evaluation["JobModifyIndex"]:
            return  # a newer version's own evaluation places it
        if tracking.creates_deployment:
            deployment = self._create_deployment(job, priority=evaluation["Priority"])
            if not evaluation["DeploymentID"]:
                evaluation["DeploymentID"] = deployment["ID"]
        self._place(job, evaluation["ID"])

    def _place(self, job: Json, eval_id: str) -> None:
        """The scheduler's plan: allocations of the job's version, under its running
        deployment if it has one."""
        latest = next(iter(self._job_deployments(job["Namespace"], job["ID"])), None)
        if latest is not None and (
            latest["JobVersion"] != job["Version"] or latest["Status"] not in ACTIVE_DEPLOYMENT
        ):
            latest = None
        nodes = [
            node
            for node in self._nodes.values()
            if node["Status"] == "ready" and node["SchedulingEligibility"] == "eligible"
        ]
        self._allocations.reconcile(job, eval_id=eval_id, deployment=latest, nodes=nodes)

    def _crashes(self, task: Json) -> bool:
        image = str((task.get("Config") or {}).get("image") or "")
        return bool(image) and (
            image in self.crashing_images or image.rpartition("@")[2] in self.crashing_images
        )

    def _create_deployment(self, job: Json, *, priority: int) -> Json:
        index = self._next()
        for older in self._job_deployments(job["Namespace"], job["ID"]):
            if older["Status"] in ACTIVE_DEPLOYMENT:
                older.update(
                    Status="cancelled",
                    StatusDescription=DEPLOYMENT_NEWER,
                    ModifyIndex=index,
                    ModifyTime=time.time_ns(),
                )
        now = time.time_ns()
        groups: Json = {}
        for group in job["TaskGroups"]:
            update = group.get("Update")
            if not update or not update.get("MaxParallel"):
                continue
            groups[group["Name"]] = {
                "AutoRevert": bool(update.get("AutoRevert")),
                "AutoPromote": bool(update.get("AutoPromote")),
                "ProgressDeadline": update.get("ProgressDeadline", 0),
                "RequireProgressBy": GO_ZERO_TIME,
                "Promoted": False,
                "PlacedCanaries": None,
                "DesiredCanaries": update.get("Canary", 0),
                "DesiredTotal": group.get("Count", 1),
                "PlacedAllocs": 0,
                "HealthyAllocs": 0,
                "UnhealthyAllocs": 0,
            }
        deployment: Json = {
            "ID": str(uuid.uuid4()),
            "Namespace": job["Namespace"],
            "JobID": job["ID"],
            "JobVersion": job["Version"],
            "JobModifyIndex": job["ModifyIndex"],
            "JobSpecModifyIndex": job["JobModifyIndex"],
            "JobCreateIndex": job["CreateIndex"],
            "IsMultiregion": False,
            "TaskGroups": groups,
            "Status": "running",
            "StatusDescription": DEPLOYMENT_RUNNING,
            "EvalPriority": priority,
            "CreateIndex": index,
            "ModifyIndex": index,
            "CreateTime": now,
            "ModifyTime": now,
        }
        self._deployments[deployment["ID"]] = deployment
        self._tracking[deployment["ID"]] = _Tracking()
        return deployment

    def _resolve(
        self, deployment: Json, *, successful: bool, description: str = DEPLOYMENT_FAILED
    ) -> tuple[Json, int] | None:
        """The deployment watcher ends a deployment: successful, or failed and maybe reverted.

        Returns the evaluation of the revert and the version reverted to, if there is one.
        """
        if deployment["Status"] not in ACTIVE_DEPLOYMENT:
            return None
        successful = self._report_health(deployment, successful, description)
        key = (deployment["Namespace"], deployment["JobID"])
        for state in deployment["TaskGroups"].values():
            state["PlacedAllocs"] = state["DesiredTotal"]
            if successful:
                state["HealthyAllocs"] = state["DesiredTotal"]
            else:
                state["UnhealthyAllocs"] = max(1, state["DesiredTotal"])
        if successful:
            deployment.update(Status="successful", StatusDescription=DEPLOYMENT_SUCCESSFUL)
            deployment.update(ModifyIndex=self._next(), ModifyTime=time.time_ns())
            if key in self._jobs:
                self._touch(key, deployment["JobVersion"], Stable=True)
            return None
        revert_to: Json | None = None
        if any(state["AutoRevert"] for state in deployment["TaskGroups"].values()):
            failed = self._version(key, deployment["JobVersion"])
            stable = next((v for v in reversed(self._versions.get(key, [])) if v["Stable"]), None)
            if stable is None:
                description += " - no stable job version to auto revert to"
            elif failed is not None and _spec(failed) == _spec(stable):
                description += (
                    f" - not rolling back to stable job version {stable['Version']} as current"
                    " job has same specification"
                )
            else:
                description += f" - rolling back to job version {stable['Version']}"
                revert_to = stable
        index = self._next()
        deployment.update(
            Status="failed",
            StatusDescription=description,
            ModifyIndex=index,
            ModifyTime=time.time_ns(),
        )
        if revert_to is None or key not in self._jobs:
            return None
        reverted = self._store_version(key, revert_to, index)
        evaluation = self._create_eval(
            reverted,
            index,
            triggered_by="deployment-watcher",
            priority=deployment["EvalPriority"] or reverted["Priority"],
            creates_deployment=_deploys(reverted),
            deployment_id=deployment["ID"],
        )
        return evaluation, int(revert_to["Version"])

    def _report_health(self, deployment: Json, successful: bool, description: str) -> bool:
        """The clients start what was placed and report the health of the deployment's
        allocations; returns whether it succeeds (the deployment watcher fails it on an
        unhealthy allocation, whatever it was told)."""
        self._allocations.run_clients(self._crashes)
        if self._allocations.unhealthy(deployment["ID"]):
            successful = False
        if successful or description == DEPLOYMENT_FAILED:
            self._allocations.report_health(deployment["ID"], healthy=successful)
        return successful

    def _observe_job(self, namespace: str, job_id: str) -> None:
        for evaluation in self._job_evals(namespace, job_id):
            self._observe_eval(evaluation)

    def _observe_eval(self, evaluation: Json) -> None:
        if evaluation["Status"] != "pending":
            return
        tracking = self._tracking[evaluation["ID"]]
        tracking.reads += 1
        if tracking.reads > self.eval_polls:
            self._complete_eval(evaluation)

    def _watch(self) -> None:
        """The clients start what was placed; with ``deployment_seconds``, the deployment
        watcher: a rollout whose time is up ends, read or not."""
        self._allocations.run_clients(self._crashes)
        if self.deployment_seconds > 0:
            for deployment in list(self._deployments.values()):
                self._observe_deployment(deployment, read=False)

    def _observe_deployment(self, deployment: Json, *, read: bool = True) -> None:
        if deployment["Status"] != "running":
            return
        tracking = self._tracking[deployment["ID"]]
        tracking.reads += 1 if read else 0
        unhealthy = self._allocations.unhealthy(deployment["ID"])
        if self.rollout is None and not unhealthy:
            return
        if tracking.reads < self.deployment_polls + (1 if read else 0):
            return
        if time.time_ns() - deployment["CreateTime"] < self.deployment_seconds * SECOND:
            return
        key = (deployment["Namespace"], deployment["JobID"])
        version = self._version(key, deployment["JobVersion"])
        if unhealthy:
            outcome = "failed"
        else:
            assert self.rollout is not None
            outcome = self.rollout(copy.deepcopy(version) if version else {})
        if outcome not in ("successful", "failed"):
            raise ValueError(f"rollout must answer 'successful' or 'failed', not {outcome!r}")
        self._resolve(deployment, successful=outcome == "successful")

    # ------------------------------------------------------------------ helpers

    def _next(self) -> int:
        self._index += 1
        self._wake()
        return self._index

    def _wake(self) -> None:
        """Wake the blocking queries: they look again whether their index moved."""
        self._written.set()
        self._written = asyncio.Event()

    def _version(self, key: tuple[str, str], version: int) -> Json | None:
        return next((v for v in self._versions.get(key, []) if v["Version"] == version), None)

    def _job_deployments(self, namespace: str, job_id: str) -> list[Json]:
        job = self._jobs.get((namespace, job_id))
        found = [
            d
            for d in self._deployments.values()
            if d["Namespace"] == namespace
            and d["JobID"] == job_id
            and (job is None or d["JobCreateIndex"] == job["CreateIndex"])
        ]
        return sorted(found, key=lambda d: d["CreateIndex"], reverse=True)

    def _job_evals(self, namespace: str, job_id: str) -> list[Json]:
        found = [
            e for e in self._evals.values() if e["Namespace"] == namespace and e["JobID"] == job_id
        ]
        return sorted(found, key=lambda e: e["CreateIndex"], reverse=True)

    def _authorize(self, request: web.Request, namespace: str | None) -> Callable[[str], bool]:
        """403 unless the request's token may act in ``namespace``; returns a namespace filter."""
        if self.acl_token is None and not self.acl_tokens:
            return _anything
        token = _token(request)
        if token is not None and token == self.acl_token:
            return _anything
        allowed = self.acl_tokens.get(token or "")
        if allowed is None:
            raise NomadError(403, PERMISSION_DENIED)
        if "*" in allowed:
            return _anything
        if namespace is not None and namespace not in allowed:
            raise NomadError(403, PERMISSION_DENIED)
        return allowed.__contains__

    def _json(self, data: Any, *, index: int | None = None) -> web.Response:
        return web.json_response(
            data,
            headers={
                "X-Nomad-Index": str(index if index is not None else self._index),
                "X-Nomad-KnownLeader": "true",
                "X-Nomad-LastContact": "0",
            },
        )


def _anything(namespace: str) -> bool:
    return True


def _token(request: web.Request) -> str | None:
    """command/agent/http.go parseToken: X-Nomad-Token, else an ``Authorization: Bearer``."""
    token = request.headers.get("X-Nomad-Token", "").strip()
    if token:
        return token
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip().split(" ")[0]
    return None


def _namespace(request: web.Request) -> str:
    return request.query.get("namespace") or "default"


def _duration(text: str) -> float:
    """Seconds of a Go duration as Nomad takes ``wait`` (``100ms``, ``30s``, ``5m``)."""
    for unit, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * scale
    raise NomadError(400, f"Invalid wait time: {text!r}")


def _parse_bool(value: str | None, name: str) -> bool | None:
    """Go's strconv.ParseBool, with the agent's error for anything else."""
    if value is None or value == "":
        return None
    if value in GO_TRUE:
        return True
    if value in GO_FALSE:
        return False
    raise NomadError(
        500,
        f'Failed to parse value of "{name}" ({value}) as a bool: '
        f'strconv.ParseBool: parsing "{value}": invalid syntax',
    )


async def _decode_body(request: web.Request) -> Json:
    raw = await request.read()
    if not raw:
        raise NomadError(400, "Request body is empty")
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise NomadError(400, str(error)) from error
    if not isinstance(body, dict):
        raise NomadError(400, "json: cannot unmarshal into Go value of type api.JobRegisterRequest")
    return body


def _update_empty(update: Mapping[str, Any] | None) -> bool:
    """api.UpdateStrategy.Empty: every field unset or zero."""
    return not update or not any(update.get(k) for k in DEFAULT_UPDATE)


def _canonical_update(update: Mapping[str, Any]) -> Json:
    return {k: (update[k] if update.get(k) is not None else v) for k, v in DEFAULT_UPDATE.items()}


def _canonical_job(job_in: Mapping[str, Any], namespace: str, region: str) -> Json:
    """What the agent makes of a submitted job (api.Job.Canonicalize, ApiJobToStructJob)."""
    job = copy.deepcopy(dict(job_in))
    defaults: Json = {
        "Name": job["ID"],
        "ParentID": "",
        "Type": "service",
        "Priority": 50,
        "AllAtOnce": False,
        "Datacenters": ["*"],
        "NodePool": "default",
        "Constraints": None,
        "Affinities": None,
        "Spreads": None,
        "Multiregion": None,
        "Periodic": None,
        "ParameterizedJob": None,
        "Dispatched": False,
        "Payload": None,
        "Meta": None,
        "ConsulToken": "",
        "VaultToken": "",
        "VaultNamespace": "",
        "NomadTokenID": "",
        "Stop": False,
    }
    for name, value in defaults.items():
        if job.get(name) is None:
            job[name] = value
    job["Namespace"] = namespace
    job["Region"] = region
    # The tokens are checked, then cleared before the job is stored.
    job["VaultToken"] = ""
    job["ConsulToken"] = ""
    job_update = job.get("Update")
    if job_update is None and job["Type"] == "service":
        job_update = dict(DEFAULT_UPDATE)
    groups = []
    for group_in in job.get("TaskGroups") or []:
        group = dict(group_in)
        if group.get("Count") is None:
            group["Count"] = 1
        group.setdefault("Meta", None)
        group.setdefault("Tasks", [])
        own = group.get("Update")
        if not _update_empty(job_update) and own:
            assert job_update is not None
            merged: Json | None = {
                **_canonical_update(job_update),
                **{k: v for k, v in own.items() if v is not None},
            }
        elif own:
            merged = dict(own)
        elif not _update_empty(job_update):
            assert job_update is not None
            merged = dict(job_update)
        else:
            merged = None
        if merged is not None and not _update_empty(merged):
            merged = _canonical_update(merged)
            group["Update"] = merged if merged["MaxParallel"] else None
        else:
            group["Update"] = None
        groups.append(group)
    job["TaskGroups"] = groups
    if job_update and job_update.get("MaxParallel"):
        job["Update"] = {
            **ZERO_UPDATE,
            "Stagger": job_update.get("Stagger") or 0,
            "MaxParallel": job_update["MaxParallel"],
        }
    else:
        job["Update"] = dict(ZERO_UPDATE)
    return job


def _deploys(job: Mapping[str, Any]) -> bool:
    """Whether the scheduler makes a deployment for the job (a service group with updates)."""
    if job.get("Type") != "service" or job.get("Stop"):
        return False
    return any(
        (group.get("Update") or {}).get("MaxParallel") for group in job.get("TaskGroups") or []
    )


def _spec(job: Mapping[str, Any]) -> Json:
    return {k: v for k, v in job.items() if k not in NOT_SPEC}


def _summary(job: Mapping[str, Any]) -> Json:
    return {
        "JobID": job["ID"],
        "Namespace": job["Namespace"],
        "Summary": {
            group["Name"]: {
                "Queued": 0,
                "Complete": 0,
                "Failed": 0,
                "Running": group.get("Count", 1) if job["Status"] == "running" else 0,
                "Starting": 0,
                "Lost": 0,
                "Unknown": 0,
            }
            for group in job.get("TaskGroups") or []
        },
        "Children": {"Pending": 0, "Running": 0, "Dead": 0},
        "CreateIndex": job["CreateIndex"],
        "ModifyIndex": job["ModifyIndex"],
    }


def _stub(job: Mapping[str, Any], *, with_meta: bool) -> Json:
    """structs.JobListStub; ``Meta`` (omitempty) only when asked for with ``?meta=true``."""
    stub: Json = {
        "ID": job["ID"],
        "ParentID": job.get("ParentID", ""),
        "Name": job["Name"],
        "Namespace": job["Namespace"],
        "Datacenters": job.get("Datacenters"),
        "NodePool": job.get("NodePool"),
        "Multiregion": job.get("Multiregion"),
        "Type": job["Type"],
        "Priority": job["Priority"],
        "Periodic": bool(job.get("Periodic")),
        "ParameterizedJob": bool(job.get("ParameterizedJob")),
        "Stop": bool(job.get("Stop")),
        "Status": job["Status"],
        "StatusDescription": job.get("StatusDescription", ""),
        "JobSummary": _summary(job),
        "CreateIndex": job["CreateIndex"],
        "ModifyIndex": job["ModifyIndex"],
        "JobModifyIndex": job["JobModifyIndex"],
        "SubmitTime": job.get("SubmitTime"),
    }
    if with_meta and job.get("Meta"):
        stub["Meta"] = dict(job["Meta"])
    return stub
