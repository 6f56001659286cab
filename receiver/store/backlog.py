"""What waits in the database: pending events, queued and running deploys, the outbox."""

from __future__ import annotations

from receiver.store.connector import Connector
from receiver.store.records import Backlog


class BacklogQueries:
    def __init__(self, db: Connector) -> None:
        self._db = db

    async def snapshot(self) -> Backlog:
        row = await self._db.one("backlog")
        assert row is not None  # one row of counts, always
        return Backlog(**row)
