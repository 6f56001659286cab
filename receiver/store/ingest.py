"""Writing notifications: events, the tag catalog and rejections, with group commit.

Webhook requests that arrive together are written together: while ``WRITERS`` writes are in
flight, the notifications that arrive queue up and go in the next one, so a busy registry's
stream costs one round trip per group instead of one per request, and a lone request is written
at once, held back by nothing. Each request is answered only after the write that holds it
committed. More than one write is in flight because most of a write's time is the wait for its
WAL flush, and PostgreSQL flushes the commits that wait together with one write to disk: with a
single writer the next group waited for that flush too.

A group of pushes without rejections is one statement (insert the events, upsert the catalog,
wake the workers); a group with deletes or rejections is one transaction of the statements each
notification needs. Rows go in one order whatever the bodies' (events by id, tags by name), so
that concurrent writes of overlapping notifications wait for each other instead of deadlocking.
When the database refuses a group (not an outage), each notification is written on its own, so
one that cannot be stored fails alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from handlers.events import Action, Event
from receiver.errors import DatabaseUnavailable, StoreError
from receiver.store.connector import Connector, Transaction, as_bytes, retrying
from receiver.store.leases import Lease, check_held
from receiver.store.records import IngestResult, Rejection

#: The most notifications one write takes.
MAX_GROUP = 256
#: The most writes in flight at once (each holds a pooled connection while it runs).
WRITERS = 3
_COLUMNS = (
    "source",
    "event_id",
    "action",
    "registry",
    "repository",
    "tag",
    "digest",
    "media_type",
    "actor",
    "occurred_at",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """What one request brings to store: its events and, if part of it was unusable, why."""

    events: Sequence[Event]
    rejection: Rejection | None = None
    # The process that stores it (its worker id), recorded with each event.
    recorded_by: str | None = None


WriteOutcome = IngestResult | BaseException


class GroupCommit:
    """Writes the notifications submitted while earlier writes were in flight as one, with at
    most ``writers`` writes in flight."""

    def __init__(
        self,
        write: Callable[[list[Notification]], Awaitable[list[WriteOutcome]]],
        *,
        writers: int = WRITERS,
    ) -> None:
        self._write = write
        self._writers = writers
        self._queue: list[tuple[Notification, asyncio.Future[IngestResult]]] = []
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, notification: Notification) -> IngestResult:
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._queue.append((notification, future))
        if len(self._running) < self._writers:
            writer = asyncio.create_task(self._drain())
            self._running.add(writer)
            writer.add_done_callback(self._running.discard)
        # The write goes on even if this request is given up: it was submitted, it commits.
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        while self._queue:
            group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
            try:
                outcomes = await self._write([notification for notification, _ in group])
            except BaseException as exc:  # every request of the group learns of it
                outcomes = [exc] * len(group)
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)


async def write_group(
    db: Connector, group: list[Notification], *, rejections_kept: int
) -> list[WriteOutcome]:
    """Store ``group`` as one write; when the database refuses it, each one on its own. Each
    source keeps its newest ``rejections_kept`` rejections."""
    try:
        if all(_plain_pushes(n) for n in group):
            return await _pushes(db, group)
        written = await db.retried(lambda tx: _in_transaction(tx, group, rejections_kept))
        return list(written)
    except DatabaseUnavailable:
        raise
    except StoreError:
        if len(group) == 1:
            raise
    outcomes: list[WriteOutcome] = []
    for notification in group:
        try:
            outcomes += await write_group(db, [notification], rejections_kept=rejections_kept)
        except StoreError as exc:
            outcomes.append(exc)
    return outcomes


async def write_fenced(db: Connector, notification: Notification, lease: Lease) -> IngestResult:
    """Store ``notification`` only if ``lease`` is still held, in the transaction that checks."""

    async def fenced(tx: Transaction) -> list[IngestResult]:
        await check_held(tx, lease)
        results = await _in_transaction(tx, [notification], rejections_kept=0)
        await check_held(tx, lease)  # still held as it commits
        return results

    [result] = await db.retried(fenced)
    return result


def _plain_pushes(notification: Notification) -> bool:
    return notification.rejection is None and all(
        e.action is Action.PUSH for e in notification.events
    )


async def _pushes(db: Connector, group: list[Notification]) -> list[WriteOutcome]:
    """Pushes only: one statement inserts the events, moves their tags and wakes the workers."""
    carried = [(event, n.recorded_by) for n in group for event in n.events]
    if not carried:
        return [IngestResult() for _ in group]
    # Rows in id order; ``position`` keeps the order they came in, for two pushes of one tag
    # at the same moment (the later one wins, as it would have one request after the other).
    order = sorted(range(len(carried)), key=lambda i: _id_order(carried[i][0]))
    params: dict[str, Any] = {column: [] for column in (*_COLUMNS, "recorded_by", "position")}
    for i in order:
        event, recorded_by = carried[i]
        for column, value in event.fields().items():
            params[column].append(value)
        params["recorded_by"].append(recorded_by)
        params["position"].append(i)
    written = await retrying(lambda: db.all("ingest_pushes", params))
    accepted = {(row["source"], row["event_id"]) for row in written}
    return list(_results(group, accepted))


async def _in_transaction(
    tx: Transaction, group: list[Notification], rejections_kept: int
) -> list[IngestResult]:
    """Any notifications, statement by statement, in the caller's transaction."""
    carried = [(event, n.recorded_by) for n in group for event in n.events]
    position = {id(event): i for i, (event, _) in enumerate(carried)}
    accepted: set[tuple[str, str]] = set()
    new: list[Event] = []
    for event, recorded_by in sorted(carried, key=lambda c: _id_order(c[0])):
        params = {**event.fields(), "recorded_by": recorded_by}
        if await tx.one("insert_event", params) is not None:
            accepted.add((event.source, event.event_id))
            new.append(event)
    for event in sorted(new, key=lambda e: (*_catalog_key(e), position[id(e)])):
        await tx.execute(_catalog_query(event), event.fields())
    for notification in group:
        if notification.rejection is not None:
            await store_rejection(tx, notification.rejection, kept=rejections_kept)
    if new:
        await tx.execute("notify_events", {"source": new[0].source})
    return list(_results(group, accepted))


def _results(group: list[Notification], accepted: set[tuple[str, str]]) -> list[IngestResult]:
    """Each notification's counts: an accepted event counts once, for its first carrier."""
    credited: set[tuple[str, str]] = set()
    results = []
    for notification in group:
        new = 0
        for event in notification.events:
            key = (event.source, event.event_id)
            if key in accepted and key not in credited:
                credited.add(key)
                new += 1
        results.append(IngestResult(accepted=new, duplicate=len(notification.events) - new))
    return results


def _id_order(event: Event) -> tuple[str, str]:
    return (event.source, event.event_id)


def _catalog_key(event: Event) -> tuple[str, str, str, datetime]:
    return (event.registry, event.repository, event.tag or "", event.occurred_at)


def _catalog_query(event: Event) -> str:
    if event.action is Action.PUSH:
        return "upsert_tag"
    return "delete_tag" if event.tag is not None else "delete_digest"


async def store_rejection(tx: Transaction, rejection: Rejection, *, kept: int) -> None:
    """Store ``rejection`` and let its source keep its newest ``kept`` rejections."""
    params = {
        "source": rejection.source,
        "reason": rejection.reason,
        "content_type": rejection.content_type,
        "body": as_bytes(rejection.prefix),
        "size": rejection.size,
        "sha256": rejection.sha256,
    }
    await tx.execute("insert_rejection", params)
    await tx.execute("prune_source_rejections", {"source": rejection.source, "keep": kept})
