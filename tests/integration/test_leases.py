"""Leases and the writes fenced by them, against a real PostgreSQL: one holder at a time, and
nothing stored under a lease that is no longer held. Each event names the process that stored
it, so that what several processes did can be told apart afterwards."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psycopg2
import pytest

from handlers.events import Action, Event
from receiver.errors import DatabaseUnavailable, LeaseLost
from receiver.store import Store
from receiver.store.leases import Lease, check_held
from tests.support.polling import until

NAME = "reconciler"


def event(event_id: str, *, tag: str = "1.0.0") -> Event:
    return Event(
        source="reconciler",
        event_id=event_id,
        action=Action.PUSH,
        registry="localhost:5000",
        repository="team/app",
        tag=tag,
        digest="sha256:" + "a" * 64,
        media_type=None,
        actor="reconciler",
        occurred_at=datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
    )


def recorders(db_uri: str) -> dict[str, str | None]:
    """event id -> the process that stored it, as the events table says."""
    conn = psycopg2.connect(db_uri)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT event_id, recorded_by FROM events ORDER BY id")
            return dict(cur.fetchall())
    finally:
        conn.close()


async def test_each_event_names_the_process_that_stored_it(store: Store, db_uri: str) -> None:
    await store.events.record_notification(events=[event("by-serve")], recorded_by="serve-a")
    assert await store.leases.acquire_lease(NAME, holder="worker-b", seconds=30)
    lease = Lease(name=NAME, holder="worker-b")
    await store.events.record_notification(events=[event("leased", tag="1.1.0")], lease=lease)
    await store.events.record_notification(events=[event("unnamed", tag="1.2.0")])

    assert recorders(db_uri) == {"by-serve": "serve-a", "leased": "worker-b", "unnamed": None}


async def test_a_lease_changes_hands_only_once_it_expired(store: Store) -> None:
    assert await store.leases.acquire_lease(NAME, holder="a", seconds=30)
    assert await store.leases.acquire_lease(NAME, holder="a", seconds=30)  # a renewal
    assert not await store.leases.acquire_lease(NAME, holder="b", seconds=30)

    assert await store.leases.acquire_lease("other", holder="b", seconds=0)
    assert await store.leases.acquire_lease("other", holder="a", seconds=30)  # b's expired


async def test_nothing_is_stored_under_a_lease_another_process_holds(
    store: Store, db_uri: str
) -> None:
    assert await store.leases.acquire_lease(NAME, holder="a", seconds=0)
    assert await store.leases.acquire_lease(NAME, holder="b", seconds=30)

    with pytest.raises(LeaseLost):
        await store.events.record_notification(
            events=[event("late")], lease=Lease(name=NAME, holder="a")
        )
    assert recorders(db_uri) == {}
    assert await store.events.list_tags(limit=100) == []


async def test_a_holder_paused_inside_its_fenced_write_holds_off_no_takeover(
    store: Store, db_uri: str
) -> None:
    """A holder that stops sending anything in the middle of its fenced transaction (a process
    stopped by SIGSTOP, a frozen VM) keeps the lease row locked: the server ends that transaction
    once the lease's time is up, so another process takes over, and the paused write is lost."""
    assert await store.leases.acquire_lease(NAME, holder="a", seconds=1)
    other = await Store.open(db_uri, pool_size=1, query_timeout=10)
    try:
        with pytest.raises(DatabaseUnavailable):
            async with store.connector.transaction() as tx:
                await check_held(tx, Lease(name=NAME, holder="a"))
                await tx.execute("insert_event", {**event("paused").fields(), "recorded_by": "a"})
                # From here the holder sends nothing, as if stopped: "b" waits for the lease row.
                began = time.monotonic()
                taken = await other.leases.acquire_lease(NAME, holder="b", seconds=30)
                waited = time.monotonic() - began
    finally:
        await other.close()

    assert taken and waited < 3, f"taken over after {waited:.1f} s"
    assert recorders(db_uri) == {}


async def test_a_lease_past_its_expiry_fences_even_when_nobody_took_it_over(
    store: Store,
) -> None:
    """Expiry is read from the clock, not from when the fenced transaction began."""
    assert await store.leases.acquire_lease(NAME, holder="a", seconds=0.3)

    async def run_out() -> bool:
        lease = await store.leases.get_lease(NAME)
        return lease is not None and lease.now >= lease.expires_at

    with pytest.raises(LeaseLost):
        async with store.connector.transaction() as tx:
            await tx.execute("ping")  # the transaction began while the lease was held
            # The holder is paused past its lease's end, as the database tells the time.
            await until("the lease ran out", run_out, seconds=10, interval=0.05)
            await check_held(tx, Lease(name=NAME, holder="a"))
