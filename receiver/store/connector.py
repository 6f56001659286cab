"""The connection to PostgreSQL: the one module that touches aiopg and psycopg2.

A ``Connector`` runs the named queries of ``queries.sql`` with bound parameters: ``execute``,
``one`` and ``all`` each on a pooled connection of their own, or together inside
``transaction()``, which hands out a ``Transaction`` with the same three methods. ``listener()``
waits for ``NOTIFY`` on a dedicated connection. Driver errors are translated here, once, into
``StoreError`` (``DatabaseUnavailable`` when the server cannot be reached, after which the
pool's idle connections are dropped so that the next call reconnects; ``StoreConflict`` for a
unique violation).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

import aiopg
import psycopg2
import psycopg2.errors
import psycopg2.extras

from receiver.errors import ConcurrentChange, DatabaseUnavailable, StoreConflict, StoreError

_HERE = Path(__file__).parent
_BLOCK = re.compile(r"^-- name: (\w+)\n(.*?)(?=^-- name: |\Z)", re.S | re.M)

T = TypeVar("T")
#: How many times a transaction undone for a concurrent change is run in all.
RETRIES = 4
#: A row, by column name.
Row = dict[str, Any]
Params = Mapping[str, Any]

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    asyncio.TimeoutError,
    ConnectionError,
)


def load_queries() -> dict[str, str]:
    text = (_HERE / "queries.sql").read_text(encoding="utf-8")
    return {name: body.strip() for name, body in _BLOCK.findall(text)}


def schema_sql() -> str:
    return (_HERE / "schema.sql").read_text(encoding="utf-8")


def as_json(value: object) -> object:
    """``value`` as a jsonb parameter."""
    return psycopg2.extras.Json(value)


def as_bytes(value: bytes) -> object:
    """``value`` as a bytea parameter."""
    return psycopg2.Binary(value)


class Executor(Protocol):
    """Runs named queries: a ``Connector`` (each call on its own) or a ``Transaction``."""

    async def execute(self, name: str, params: Params | None = None) -> None: ...

    async def one(self, name: str, params: Params | None = None) -> Row | None: ...

    async def all(self, name: str, params: Params | None = None) -> list[Row]: ...


class Transaction:
    """Named queries on the one connection of an open transaction."""

    def __init__(self, cursor: Any, queries: Mapping[str, str]) -> None:
        self._cursor = cursor
        self._queries = queries

    async def execute(self, name: str, params: Params | None = None) -> None:
        with translated():
            await self._cursor.execute(self._queries[name], params)

    async def one(self, name: str, params: Params | None = None) -> Row | None:
        rows = await self.all(name, params)
        return rows[0] if rows else None

    async def all(self, name: str, params: Params | None = None) -> list[Row]:
        with translated():
            await self._cursor.execute(self._queries[name], params)
            if self._cursor.description is None:
                return []
            rows = await self._cursor.fetchall()
        columns = [column.name for column in self._cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in rows]

    async def script(self, sql: str) -> None:
        """Run ``sql`` as it is (the schema, which has no parameters)."""
        with translated():
            await self._cursor.execute(sql)


class Connector:
    """One aiopg pool and the named queries."""

    def __init__(self, pool: aiopg.Pool, *, dsn: str) -> None:
        self._pool = pool
        self._dsn = dsn
        self._queries = load_queries()

    @classmethod
    async def open(cls, dsn: str, *, pool_size: int, query_timeout: float) -> Self:
        """Connect; raise DatabaseUnavailable if the server does not answer."""
        with translated():
            pool = await aiopg.create_pool(
                dsn,
                minsize=1,
                maxsize=pool_size,
                timeout=query_timeout,
                enable_hstore=False,
                enable_uuid=False,
            )
        return cls(pool, dsn=dsn)

    async def close(self) -> None:
        self._pool.close()
        await self._pool.wait_closed()

    async def execute(self, name: str, params: Params | None = None) -> None:
        async with self._cursor() as cur:
            await Transaction(cur, self._queries).execute(name, params)

    async def one(self, name: str, params: Params | None = None) -> Row | None:
        async with self._cursor() as cur:
            return await Transaction(cur, self._queries).one(name, params)

    async def all(self, name: str, params: Params | None = None) -> list[Row]:
        async with self._cursor() as cur:
            return await Transaction(cur, self._queries).all(name, params)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Queries that commit together when the block ends, or not at all if it raises.

        BEGIN, COMMIT and ROLLBACK are sent here rather than through aiopg's transaction
        object, which stays marked open (and warns when collected) once a BEGIN failed. A query
        that is cancelled or times out closes its connection (aiopg does that), which ends the
        transaction on the server too.
        """
        async with self._cursor() as cur:
            with translated():
                await cur.execute("BEGIN")
            try:
                yield Transaction(cur, self._queries)
            except BaseException:
                if not cur.closed:
                    with contextlib.suppress(psycopg2.Error, *_UNAVAILABLE):
                        await cur.execute("ROLLBACK")
                raise
            with translated():  # a commit can fail too: a deferred conflict, a lost connection
                await cur.execute("COMMIT")

    async def retried(self, work: Callable[[Transaction], Awaitable[T]]) -> T:
        """``work`` in a transaction, run again when the database undid it for a concurrent
        change (see ``retrying``)."""

        async def attempt() -> T:
            async with self.transaction() as tx:
                return await work(tx)

        return await retrying(attempt)

    def listener(self, channel: str) -> PgListener:
        """A connection of its own that waits for news on ``channel``: ``events`` (new events
        to decide), ``deployments`` (intents to start, deploys that ended), ``notices``."""
        return PgListener(self._dsn, self._queries[f"listen_{channel}"])

    @contextlib.asynccontextmanager
    async def _cursor(self) -> AsyncIterator[Any]:
        """A pooled connection's cursor. Only what the driver raises is translated: an error
        of the caller's own (a bug in a decision made inside a transaction) passes as it is."""
        try:
            with translated():
                conn = await self._pool.acquire()
            try:
                with translated():
                    cur = await conn.cursor()
                try:
                    yield cur
                finally:
                    cur.close()
            finally:
                await self._pool.release(conn)
        except DatabaseUnavailable:
            # Idle connections are most likely broken too (the server restarted): drop them so
            # the next request connects afresh instead of failing on a stale socket.
            await self._pool.clear()
            raise


async def retrying(attempt: Callable[[], Awaitable[T]]) -> T:
    """``attempt()``, run again (up to ``RETRIES`` times in all, after a short random pause)
    when the database undid it for a concurrent change (a deadlock, a serialization failure)."""
    for tries in range(1, RETRIES + 1):
        try:
            return await attempt()
        except ConcurrentChange:
            if tries == RETRIES:
                raise
            await asyncio.sleep(random.uniform(0, 0.01 * tries))  # noqa: S311 (jitter)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Driver errors as the project's own."""
    try:
        yield
    except psycopg2.errors.TransactionRollbackError as exc:
        # An OperationalError too, but the server is there: it chose this transaction to undo.
        raise ConcurrentChange(f"database error {exc.pgcode}: {type(exc).__name__}") from exc
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


class PgListener:
    """LISTEN on a dedicated connection, reconnecting after failures: the store's
    ``Listener``.

    ``wait(seconds)`` returns True when a notification arrived and False when the time
    passed (or the connection failed: the caller polls anyway, so nothing is missed).
    """

    def __init__(self, dsn: str, statement: str) -> None:
        self._dsn = dsn
        self._statement = statement
        self._conn: Any = None

    async def wait(self, seconds: float) -> bool:
        try:
            with translated():
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
