"""Stored registry events, the tag catalog and rejected payloads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from handlers.events import Action, Event
from handlers.references import ImageName
from receiver.store.connector import Connector, Row, as_bytes
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
        self, *, events: Sequence[Event], rejection: Rejection | None = None
    ) -> IngestResult:
        """Store new events, update the tag catalog and keep any rejection, in one transaction.

        An event already stored under the same (source, event id) is a duplicate: it is counted
        and changes nothing.
        """
        accepted = 0
        async with self._db.transaction() as tx:
            for event in events:
                params = event.fields()
                if await tx.one("insert_event", params) is None:
                    continue
                accepted += 1
                await tx.execute(_catalog_query(event), params)
            if rejection is not None:
                await tx.execute("insert_rejection", _rejection_params(rejection))
            if accepted:
                await tx.execute("notify_events", {"source": events[0].source})
        return IngestResult(accepted=accepted, duplicate=len(events) - accepted)

    async def record_rejection(self, rejection: Rejection) -> None:
        await self._db.execute("insert_rejection", _rejection_params(rejection))

    async def list_events(
        self, *, limit: int, repository: str | None = None, source: str | None = None
    ) -> list[StoredEvent]:
        params = {"limit": limit, "repository": repository, "source": source}
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
    )
