"""The outbox of notices: written with the outcome they report, sent and retried afterwards."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifiers.base import Kind, Notice
from receiver.store.connector import Connector, Transaction, as_json
from receiver.store.records import StoredNotice


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

    def __init__(self, tx: Transaction, notices: list[ClaimedNotice], *, now: datetime) -> None:
        self._tx = tx
        self.notices = notices
        self._now = now

    async def sent(self, ids: Sequence[int]) -> None:
        await self._tx.execute("notice_sent", {"ids": list(ids)})

    async def retry(self, ids: Sequence[int], *, error: str, seconds: float) -> None:
        """Try them again ``seconds`` after the time they were claimed at."""
        params = {"ids": list(ids), "error": error, "seconds": seconds, "now": self._now}
        await self._tx.execute("notice_retry", params)

    async def failed(self, ids: Sequence[int], *, error: str) -> None:
        await self._tx.execute("notice_failed", {"ids": list(ids), "error": error})


class NoticeQueries:
    def __init__(self, db: Connector) -> None:
        self._db = db

    async def enqueue_notices(self, entries: Sequence[OutboxEntry]) -> None:
        async with self._db.transaction() as tx:
            await insert_notices(tx, entries)

    @asynccontextmanager
    async def claim_notices(
        self, *, group_seconds: float, now: datetime, limit: int = 100
    ) -> AsyncIterator[NoticeBatch]:
        """Hold the notices due at ``now``; what the caller records about them commits
        together."""
        async with self._db.transaction() as tx:
            params = {"group_seconds": group_seconds, "limit": limit, "now": now}
            rows = await tx.all("claim_notices", params)
            claimed = [
                ClaimedNotice(
                    id=row["id"],
                    notifier=row["notifier"],
                    group_key=row["group_key"],
                    notice=notice_from_payload(row["payload"]),
                    attempts=row["attempts"],
                )
                for row in rows
            ]
            yield NoticeBatch(tx, claimed, now=now)

    async def list_notices(
        self, *, limit: int, status: str | None = None, before: int | None = None
    ) -> list[StoredNotice]:
        """The newest notices (of ``status``), older than notice ``before``."""
        params = {"limit": limit, "status": status, "before": before}
        rows = await self._db.all("list_notices", params)
        return [StoredNotice(**row) for row in rows]

    async def next_notice_due(self, *, group_seconds: float) -> datetime | None:
        row = await self._db.one("next_notice_due", {"group_seconds": group_seconds})
        return row["due"] if row is not None else None

    async def failed_since(self, since: datetime, *, limit: int) -> list[StoredNotice]:
        """Notices given up on that were written since ``since``, newest first."""
        rows = await self._db.all("failed_notices_since", {"since": since, "limit": limit})
        return [StoredNotice(**row) for row in rows]


async def insert_notices(tx: Transaction, entries: Sequence[OutboxEntry]) -> None:
    """Queue ``entries`` inside ``tx`` (the transaction that records what they report)."""
    for entry in entries:
        await tx.execute(
            "insert_notice",
            {
                "notifier": entry.notifier,
                "deployment_id": entry.notice.deployment_id,
                "kind": entry.notice.kind.value,
                "group_key": entry.group_key,
                "payload": as_json(notice_payload(entry.notice)),
            },
        )
    if entries:
        await tx.execute("notify_notices")


def notice_payload(notice: Notice) -> dict[str, Any]:
    raw = dataclasses.asdict(notice)
    raw["kind"] = notice.kind.value
    return raw


def notice_from_payload(raw: dict[str, Any]) -> Notice:
    return Notice(**{**raw, "kind": Kind(raw["kind"])})
