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
        return Backlog(
            pending_events=row["pending_events"],
            oldest_pending_seconds=float(row["oldest_pending_seconds"]),
            planned_deploys=row["planned_deploys"],
            running_deploys=row["running_deploys"],
            pending_notices=row["pending_notices"],
            failed_notices=row["failed_notices"],
        )
