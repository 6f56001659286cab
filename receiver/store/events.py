"""Stored registry events, the tag catalog and rejected payloads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import psycopg2

from handlers.events import Action, Event
from receiver.records import (
    CatalogTag,
    EventStatus,
    IngestResult,
    Rejection,
    StoredEvent,
    StoredRejection,
)
from receiver.store.database import Database


class EventQueries(Database):
    async def record_notification(
        self, *, events: Sequence[Event], rejection: Rejection | None = None
    ) -> IngestResult:
        """Store new events, update the tag catalog and keep any rejection, in one transaction.

        An event already stored under the same (source, event id) is a duplicate: it is counted
        and changes nothing.
        """
        accepted = 0
        async with self._transaction() as cur:
            for event in events:
                params = _event_params(event)
                await cur.execute(self._queries["insert_event"], params)
                if await cur.fetchone() is None:
                    continue
                accepted += 1
                await cur.execute(self._queries[_catalog_query(event)], params)
            if rejection is not None:
                await cur.execute(self._queries["insert_rejection"], _rejection_params(rejection))
            if accepted:
                await cur.execute(self._queries["notify_events"], {"source": events[0].source})
        return IngestResult(accepted=accepted, duplicate=len(events) - accepted)

    async def record_rejection(self, rejection: Rejection) -> None:
        async with self._cursor() as cur:
            await cur.execute(self._queries["insert_rejection"], _rejection_params(rejection))

    async def list_events(
        self, *, limit: int, repository: str | None = None, source: str | None = None
    ) -> list[StoredEvent]:
        params = {"limit": limit, "repository": repository, "source": source}
        return [stored_event(row) for row in await self._fetch("list_events", params)]

    async def list_tags(self) -> list[CatalogTag]:
        return [CatalogTag(**row) for row in await self._fetch("list_tags", {})]

    async def list_rejections(self, *, limit: int) -> list[StoredRejection]:
        rows = await self._fetch("list_rejections", {"limit": limit})
        return [StoredRejection(**row) for row in rows]


def _catalog_query(event: Event) -> str:
    if event.action is Action.PUSH:
        return "upsert_tag"
    return "delete_tag" if event.tag is not None else "delete_digest"


def _event_params(event: Event) -> dict[str, Any]:
    params = asdict(event)
    params["action"] = event.action.value
    return params


def _rejection_params(rejection: Rejection) -> dict[str, Any]:
    params = asdict(rejection)
    params["body"] = psycopg2.Binary(rejection.body)
    return params


def stored_event(row: dict[str, Any]) -> StoredEvent:
    stored = {key: row.pop(key) for key in ("id", "received_at", "status")}
    event = Event(**{**row, "action": Action(row["action"])})
    return StoredEvent(
        id=stored["id"],
        event=event,
        received_at=stored["received_at"],
        status=EventStatus(stored["status"]),
    )
