"""The time the places that judge time read: injected, so that tests move it instead of
sleeping.

Release control (deploy windows, cooldown, settle, approval deadlines) asks a ``Clock`` what
time it is and passes that time to the database as a parameter; the database's own ``now()``
decides nothing of it.
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
