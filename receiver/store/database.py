"""The connection to PostgreSQL that every part of the store shares.

Queries live as named blocks in ``queries.sql``; parameters are always bound. Driver errors are
translated here, once, into ``StoreError`` (and ``DatabaseUnavailable`` when the server cannot be
reached, after which the pool's idle connections are dropped so the next call reconnects).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Self

import aiopg
import psycopg2
import psycopg2.errors

from handlers.errors import DatabaseUnavailable, StoreConflict, StoreError

SCHEMA_VERSION = 3
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


class Database:
    """One aiopg pool, the named queries, and the error translation."""

    def __init__(self, pool: aiopg.Pool, *, dsn: str) -> None:
        self._pool = pool
        self._dsn = dsn
        self._queries = _load_queries()

    @classmethod
    async def open(cls, dsn: str, *, pool_size: int, query_timeout: float) -> Self:
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
        return cls(pool, dsn=dsn)

    def listener(self) -> Listener:
        """A connection of its own that waits for new events and deployments."""
        return Listener(self._dsn, self._queries["listen"])

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
    except psycopg2.errors.UniqueViolation as exc:
        raise StoreConflict(f"already exists: {exc.diag.constraint_name}") from exc
    except psycopg2.Error as exc:
        code = exc.pgcode or "unknown"
        raise StoreError(f"database error {code}: {type(exc).__name__}") from exc
    except ValueError as exc:
        # psycopg2 refuses some values before sending them (a NUL character in a string).
        raise StoreError(f"value not storable: {exc}") from exc


class Listener:
    """LISTEN on a dedicated connection, reconnecting after failures.

    ``wait(seconds)`` returns True when a notification arrived and False when the time
    passed (or the connection failed: the caller polls anyway, so nothing is missed).
    """

    def __init__(self, dsn: str, statement: str) -> None:
        self._dsn = dsn
        self._statement = statement
        self._conn: Any = None

    async def wait(self, seconds: float) -> bool:
        try:
            with _translated():
                conn = await self._connected()
        except DatabaseUnavailable:
            await self.close()
            await asyncio.sleep(seconds)
            return False
        try:
            await asyncio.wait_for(conn.notifies.get(), seconds)
        except TimeoutError:
            return False
        except psycopg2.Error:
            await self.close()  # the connection broke while waiting: reconnect next time
            return False
        while not conn.notifies.empty():
            conn.notifies.get_nowait()
        return True

    async def _connected(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = await aiopg.connect(self._dsn, enable_hstore=False, enable_uuid=False)
            async with self._conn.cursor() as cur:
                await cur.execute(self._statement)
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()
