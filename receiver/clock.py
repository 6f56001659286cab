"""The time regdeploy reads: injected, so that tests move it instead of sleeping.

Every loop (when its next work falls due), every retry (when a failed decision, deploy or notice
is tried again), the inventory (when a listing is stale), release control (windows, cooldown,
settle, approval deadlines) and the reconciler (when it found what) ask a ``Clock`` what time it
is, and pass that time to the database as a parameter where a due time is stored or compared.
The database's own ``now()`` judges only what must agree across processes (leases, heartbeats,
console sessions) and stamps rows (``receiver/store/queries.sql`` says where). Waiting for
something real to happen (the database to come up, an orchestrator to answer) is not time
regdeploy decides on, and uses the event loop's timers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The time now, timezone-aware."""
        ...


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
