"""Stored registry events, the tag catalog and rejected payloads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from handlers.events import Action, Event
from handlers.references import ImageName
from receiver.errors import UnknownRejection
from receiver.store.connector import Connector, Row
from receiver.store.ingest import (
    GroupCommit,
    Notification,
    store_rejection,
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
    def __init__(self, db: Connector, *, rejections_kept: int = 1000) -> None:
        """``rejections_kept``: the rejections each source keeps (its newest)."""
        self._db = db
        self._kept = rejections_kept
        self._group = GroupCommit(lambda group: write_group(db, group, rejections_kept=self._kept))

    def keep_rejections(self, kept: int) -> None:
        """Keep the newest ``kept`` rejections of each source from now on (a reload)."""
        self._kept = kept

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
        async with self._db.transaction() as tx:
            await store_rejection(tx, rejection, kept=self._kept)

    async def list_events(
        self,
        *,
        limit: int,
        repository: str | None = None,
        source: str | None = None,
        status: str | None = None,
        before: int | None = None,
    ) -> list[StoredEvent]:
        """The newest events that match, older than event ``before``."""
        params = {
            "limit": limit,
            "repository": repository,
            "source": source,
            "status": status,
            "before": before,
        }
        return [stored_event(row) for row in await self._db.all("list_events", params)]

    async def list_tags(self, *, limit: int, after: ImageName | None = None) -> list[CatalogTag]:
        """The tags of the first ``limit`` repositories after ``after``, by repository."""
        params = {
            "limit": limit,
            "after_registry": after.registry if after else "",
            "after_repository": after.repository if after else "",
        }
        return [CatalogTag(**row) for row in await self._db.all("list_tags", params)]

    async def repository_tags(self, image: ImageName) -> dict[str, str]:
        """The catalog of one repository: tag -> digest."""
        params = {"registry": image.registry, "repository": image.repository}
        return {row["tag"]: row["digest"] for row in await self._db.all("repository_tags", params)}

    async def repository_catalog(self, image: ImageName) -> list[CatalogTag]:
        """The catalog of one repository with each tag's push time, by tag."""
        params = {"registry": image.registry, "repository": image.repository}
        return [CatalogTag(**row) for row in await self._db.all("repository_catalog", params)]

    async def list_rejections(
        self, *, limit: int, source: str | None = None, before: int | None = None
    ) -> list[StoredRejection]:
        """The newest rejections (of ``source``), older than rejection ``before``."""
        params = {"limit": limit, "source": source, "before": before}
        return [StoredRejection(**row) for row in await self._db.all("list_rejections", params)]

    async def get_rejection(self, rejection_id: int) -> StoredRejection:
        """One rejection with the prefix of its body; ``UnknownRejection`` when none has that id."""
        row = await self._db.one("get_rejection", {"id": rejection_id})
        if row is None:
            raise UnknownRejection(f"no rejection {rejection_id}")
        prefix = bytes(row.pop("body"))
        return StoredRejection(**row, prefix=prefix)

    async def prune_rejections(self, *, keep: int, before: datetime) -> int:
        """Drop every source's rejections beyond its newest ``keep`` and those received before
        ``before``; how many."""
        return len(await self._db.all("prune_rejections", {"keep": keep, "before": before}))


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
