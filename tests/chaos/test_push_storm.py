"""Twenty pushes to one target within 2 s while each rollout takes 5 s, through two ``serve``
replicas and one ``regdeploy worker`` on one PostgreSQL; once as they are, once with the process
running the first deploy SIGKILLed in the middle of its rollout.

What must hold, read from the Nomad fake's log of registers and deployments and from the events
table: never more than one change of the job in flight, the job ends on the newest push, and at
most 2 changes in all (the first push's, then the newest once the first rollout ended: every
push in between is superseded while it waits).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from tests.support.cluster import Cluster, ServeNomad, StartCluster, cluster_config
from tests.support.history import changes, deploying, events, overlaps, unsettled, worker_pid
from tests.support.nomad_fake import FakeNomad, make_job, task_images
from tests.support.notifications import Notification, digest_of, distribution_push
from tests.support.polling import until
from tests.support.senders import Balancer, Delivery, DistributionSender

REGISTRY = "registry.test:5000"
IMAGE = f"{REGISTRY}/team/app"
PUSHES = 20
WITHIN_SECONDS = 2.0
ROLLOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Storm:
    fake: FakeNomad
    cluster: Cluster
    pushes: list[Notification]

    @property
    def newest(self) -> dict[str, str]:
        """The job's images once on the newest push."""
        return {"web/server": f"{IMAGE}:{self.pushes[-1].tag}@{self.pushes[-1].digest}"}


async def storm_setup(
    db_uri: str, serve_nomad: ServeNomad, start_cluster: StartCluster, **worker: float
) -> Storm:
    """The job ``app`` on 1.0.0 (team/app, policy minor), the processes, the pushes to send."""
    fake = FakeNomad(
        rollout=lambda job: "successful", deployment_polls=0, deployment_seconds=ROLLOUT_SECONDS
    )
    fake.add_job(make_job("app", {"web": {"server": f"{IMAGE}:1.0.0@{digest_of('app', 0)}"}}))
    target = {"nomad": {"job": "app"}}
    repository = {"name": "team/app", "image": IMAGE, "policy": "minor", "targets": [target]}
    config = cluster_config(
        db_uri=db_uri,
        registry=REGISTRY,
        repositories=[repository],
        nomad_address=await serve_nomad(fake),
        worker=dict(worker),
    )
    cluster = start_cluster(config, serve=2, workers=1)
    await cluster.ready()
    pushes = [
        distribution_push(
            host=REGISTRY, repository="team/app", tag=f"1.{n}.0", digest=digest_of("app", n)
        )
        for n in range(1, PUSHES + 1)
    ]
    return Storm(fake=fake, cluster=cluster, pushes=pushes)


async def push_all(storm: Storm) -> Delivery:
    """Notify the pushes as a registry does while they complete, one every 100 ms."""
    sender = DistributionSender(Balancer(storm.cluster.bases))
    sending = asyncio.create_task(sender.run())
    began = time.monotonic()
    for n, push in enumerate(storm.pushes):
        await asyncio.sleep(max(0.0, began + n * WITHIN_SECONDS / PUSHES - time.monotonic()))
        sender.write(push)
    sender.close()
    return await asyncio.wait_for(sending, 60)


async def until_settled(storm: Storm, db_uri: str) -> None:
    fake = storm.fake

    async def done() -> bool:
        on_newest = task_images(fake.job("app")) == storm.newest
        rolled = all(d["Status"] != "running" for d in fake.deployments("app"))
        return on_newest and rolled and await asyncio.to_thread(unsettled, db_uri) == 0

    async def seen() -> str:
        return f"job on {task_images(fake.job('app'))}, {len(changes(fake, 'app'))} changes"

    await until("the job on the newest push, nothing left to do", done, seconds=90, explain=seen)


async def check_history(storm: Storm, db_uri: str, delivery: Delivery) -> str:
    """The assertions on what was recorded; the figures, for the report."""
    fake = storm.fake
    assert len(delivery.acknowledged) == PUSHES
    stored = await asyncio.to_thread(events, db_uri)
    assert sorted(e.event_id for e in stored) == sorted(p.event_id for p in storm.pushes)
    made = changes(fake, "app")
    assert 1 <= len(made) <= 2, [c.images for c in made]
    assert made[-1].images == storm.newest
    assert overlaps(made) == []
    assert [d["Status"] for d in fake.deployments("app")] == ["successful"] * (len(made) + 1)
    # Every register Nomad accepted made one of these changes: none was sent twice. (One that
    # a change meanwhile made stale is refused, EnforceIndex, and changes nothing.)
    accepted = [r.version for r in fake.registrations if r.job_id == "app" and r.status == 200]
    assert accepted == [c.version for c in made]
    moves = ", ".join(_tag(c.images["web/server"]) for c in made)
    return f"{len(stored)} events stored once each, {len(made)} changes (to {moves})"


async def test_a_push_storm_on_one_target_changes_it_at_most_twice_one_at_a_time(
    db_uri: str, serve_nomad: ServeNomad, start_cluster: StartCluster
) -> None:
    storm = await storm_setup(db_uri, serve_nomad, start_cluster)
    began = time.monotonic()
    delivery = await push_all(storm)
    await until_settled(storm, db_uri)
    figures = await check_history(storm, db_uri, delivery)
    print(f"\npush storm: {figures}, settled {time.monotonic() - began:.1f} s after the first push")


async def test_a_push_storm_survives_the_deploying_process_killed_mid_rollout(
    db_uri: str, serve_nomad: ServeNomad, start_cluster: StartCluster
) -> None:
    # Taken over only once the dead worker's rollout must have ended: 8 s without a heartbeat
    # (sent every 8/3 s) is more than the 5 s rollout after the kill.
    storm = await storm_setup(db_uri, serve_nomad, start_cluster, stall_timeout_seconds=8)
    began = time.monotonic()
    pushing = asyncio.create_task(push_all(storm))

    async def registered() -> list[str]:
        if not [r for r in storm.fake.registrations if r.status == 200]:
            return []
        return await asyncio.to_thread(deploying, db_uri)

    [claim] = await until("the first change is registered", registered, seconds=30, interval=0.02)
    victim = storm.cluster.member(worker_pid(claim))
    assert victim is not None
    storm.cluster.kill(victim)
    storm.cluster.start(victim)
    delivery = await pushing
    await until_settled(storm, db_uri)
    figures = await check_history(storm, db_uri, delivery)
    print(
        f"\npush storm, {victim.name} killed mid-rollout: {figures}, "
        f"settled {time.monotonic() - began:.1f} s after the first push"
    )


def _tag(image: str) -> str:
    return image.partition("@")[0].rpartition(":")[2]
