"""Leases: one holder at a time for work that only one process should do (the reconciler)."""

from __future__ import annotations

from receiver.store.connector import Connector


class LeaseQueries:
    def __init__(self, db: Connector) -> None:
        self._db = db

    async def acquire_lease(self, name: str, *, holder: str, seconds: float) -> bool:
        """Hold lease ``name`` for ``seconds`` (renewing it if already held by ``holder``)."""
        params = {"name": name, "holder": holder, "seconds": seconds}
        return await self._db.one("acquire_lease", params) is not None
