"""What the service has to do, for ``/api/v1/status``: the queue of events and deploys."""

from __future__ import annotations

from receiver.store.connector import Connector
from receiver.store.records import QueueStatus


class StatusQueries:
    def __init__(self, db: Connector) -> None:
        self._db = db

    async def queue_status(self) -> QueueStatus:
        row = await self._db.one("queue_status")
        assert row is not None  # one row, always
        return QueueStatus(**row)
