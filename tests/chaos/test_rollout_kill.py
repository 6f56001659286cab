"""A rollout survives a SIGKILL of the process advancing it, in the middle of a soak.

One ``serve`` replica (it takes the push and answers the API; its own loops are off) and
``regdeploy worker`` processes on one PostgreSQL move six Nomad jobs (the fake, served by the
test) in waves of ``[1, 50%, 100%]`` (1, 2, then 3 jobs), each soaking 10 s. Once a wave is
soaking (its ``healthy_since`` is set, by ``GET /api/v1/rollouts``), the worker is SIGKILLed
while it holds the rollout (in the middle of a look: its claim outlives it by up to 30 s), and
started again at once. The second test runs two workers racing for the rollout and kills the
one holding it.

What must hold, read from the Nomad fake's log of registers and from the database (rollouts,
rollout_waves, deployments): the rollout completes; every job is registered with the new digest
exactly once, with no other register; the waves in order, none repeated, none skipped: each
wave started once, after the previous wave had soaked for 10 s from when it was healthy, and its
jobs registered after that; no rollback, no deployment beyond one per job.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import psycopg2
import pytest

from receiver.background.rollouts import CLAIM_SECONDS
from tests.support.cluster import Cluster, Member, ServeNomad, StartCluster, cluster_config
from tests.support.history import changes, events, registers, rows, worker_pid
from tests.support.nomad_fake import SECOND, FakeNomad, make_job
from tests.support.notifications import digest_of, distribution_push
from tests.support.polling import until
from tests.support.settings import api_headers

REGISTRY = "registry.test:5000"
IMAGE = f"{REGISTRY}/team/app"
JOBS = [f"app-{i}" for i in range(6)]
WAVES = [["app-0"], ["app-1", "app-2"], ["app-3", "app-4", "app-5"]]
SOAK = timedelta(seconds=10)
OLD, NEW = digest_of("team/app", "1.0.0"), digest_of("team/app", "1.1.0")
MOVED = f"{IMAGE}:1.1.0@{NEW}"
#: From the kill to the rollout's end: the dead process's claim, the soaks left (the one
#: under way and the last wave's), their deploys, a restart.
AFTER_KILL_SECONDS = CLAIM_SECONDS + 2 * SOAK.total_seconds() + 20


def fleet(fake: FakeNomad) -> list[dict[str, Any]]:
    """The six jobs on 1.0.0, and team/app watching them with its rollout rules."""
    for job in JOBS:
        fake.add_job(make_job(job, {"web": {"server": f"{IMAGE}:1.0.0@{OLD}"}}))
    return [
        {
            "name": "team/app",
            "image": IMAGE,
            "policy": "minor",
            "targets": [{"nomad": {"job": job}} for job in JOBS],
            "rollout": {"waves": [1, "50%", "100%"], "soak": f"{SOAK.seconds}s"},
        }
    ]


async def started(
    db_uri: str, start_cluster: StartCluster, serve_nomad: ServeNomad, *, workers: int
) -> tuple[FakeNomad, Cluster]:
    """The fake and the cluster, every member ready. The tests ask for ``start_cluster``
    before ``serve_nomad`` so that the fake stops first: its blocking queries answer then, and
    the members, which wait for the one their inventory has open before they exit, stop at
    once rather than after the cluster's 30 s grace."""
    fake = FakeNomad(rollout=lambda job: "successful")
    config = cluster_config(
        db_uri=db_uri,
        registry=REGISTRY,
        repositories=fleet(fake),
        nomad_address=await serve_nomad(fake),
        # Only the ``regdeploy worker`` processes run the loops (``serve`` does not).
        worker={"enabled": False},
    )
    cluster = start_cluster(config, serve=1, workers=workers)
    await cluster.ready()
    return fake, cluster


async def push(cluster: Cluster) -> None:
    """team/app 1.1.0 (the new digest), as docker-registry notifies it."""
    sent = distribution_push(host=REGISTRY, repository="team/app", tag="1.1.0", digest=NEW)
    async with aiohttp.ClientSession() as session:
        url = f"{cluster.bases[0]}/webhooks/{sent.source}"
        async with session.post(url, data=sent.body, headers=dict(sent.headers)) as answer:
            assert answer.status == 202, await answer.text()


async def the_rollout(cluster: Cluster) -> dict[str, Any] | None:
    """The one rollout, as ``GET /api/v1/rollouts`` shows it (None before it exists)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{cluster.bases[0]}/api/v1/rollouts", headers=api_headers()) as answer,
    ):
        assert answer.status == 200, await answer.text()
        found: list[dict[str, Any]] = (await answer.json())["rollouts"]
    assert len(found) <= 1, found
    return found[0] if found else None


async def soaking(cluster: Cluster, wave: int) -> dict[str, Any]:
    """The rollout once wave ``wave`` is healthy and soaking."""

    async def check() -> dict[str, Any] | None:
        rollout = await the_rollout(cluster)
        if rollout is None or rollout["wave"] != wave:
            return None
        return rollout if rollout["waves"][wave - 1]["healthy_since"] else None

    return await until(f"wave {wave} soaking", check, seconds=60, interval=0.2)


@contextmanager
def connected(db_uri: str) -> Iterator[Any]:
    conn = psycopg2.connect(db_uri)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def holder(cur: Any, rollout_id: int) -> str | None:
    """The worker id of the process holding the rollout now, if any."""
    cur.execute("SELECT claimed_by FROM rollouts WHERE id = %s", (rollout_id,))
    row = cur.fetchone()
    return None if row is None else row[0]


async def kill_mid_look(cluster: Cluster, db_uri: str, rollout_id: int) -> tuple[Member, str]:
    """SIGKILL the worker while it holds the rollout (in the middle of a look), and start it
    again at once; the member killed, and the claim it left.

    A look holds the rollout for a few milliseconds: the holder is frozen (SIGSTOP) as soon as
    it is seen, and killed if it still holds it then; otherwise it goes on and the next look's
    holder is caught."""
    with connected(db_uri) as cur:
        while True:
            claim = await until(
                "a worker holds the rollout",
                lambda: holder(cur, rollout_id),
                seconds=30,
                interval=0.005,
            )
            victim = cluster.member(worker_pid(claim))
            assert victim is not None and victim.command == "worker", claim
            os.kill(victim.pid, signal.SIGSTOP)
            if holder(cur, rollout_id) == claim:
                break
            os.kill(victim.pid, signal.SIGCONT)
    cluster.kill(victim)
    cluster.start(victim)
    return victim, claim


async def holders(db_uri: str, rollout_id: int, done: asyncio.Event) -> list[str]:
    """The members' worker ids that held the rollout, in the order first seen, until
    ``done``."""
    seen: list[str] = []
    with connected(db_uri) as cur:
        while not done.is_set():
            claim = holder(cur, rollout_id)
            if claim is not None and claim not in seen:
                seen.append(claim)
            await asyncio.sleep(0.005)
    return seen


async def completed(cluster: Cluster, seconds: float) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    async def check() -> dict[str, Any] | None:
        rollout = await the_rollout(cluster)
        seen[:] = [rollout] if rollout else []
        if rollout is not None and rollout["state"] not in ("running", "halted"):
            assert rollout["state"] == "completed", rollout["words"]
            return rollout
        return None

    return await until(
        "the rollout completed",
        check,
        seconds=seconds,
        interval=0.25,
        explain=lambda: f"it is {[(r['state'], r['wave'], r['words']) for r in seen]}",
    )


def check_exactly_once(fake: FakeNomad, db_uri: str, rollout: dict[str, Any]) -> list[float]:
    """Everything the module docstring says must hold; when each wave started, in seconds
    after the first."""
    assert [[t["name"] for t in w["targets"]] for w in rollout["waves"]] == WAVES
    for job in JOBS:
        # One register of the job in all, accepted, with the new digest; one new version.
        assert [r.status for r in fake.registrations if r.job_id == job] == [200], job
        assert len(registers(fake, job, NEW)) == 1, job
        assert [c.images for c in changes(fake, job)] == [{"web/server": MOVED}], job

    waves = wave_rows(db_uri, rollout["id"])
    assert [state for _, state, *_ in waves] == ["healthy"] * len(WAVES)
    starts: list[datetime] = [w[2] for w in waves]
    for (_, _, _, healthy_since, _), began in zip(waves, starts[1:], strict=False):
        assert began >= healthy_since + SOAK, f"a wave began {began}, soaked since {healthy_since}"
    for number, jobs in enumerate(WAVES):
        times = [registers(fake, job, NEW)[0].at for job in jobs]
        # Its jobs registered once it began (regdeploy's clock and the fake's are this machine's)
        # and before the next wave began.
        assert min(times) >= starts[number].timestamp() * SECOND
        if number + 1 < len(WAVES):
            assert max(times) < starts[number + 1].timestamp() * SECOND
        if number:
            before = min(registers(fake, job, NEW)[0].at for job in WAVES[number - 1])
            assert min(times) >= before + SOAK.total_seconds() * SECOND

    deployed = rows(
        db_uri, "SELECT target_key, status, trigger, rollout_id FROM deployments ORDER BY id"
    )
    keys = [t["key"] for w in rollout["waves"] for t in w["targets"]]
    assert sorted(d[0] for d in deployed) == sorted(keys)
    assert {(d[1], d[2], d[3]) for d in deployed} == {("succeeded", "push", rollout["id"])}
    assert len(events(db_uri)) == 1
    return [(s - starts[0]).total_seconds() for s in starts]


def wave_rows(db_uri: str, rollout_id: int) -> list[tuple[Any, ...]]:
    """The rollout's waves as stored: (number, state, started_at, healthy_since, finished_at)."""
    with connected(db_uri) as cur:
        cur.execute(
            "SELECT number, state, started_at, healthy_since, finished_at FROM rollout_waves"
            " WHERE rollout_id = %s ORDER BY number",
            (rollout_id,),
        )
        return list(cur.fetchall())


def name(cluster: Cluster, claim: str) -> str:
    """The running member whose worker id is ``claim``."""
    member = cluster.member(worker_pid(claim))
    return member.name if member is not None else claim


def wave_starts_logged(cluster: Cluster) -> dict[int, list[str]]:
    """Who logged starting each wave after the first (every member, every run)."""
    logged: dict[int, list[str]] = {}
    for member in cluster.members:
        for line in member.log():
            if line.get("event") == "rollout_wave_started":
                logged.setdefault(int(line["wave"]), []).append(member.name)
    return logged


@pytest.mark.timeout(180)
async def test_a_worker_killed_in_a_look_during_a_soak_carries_on_exactly_once(
    db_uri: str, start_cluster: StartCluster, serve_nomad: ServeNomad
) -> None:
    fake, cluster = await started(db_uri, start_cluster, serve_nomad, workers=1)
    await push(cluster)
    rollout = await soaking(cluster, 2)
    killed, _ = await kill_mid_look(cluster, db_uri, rollout["id"])
    killed_at = time.monotonic()
    await cluster.ready()
    rollout = await completed(cluster, AFTER_KILL_SECONDS)
    took = time.monotonic() - killed_at

    starts = await asyncio.to_thread(check_exactly_once, fake, db_uri, rollout)
    logged = wave_starts_logged(cluster)
    assert logged == {2: ["worker-0"], 3: ["worker-0"]}, logged
    assert killed.starts == 2
    print(
        f"\nkilled {killed.name} holding the rollout in wave 2's soak; completed {took:.1f} s "
        f"later; waves began at {', '.join(f'{s:.1f} s' for s in starts)}"
    )


@pytest.mark.timeout(180)
async def test_two_workers_race_and_the_holder_is_killed_during_a_soak(
    db_uri: str, start_cluster: StartCluster, serve_nomad: ServeNomad
) -> None:
    fake, cluster = await started(db_uri, start_cluster, serve_nomad, workers=2)
    await push(cluster)
    rollout = await soaking(cluster, 1)
    done = asyncio.Event()
    watching = asyncio.create_task(holders(db_uri, rollout["id"], done))
    killed, left = await kill_mid_look(cluster, db_uri, rollout["id"])
    killed_at = time.monotonic()
    await cluster.ready()
    rollout = await completed(cluster, AFTER_KILL_SECONDS + SOAK.total_seconds())
    took = time.monotonic() - killed_at
    done.set()
    held = [killed.name + " (killed)" if c == left else name(cluster, c) for c in await watching]

    starts = await asyncio.to_thread(check_exactly_once, fake, db_uri, rollout)
    logged = wave_starts_logged(cluster)
    assert sorted(logged) == [2, 3] and all(len(who) == 1 for who in logged.values()), logged
    print(
        f"\nkilled {killed.name} holding the rollout in wave 1's soak; completed {took:.1f} s "
        f"later; waves began at {', '.join(f'{s:.1f} s' for s in starts)}, started by "
        f"{dict(sorted(logged.items()))}; held by {held}"
    )
