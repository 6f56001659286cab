"""The store against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from handlers.events import Action, Event
from receiver.errors import DatabaseUnavailable, StoreError
from receiver.store import SCHEMA_VERSION, Store
from receiver.store.records import EventStatus, Rejection
from tests.support.postgres import admin_sql, database_uri

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def event(
    event_id: str,
    *,
    action: Action = Action.PUSH,
    tag: str | None = "1.0.0",
    digest: str | None = DIGEST_A,
    at: datetime = T0,
    repository: str = "team/app",
) -> Event:
    return Event(
        source="registry",
        event_id=event_id,
        action=action,
        registry="localhost:5000",
        repository=repository,
        tag=tag,
        digest=digest,
        media_type="application/vnd.oci.image.manifest.v1+json" if digest else None,
        actor="ci",
        occurred_at=at,
    )


async def catalog(store: Store) -> dict[tuple[str, str], str]:
    return {(t.repository, t.tag): t.digest for t in await store.events.list_tags(limit=100)}


async def test_push_is_stored_once_and_sets_the_tag(store: Store) -> None:
    first = await store.events.record_notification(events=[event("e1")])
    again = await store.events.record_notification(events=[event("e1")])

    assert (first.accepted, first.duplicate) == (1, 0)
    assert (again.accepted, again.duplicate) == (0, 1)
    stored = await store.events.list_events(limit=10)
    assert [(s.event, s.status) for s in stored] == [(event("e1"), EventStatus.PENDING)]
    assert await catalog(store) == {("team/app", "1.0.0"): DIGEST_A}


async def test_overwritten_tag_moves_to_the_new_digest(store: Store) -> None:
    await store.events.record_notification(events=[event("e1")])
    await store.events.record_notification(
        events=[event("e2", digest=DIGEST_B, at=T0 + timedelta(1))]
    )

    assert await catalog(store) == {("team/app", "1.0.0"): DIGEST_B}


async def test_late_redelivery_of_an_older_push_does_not_move_the_tag_back(store: Store) -> None:
    await store.events.record_notification(
        events=[event("new", digest=DIGEST_B, at=T0 + timedelta(1))]
    )
    await store.events.record_notification(events=[event("old", digest=DIGEST_A, at=T0)])

    assert await catalog(store) == {("team/app", "1.0.0"): DIGEST_B}
    assert len(await store.events.list_events(limit=10)) == 2


async def test_delete_by_tag_removes_only_that_tag(store: Store) -> None:
    await store.events.record_notification(events=[event("e1"), event("e2", tag="latest")])
    later = T0 + timedelta(seconds=5)
    await store.events.record_notification(
        events=[event("d1", action=Action.DELETE, tag="latest", digest=None, at=later)]
    )

    assert await catalog(store) == {("team/app", "1.0.0"): DIGEST_A}


async def test_delete_by_digest_removes_every_tag_on_it(store: Store) -> None:
    await store.events.record_notification(
        events=[event("e1"), event("e2", tag="latest"), event("e3", tag="2.0", digest=DIGEST_B)]
    )
    later = T0 + timedelta(seconds=5)
    await store.events.record_notification(
        events=[event("d1", action=Action.DELETE, tag=None, digest=DIGEST_A, at=later)]
    )

    assert await catalog(store) == {("team/app", "2.0"): DIGEST_B}


async def test_events_are_listed_newest_first_and_filtered(store: Store) -> None:
    await store.events.record_notification(
        events=[event("e1"), event("e2", repository="other/app"), event("e3", tag="1.1.0")]
    )

    assert [s.event.event_id for s in await store.events.list_events(limit=10)] == [
        "e3",
        "e2",
        "e1",
    ]
    assert [s.event.event_id for s in await store.events.list_events(limit=2)] == ["e3", "e2"]
    assert [
        s.event.event_id for s in await store.events.list_events(limit=10, repository="other/app")
    ] == ["e2"]


async def test_rejection_is_kept_in_the_same_transaction(store: Store) -> None:
    rejection = Rejection(
        source="registry",
        reason="events[1]: no repository",
        content_type=None,
        prefix=b"\x00{}",
        size=3,
        sha256=hashlib.sha256(b"\x00{}").hexdigest(),
    )
    result = await store.events.record_notification(events=[event("e1")], rejection=rejection)

    assert result.accepted == 1
    [stored] = await store.events.list_rejections(limit=10)
    assert (stored.reason, stored.size, stored.sha256) == (
        "events[1]: no repository",
        3,
        rejection.sha256,
    )
    assert (await store.events.get_rejection(stored.id)).prefix == b"\x00{}"


async def test_a_failed_transaction_stores_nothing(store: Store) -> None:
    # PostgreSQL refuses NUL characters in text: the second event fails the whole batch.
    bad = event("e2", tag="bad\x00tag")
    with pytest.raises(StoreError):
        await store.events.record_notification(events=[event("e1"), bad])

    assert await store.events.list_events(limit=10) == []
    assert await store.events.list_tags(limit=100) == []


async def test_migrate_is_idempotent_and_records_the_version(store: Store) -> None:
    assert await store.migrate() == SCHEMA_VERSION
    assert await store.migrate() == SCHEMA_VERSION


async def test_a_start_beside_busy_processes_takes_no_table_lock(store: Store, db_uri: str) -> None:
    """Every process migrates as it starts: on a current schema that must not lock the tables
    that other processes are using (a restarted replica would wait for them, or deadlock with
    them and fail to start)."""
    await store.events.record_notification(events=[event("e1")])
    conn = psycopg2.connect(db_uri)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM events FOR UPDATE")  # as a worker's claim holds it
            assert await asyncio.wait_for(store.migrate(), 5) == SCHEMA_VERSION
    finally:
        conn.rollback()
        conn.close()


async def test_migrate_brings_an_older_schema_up_to_date(store: Store, db_uri: str) -> None:
    admin_sql(db_uri, f"DELETE FROM schema_version WHERE version = {SCHEMA_VERSION}")
    admin_sql(db_uri, "ALTER TABLE events DROP COLUMN recorded_by")

    assert await store.migrate() == SCHEMA_VERSION
    await store.events.record_notification(events=[event("e1")], recorded_by="serve-a")


async def test_migrate_refuses_a_newer_schema(store: Store, db_uri: str) -> None:
    admin_sql(db_uri, f"INSERT INTO schema_version (version) VALUES ({SCHEMA_VERSION + 1})")
    with pytest.raises(StoreError, match="newer than this regdeploy"):
        await store.migrate()


async def test_migrate_applies_the_schema_to_an_empty_database(pg_server_uri: str) -> None:
    admin_sql(pg_server_uri, "DROP DATABASE IF EXISTS empty_db")
    admin_sql(pg_server_uri, "CREATE DATABASE empty_db")
    store = await Store.open(database_uri(pg_server_uri, "empty_db"), pool_size=2, query_timeout=5)
    try:
        assert await store.migrate() == SCHEMA_VERSION
        await store.events.record_notification(events=[event("e1")])
        assert len(await store.events.list_events(limit=5)) == 1
    finally:
        await store.close()


async def test_unreachable_server_is_database_unavailable(tmp_path: object) -> None:
    with pytest.raises(DatabaseUnavailable):
        await Store.open(
            "postgresql://postgres@/postgres?host=/nonexistent-socket-dir",
            pool_size=1,
            query_timeout=2,
        )
