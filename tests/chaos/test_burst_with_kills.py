"""A burst of 1,000 notifications while regdeploy processes are SIGKILLed 10 times.

Two ``serve`` replicas behind one (round-robin) URL and one ``regdeploy worker`` share one
PostgreSQL; a killed process is started again at once. Two Distribution senders and one Harbor
sender deliver 1,000 tagged pushes of 20 repositories, each watched with one Nomad job (every
rollout takes 3 s): half at once, the other half once deploys run. Five kills hit a random
process at a random moment of the burst, five a random one of the processes running a deploy
then. Per repository: 22 pushes of one new digest (15 as 1.1.0, 7 as ``latest``), the only one
the policy moves the job to, and 28 the policy refuses (2.0.0, 0.9.0, a pre-release, the running
1.0.0 again).

What must hold, read from the events table and the Nomad fake's log: each notification stored
once, none acknowledged and missing, and each job changed exactly once per distinct eligible
digest (once here), one change at a time.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.cluster import Cluster, Member, ServeNomad, StartCluster, cluster_config
from tests.support.history import (
    EventRow,
    changes,
    deploying,
    events,
    overlaps,
    unsettled,
    work_left,
    worker_pid,
)
from tests.support.nomad_fake import FakeNomad, make_job, task_images
from tests.support.notifications import Notification, digest_of, distribution_push, harbor_push
from tests.support.polling import NotSeen, until
from tests.support.senders import Balancer, Delivery, DistributionSender, HarborSender

REGISTRY = "registry.test:5000"
JOBS = 20
KILLS = 10
#: How long a kill of the second half waits for a member running a deploy before it takes any.
DEPLOYING_SECONDS = 60.0
#: How long the kills may take once the burst is delivered: each waits at most 1 s, the second
#: half each at most ``DEPLOYING_SECONDS`` more (when the deploys ended early), and a restart.
KILLING_SECONDS = KILLS * 1.0 + (KILLS - KILLS // 2) * DEPLOYING_SECONDS + 60.0
SEED = 8
# Per repository, 50 pushes: (tag, whether its digest is the new eligible one, how many).
PUSHES = (
    ("1.1.0", True, 15),
    ("latest", True, 7),
    ("2.0.0", False, 8),
    ("0.9.0", False, 8),
    ("1.2.0-rc.1", False, 7),
    ("1.0.0", False, 5),  # the digest the job runs: already running
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Push:
    job: str
    tag: str
    digest: str
    via: int  # 0, 1: the Distribution senders; 2: the Harbor sender


def job_name(i: int) -> str:
    return f"app-{i:02d}"


def image(job: str) -> str:
    return f"{REGISTRY}/team/{job}"


def eligible(job: str) -> str:
    return f"{image(job)}:1.1.0@{digest_of(job, '1.1.0')}"


def fleet(fake: FakeNomad) -> list[dict[str, Any]]:
    """The jobs, each on 1.0.0, and the watched repositories that target them."""
    repositories = []
    for i in range(JOBS):
        job = job_name(i)
        running = f"{image(job)}:1.0.0@{digest_of(job, '1.0.0')}"
        fake.add_job(make_job(job, {"web": {"server": running}}))
        target = {"nomad": {"job": job}}
        repositories.append(
            {"name": f"team/{job}", "image": image(job), "policy": "minor", "targets": [target]}
        )
    return repositories


def pushes(rng: random.Random) -> list[Push]:
    """1,000 pushes in a shuffled order; of each job's 1.1.0 pushes, two thirds go through the
    Distribution senders (which never drop one)."""
    planned = []
    for i in range(JOBS):
        job = job_name(i)
        for tag, new, count in PUSHES:
            digest = digest_of(job, "1.1.0" if new else tag)
            for n in range(count):
                via = n % 3 if tag == "1.1.0" else rng.choices((0, 1, 2), (2, 2, 1))[0]
                planned.append(Push(job=job, tag=tag, digest=digest, via=via))
    rng.shuffle(planned)
    return planned


def notification(push: Push) -> Notification:
    build = harbor_push if push.via == 2 else distribution_push
    return build(host=REGISTRY, repository=f"team/{push.job}", tag=push.tag, digest=push.digest)


async def kill_randomly(cluster: Cluster, rng: random.Random, db_uri: str) -> list[str]:
    """SIGKILL a member ``KILLS`` times, starting it again at once; whom it killed (``*``: it
    was running a deploy). The first half are any member at a random moment of the burst; the
    second half a random one of those running a deploy (any member if none does for a minute)."""
    killed = []
    for n in range(KILLS):
        await asyncio.sleep(rng.uniform(0.3, 1.0))  # a random moment, not a wait for something
        if n < KILLS // 2:
            victim, deploying = rng.choice(cluster.members), False
        else:
            victim, deploying = await deploying_member(cluster, rng, db_uri)
        cluster.kill(victim)
        cluster.start(victim)
        killed.append(victim.name + ("*" if deploying else ""))
    return killed


async def deploying_member(
    cluster: Cluster, rng: random.Random, db_uri: str
) -> tuple[Member, bool]:
    """A random member among those running a deploy, waiting up to a minute for one."""

    async def members_deploying() -> list[Member]:
        claims = await asyncio.to_thread(deploying, db_uri)
        return [m for m in map(cluster.member, map(worker_pid, claims)) if m is not None]

    try:
        members = await until(
            "a member runs a deploy", members_deploying, seconds=DEPLOYING_SECONDS
        )
    except NotSeen:  # none did for a minute: any member, as the docstring of kill_randomly says
        return rng.choice(cluster.members), False
    return rng.choice(members), True


async def burst(
    cluster: Cluster, sent: list[tuple[int, Notification]], rng: random.Random, db_uri: str
) -> tuple[list[Delivery], list[str]]:
    """Deliver ``sent`` (sender index, notification) while killing: the first half at once,
    the second half once deploys run. What each sender made of its notifications, and whom the
    kills hit."""
    balancer = Balancer(cluster.bases)
    senders: list[DistributionSender | HarborSender] = [
        DistributionSender(balancer),
        DistributionSender(balancer),
        HarborSender(balancer),
    ]
    half = len(sent) // 2
    for via, each in sent[:half]:
        senders[via].write(each)
    sending = asyncio.gather(*(s.run() for s in senders))
    killing = asyncio.create_task(kill_randomly(cluster, rng, db_uri))

    async def deploys_run() -> list[str]:
        return await asyncio.to_thread(deploying, db_uri)

    await until("a deploy runs", deploys_run, seconds=120, interval=0.05)
    for via, each in sent[half:]:
        senders[via].write(each)
    for sender in senders:
        sender.close()
    deliveries = await asyncio.wait_for(sending, 400)
    return list(deliveries), await asyncio.wait_for(killing, KILLING_SECONDS)


def settled(fake: FakeNomad, db_uri: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        jobs = [job_name(i) for i in range(JOBS)]
        moved = all(task_images(fake.job(j)) == {"web/server": eligible(j)} for j in jobs)
        rolling = any(d["Status"] == "running" for j in jobs for d in fake.deployments(j))
        return moved and not rolling and await asyncio.to_thread(unsettled, db_uri) == 0

    return check


async def left(fake: FakeNomad, db_uri: str) -> str:
    jobs = [job_name(i) for i in range(JOBS)]
    unmoved = [j for j in jobs if task_images(fake.job(j)) != {"web/server": eligible(j)}]
    rolling = [d["JobID"] for j in jobs for d in fake.deployments(j) if d["Status"] == "running"]
    work = await asyncio.to_thread(work_left, db_uri)
    return f"jobs not moved {unmoved}, rolling out {rolling}, work left {work[:20]}"


def check_events(
    stored: list[EventRow], sent: list[tuple[int, Notification]], deliveries: list[Delivery]
) -> None:
    """Each notification stored at most once, every acknowledged one stored, nothing else."""
    times = Counter((e.source, e.event_id) for e in stored)
    assert times.most_common(1)[0][1] == 1
    assert set(times) <= {(n.source, n.event_id) for _, n in sent}
    acknowledged = {(n.source, n.event_id) for d in deliveries for n in d.acknowledged}
    assert acknowledged <= set(times), "acknowledged and missing"
    assert [len(d.dropped) for d in deliveries[:2]] == [0, 0]  # Distribution never drops
    ended = sum(len(d.acknowledged) + len(d.dropped) for d in deliveries)
    assert ended == len(sent)


def check_changes(fake: FakeNomad) -> None:
    """Each job changed once, to its one eligible digest, by one accepted register, rolled out
    once."""
    for i in range(JOBS):
        job = job_name(i)
        made = changes(fake, job)
        assert [c.images for c in made] == [{"web/server": eligible(job)}], job
        assert overlaps(made) == []
        # One register accepted; one made stale meanwhile would be refused (EnforceIndex).
        assert [r.status for r in fake.registrations if r.job_id == job].count(200) == 1, job
        assert [d["Status"] for d in fake.deployments(job)] == ["successful"] * 2, job


@pytest.mark.timeout(900)  # 1 min on two idle cores; far longer on a busy machine
async def test_a_burst_through_killed_replicas_is_stored_once_and_deployed_once(
    db_uri: str, serve_nomad: ServeNomad, start_cluster: StartCluster
) -> None:
    rng = random.Random(SEED)
    fake = FakeNomad(rollout=lambda job: "successful", deployment_polls=0, deployment_seconds=3)
    config = cluster_config(
        db_uri=db_uri,
        registry=REGISTRY,
        repositories=fleet(fake),
        nomad_address=await serve_nomad(fake),
        worker={"stall_timeout_seconds": 5},  # a killed deploy is taken over after 5 s
    )
    cluster = start_cluster(config, serve=2, workers=1)
    await cluster.ready()
    sent = [(push.via, notification(push)) for push in pushes(rng)]
    began = time.monotonic()
    deliveries, killed = await burst(cluster, sent, rng, db_uri)
    delivered = time.monotonic() - began
    await cluster.ready()  # every killed process came back
    await until(
        "every job moved, nothing left to do",
        settled(fake, db_uri),
        seconds=300,
        explain=lambda: left(fake, db_uri),
    )
    took = time.monotonic() - began

    stored = await asyncio.to_thread(events, db_uri)
    check_events(stored, sent, deliveries)
    check_changes(fake)
    print(
        f"\nburst: {len(sent)} notifications, {len(stored)} events stored once each, "
        f"acknowledged {[len(d.acknowledged) for d in deliveries]}, "
        f"dropped by Harbor {len(deliveries[2].dropped)} (stored all the same: "
        f"{len(stored) - sum(len(d.acknowledged) for d in deliveries)}), "
        f"POSTs {[d.attempts for d in deliveries]}, failed {[d.failures for d in deliveries]}; "
        f"{len(killed)} kills {dict(Counter(killed))}; 1 change for each of {JOBS} jobs "
        f"({len(fake.registrations)} registers sent); "
        f"delivered in {delivered:.1f} s, settled after {took:.1f} s"
    )
