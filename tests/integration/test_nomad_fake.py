"""The Nomad fake, driven through python-nomad as a deployer drives a real agent.

Each test checks a behaviour of Nomad's HTTP API that the fake reproduces (see
``tests/support/nomad_fake.py`` for where in Nomad each comes from).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import nomad
import nomad.api.exceptions as nomad_errors
import pytest
import requests
from aiohttp.test_utils import TestServer

from tests.support.nomad_fake import FakeNomad, Json, make_job, task_images
from tests.support.nomad_nodes import drained, make_node
from tests.support.polling import until

FIXTURES = Path(__file__).parent.parent / "fixtures" / "nomad"
T = TypeVar("T")

OLD = "registry.example/team/web:1.0"
NEW = "registry.example/team/web:2.0"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class Cluster:
    """A served fake and python-nomad clients of it."""

    def __init__(self, fake: FakeNomad, server: TestServer) -> None:
        self.fake = fake
        self.server = server
        self.url = f"http://127.0.0.1:{server.port}"
        self._sessions: list[requests.Session] = []

    def client(self, **options: Any) -> Any:
        session = requests.Session()
        self._sessions.append(session)
        return nomad.Nomad(
            host="127.0.0.1", port=self.server.port, secure=False, session=session, **options
        )

    def close(self) -> None:
        for session in self._sessions:
            session.close()


@pytest.fixture(autouse=True)
def no_nomad_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """python-nomad reads NOMAD_ADDR, NOMAD_TOKEN... which must not reach the fake."""
    for name in (
        "NOMAD_ADDR",
        "NOMAD_TOKEN",
        "NOMAD_NAMESPACE",
        "NOMAD_REGION",
        "NOMAD_CLIENT_CERT",
        "NOMAD_CLIENT_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


Start = Callable[[FakeNomad], Awaitable[Cluster]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Serve a fake; the servers and the clients' sessions are closed after the test."""
    clusters: list[Cluster] = []

    async def serve(fake: FakeNomad) -> Cluster:
        server = TestServer(fake.app())
        await server.start_server()
        clusters.append(Cluster(fake, server))
        return clusters[-1]

    yield serve
    for cluster in clusters:
        cluster.close()
        await cluster.server.close()


async def call(function: Callable[..., T], *args: Any) -> T:
    """python-nomad blocks: run it in a thread, as the deployer does."""
    return await asyncio.to_thread(function, *args)


def web_job(
    *, auto_revert: bool = False, update: bool = True, meta: dict[str, str] | None = None
) -> Json:
    return make_job(
        "web",
        {"app": {"server": OLD, "sidecar": "busybox:1.36"}},
        auto_revert=auto_revert,
        update=update,
        meta=meta,
    )


def with_image(job: Json, image: str) -> Json:
    job = json.loads(json.dumps(job))
    job["TaskGroups"][0]["Tasks"][0]["Config"]["image"] = image
    return job


def error_text(exc: BaseException) -> str:
    assert isinstance(exc, nomad_errors.BaseNomadException)
    response = exc.nomad_resp
    assert isinstance(response, requests.Response)
    return response.text


# ---------------------------------------------------------------------- read and register


async def test_read_register_with_enforce_index_and_versions(start: Start) -> None:
    fake = FakeNomad()
    fake.add_job(web_job())
    cluster = await start(fake)
    client = cluster.client()

    job = await call(lambda: client.job.get_job("web"))
    assert job["Version"] == 0 and job["Stable"] is True
    assert task_images(job)["app/server"] == OLD
    read_index = job["JobModifyIndex"]

    payload = {"Job": with_image(job, NEW), "EnforceIndex": True, "JobModifyIndex": read_index}
    answer = await call(lambda: client.job.register_job("web", payload))

    # The shape of the documented answer (api-docs/jobs: Update Existing Job)
    assert set(fixture("nomad_docs_update_job_response.json")) <= set(answer)
    assert answer["EvalID"] and answer["JobModifyIndex"] > read_index
    # Job and evaluation are written in the same raft apply
    assert answer["EvalCreateIndex"] == answer["JobModifyIndex"]

    job = await call(lambda: client.job.get_job("web"))
    assert job["Version"] == 1 and job["Stable"] is False
    assert job["JobModifyIndex"] == answer["JobModifyIndex"] == job["ModifyIndex"]
    assert task_images(job)["app/server"] == NEW

    versions = await call(lambda: client.job.get_versions("web"))
    assert [v["Version"] for v in versions["Versions"]] == [1, 0]  # newest first
    assert [task_images(v)["app/server"] for v in versions["Versions"]] == [NEW, OLD]
    assert [v["Version"] for v in fake.versions("web")] == [0, 1]

    registration = fake.registrations[-1]
    assert registration.status == 200 and registration.body["EnforceIndex"] is True
    assert registration.job_id == "web" and registration.namespace == "default"


async def test_register_without_change_keeps_the_version(start: Start) -> None:
    fake = FakeNomad()
    fake.add_job(web_job())
    cluster = await start(fake)
    client = cluster.client()
    job = await call(lambda: client.job.get_job("web"))

    payload = {"Job": job, "EnforceIndex": True, "JobModifyIndex": job["JobModifyIndex"]}
    answer = await call(lambda: client.job.register_job("web", payload))

    assert answer["JobModifyIndex"] == job["JobModifyIndex"]
    assert answer["EvalID"] and answer["EvalCreateIndex"] > job["JobModifyIndex"]
    assert fake.job("web")["Version"] == 0
    assert len(fake.versions("web")) == 1
    assert len(fake.deployments("web")) == 1  # no deployment for an unchanged spec


async def test_enforce_index_conflict_is_a_500_with_nomads_text(start: Start) -> None:
    fake = FakeNomad()
    fake.add_job(web_job())
    cluster = await start(fake)
    client = cluster.client()
    job = await call(lambda: client.job.get_job("web"))
    read_index = job["JobModifyIndex"]
    changed: list[int] = []
    fake.before_next_register = lambda: changed.append(fake.change_job_meanwhile("web"))

    payload = {"Job": with_image(job, NEW), "EnforceIndex": True, "JobModifyIndex": read_index}
    with pytest.raises(nomad_errors.BaseNomadException) as raised:
        await call(lambda: client.job.register_job("web", payload))

    # A plain BaseNomadException: python-nomad only subclasses 400, 403, 404 and 409.
    assert type(raised.value) is nomad_errors.BaseNomadException
    assert raised.value.nomad_resp.status_code == 500
    assert error_text(raised.value) == (
        f"Enforcing job modify index {read_index}: "
        f"job exists with conflicting job modify index: {changed[0]}"
    )
    assert "Enforcing job modify index" in str(raised.value)
    current = fake.job("web")
    assert current["JobModifyIndex"] == changed[0] != read_index
    assert task_images(current)["app/server"] == OLD  # the concurrent change is kept
    assert current["Meta"] == {"changed-meanwhile": "1"}
    assert fake.registrations[-1].status == 500
    assert fake.before_next_register is None  # one-shot

    # Read again and write again: accepted.
    job = await call(lambda: client.job.get_job("web"))
    payload = {"Job": with_image(job, NEW), "EnforceIndex": True, "JobModifyIndex": changed[0]}
    answer = await call(lambda: client.job.register_job("web", payload))
    assert answer["JobModifyIndex"] > changed[0]
    assert fake.job("web")["Meta"] == {"changed-meanwhile": "1"}


async def test_enforce_index_zero_means_new_job_only(start: Start) -> None:
    fake = FakeNomad()
    fake.add_job(web_job())
    cluster = await start(fake)
    client = cluster.client()

    payload = {"Job": web_job(), "EnforceIndex": True, "JobModifyIndex": 0}
    with pytest.raises(nomad_errors.BaseNomadException) as exists:
        await call(lambda: client.job.register_job("web", payload))
    assert error_text(exists.value) == "Enforcing job modify index 0: job already exists"

    other = make_job("api", {"api": {"server": OLD}})
    payload = {"Job": other, "EnforceIndex": True, "JobModifyIndex": 5}
    with pytest.raises(nomad_errors.BaseNomadException) as missing:
        await call(lambda: client.job.register_job("api", payload))
    assert error_text(missing.value) == "Enforcing job modify index 5: job does not exist"

    payload = {"Job": other, "EnforceIndex": True, "JobModifyIndex": 0}
    answer = await call(lambda: client.jobs.register_job(payload))
    created = fake.job("api")
    assert created["Version"] == 0 and created["CreateIndex"] == answer["JobModifyIndex"]


async def test_missing_job_is_a_404(start: Start) -> None:
    cluster = await start(FakeNomad())
    client = cluster.client()
    with pytest.raises(nomad_errors.URLNotFoundNomadException) as raised:
        await call(lambda: client.job.get_job("nothing"))
    assert raised.value.nomad_resp.text == "job not found"
    assert await call(lambda: client.job.get_deployment("nothing")) is None
    with pytest.raises(nomad_errors.URLNotFoundNomadException):
        await call(lambda: client.evaluation.get_evaluation("0d7a6c2b-0000-0000-0000-000000000000"))


# ---------------------------------------------------------------------- deployments


async def test_deployment_runs_then_succeeds_and_marks_the_version_stable(start: Start) -> None:
    fake = FakeNomad(rollout=lambda job: "successful", deployment_polls=1)
    fake.add_job(web_job())
    cluster = await start(fake)
    client = cluster.client()
    job = await call(lambda: client.job.get_job("web"))
    payload = {
        "Job": with_image(job, NEW),
        "EnforceIndex": True,
        "JobModifyIndex": job["JobModifyIndex"],
    }
    answer = await call(lambda: client.job.register_job("web", payload))

    evaluation = await call(lambda: client.evaluation.get_evaluation(answer["EvalID"]))
    assert evaluation["Status"] == "complete" and evaluation["TriggeredBy"] == "job-register"
    assert evaluation["JobModifyIndex"] == answer["JobModifyIndex"]

    first = await call(lambda: client.job.get_deployment("web"))
    assert first["ID"] == evaluation["DeploymentID"]
    assert (first["Status"], first["StatusDescription"]) == ("running", "Deployment is running")
    assert first["JobVersion"] == 1 and first["JobSpecModifyIndex"] == answer["JobModifyIndex"]
    second = await call(lambda: client.deployment.get_deployment(first["ID"]))
    assert second["Status"] == "successful"
    assert second["StatusDescription"] == "Deployment completed successfully"
    assert second["TaskGroups"]["app"]["HealthyAllocs"] == 1

    versions = fake.versions("web")
    assert [v["Stable"] for v in versions] == [True, True]
    deployments = await call(lambda: client.job.get_deployments("web"))
    assert [d["JobVersion"] for d in deployments] == [1, 0]


async def test_a_deployment_runs_for_its_rollout_time_then_succeeds(start: Start) -> None:
    fake = FakeNomad(rollout=lambda job: "successful", deployment_polls=0, deployment_seconds=0.5)
    fake.add_job(web_job())
    cluster = await start(fake)
    client = cluster.client()
    job = await call(lambda: client.job.get_job("web"))
    payload = {
        "Job": with_image(job, NEW),
        "EnforceIndex": True,
        "JobModifyIndex": job["JobModifyIndex"],
    }
    await call(lambda: client.job.register_job("web", payload))
    [registration] = fake.registrations
    assert (registration.status, registration.version) == (200, 1)

    first = await call(lambda: client.job.get_deployment("web"))
    assert first["Status"] == "running"

    async def ended() -> Json | None:
        deployment = await call(lambda: client.deployment.get_deployment(first["ID"]))
        return deployment if deployment["Status"] != "running" else None

    deployment = await until("the deployment ended", ended, seconds=10, interval=0.05)
    assert deployment["Status"] == "successful"
    # It ran for its rollout time, counted from its creation, which the register made.
    assert deployment["ModifyTime"] - deployment["CreateTime"] >= 500_000_000
    assert deployment["CreateTime"] >= registration.at


async def test_a_timed_rollout_ends_whether_anyone_reads_it_or_not(start: Start) -> None:
    fake = FakeNomad(rollout=lambda job: "successful", deployment_polls=0, deployment_seconds=0.3)
    fake.add_job(web_job())
    cluster = await start(fake)
    client = cluster.client()
    job = await call(lambda: client.job.get_job("web"))
    await call(lambda: client.job.register_job("web", {"Job": with_image(job, NEW)}))

    def ended() -> Json | None:
        latest = fake.latest_deployment("web")
        return latest if latest is not None and latest["Status"] != "running" else None

    latest = await until("the rollout ended", ended, seconds=10, interval=0.05)
    assert latest is not None and latest["Status"] == "successful"
    assert [v["Stable"] for v in fake.versions("web")] == [True, True]


async def test_deployments_driven_by_the_test(start: Start) -> None:
    fake = FakeNomad()  # no rollout rule: deployments run until the test ends them
    fake.add_job(web_job())
    cluster = await start(fake)
    client = cluster.client()
    job = await call(lambda: client.job.get_job("web"))
    payload = {
        "Job": with_image(job, NEW),
        "EnforceIndex": True,
        "JobModifyIndex": job["JobModifyIndex"],
    }
    await call(lambda: client.job.register_job("web", payload))

    for _ in range(3):
        deployment = await call(lambda: client.job.get_deployment("web"))
        assert deployment["Status"] == "running"
    ended = fake.complete_deployments(successful=True)
    assert [d["JobVersion"] for d in ended] == [1]
    deployment = await call(lambda: client.job.get_deployment("web"))
    assert deployment["Status"] == "successful"


async def test_a_newer_version_cancels_the_running_deployment(start: Start) -> None:
    fake = FakeNomad()
    fake.add_job(web_job())
    cluster = await start(fake)
    client = cluster.client()
    job = await call(lambda: client.job.get_job("web"))
    await call(lambda: client.job.register_job("web", {"Job": with_image(job, NEW)}))
    first = fake.latest_deployment("web")
    assert first is not None
    await call(lambda: client.job.register_job("web", {"Job": with_image(job, "web:3")}))

    cancelled = await call(lambda: client.deployment.get_deployment(first["ID"]))
    assert cancelled["Status"] == "cancelled"
    assert cancelled["StatusDescription"] == "Cancelled due to newer version of job"
    latest = await call(lambda: client.job.get_deployment("web"))
    assert latest["JobVersion"] == 2 and latest["Status"] == "running"


async def test_failed_deployment_auto_reverts_to_the_stable_image(start: Start) -> None:
    def rollout(job: Json) -> str:
        return "failed" if task_images(job)["app/server"] == NEW else "successful"

    fake = FakeNomad(rollout=rollout, deployment_polls=1)
    fake.add_job(web_job(auto_revert=True))
    cluster = await start(fake)
    client = cluster.client()
    job = await call(lambda: client.job.get_job("web"))
    payload = {
        "Job": with_image(job, NEW),
        "EnforceIndex": True,
        "JobModifyIndex": job["JobModifyIndex"],
    }
    answer = await call(lambda: client.job.register_job("web", payload))
    evaluation = await call(lambda: client.evaluation.get_evaluation(answer["EvalID"]))
    ours = evaluation["DeploymentID"]

    running = await call(lambda: client.deployment.get_deployment(ours))
    assert running["Status"] == "running" and running["TaskGroups"]["app"]["AutoRevert"] is True
    failed = await call(lambda: client.deployment.get_deployment(ours))
    assert failed["Status"] == "failed"
    assert failed["StatusDescription"] == (
        "Failed due to unhealthy allocations - rolling back to job version 0"
    )

    # Nomad registered the stable spec again as a new version, with its own deployment.
    job = await call(lambda: client.job.get_job("web"))
    assert job["Version"] == 2 and task_images(job)["app/server"] == OLD
    versions = (await call(lambda: client.job.get_versions("web")))["Versions"]
    assert [(v["Version"], task_images(v)["app/server"]) for v in versions] == [
        (2, OLD),
        (1, NEW),
        (0, OLD),
    ]
    latest = await call(lambda: client.job.get_deployment("web"))
    assert latest["ID"] != ours and latest["JobVersion"] == 2
    evaluations = await call(lambda: client.job.get_evaluations("web"))
    assert evaluations[0]["TriggeredBy"] == "deployment-watcher"
    assert evaluations[0]["DeploymentID"] == ours
    latest = await call(lambda: client.job.get_deployment("web"))
    assert latest["Status"] == "successful"


async def test_failed_deployment_without_a_stable_version(start: Start) -> None:
    fake = FakeNomad(rollout=lambda job: "failed", deployment_polls=0)
    fake.add_job(web_job(auto_revert=True), stable=False)
    cluster = await start(fake)
    client = cluster.client()
    job = await call(lambda: client.job.get_job("web"))
    await call(lambda: client.job.register_job("web", {"Job": with_image(job, NEW)}))

    deployment = await call(lambda: client.job.get_deployment("web"))
    assert deployment["StatusDescription"] == (
        "Failed due to unhealthy allocations - no stable job version to auto revert to"
    )
    assert fake.job("web")["Version"] == 1


async def test_failed_deployment_without_auto_revert_stays_put(start: Start) -> None:
    fake = FakeNomad()
    fake.add_job(web_job())
    cluster = await start(fake)
    client = cluster.client()
    job = await call(lambda: client.job.get_job("web"))
    await call(lambda: client.job.register_job("web", {"Job": with_image(job, NEW)}))
    fake.complete_deployments(successful=False)

    deployment = await call(lambda: client.job.get_deployment("web"))
    assert deployment["Status"] == "failed"
    assert deployment["StatusDescription"] == "Failed due to unhealthy allocations"
    assert task_images(fake.job("web"))["app/server"] == NEW


async def test_deployment_failed_by_the_client_reverts(start: Start) -> None:
    fake = FakeNomad()
    fake.add_job(web_job(auto_revert=True))
    cluster = await start(fake)
    client = cluster.client()
    job = await call(lambda: client.job.get_job("web"))
    await call(lambda: client.job.register_job("web", {"Job": with_image(job, NEW)}))
    deployment = await call(lambda: client.job.get_deployment("web"))

    answer = await call(lambda: client.deployment.fail_deployment(deployment["ID"]))
    assert answer["RevertedJobVersion"] == 0  # the version reverted to
    assert fake.job("web")["Version"] == 2
    failed = await call(lambda: client.deployment.get_deployment(deployment["ID"]))
    assert failed["StatusDescription"] == (
        "Deployment marked as failed - rolling back to job version 0"
    )
    with pytest.raises(nomad_errors.BaseNomadException) as raised:
        await call(lambda: client.deployment.fail_deployment(deployment["ID"]))
    assert error_text(raised.value) == "can't fail terminal deployment"


async def test_evaluation_completes_after_polls_and_only_then_deploys(start: Start) -> None:
    fake = FakeNomad(eval_polls=2)
    fake.add_job(web_job())
    cluster = await start(fake)
    client = cluster.client()
    job = await call(lambda: client.job.get_job("web"))
    answer = await call(lambda: client.job.register_job("web", {"Job": with_image(job, NEW)}))

    statuses = []
    for _ in range(3):
        evaluation = await call(lambda: client.evaluation.get_evaluation(answer["EvalID"]))
        statuses.append(evaluation["Status"])
        if evaluation["Status"] == "pending":
            # Until the scheduler ran, the job's latest deployment is the previous version's.
            assert fake.latest_deployment("web")["JobVersion"] == 0  # type: ignore[index]
    assert statuses == ["pending", "pending", "complete"]
    assert evaluation["DeploymentID"] == fake.latest_deployment("web")["ID"]  # type: ignore[index]


async def test_job_without_rollout_has_no_deployment(start: Start) -> None:
    fake = FakeNomad()
    cluster = await start(fake)
    client = cluster.client()
    batch = make_job("report", {"run": {"task": OLD}}, job_type="batch")
    plain = make_job("plain", {"app": {"server": OLD}}, update=False)
    for job in (batch, plain):
        answer = await call(client.job.register_job, job["ID"], {"Job": job})
        evaluation = await call(client.evaluation.get_evaluation, answer["EvalID"])
        assert evaluation["Status"] == "complete" and evaluation["DeploymentID"] == ""
        assert await call(client.job.get_deployment, job["ID"]) is None
    assert fake.job("plain")["TaskGroups"][0]["Update"] is None

    # A service job without any update block gets Nomad's default one, and so a deployment.
    bare = {
        "ID": "bare",
        "TaskGroups": [
            {
                "Name": "app",
                "Tasks": [{"Name": "server", "Driver": "docker", "Config": {"image": OLD}}],
            }
        ],
    }
    await call(lambda: client.job.register_job("bare", {"Job": bare}))
    stored = fake.job("bare")
    assert stored["TaskGroups"][0]["Update"]["MaxParallel"] == 1
    assert stored["Update"]["MaxParallel"] == 1 and stored["Update"]["HealthCheck"] == ""
    assert fake.latest_deployment("bare") is not None


# ---------------------------------------------------------------------- ACL, namespaces, regions


async def test_acl_token_is_required(start: Start) -> None:
    fake = FakeNomad(acl_token="s3cret-management")
    fake.add_job(web_job())
    cluster = await start(fake)

    for client in (cluster.client(), cluster.client(token="wrong")):
        with pytest.raises(nomad_errors.URLNotAuthorizedNomadException) as raised:
            await call(client.job.get_job, "web")
        assert raised.value.nomad_resp.text == "Permission denied"
        with pytest.raises(nomad_errors.URLNotAuthorizedNomadException):
            await call(client.jobs.get_jobs)
        with pytest.raises(nomad_errors.URLNotAuthorizedNomadException):
            await call(client.job.register_job, "web", {"Job": with_image(web_job(), NEW)})
    assert task_images(fake.job("web"))["app/server"] == OLD
    assert [(r.token, r.status) for r in fake.registrations] == [(None, 403), ("wrong", 403)]

    client = cluster.client(token="s3cret-management")
    job = await call(lambda: client.job.get_job("web"))
    await call(lambda: client.job.register_job("web", {"Job": with_image(job, NEW)}))
    assert fake.registrations[-1].token == "s3cret-management"
    assert fake.registrations[-1].status == 200
    assert fake.requests[-1].token == "s3cret-management"


async def test_namespace_scoped_token(start: Start) -> None:
    fake = FakeNomad(acl_tokens={"apps-only": ["apps"]}, namespaces=["apps"])
    fake.add_job(web_job(), "apps")
    fake.add_job(web_job())
    cluster = await start(fake)
    client = cluster.client(token="apps-only", namespace="apps")

    assert (await call(lambda: client.job.get_job("web")))["Namespace"] == "apps"
    stubs = await call(lambda: client.jobs.get_jobs(namespace="*"))
    assert [(s["Namespace"], s["ID"]) for s in stubs] == [("apps", "web")]
    with pytest.raises(nomad_errors.URLNotAuthorizedNomadException):
        await call(lambda: client.job.get_job("web", namespace="default"))
    # python-nomad sends no namespace with evaluation reads: Nomad checks "default" then.
    job = await call(lambda: client.job.get_job("web"))
    answer = await call(lambda: client.job.register_job("web", {"Job": with_image(job, NEW)}))
    with pytest.raises(nomad_errors.URLNotAuthorizedNomadException):
        await call(lambda: client.evaluation.get_evaluation(answer["EvalID"]))


async def test_namespaces_are_isolated(start: Start) -> None:
    fake = FakeNomad(namespaces=["apps"])
    fake.add_job(web_job())
    fake.add_job(with_image(web_job(), "apps/web:1"), "apps")
    cluster = await start(fake)
    default, apps = cluster.client(), cluster.client(namespace="apps")

    assert task_images(await call(lambda: default.job.get_job("web")))["app/server"] == OLD
    job = await call(lambda: apps.job.get_job("web"))
    assert job["Namespace"] == "apps" and task_images(job)["app/server"] == "apps/web:1"

    payload = {
        "Job": with_image(job, "apps/web:2"),
        "EnforceIndex": True,
        "JobModifyIndex": job["JobModifyIndex"],
    }
    await call(lambda: apps.job.register_job("web", payload))
    assert task_images(fake.job("web", "apps"))["app/server"] == "apps/web:2"
    assert task_images(fake.job("web"))["app/server"] == OLD
    assert fake.job("web")["Version"] == 0
    assert "namespace=apps" in fake.registrations[-1].path

    # A namespace that does not exist: reads find nothing, a register is refused.
    nowhere = cluster.client(namespace="nowhere")
    with pytest.raises(nomad_errors.URLNotFoundNomadException):
        await call(lambda: nowhere.job.get_job("web"))
    assert await call(lambda: nowhere.jobs.get_jobs()) == []
    with pytest.raises(nomad_errors.BaseNomadException) as raised:
        await call(lambda: nowhere.job.register_job("web", {"Job": web_job()}))
    assert raised.value.nomad_resp.status_code == 500
    assert error_text(raised.value) == 'job "web" is in nonexistent namespace "nowhere"'


async def test_unknown_region(start: Start) -> None:
    fake = FakeNomad(regions=["eu"])
    fake.add_job(web_job())
    cluster = await start(fake)
    assert await call(lambda: cluster.client(region="eu").job.get_job("web"))
    with pytest.raises(nomad_errors.BaseNomadException) as raised:
        await call(lambda: cluster.client(region="mars").job.get_job("web"))
    assert error_text(raised.value) == "No path to region"


# ---------------------------------------------------------------------- listing


async def test_list_jobs_with_meta_across_namespaces(start: Start) -> None:
    fake = FakeNomad(namespaces=["apps"])
    fake.add_job(web_job(meta={"regdeploy.enable": "true", "regdeploy.policy": "minor"}))
    fake.add_job(make_job("api", {"api": {"server": OLD}}, namespace="apps"), "apps")
    fake.add_job(make_job("worker", {"w": {"w": OLD}}))
    cluster = await start(fake)
    client = cluster.client()

    stubs = await call(lambda: client.jobs.get_jobs(namespace="*", meta=True))
    assert [(s["Namespace"], s["ID"]) for s in stubs] == [
        ("apps", "api"),
        ("default", "web"),
        ("default", "worker"),
    ]
    by_id = {s["ID"]: s for s in stubs}
    assert by_id["web"]["Meta"] == {"regdeploy.enable": "true", "regdeploy.policy": "minor"}
    assert "Meta" not in by_id["worker"]  # omitempty
    for stub in stubs:
        assert {"ID", "Name", "Namespace", "Type", "Status", "JobModifyIndex"} <= set(stub)

    plain = await call(lambda: client.jobs.get_jobs())
    assert [s["ID"] for s in plain] == ["web", "worker"]
    assert all("Meta" not in s for s in plain)
    assert [s["ID"] for s in await call(lambda: client.jobs.get_jobs(prefix="wo"))] == ["worker"]


# ---------------------------------------------------------------------- the wire


async def test_documented_payloads_and_shapes(start: Start) -> None:
    fake = FakeNomad()
    cluster = await start(fake)
    client = cluster.client()
    answer = await call(
        lambda: client.jobs.register_job(fixture("nomad_job_docs_create_job_payload.json"))
    )
    assert set(fixture("nomad_docs_create_job_response.json")) <= set(answer)

    job = await call(lambda: client.job.get_job("cache"))
    documented = fixture("nomad_job_docs_read_job_response.json")
    assert set(documented) <= set(job)
    assert set(documented) <= set(make_job("x", {"g": {"t": OLD}}))
    assert job["Name"] == "cache" and job["NodePool"] == "prod"

    deployment = await call(lambda: client.job.get_deployment("cache"))
    for name in (
        "nomad_docs_read_deployment_response.json",
        "nomad_docs_job_latest_deployment_response.json",
    ):
        documented = fixture(name)
        assert set(documented) <= set(deployment)
        assert set(documented["TaskGroups"]["cache"]) <= set(deployment["TaskGroups"]["cache"])


async def test_http_details(start: Start) -> None:
    fake = FakeNomad()
    fake.add_job(web_job())
    cluster = await start(fake)
    async with aiohttp.ClientSession(cluster.url) as http:
        async with http.get("/v1/job/nothing") as response:
            assert response.status == 404
            assert response.content_type == "text/plain"
            assert await response.text() == "job not found"
        async with http.get("/v1/job/web") as response:
            assert response.headers["X-Nomad-Index"] == str((await response.json())["ModifyIndex"])
        async with http.put("/v1/job/web", json={"Job": {"ID": "other"}}) as response:
            assert (response.status, await response.text()) == (400, "Job ID does not match name")
        async with http.post("/v1/job/web", json={"EnforceIndex": True}) as response:
            assert (response.status, await response.text()) == (400, "Job must be specified")
        async with http.get("/v1/jobs?meta=maybe") as response:
            assert response.status == 500
        async with http.get("/v1/job/web", headers={"Authorization": "Bearer x"}) as response:
            assert response.status == 200


# ---------------------------------------------------------------------- client nodes


async def test_nodes_are_listed_as_stubs_and_read_whole(start: Start) -> None:
    fake = FakeNomad(nodes=())
    arm = fake.add_node(make_node("edge-1", arch="arm64", meta={"rack": "r3"}, node_class="gpu"))
    amd = fake.add_node(make_node("core-1", datacenter="dc2", pool="core"))
    cluster = await start(fake)
    client = cluster.client()

    stubs = await call(lambda: client.nodes.get_nodes())

    assert sorted(s["Name"] for s in stubs) == ["core-1", "edge-1"]
    for stub in stubs:
        assert set(fixture("nomad_docs_list_nodes_response.json")[0]) <= set(stub)
        assert {"Attributes", "Meta", "NodeResources"}.isdisjoint(stub)
    by_name = {s["Name"]: s for s in stubs}
    assert by_name["core-1"]["NodePool"] == "core" and by_name["core-1"]["Datacenter"] == "dc2"
    assert by_name["edge-1"]["ModifyIndex"] == arm["ModifyIndex"]
    with_os = await call(lambda: client.nodes.get_nodes(os=True, resources=True))
    assert all(set(s["Attributes"]) == {"os.name"} and "NodeResources" in s for s in with_os)
    prefixed = await call(lambda: client.nodes.get_nodes(prefix=amd["ID"][:4]))
    assert amd["ID"] in [s["ID"] for s in prefixed]

    node = await call(lambda: client.node.get_node(arm["ID"]))

    assert set(fixture("nomad_docs_read_node_response.json")) <= set(node)
    assert node["Attributes"]["cpu.arch"] == "arm64"
    assert node["Attributes"]["kernel.name"] == "linux"
    assert node["Attributes"]["driver.docker"] == "1"
    assert node["Drivers"]["docker"]["Healthy"] is True
    assert (node["Meta"], node["NodeClass"], node["NodePool"]) == ({"rack": "r3"}, "gpu", "default")
    with pytest.raises(nomad_errors.URLNotFoundNomadException) as caught:
        await call(lambda: client.node.get_node("5d2b3f6e-0000-4000-8000-00000000dead"))
    assert error_text(caught.value) == "node not found"


async def test_a_node_change_moves_its_index_and_a_drain_makes_it_ineligible(
    start: Start,
) -> None:
    fake = FakeNomad(nodes=())
    node = fake.add_node(make_node("edge-1"))
    cluster = await start(fake)
    client = cluster.client()

    changed = fake.update_node(node["ID"], Status="down")
    fake.update_node(node["ID"], **drained(changed, True))

    [stub] = await call(lambda: client.nodes.get_nodes())
    assert stub["ModifyIndex"] > changed["ModifyIndex"] > node["ModifyIndex"]
    assert (stub["Status"], stub["Drain"], stub["SchedulingEligibility"]) == (
        "down",
        True,
        "ineligible",
    )
    read = await call(lambda: client.node.get_node(node["ID"]))
    assert read["DrainStrategy"] is not None and read["ModifyIndex"] == stub["ModifyIndex"]
    fake.remove_node(node["ID"])
    assert await call(lambda: client.nodes.get_nodes()) == []


async def test_nodes_need_a_token_that_may_read_them(start: Start) -> None:
    fake = FakeNomad(
        nodes=(),
        acl_token="management",
        acl_tokens={"deployer": ["default"], "operator": ["default"]},
        node_read_tokens=["operator"],
    )
    node = fake.add_node(make_node("edge-1"))
    cluster = await start(fake)

    for token in ("management", "operator"):
        client = cluster.client(token=token)
        assert len(await call(lambda c=client: c.nodes.get_nodes())) == 1
        assert (await call(lambda c=client: c.node.get_node(node["ID"])))["Name"] == "edge-1"
    for refused in ("deployer", None):
        client = cluster.client(token=refused)
        with pytest.raises(nomad_errors.URLNotAuthorizedNomadException):
            await call(lambda c=client: c.nodes.get_nodes())
        with pytest.raises(nomad_errors.URLNotAuthorizedNomadException):
            await call(lambda c=client: c.node.get_node(node["ID"]))
    async with aiohttp.ClientSession(cluster.url) as http:
        for path in ("/v1/node/pools", f"/v1/node/{node['ID']}/allocations"):
            async with http.get(path, headers={"X-Nomad-Token": "management"}) as response:
                assert response.status == 501
