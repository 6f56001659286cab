"""The reconciler's lease holder SIGSTOPped for 30 s at the worst moment: in the middle of
writing what it found under its lease.

Two ``serve`` replicas and one ``regdeploy worker`` reconcile a real ``docker-registry`` every
second (a lease of 2 s). Once one of them has recorded the first push, a second is pushed; the
test holds that tag's catalog row for a moment, so that the holder's fenced write, having taken
its lease, waits inside its transaction, and SIGSTOPs the holder there.

What must hold, read from the leases and events tables: another process takes the lease over
within the lease's time + 10 s of the stop; the finding is recorded once, by the new holder; and
the stopped process, once resumed, adds nothing: every event it recorded began before its lease
expired, and none of its appeared after the takeover.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import psycopg2

from tests.support.cluster import Cluster, Member, StartCluster, cluster_config
from tests.support.history import EventRow, LeaseRow, events, lease
from tests.support.oci import build_image
from tests.support.polling import until
from tests.support.registry import Registry

INTERVAL = 1.0
LEASE_SECONDS = 2 * INTERVAL  # the reconciler's lease lasts two intervals
STOP_SECONDS = 30.0


def hold_tag(db_uri: str, registry: str, tag: str) -> psycopg2.extensions.connection:
    """A transaction that has written the catalog row of ``tag`` and not ended: whoever upserts
    that row waits for it."""
    conn = psycopg2.connect(db_uri)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO tags (registry, repository, tag, digest, pushed_at)"
            " VALUES (%s, 'team/app', %s, 'sha256:held', now())",
            (registry, tag),
        )
    return conn


def waiting_on_tags(db_uri: str) -> bool:
    """Whether a session waits for a lock to write a catalog row (the reconciler's)."""
    conn = psycopg2.connect(db_uri)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE '%%INSERT INTO tags%%'"
            )
            row = cur.fetchone()
    finally:
        conn.close()
    return row is not None and row[0] > 0


async def found(db_uri: str, tag: str) -> list[EventRow]:
    """The reconciler's events of ``tag`` so far."""
    stored = await asyncio.to_thread(events, db_uri)
    return [e for e in stored if e.source == "reconciler" and e.tag == tag]


async def stop_inside_its_write(
    cluster: Cluster, registry: Registry, db_uri: str, layout: Path
) -> tuple[Member, LeaseRow]:
    """Push 1.1.0 while its catalog row is held; SIGSTOP the holder once its write waits for
    it, then let the row go. The stopped member, and its lease as it was then."""
    held = hold_tag(db_uri, registry.host, "1.1.0")
    try:
        build_image(layout, tag="1.1.0", env={"VERSION": "1.1.0"})
        await asyncio.to_thread(registry.push, layout, "1.1.0", "team/app")

        async def waiting() -> bool:
            return await asyncio.to_thread(waiting_on_tags, db_uri)

        await until("the holder's write waits for the row", waiting, seconds=30, interval=0.02)
        holding = await asyncio.to_thread(lease, db_uri)
        assert holding is not None and not holding.expired
        victim = cluster.member(holding.pid)
        assert victim is not None
        os.kill(victim.pid, signal.SIGSTOP)
    finally:
        held.rollback()
        held.close()
    return victim, holding


async def test_a_stopped_lease_holder_is_taken_over_and_fenced(
    db_uri: str, tmp_path: Path, registry: Registry, start_cluster: StartCluster
) -> None:
    layout = tmp_path / "layout"
    build_image(layout, tag="1.0.0", env={"VERSION": "1.0.0"})
    await asyncio.to_thread(registry.push, layout, "1.0.0", "team/app")
    config = cluster_config(
        db_uri=db_uri,
        registry=registry.host,
        repositories=[{"name": "team/app", "image": f"{registry.host}/team/app", "targets": []}],
        registries=[{"host": registry.host, "insecure": True}],
        reconciler_seconds=INTERVAL,
    )
    cluster = start_cluster(config, serve=2, workers=1)
    await cluster.ready()
    await until("the reconciler records 1.0.0", lambda: found(db_uri, "1.0.0"), seconds=30)

    victim, stopped = await stop_inside_its_write(cluster, registry, db_uri, tmp_path / "layout")
    stopped_at = time.monotonic()

    async def taken_over() -> LeaseRow | None:
        now = await asyncio.to_thread(lease, db_uri)
        return now if now is not None and now.holder != stopped.holder else None

    bound = LEASE_SECONDS + 10
    successor = await until("another process holds the lease", taken_over, seconds=bound + 5)
    takeover = time.monotonic() - stopped_at
    [finding] = await until("1.1.0 recorded", lambda: found(db_uri, "1.1.0"), seconds=30)
    before = [e for e in await asyncio.to_thread(events, db_uri) if e.recorded_by == stopped.holder]

    ended = await resume(victim, at=stopped_at + STOP_SECONDS)

    stored = await asyncio.to_thread(events, db_uri)
    assert takeover <= bound, f"taken over {takeover:.1f} s after the stop"
    assert finding.recorded_by == successor.holder != stopped.holder
    assert [e.tag for e in stored if e.source == "reconciler"] == ["1.0.0", "1.1.0"]
    by_victim = [e for e in stored if e.recorded_by == stopped.holder]
    assert by_victim == before, "the stopped process recorded something after its lease expired"
    assert all(e.received_at < stopped.expires_at for e in by_victim)
    print(
        f"\nlease: {victim.name} stopped {STOP_SECONDS:.0f} s inside its write, taken over after "
        f"{takeover:.1f} s (bound {bound:.0f} s) by {_name(cluster, successor)}; "
        f"1.1.0 recorded once; {len(by_victim)} event(s) by the stopped process, none late; "
        f"its round ended with {ended!r}"
    )


async def resume(victim: Member, *, at: float) -> str:
    """SIGCONT ``victim`` at ``at`` (monotonic: the stop's end); once the round it was stopped
    in has ended, how it did (the error it logged)."""
    await asyncio.sleep(max(0.0, at - time.monotonic()))  # the stop lasts its time, on purpose
    failed_before = len(_round_failures(victim))
    os.kill(victim.pid, signal.SIGCONT)

    async def round_ended() -> list[str]:
        return _round_failures(victim)[failed_before:]

    failures = await until("the resumed process's interrupted round ended", round_ended, seconds=30)
    return failures[0]


def _round_failures(member: Member) -> list[str]:
    lines = member.log()
    return [str(n.get("error")) for n in lines if n.get("event") == "reconciler_round_failed"]


def _name(cluster: Cluster, holder: LeaseRow) -> str:
    member = cluster.member(holder.pid)
    return member.name if member is not None else holder.holder
