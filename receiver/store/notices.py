"""The outbox of notices: written with the outcome they report, sent and retried afterwards."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg2.extras import Json

from notifiers.base import Kind, Notice
from receiver.records import StoredNotice
from receiver.store.database import Database


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxEntry:
    """A notice for one notifier; ``group_key`` gathers the notices of one push."""

    notifier: str
    group_key: str
    notice: Notice


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimedNotice:
    id: int
    notifier: str
    group_key: str
    attempts: int
    notice: Notice


class NoticeBatch:
    """Notices held by this sender until the batch's transaction ends."""

    def __init__(self, cur: Any, queries: dict[str, str], notices: list[ClaimedNotice]) -> None:
        self._cur = cur
        self._queries = queries
        self.notices = notices

    async def sent(self, ids: Sequence[int]) -> None:
        await self._cur.execute(self._queries["notice_sent"], {"ids": list(ids)})

    async def retry(self, ids: Sequence[int], *, error: str, seconds: float) -> None:
        params = {"ids": list(ids), "error": error, "seconds": seconds}
        await self._cur.execute(self._queries["notice_retry"], params)

    async def failed(self, ids: Sequence[int], *, error: str) -> None:
        await self._cur.execute(self._queries["notice_failed"], {"ids": list(ids), "error": error})


class NoticeQueries(Database):
    async def _insert_notices(self, cur: Any, entries: Sequence[OutboxEntry]) -> None:
        for entry in entries:
            await cur.execute(
                self._queries["insert_notice"],
                {
                    "notifier": entry.notifier,
                    "deployment_id": entry.notice.deployment_id,
                    "kind": entry.notice.kind.value,
                    "group_key": entry.group_key,
                    "payload": Json(notice_json(entry.notice)),
                },
            )
        if entries:
            await cur.execute(self._queries["notify_notices"])

    async def enqueue_notices(self, entries: Sequence[OutboxEntry]) -> None:
        async with self._transaction() as cur:
            await self._insert_notices(cur, entries)

    @asynccontextmanager
    async def claim_notices(
        self, *, group_seconds: float, limit: int = 100
    ) -> AsyncIterator[NoticeBatch]:
        """Hold the due notices; what the caller records about them commits together."""
        async with self._transaction() as cur:
            params = {"group_seconds": group_seconds, "limit": limit}
            await cur.execute(self._queries["claim_notices"], params)
            claimed = [
                ClaimedNotice(
                    id=row[0],
                    notifier=row[1],
                    group_key=row[2],
                    notice=notice_from_json(row[3]),
                    attempts=row[4],
                )
                for row in await cur.fetchall()
            ]
            yield NoticeBatch(cur, self._queries, claimed)

    async def list_notices(self, *, limit: int, status: str | None = None) -> list[StoredNotice]:
        rows = await self._fetch("list_notices", {"limit": limit, "status": status})
        return [StoredNotice(**row) for row in rows]

    async def next_notice_due(self, *, group_seconds: float) -> datetime | None:
        rows = await self._fetch("next_notice_due", {"group_seconds": group_seconds})
        due: datetime | None = rows[0]["min"]
        return due


def notice_json(notice: Notice) -> dict[str, Any]:
    raw = dataclasses.asdict(notice)
    raw["kind"] = notice.kind.value
    return raw


def notice_from_json(raw: dict[str, Any]) -> Notice:
    return Notice(**{**raw, "kind": Kind(raw["kind"])})
