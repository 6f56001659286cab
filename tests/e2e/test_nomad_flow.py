"""A real push to a real docker-registry moves a Nomad job (the fake agent) through the
receiver, the queue and the Nomad deployer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from deployers.base import Deployers
from deployers.nomad import NomadDeployer, NomadSettings
from receiver.app import init_app
from tests.support.api import settle
from tests.support.nomad_fake import FakeNomad, make_job, task_images
from tests.support.oci import build_image
from tests.support.polling import until
from tests.support.registry import Registry
from tests.support.rounds import without_loops, work_rounds, worker_of
from tests.support.settings import make_config

TOKEN = "nomad-e2e-token"


@pytest.fixture(autouse=True)
def no_nomad_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Nomad settings leak in from the environment."""
    for name in ("NOMAD_ADDR", "NOMAD_TOKEN", "NOMAD_NAMESPACE", "NOMAD_REGION"):
        monkeypatch.delenv(name, raising=False)


async def test_pushes_move_the_configured_group_and_the_opted_in_job(
    db_uri: str, tmp_path: Path, notifying: tuple[Registry, int]
) -> None:
    registry, port = notifying
    layout = tmp_path / "layout"
    app_image, svc_image = f"{registry.host}/team/app", f"{registry.host}/team/svc"

    async def push(repository: str, tag: str) -> str:
        digest = build_image(layout, tag=tag, env={"REPO": repository, "VERSION": tag})
        await asyncio.to_thread(registry.push, layout, tag, repository)
        return digest

    first_app, first_svc = await push("team/app", "1.0.0"), await push("team/svc", "1.2.3")
    fake = FakeNomad(acl_token=TOKEN, rollout=lambda job: "successful")
    fake.add_job(
        make_job(
            "app",
            {
                "web": {"server": f"{app_image}:1.0.0@{first_app}"},
                "worker": {"jobs": f"{app_image}:1.0.0@{first_app}"},
            },
        )
    )
    fake.add_job(
        make_job(
            "svc",
            {"api": {"server": f"{svc_image}:1.2.3@{first_svc}"}},
            meta={"regdeploy.enable": "true", "regdeploy.policy": "patch"},
        )
    )
    nomad_server = TestServer(fake.app())
    await nomad_server.start_server()
    config = make_config(
        db_uri,
        registry=registry.host,
        repositories=[
            {
                "name": "team/app",
                "image": app_image,
                "policy": "minor",
                "targets": [{"nomad": {"job": "app", "group": "web"}}],
            }
        ],
        registries=[{"host": registry.host, "insecure": True}],
        worker={"poll_interval_seconds": 0.5},
    )
    settings = NomadSettings(
        address=f"http://127.0.0.1:{nomad_server.port}", token=TOKEN, poll_seconds=0.05
    )
    server = TestServer(
        init_app(config, deployers=Deployers([NomadDeployer(settings=settings)])), port=port
    )
    await server.start_server()
    try:
        new_app = await push("team/app", "1.1.0")
        await push("team/svc", "1.3.0")
        new_svc = await push("team/svc", "1.2.4")

        expected = {
            "app": {
                "web/server": f"{app_image}:1.1.0@{new_app}",
                "worker/jobs": f"{app_image}:1.0.0@{first_app}",
            },
            "svc": {"api/server": f"{svc_image}:1.2.4@{new_svc}"},
        }
        await until(
            "the jobs moved",
            lambda: {job: task_images(fake.job(job)) for job in expected} == expected,
            seconds=30,
            explain=lambda: f"they run {[task_images(fake.job(j)) for j in expected]}",
        )
        # 1.3.0 never reached the patch-policy job.
        registered = [task_images(r.body["Job"]) for r in fake.registrations if r.job_id == "svc"]
        assert all("1.3.0" not in image for images in registered for image in images.values())
    finally:
        await server.close()
        await nomad_server.close()


async def test_a_conflict_then_a_failed_rollout_with_auto_revert(
    db_uri: str, tmp_path: Path, notifying: tuple[Registry, int]
) -> None:
    """Real pushes: the first deploy meets a change made meanwhile (conflict, then lands once);
    the second's rollout fails and Nomad reverts it (rolled back, not tried again)."""
    registry, port = notifying
    layout, repo = tmp_path / "layout", f"{registry.host}/team/app"

    async def push(tag: str) -> str:
        digest = build_image(layout, tag=tag, env={"VERSION": tag})
        await asyncio.to_thread(registry.push, layout, tag, "team/app")
        return digest

    first = await push("1.0.0")
    fake = FakeNomad(
        acl_token=TOKEN, rollout=lambda job: "failed" if job["Version"] >= 3 else "successful"
    )
    fake.add_job(make_job("app", {"web": {"server": f"{repo}:1.0.0@{first}"}}, auto_revert=True))
    fake.before_next_register = lambda: fake.change_job_meanwhile("app", meta={"by": "ops"})
    nomad_server = TestServer(fake.app())
    await nomad_server.start_server()
    config = make_config(
        db_uri,
        registry=registry.host,
        repositories=[
            {
                "name": "team/app",
                "image": repo,
                "policy": "minor",
                "targets": [{"nomad": {"job": "app"}}],
            }
        ],
        worker={"poll_interval_seconds": 0.5, "retry_base_seconds": 0.1},
    )
    settings = NomadSettings(
        address=f"http://127.0.0.1:{nomad_server.port}", token=TOKEN, poll_seconds=0.05
    )
    client = TestClient(
        TestServer(
            init_app(config, deployers=Deployers([NomadDeployer(settings=settings)])), port=port
        )
    )
    await client.start_server()
    try:
        good = await push("1.1.0")
        await wait_for_image(fake, f"{repo}:1.1.0@{good}")
        assert fake.job("app")["Meta"]["by"] == "ops"
        # The first write met the change (EnforceIndex: 500), the second landed, once.
        assert [r.status for r in fake.registrations if r.job_id == "app"] == [500, 200]

        bad = await push("1.2.0")
        await until(
            "the failing rollout",
            lambda: [d for d in fake.deployments("app") if d["Status"] == "failed"],
            seconds=30,
        )
        await wait_for_image(fake, f"{repo}:1.1.0@{good}")  # Nomad reverted
        # Settled means nothing is planned or running: a retry, had one been planned, has
        # registered again by then, and none can come later. Three more rounds of a worker
        # (the service's own loops stopped) find nothing to deploy either.
        await settle(client, seconds=30)
        await client.close()
        idle = init_app(
            without_loops(config), deployers=Deployers([NomadDeployer(settings=settings)])
        )
        async with TestClient(TestServer(idle)):
            await work_rounds(worker_of(idle), 3)
        tries = [
            r
            for r in fake.registrations
            if task_images(r.body["Job"]) == {"web/server": f"{repo}:1.2.0@{bad}"}
        ]
        assert len(tries) == 1
    finally:
        await client.close()
        await nomad_server.close()


async def wait_for_image(fake: FakeNomad, expected: str) -> None:
    await until(
        f"job app on {expected}",
        lambda: task_images(fake.job("app")) == {"web/server": expected},
        seconds=30,
        explain=lambda: f"it runs {task_images(fake.job('app'))}",
    )
