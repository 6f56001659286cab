"""The Nomad deployer end to end through the receiver and the queue, against the fake Nomad."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from deployers.base import Target
from deployers.nomad import NomadDeployer, NomadSettings
from handlers.references import Aliases
from tests.support.api import Client, settle
from tests.support.app import StartApp
from tests.support.nomad_fake import FakeNomad, make_job, task_images
from tests.support.pushes import REGISTRY, push
from tests.support.settings import api_headers

TOKEN = "nomad-acl-token-0123"
# A deploy here waits for the fake agent's rollout, polled every 50 ms.
SETTLE_SECONDS = 30.0


def image(tag: str, n: int, repo: str = "team/app") -> str:
    return f"{REGISTRY}/{repo}:{tag}@sha256:{n:064x}"


Start = Callable[..., Awaitable[tuple[Client, FakeNomad]]]


@pytest.fixture
async def start(start_app: StartApp, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Start]:
    """The app deploying through the Nomad deployer only, to ``fake`` (served on a port of its
    own); team/app watched (unless ``watched=False``) with ``targets`` and ``policy``."""
    for name in ("NOMAD_ADDR", "NOMAD_TOKEN", "NOMAD_NAMESPACE", "NOMAD_REGION"):
        monkeypatch.delenv(name, raising=False)
    servers: list[TestServer] = []

    async def started(
        fake: FakeNomad,
        *,
        targets: list[dict[str, Any]] | None = None,
        token: str = TOKEN,
        policy: str = "minor",
        watched: bool = True,
    ) -> tuple[Client, FakeNomad]:
        server = TestServer(fake.app())
        await server.start_server()
        servers.append(server)
        settings = NomadSettings(
            address=f"http://127.0.0.1:{server.port}",
            token=token,
            poll_seconds=0.05,
            rollout_timeout_seconds=20,
        )
        repositories = (
            [
                {
                    "name": "team/app",
                    "image": f"{REGISTRY}/team/app",
                    "policy": policy,
                    "targets": targets or [],
                }
            ]
            if watched
            else []
        )
        client, _ = await start_app(
            repositories=repositories,
            deployers=[NomadDeployer(settings=settings, aliases=Aliases({}))],
            worker={
                "poll_interval_seconds": 0.2,
                "retry_base_seconds": 0.05,
                "retry_max_seconds": 0.1,
            },
        )
        return client, fake

    yield started
    for server in servers:
        await server.close()


def registered_images(fake: FakeNomad) -> list[dict[str, str]]:
    return [task_images(r.body["Job"]) for r in fake.registrations if r.status == 200]


async def test_only_the_configured_group_of_a_two_group_job_changes(start: Start) -> None:
    fake = FakeNomad(acl_token=TOKEN, rollout=lambda job: "successful")
    fake.add_job(
        make_job(
            "app", {"web": {"server": image("1.0.0", 1)}, "worker": {"jobs": image("1.0.0", 1)}}
        )
    )
    client, _ = await start(fake, targets=[{"nomad": {"job": "app", "group": "web"}}])

    await push(client, "1.1.0", 2)
    [deployment] = await settle(client, SETTLE_SECONDS)

    assert deployment["status"] == "succeeded"
    assert deployment["message"] == "Deployment completed successfully"
    assert task_images(fake.job("app")) == {
        "web/server": image("1.1.0", 2),
        "worker/jobs": image("1.0.0", 1),
    }


async def test_a_change_made_meanwhile_is_a_conflict_then_the_deploy_lands_once(
    start: Start,
) -> None:
    fake = FakeNomad(acl_token=TOKEN, rollout=lambda job: "successful")
    fake.add_job(make_job("app", {"web": {"server": image("1.0.0", 1)}}))
    fake.before_next_register = lambda: fake.change_job_meanwhile(
        "app", meta={"owner": "someone-else"}
    )
    client, _ = await start(fake, targets=[{"nomad": {"job": "app"}}])

    await push(client, "1.1.0", 2)
    [deployment] = await settle(client, SETTLE_SECONDS)

    assert deployment["status"] == "succeeded"
    response = await client.get(f"/api/v1/deployments/{deployment['id']}", headers=api_headers())
    outcomes = [a["outcome"] for a in (await response.json())["attempts"]]
    assert outcomes == ["conflict", "succeeded"]
    job = fake.job("app")
    assert job["Meta"]["owner"] == "someone-else"  # never clobbered
    assert task_images(job) == {"web/server": image("1.1.0", 2)}
    assert [r.status for r in fake.registrations if r.job_id == "app"][-2:] == [500, 200]


async def test_failed_rollout_with_auto_revert_is_rolled_back_and_not_retried(
    start: Start,
) -> None:
    fake = FakeNomad(acl_token=TOKEN, rollout=lambda job: "failed")
    fake.add_job(make_job("app", {"web": {"server": image("1.0.0", 1)}}, auto_revert=True))
    client, _ = await start(fake, targets=[{"nomad": {"job": "app"}}])

    await push(client, "1.1.0", 2)
    [deployment] = await settle(client, SETTLE_SECONDS)

    assert deployment["status"] == "rolled_back"
    assert "rolling back to job version" in deployment["message"]
    assert deployment["attempts"] == 1
    assert task_images(fake.job("app")) == {"web/server": image("1.0.0", 1)}
    # Only one registration of the new image: the digest is not tried again by itself.
    new = [r for r in registered_images(fake) if r == {"web/server": image("1.1.0", 2)}]
    assert len(new) == 1


async def test_failed_rollout_without_auto_revert_is_failed(start: Start) -> None:
    fake = FakeNomad(acl_token=TOKEN, rollout=lambda job: "failed")
    fake.add_job(make_job("app", {"web": {"server": image("1.0.0", 1)}}, auto_revert=False))
    client, _ = await start(fake, targets=[{"nomad": {"job": "app"}}])
    await push(client, "1.1.0", 2)
    [deployment] = await settle(client, SETTLE_SECONDS)
    # Nomad's words, then which allocation failed and how, as ``nomad alloc status`` says it.
    assert deployment["status"] == "failed"
    assert deployment["message"].startswith("Failed due to unhealthy allocations: allocation ")
    assert deployment["message"].endswith(" is unhealthy in its deployment")


async def test_a_job_opted_in_by_meta_follows_its_patch_policy(start: Start) -> None:
    fake = FakeNomad(acl_token=TOKEN, rollout=lambda job: "successful")
    fake.add_job(
        make_job(
            "labelled",
            {"web": {"server": image("1.2.3", 1, "team/svc")}},
            meta={"regdeploy.enable": "true", "regdeploy.policy": "patch"},
        )
    )
    fake.add_job(make_job("bystander", {"web": {"server": image("1.2.3", 1, "team/svc")}}))
    client, _ = await start(fake, watched=False)

    await push(client, "1.3.0", 3, "team/svc")
    await push(client, "1.2.4", 4, "team/svc")
    found = await settle(client, SETTLE_SECONDS)

    assert task_images(fake.job("labelled")) == {"web/server": image("1.2.4", 4, "team/svc")}
    assert task_images(fake.job("bystander")) == {"web/server": image("1.2.3", 1, "team/svc")}
    reasons = {d["tag"]: (d["status"], d["reason"]) for d in found}
    assert reasons["1.3.0"] == ("skipped", "1.3.0 is a new minor version (policy patch)")


async def test_a_batch_job_is_done_when_its_evaluation_completes(start: Start) -> None:
    fake = FakeNomad(acl_token=TOKEN, eval_polls=2)
    fake.add_job(make_job("nightly", {"run": {"task": image("1.0.0", 1)}}, job_type="batch"))
    client, _ = await start(fake, targets=[{"nomad": {"job": "nightly"}}])
    await push(client, "1.0.1", 2)
    [deployment] = await settle(client, SETTLE_SECONDS)
    assert deployment["status"] == "succeeded"
    assert deployment["message"].startswith("evaluation ")


async def test_jobs_in_another_namespace(start: Start) -> None:
    fake = FakeNomad(
        acl_tokens={TOKEN: ["prod"]}, namespaces=["prod"], rollout=lambda job: "successful"
    )
    fake.add_job(
        make_job("app", {"web": {"server": image("1.0.0", 1)}}, namespace="prod"), namespace="prod"
    )
    client, _ = await start(fake, targets=[{"nomad": {"job": "app", "namespace": "prod"}}])
    await push(client, "1.0.1", 2)
    [deployment] = await settle(client, SETTLE_SECONDS)
    assert deployment["status"] == "succeeded"
    assert task_images(fake.job("app", "prod")) == {"web/server": image("1.0.1", 2)}


async def test_a_refused_token_and_a_missing_job_are_clear_failures(start: Start) -> None:
    fake = FakeNomad(acl_token=TOKEN)
    fake.add_job(make_job("app", {"web": {"server": image("1.0.0", 1)}}))
    deployer = NomadDeployer(settings=NomadSettings(address="http://127.0.0.1:1", token="x"))
    target = Target(kind="nomad", name="app")
    try:
        unreachable = await deployer.deploy(target, parse(image("1.1.0", 2)))
    finally:
        deployer.close()
    assert (unreachable.outcome.value, unreachable.retryable) == ("failed", True)
    assert unreachable.message.startswith("Nomad did not answer")

    server = TestServer(fake.app())
    await server.start_server()
    address = f"http://127.0.0.1:{server.port}"
    wrong = NomadDeployer(settings=NomadSettings(address=address, token="wrong-token"))
    right = NomadDeployer(settings=NomadSettings(address=address, token=TOKEN))
    try:
        refused = await wrong.deploy(target, parse(image("1.1.0", 2)))
        missing = await right.deploy(Target(kind="nomad", name="nope"), parse(image("1.1.0", 2)))
    finally:
        wrong.close()
        right.close()
        await server.close()
    assert (refused.outcome.value, refused.retryable) == ("failed", False)
    assert refused.message == "Nomad refused the ACL token for job app"
    assert "wrong-token" not in refused.message
    assert (missing.outcome.value, missing.message) == (
        "failed",
        "no job nope in namespace default",
    )


def parse(text: str) -> Any:
    from handlers.references import parse_reference

    return parse_reference(text)


async def test_tls_is_verified_by_default_and_a_ca_file_trusts_the_agent(
    self_signed: tuple[Path, Path],
) -> None:
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    fake = FakeNomad(acl_token=TOKEN)
    fake.add_job(make_job("app", {"web": {"server": image("1.0.0", 1)}}))
    server = TestServer(fake.app())
    await server.start_server(ssl=context)
    address = f"https://127.0.0.1:{server.port}"
    target, name = Target(kind="nomad", name="app"), parse(image("1.0.0", 1)).name
    untrusting = NomadDeployer(settings=NomadSettings(address=address, token=TOKEN))
    trusting = NomadDeployer(settings=NomadSettings(address=address, token=TOKEN, ca_file=cert))
    try:
        refused = await untrusting.deploy(target, parse(image("1.1.0", 2)))
        running = await trusting.current(target, name)
    finally:
        untrusting.close()
        trusting.close()
        await server.close()
    assert (refused.outcome.value, refused.retryable) == ("failed", True)
    assert "certificate verify failed" in refused.message.lower()
    assert running is not None and str(running.image) == image("1.0.0", 1)


async def test_vault_and_consul_tokens_go_with_jobs_that_need_them() -> None:
    fake = FakeNomad(acl_token=TOKEN, rollout=lambda job: "successful")
    with_vault = make_job("secretive", {"web": {"server": image("1.0.0", 1)}})
    with_vault["TaskGroups"][0]["Tasks"][0]["Vault"] = {"Policies": ["app"]}
    fake.add_job(with_vault)
    fake.add_job(make_job("plain", {"web": {"server": image("1.0.0", 1)}}))
    server = TestServer(fake.app())
    await server.start_server()
    settings = NomadSettings(
        address=f"http://127.0.0.1:{server.port}",
        token=TOKEN,
        poll_seconds=0.05,
        vault_token="vault-s3cret",
        consul_token="consul-s3cret",
    )
    deployer = NomadDeployer(settings=settings)
    try:
        for job in ("secretive", "plain"):
            result = await deployer.deploy(Target(kind="nomad", name=job), parse(image("1.1.0", 2)))
            assert result.outcome.value == "succeeded", result.message
    finally:
        deployer.close()
        await server.close()
    sent = {r.job_id: r.body["Job"] for r in fake.registrations}
    assert sent["secretive"]["VaultToken"] == "vault-s3cret"
    assert not sent["secretive"].get("ConsulToken")  # no task uses Consul
    assert not sent["plain"].get("VaultToken")


async def test_a_task_keeps_the_registry_alias_it_is_written_with() -> None:
    """The job names the registry by an alias; the deploy changes tag and digest only."""
    fake = FakeNomad(acl_token=TOKEN, rollout=lambda job: "successful")
    alias = "registry.local:5000"
    fake.add_job(make_job("app", {"web": {"server": f"{alias}/team/app:1.0.0@sha256:{1:064x}"}}))
    server = TestServer(fake.app())
    await server.start_server()
    settings = NomadSettings(address=f"http://127.0.0.1:{server.port}", token=TOKEN)
    deployer = NomadDeployer(settings=settings, aliases=Aliases.from_groups([(REGISTRY, [alias])]))
    target = Target(kind="nomad", name="app")
    try:
        result = await deployer.deploy(target, parse(image("1.1.0", 2)))
        again = await deployer.deploy(target, parse(image("1.1.0", 2)))
    finally:
        deployer.close()
        await server.close()
    assert result.outcome.value == "succeeded", result.message
    assert task_images(fake.job("app")) == {"web/server": f"{alias}/team/app:1.1.0@sha256:{2:064x}"}
    assert again.message.startswith("already runs")
    assert len([r for r in fake.registrations if r.status == 200]) == 1
