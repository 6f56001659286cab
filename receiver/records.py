"""Records the store hands out: what was stored, as the API shows it."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from handlers.events import Event


class EventStatus(enum.StrEnum):
    """Where a stored event is on its way to a decision."""

    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEvent:
    id: int
    event: Event
    received_at: datetime
    status: EventStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogTag:
    registry: str
    repository: str
    tag: str
    digest: str
    media_type: str | None
    pushed_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejection:
    """An authenticated body (or part of one) that could not be used, and why."""

    source: str
    reason: str
    content_type: str | None
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredRejection:
    id: int
    source: str
    reason: str
    content_type: str | None
    size: int
    received_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestResult:
    accepted: int = 0
    duplicate: int = 0
