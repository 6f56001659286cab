"""Stored registry events, the tag catalog and rejected payloads."""

from __future__ import annotations

from collections.abc import Sequence

from handlers.events import Action, Event
from handlers.references import ImageName
from receiver.store.connector import Connector, Row
from receiver.store.ingest import (
    GroupCommit,
    Notification,
    rejection_params,
    write_fenced,
    write_group,
)
from receiver.store.leases import Lease
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
        self._group = GroupCommit(lambda group: write_group(db, group))

    async def record_notification(
        self,
        *,
        events: Sequence[Event],
        rejection: Rejection | None = None,
        lease: Lease | None = None,
        recorded_by: str | None = None,
    ) -> IngestResult:
        """Store new events, update the tag catalog and keep any rejection, all or nothing,
        written together with the notifications that arrive at the same time
        (``receiver.store.ingest``); return when that write committed.

        An event already stored under the same (source, event id) is a duplicate: it is counted
        and changes nothing. With ``lease``, nothing is stored unless it is still held.
        ``recorded_by`` names the process that stores them (a lease's holder, by default).
        """
        recorder = recorded_by if recorded_by is not None or lease is None else lease.holder
        notification = Notification(events=events, rejection=rejection, recorded_by=recorder)
        if lease is not None:
            return await write_fenced(self._db, notification, lease)
        if not events and rejection is None:
            return IngestResult()
        return await self._group.submit(notification)

    async def record_rejection(self, rejection: Rejection) -> None:
        await self._db.execute("insert_rejection", rejection_params(rejection))

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

    async def repository_catalog(self, image: ImageName) -> list[CatalogTag]:
        """The catalog of one repository with each tag's push time, by tag."""
        params = {"registry": image.registry, "repository": image.repository}
        return [CatalogTag(**row) for row in await self._db.all("repository_catalog", params)]

    async def list_rejections(self, *, limit: int) -> list[StoredRejection]:
        rows = await self._db.all("list_rejections", {"limit": limit})
        return [StoredRejection(**row) for row in rows]


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
