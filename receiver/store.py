"""PostgreSQL store: the only module that talks to the database.

Queries live as named blocks in ``queries.sql``; parameters are always bound. Driver errors are
translated here, once, into ``StoreError`` (and ``DatabaseUnavailable`` when the server cannot be
reached, after which the pool's idle connections are dropped so the next call reconnects).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiopg
import psycopg2
import psycopg2.errors

from handlers.errors import DatabaseUnavailable, StoreError
from handlers.events import Action, Event
from receiver.records import (
    CatalogTag,
    EventStatus,
    IngestResult,
    Rejection,
    StoredEvent,
    StoredRejection,
)

SCHEMA_VERSION = 1
_HERE = Path(__file__).parent
_BLOCK = re.compile(r"^-- name: (\w+)\n(.*?)(?=^-- name: |\Z)", re.S | re.M)


def _load_queries() -> dict[str, str]:
    text = (_HERE / "queries.sql").read_text(encoding="utf-8")
    return {name: body.strip() for name, body in _BLOCK.findall(text)}


def schema_sql() -> str:
    return (_HERE / "schema.sql").read_text(encoding="utf-8")


_UNAVAILABLE: tuple[type[BaseException], ...] = (
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    asyncio.TimeoutError,
    ConnectionError,
)


class Store:
    """Typed operations over one aiopg pool."""

    def __init__(self, pool: aiopg.Pool) -> None:
        self._pool = pool
        self._queries = _load_queries()

    @classmethod
    async def open(cls, dsn: str, *, pool_size: int, query_timeout: float) -> Store:
        """Connect; raise DatabaseUnavailable if the server does not answer."""
        with _translated():
            pool = await aiopg.create_pool(
                dsn,
                minsize=1,
                maxsize=pool_size,
                timeout=query_timeout,
                enable_hstore=False,
                enable_uuid=False,
            )
        return cls(pool)

    async def close(self) -> None:
        self._pool.close()
        await self._pool.wait_closed()

    async def migrate(self) -> int:
        """Apply schema.sql idempotently under a lock; return the recorded version."""
        async with self._transaction() as cur:
            await cur.execute(self._queries["schema_lock"])
            await cur.execute(schema_sql())
            await cur.execute(self._queries["schema_version"])
            row = await cur.fetchone()
        version = int(row[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database has schema version {version}, newer than this regdeploy "
                f"({SCHEMA_VERSION}); upgrade regdeploy"
            )
        return version

    async def ping(self) -> None:
        async with self._cursor() as cur:
            await cur.execute(self._queries["ping"])

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
        return [_stored_event(row) for row in await self._fetch("list_events", params)]

    async def list_tags(self) -> list[CatalogTag]:
        return [CatalogTag(**row) for row in await self._fetch("list_tags", {})]

    async def list_rejections(self, *, limit: int) -> list[StoredRejection]:
        rows = await self._fetch("list_rejections", {"limit": limit})
        return [StoredRejection(**row) for row in rows]

    async def _fetch(self, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Rows as mappings from column name to value."""
        async with self._cursor() as cur:
            await cur.execute(self._queries[name], params)
            rows = await cur.fetchall()
            columns = [column.name for column in cur.description]
        return [dict(zip(columns, row, strict=True)) for row in rows]

    @asynccontextmanager
    async def _cursor(self) -> AsyncIterator[Any]:
        try:
            with _translated():
                async with self._pool.acquire() as conn, conn.cursor() as cur:
                    yield cur
        except DatabaseUnavailable:
            # Idle connections are most likely broken too (the server restarted): drop them so
            # the next request connects afresh instead of failing on a stale socket.
            await self._pool.clear()
            raise

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        async with self._cursor() as cur, cur.begin():
            yield cur


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except _UNAVAILABLE as exc:
        raise DatabaseUnavailable(f"database unavailable: {type(exc).__name__}") from exc
    except psycopg2.Error as exc:
        code = exc.pgcode or "unknown"
        raise StoreError(f"database error {code}: {type(exc).__name__}") from exc
    except ValueError as exc:
        # psycopg2 refuses some values before sending them (a NUL character in a string).
        raise StoreError(f"value not storable: {exc}") from exc


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


def _stored_event(row: dict[str, Any]) -> StoredEvent:
    stored = {key: row.pop(key) for key in ("id", "received_at", "status")}
    event = Event(**{**row, "action": Action(row["action"])})
    return StoredEvent(
        id=stored["id"],
        event=event,
        received_at=stored["received_at"],
        status=EventStatus(stored["status"]),
    )
