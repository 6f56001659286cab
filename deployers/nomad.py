"""HashiCorp Nomad jobs: set a task's image through the HTTP API and follow the rollout.

A target is a job (``name``) in a namespace, optionally narrowed to one task group and one task
(``options``: ``namespace``, ``group``, ``task``). Every Docker or Podman task in scope whose
image is of the deployed repository gets the new image; the job is registered with
``EnforceIndex`` and the ``JobModifyIndex`` that was read, so a change made by someone else in
between is a conflict (read again, decided again), never overwritten. A job with an update
stanza is followed through its deployment; any other job through its evaluation.

``platforms`` reads the client nodes (``/v1/nodes``, then ``/v1/node/:id`` for the attributes
the list leaves out, kept by node and ``ModifyIndex``) and counts those the job's groups can be
placed on (``deployers.nomad_placement``); the token needs ``node:read`` for it. ``health``
reads the job's latest deployment and its allocations and judges them
(``deployers.nomad_health``).

python-nomad is blocking: every call runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import nomad
import nomad.api.exceptions as nomad_errors
import requests
import structlog

from deployers.base import (
    DeployOutcome,
    DeployResult,
    Health,
    HealthState,
    Running,
    Target,
    Workload,
    name_list,
    release_labels,
    tls_verify,
)
from deployers.nomad_health import (
    NomadAllocation,
    NomadJobScope,
    NomadRollout,
    judge,
    other_image,
)
from deployers.nomad_jobs import (
    TaskRef,
    has_rollout,
    spec_index,
    submitted,
    task_image,
    uses,
    with_image,
)
from deployers.nomad_placement import NomadNode, node_platforms, placements, schedulable
from handlers.references import (
    Aliases,
    ImageName,
    ImageRef,
)
from receiver.errors import DeployerUnavailable

log = structlog.get_logger("regdeploy.nomad")

T = TypeVar("T")

KIND = "nomad"
DRIVERS = frozenset({"docker", "podman"})
_CONFLICT = "Enforcing job modify index"
# How long a blocking query on the jobs list waits for a change (Nomad's default is 5 min).
WATCH_SECONDS = 60.0
# What python-nomad raises when Nomad does not answer, or answers with an error.
_UNANSWERED = (nomad_errors.BaseNomadException, requests.RequestException, OSError)


@dataclass(frozen=True, slots=True, kw_only=True)
class NomadSettings:
    """How to reach Nomad. Secrets are plain strings here: the configuration keeps them masked
    until they are handed to the client."""

    address: str = "http://127.0.0.1:4646"
    token: str | None = field(default=None, repr=False)
    region: str | None = None
    namespace: str = "default"
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    tls_verify: bool = True
    timeout_seconds: float = 10.0
    rollout_timeout_seconds: float = 600.0
    poll_seconds: float = 1.0
    vault_token: str | None = field(default=None, repr=False)
    consul_token: str | None = field(default=None, repr=False)
    opt_in_key: str = "regdeploy.enable"
    policy_key: str = "regdeploy.policy"
    notify_key: str = "regdeploy.notify"


@dataclass
class NomadDeployer:
    settings: NomadSettings
    aliases: Aliases = field(default_factory=lambda: Aliases({}))
    kind: str = KIND
    _clients: dict[str, Any] = field(default_factory=dict)
    # One HTTP session for every call, closed with the deployer.
    _session: requests.Session = field(default_factory=requests.Session)
    # Client nodes as last read, by ID: read again when the list shows a newer ModifyIndex.
    _nodes: dict[str, NomadNode] = field(default_factory=dict)

    def close(self) -> None:
        self._session.close()

    async def workloads(self) -> list[Workload]:
        """Jobs whose meta opts in, with the images of their Docker and Podman tasks, since
        their current version was submitted."""
        stubs = await self._call(
            self.settings.namespace, lambda c: c.jobs.get_jobs(namespace="*", meta=True)
        )
        found = []
        for stub in stubs:
            meta = stub.get("Meta") or {}
            if str(meta.get(self.settings.opt_in_key, "")).lower() != "true":
                continue
            namespace = stub.get("Namespace") or "default"
            target = Target(
                kind=KIND,
                name=stub["ID"],
                options=MappingProxyType({"namespace": namespace}),
                policy=meta.get(self.settings.policy_key) or None,
                notify=name_list(meta.get(self.settings.notify_key)),
                release=release_labels(meta),
            )
            job = await self._read(target)
            images = tuple(ref.image for ref in self._tasks(job, target, None))
            if images:
                found.append(Workload(target=target, images=images, since=submitted(job)))
        return found

    async def changes(self) -> AsyncIterator[None]:
        """The jobs list changed: a blocking query on it (``index``, ``wait``) answers when
        Nomad's index for it moves past the one last seen, or after ``WATCH_SECONDS``."""
        index = 0
        while True:
            try:
                seen = await self._jobs_index(after=index)
            except (nomad_errors.BaseNomadException, requests.RequestException, OSError):
                return  # Nomad went away: the inventory lists the jobs again now and then
            if seen != index:
                # An index that went backwards (a restored cluster) starts over, as Nomad says.
                index = seen if seen > index else 0
                yield

    async def _jobs_index(self, *, after: int) -> int:
        """Nomad's index of the jobs list, once it is past ``after`` (or the wait ended)."""
        params = {"namespace": "*", "index": after, "wait": f"{int(WATCH_SECONDS)}s"}
        timeout = self.settings.timeout_seconds + WATCH_SECONDS * 1.1
        client = self._client(self.settings.namespace)
        # A thread of its own that a stopping process does not wait for: asyncio.run waits for
        # its default executor's threads, and this one may wait a minute for Nomad's answer.
        answer = await in_daemon_thread(
            lambda: client.jobs.request(method="get", params=params, timeout=timeout)
        )
        if answer is None:
            raise ConnectionError(f"Nomad at {self.settings.address} did not answer")
        return int(answer.headers.get("X-Nomad-Index") or 0)

    async def current(self, target: Target, name: ImageName) -> Running | None:
        """The image of the first task in scope, since the job's version was submitted."""
        try:
            job = await self._read(target)
        except nomad_errors.URLNotFoundNomadException:
            return None
        images = [ref.image for ref in self._tasks(job, target, name)]
        if not images:
            return None
        return Running(image=images[0], since=submitted(job))

    async def deploy(self, target: Target, image: ImageRef) -> DeployResult:
        try:
            return await self._deploy(target, image)
        except nomad_errors.URLNotAuthorizedNomadException:
            return DeployResult.failed(
                f"Nomad refused the ACL token for job {target.name}", retry=False
            )
        except nomad_errors.URLNotFoundNomadException:
            return DeployResult.failed(
                f"no job {target.name} in namespace {self._namespace(target)}", retry=False
            )
        except (nomad_errors.BaseNomadException, requests.RequestException) as exc:
            return DeployResult.failed(f"Nomad did not answer: {_reason(exc)}", retry=True)

    async def platforms(self, target: Target) -> Mapping[str, int]:
        """The platforms of the nodes the job's groups in scope can be placed on now, with how
        many of each; none when there is no such job."""
        try:
            job = await self._read(target)
            groups = placements(job, group=target.options.get("group"))
            return node_platforms(await self._schedulable_nodes() if groups else [], groups)
        except nomad_errors.URLNotFoundNomadException:
            return {}  # no such job (a node that left meanwhile is skipped in ``_node``)
        except _UNANSWERED as exc:
            raise _unavailable(exc, needs="read-job and node:read") from exc

    async def health(self, target: Target, image: ImageRef) -> Health:
        """Whether the job's tasks in scope run ``image`` and Nomad counts them healthy, by its
        latest deployment and its allocations (``deployers.nomad_health``)."""
        try:
            job = await self._read(target)
        except nomad_errors.URLNotFoundNomadException:
            where = self._namespace(target)
            return Health.failed(f"job {target.name} not found in namespace {where}")
        except _UNANSWERED as exc:
            raise _unavailable(exc, needs="read-job") from exc
        ours = list(self._tasks(job, target, image.name))
        wrong = other_image(
            target.name, image, _named(ours), _named(self._tasks(job, target, None))
        )
        if wrong is not None:
            return Health.failed(wrong)
        namespace, groups = self._namespace(target), {t.group for t in ours}
        try:
            latest = await self._call(
                namespace, lambda c: c.job.request(target.name, "deployment", method="get")
            )
            stubs = await self._call(namespace, lambda c: c.job.get_allocations(target.name))
            deployment = latest.json()
        except (*_UNANSWERED, ValueError) as exc:
            raise _unavailable(exc, needs="read-job") from exc
        return judge(
            job=NomadJobScope.read(job, groups),
            deployment=NomadRollout.read(deployment, groups) if deployment else None,
            allocations=[NomadAllocation.read(stub) for stub in stubs],
        )

    async def _schedulable_nodes(self) -> list[NomadNode]:
        """The nodes that take new allocations, read in full (or as last read, when their
        ``ModifyIndex`` has not moved since)."""
        stubs = await self._call(self.settings.namespace, lambda c: c.nodes.get_nodes())
        listed = {str(s["ID"]): int(s.get("ModifyIndex") or 0) for s in stubs if schedulable(s)}
        self._nodes = {node_id: n for node_id, n in self._nodes.items() if node_id in listed}
        read = await asyncio.gather(*(self._node(node_id, i) for node_id, i in listed.items()))
        return [node for node in read if node is not None]

    async def _node(self, node_id: str, index: int) -> NomadNode | None:
        cached = self._nodes.get(node_id)
        if cached is not None and cached.modify_index == index:
            return cached
        try:
            answer = await self._call(self.settings.namespace, lambda c: c.node.get_node(node_id))
        except nomad_errors.URLNotFoundNomadException:
            return None  # it left the cluster since the list was read
        node = self._nodes[node_id] = NomadNode.read(answer)
        return node

    async def _deploy(self, target: Target, image: ImageRef) -> DeployResult:
        job = await self._read(target)
        tasks = list(self._tasks(job, target, image.name))
        if not tasks:
            return DeployResult.failed(
                f"no Docker task of job {target.name} in scope runs {image.name}", retry=False
            )
        if all(t.image.digest == image.digest for t in tasks):
            return DeployResult(outcome=DeployOutcome.SUCCEEDED, message=f"already runs {image}")
        updated = with_image(job, tasks, image)
        payload: dict[str, Any] = {
            "Job": updated,
            "EnforceIndex": True,
            "JobModifyIndex": job["JobModifyIndex"],
        }
        self._add_tokens(payload)
        try:
            answer = await self._call(
                self._namespace(target), lambda c: c.job.register_job(target.name, payload)
            )
        except nomad_errors.BaseNomadException as exc:
            if _CONFLICT in _reason(exc):
                return DeployResult(outcome=DeployOutcome.CONFLICT, message=_reason(exc))
            raise
        log.info(
            "nomad_job_registered",
            job=target.name,
            image=str(image),
            eval_id=answer.get("EvalID"),
            tasks=[f"{t.group}/{t.task}" for t in tasks],
        )
        if has_rollout(updated):
            return await self._follow_deployment(target, int(answer["JobModifyIndex"]))
        return await self._follow_evaluation(target, answer.get("EvalID"))

    async def _follow_deployment(self, target: Target, registered: int) -> DeployResult:
        """Poll the deployment of the version this deploy registered until it is done.

        Not the job's latest deployment: after an auto-revert that is the reverted version's.
        """
        deadline = time.monotonic() + self.settings.rollout_timeout_seconds
        while time.monotonic() < deadline:
            deployments = await self._call(
                self._namespace(target), lambda c: c.job.get_deployments(target.name)
            )
            deployment = next((d for d in deployments or [] if spec_index(d) == registered), None)
            if deployment is not None:
                status = deployment.get("Status")
                description = deployment.get("StatusDescription") or status or ""
                if status == "successful":
                    return DeployResult(outcome=DeployOutcome.SUCCEEDED, message=description)
                if status in ("failed", "cancelled"):
                    rolled = "rolling back" in description.lower()
                    outcome = DeployOutcome.ROLLED_BACK if rolled else DeployOutcome.FAILED
                    why = await self._why_failed(target, deployment)
                    message = f"{description}: {why}" if why else description
                    return DeployResult(outcome=outcome, message=message, retryable=False)
            await asyncio.sleep(self.settings.poll_seconds)
        return DeployResult.failed(
            f"the deployment of job {target.name} did not finish within "
            f"{self.settings.rollout_timeout_seconds} s",
            retry=False,
        )

    async def _why_failed(self, target: Target, deployment: Mapping[str, Any]) -> str:
        """What failed in the version a failed deployment rolled out, as ``nomad alloc status``
        says it ("allocation 1a2b3c4d failed: task server: … (Exit Code: 1)"); "" when its
        allocations cannot be read or show nothing."""
        groups = {str(g): 0 for g in deployment.get("TaskGroups") or {}}
        version = int(deployment.get("JobVersion") or 0)
        try:
            stubs = await self._call(
                self._namespace(target), lambda c: c.job.get_allocations(target.name)
            )
        except _UNANSWERED:
            return ""
        said = judge(
            job=NomadJobScope(name=target.name, version=version, counts=groups),
            deployment=None,
            allocations=[NomadAllocation.read(stub) for stub in stubs or []],
        )
        return said.words if said.state is HealthState.FAILED else ""

    async def _follow_evaluation(self, target: Target, eval_id: str | None) -> DeployResult:
        if not eval_id:
            return DeployResult(outcome=DeployOutcome.SUCCEEDED, message="registered")
        # python-nomad sends no namespace for evaluations: a token scoped to another namespace
        # would be refused, so name it here.
        params = {"namespace": self._namespace(target)}
        deadline = time.monotonic() + self.settings.rollout_timeout_seconds
        while time.monotonic() < deadline:
            evaluation = await self._call(
                self._namespace(target),
                lambda c: c.evaluation.request(eval_id, method="get", params=params).json(),
            )
            status = evaluation.get("Status")
            if status == "complete":
                return DeployResult(
                    outcome=DeployOutcome.SUCCEEDED, message=f"evaluation {eval_id} complete"
                )
            if status in ("failed", "canceled", "cancelled"):
                reason = evaluation.get("StatusDescription") or status
                return DeployResult.failed(f"evaluation {eval_id} {status}: {reason}", retry=True)
            await asyncio.sleep(self.settings.poll_seconds)
        return DeployResult.failed(f"evaluation {eval_id} did not complete in time", retry=True)

    def _tasks(
        self, job: dict[str, Any], target: Target, name: ImageName | None
    ) -> Iterator[TaskRef]:
        """The Docker/Podman tasks in the target's scope that run an image of ``name`` (of
        any repository when None)."""
        group_scope, task_scope = target.options.get("group"), target.options.get("task")
        for group in job.get("TaskGroups") or []:
            if group_scope and group.get("Name") != group_scope:
                continue
            for task in group.get("Tasks") or []:
                if task_scope and task.get("Name") != task_scope:
                    continue
                if task.get("Driver") not in DRIVERS:
                    continue
                running = task_image(task)
                if running is not None and name in (None, self.aliases.name(running.name)):
                    yield TaskRef(group=group["Name"], task=task["Name"], image=running)

    def _namespace(self, target: Target) -> str:
        return target.options.get("namespace") or self.settings.namespace

    def _add_tokens(self, payload: dict[str, Any]) -> None:
        if self.settings.vault_token and uses(payload["Job"], "Vault"):
            payload["Job"]["VaultToken"] = self.settings.vault_token
        if self.settings.consul_token and uses(payload["Job"], "Consul"):
            payload["Job"]["ConsulToken"] = self.settings.consul_token

    async def _read(self, target: Target) -> dict[str, Any]:
        job: dict[str, Any] = await self._call(
            self._namespace(target),
            lambda c: c.job.get_job(target.name, namespace=self._namespace(target)),
        )
        return job

    async def _call(self, namespace: str, call: Callable[[Any], Any]) -> Any:
        client = self._client(namespace)
        answer = await asyncio.to_thread(call, client)
        if answer is None:
            # python-nomad returns nothing when the connection failed: say so.
            raise ConnectionError(f"Nomad at {self.settings.address} did not answer")
        return answer

    def _client(self, namespace: str) -> Any:
        if namespace not in self._clients:
            s = self.settings
            cert = (str(s.client_cert), str(s.client_key)) if s.client_cert and s.client_key else ()
            self._clients[namespace] = nomad.Nomad(
                address=s.address,
                token=s.token,
                region=s.region,
                namespace=namespace,
                timeout=int(max(1, s.timeout_seconds)),
                verify=tls_verify(s.ca_file, s.tls_verify),
                cert=cert,
                session=self._session,
            )
        return self._clients[namespace]


def _named(tasks: Iterable[TaskRef]) -> dict[str, ImageRef]:
    return {f"{t.group}/{t.task}": t.image for t in tasks}


def in_daemon_thread(call: Callable[[], T]) -> Awaitable[T]:
    """``call()`` run in a daemon thread; what it returns (or raises), awaited."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            outcome: tuple[T | None, BaseException | None] = (call(), None)
        except BaseException as exc:  # handed to the awaiting task, whatever it is
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=run, name="nomad-watch", daemon=True).start()
    return future


def _unavailable(exc: BaseException, *, needs: str) -> DeployerUnavailable:
    if isinstance(exc, nomad_errors.URLNotAuthorizedNomadException):
        return DeployerUnavailable(
            f"Nomad refused the ACL token (it needs {needs}): {_reason(exc)}", kind=KIND
        )
    return DeployerUnavailable(f"Nomad did not answer: {_reason(exc)}", kind=KIND)


def _reason(exc: BaseException) -> str:
    response = getattr(exc, "nomad_resp", None)
    text = getattr(response, "text", None)
    return str(text if text else exc).strip()[:500]
