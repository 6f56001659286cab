"""Leases: one holder at a time for work that only one process should do (the reconciler).

A lease fences what is done under it: a change made under a lease checks, in its own
transaction, that the lease is still held and unexpired, first and again just before it commits
(and keeps it from changing hands in between), so a holder that was paused past its lease's
expiry changes nothing afterwards. A holder paused *inside* such a transaction (SIGSTOP, a VM
freeze) would keep the lease from changing hands for as long as the pause lasts: the server ends
that transaction once its client has been quiet for as long as the lease had left.
"""

from __future__ import annotations

from dataclasses import dataclass

from receiver.errors import LeaseLost
from receiver.store.connector import Connector, Transaction
from receiver.store.records import LeaseState


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    name: str
    holder: str


async def check_held(tx: Transaction, lease: Lease) -> None:
    """Inside ``tx``: raise ``LeaseLost`` unless ``lease`` is held and unexpired; if it is,
    nobody can take it over before ``tx`` ends, and ``tx`` ends if it idles longer than the
    lease has left."""
    held = await tx.one("hold_lease", {"name": lease.name, "holder": lease.holder})
    if held is None:
        raise LeaseLost(f"lease {lease.name!r} is no longer held by {lease.holder}")
    await tx.execute("bound_idle", {"ms": str(held["ms_left"])})


class LeaseQueries:
    def __init__(self, db: Connector) -> None:
        self._db = db

    async def acquire_lease(self, name: str, *, holder: str, seconds: float) -> bool:
        """Hold lease ``name`` for ``seconds`` (renewing it if already held by ``holder``)."""
        params = {"name": name, "holder": holder, "seconds": seconds}
        return await self._db.one("acquire_lease", params) is not None

    async def get_lease(self, name: str) -> LeaseState | None:
        """Who holds lease ``name`` and until when, or None if nobody ever took it."""
        row = await self._db.one("get_lease", {"name": name})
        return LeaseState(**row) if row is not None else None
