"""Stored registry events, the tag catalog and rejected payloads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from handlers.events import Action, Event
from handlers.references import ImageName
from receiver.store.connector import Connector, Row, Transaction, as_bytes
from receiver.store.leases import Lease, check_held
from receiver.store.records import (
    CatalogTag,
    EventStatus,
    IngestResult,
    Rejection,
    StoredEvent,
    StoredRejection,
)


class EventQueries:
    def __init__(self, db: Connector) -> None:
        self._db = db

    async def record_notification(
        self,
        *,
        events: Sequence[Event],
        rejection: Rejection | None = None,
        lease: Lease | None = None,
        recorded_by: str | None = None,
    ) -> IngestResult:
        """Store new events, update the tag catalog and keep any rejection, in one transaction.

        An event already stored under the same (source, event id) is a duplicate: it is counted
        and changes nothing. With ``lease``, nothing is stored unless it is still held.
        ``recorded_by`` names the process that stores them (a lease's holder, by default).
        """
        # Rows are written in one order whatever the body's: events by id, then the tags they
        # move by name (and, for one tag, by time, then as the body had them), so that
        # deliveries sharing events or tags wait for each other instead of deadlocking.
        position = {id(event): i for i, event in enumerate(events)}
        ordered = sorted(events, key=lambda e: (e.source, e.event_id))
        recorder = recorded_by if recorded_by is not None or lease is None else lease.holder

        async def record(tx: Transaction) -> int:
            if lease is not None:
                await check_held(tx, lease)
            new = [e for e in ordered if await _insert(tx, e, recorder)]
            for event in sorted(new, key=lambda e: (*_catalog_key(e), position[id(e)])):
                await tx.execute(_catalog_query(event), event.fields())
            if rejection is not None:
                await tx.execute("insert_rejection", _rejection_params(rejection))
            if new:
                await tx.execute("notify_events", {"source": new[0].source})
            if lease is not None:
                await check_held(tx, lease)  # still held as it commits
            return len(new)

        accepted = await self._db.retried(record)
        return IngestResult(accepted=accepted, duplicate=len(events) - accepted)

    async def record_rejection(self, rejection: Rejection) -> None:
        await self._db.execute("insert_rejection", _rejection_params(rejection))

    async def list_events(
        self,
        *,
        limit: int,
        repository: str | None = None,
        source: str | None = None,
        status: str | None = None,
    ) -> list[StoredEvent]:
        params = {"limit": limit, "repository": repository, "source": source, "status": status}
        return [stored_event(row) for row in await self._db.all("list_events", params)]

    async def list_tags(self) -> list[CatalogTag]:
        return [CatalogTag(**row) for row in await self._db.all("list_tags")]

    async def repository_tags(self, image: ImageName) -> dict[str, str]:
        """The catalog of one repository: tag -> digest."""
        params = {"registry": image.registry, "repository": image.repository}
        return {row["tag"]: row["digest"] for row in await self._db.all("repository_tags", params)}

    async def list_rejections(self, *, limit: int) -> list[StoredRejection]:
        rows = await self._db.all("list_rejections", {"limit": limit})
        return [StoredRejection(**row) for row in rows]


async def _insert(tx: Transaction, event: Event, recorded_by: str | None) -> bool:
    """Insert ``event`` unless it is stored already; whether it is new."""
    row = await tx.one("insert_event", {**event.fields(), "recorded_by": recorded_by})
    return row is not None


def _catalog_key(event: Event) -> tuple[str, str, str, datetime]:
    return (event.registry, event.repository, event.tag or "", event.occurred_at)


def _catalog_query(event: Event) -> str:
    if event.action is Action.PUSH:
        return "upsert_tag"
    return "delete_tag" if event.tag is not None else "delete_digest"


def _rejection_params(rejection: Rejection) -> dict[str, Any]:
    return {
        "source": rejection.source,
        "reason": rejection.reason,
        "content_type": rejection.content_type,
        "body": as_bytes(rejection.body),
    }


def stored_event(row: Row) -> StoredEvent:
    """A row of ``list_events`` or ``claim_event``."""
    return StoredEvent(
        id=row["id"],
        event=Event(
            source=row["source"],
            event_id=row["event_id"],
            action=Action(row["action"]),
            registry=row["registry"],
            repository=row["repository"],
            tag=row["tag"],
            digest=row["digest"],
            media_type=row["media_type"],
            actor=row["actor"],
            occurred_at=row["occurred_at"],
        ),
        received_at=row["received_at"],
        status=EventStatus(row["status"]),
        attempts=row["attempts"],
        reason=row["reason"],
    )
