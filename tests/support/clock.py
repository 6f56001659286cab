"""A clock the test moves: release control judges windows, cooldowns and deadlines by it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass
class ManualClock:
    """Shows ``at`` until the test moves it (``advance``, ``set``)."""

    at: datetime

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at

    def set(self, moment: datetime) -> datetime:
        self.at = moment.astimezone(UTC)
        return self.at
