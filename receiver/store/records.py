"""Records the store hands out: what was stored, as the API shows it."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from deployers.base import Target
from handlers.events import Event
from handlers.references import ImageRef
from receiver.config.repositories import WatchedRepository
from receiver.decide.rules.release import ReleaseRules, ReleaseVerdict
from receiver.decide.trust.policy import CheckResult


class EventStatus(enum.StrEnum):
    """Where a stored event is on its way to a decision."""

    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredEvent:
    """An event as stored; ``reason`` says why its decision failed (the last time it did)."""

    id: int
    event: Event
    received_at: datetime
    status: EventStatus
    attempts: int = 0
    reason: str | None = None


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
    """An authenticated body (or part of one) that could not be used, and why: ``prefix``, the
    part of the body kept, and the whole body's ``size`` and ``sha256``."""

    source: str
    reason: str
    content_type: str | None
    prefix: bytes
    size: int
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredRejection:
    """A rejection as stored; ``prefix`` is read for one rejection, not for lists."""

    id: int
    source: str
    reason: str
    content_type: str | None
    size: int
    sha256: str
    received_at: datetime
    prefix: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestResult:
    accepted: int = 0
    duplicate: int = 0


class DeploymentStatus(enum.StrEnum):
    PLANNED = "planned"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    SUPERSEDED = "superseded"
    CONFLICT = "conflict"
    DRY_RUN = "dry_run"
    SKIPPED = "skipped"
    ADOPTED = "adopted"
    # Release control: decided, but held back by a window, a cooldown, approvals, a freeze...
    WAITING = "waiting"
    REJECTED = "rejected"
    EXPIRED = "expired"
    # A trust check (signature, scan, platform) refused the digest: never deployed.
    REFUSED = "refused"
    # Its rollout was rolled back or abandoned before its wave started: never deployed.
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class Backlog:
    """What waits in the database, as it saw it at ``now``: events not decided yet (and since
    when), deploys planned or running, notices to send and notices that failed."""

    pending_events: int
    oldest_pending_at: datetime | None
    planned_deploys: int
    running_deploys: int
    pending_notices: int
    failed_notices: int
    now: datetime
    waiting_deploys: int = 0
    # Waiting deploys by what they wait for (one waiting for two things counts under both).
    waiting_reasons: Mapping[str, int] = field(default_factory=dict)

    @property
    def oldest_pending_seconds(self) -> float:
        """Seconds since the oldest pending event was received; 0 when none is pending."""
        oldest = self.oldest_pending_at
        return (self.now - oldest).total_seconds() if oldest is not None else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RepositoryState:
    """A watched repository as stored: the configuration, with what the API changed since."""

    rules: WatchedRepository
    overrides: tuple[str, ...]
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    name: str
    actor: str
    field: str
    old_value: object
    new_value: object
    changed_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A decision about one target, to be stored: an intent to deploy, or a skip."""

    target: Target
    repository_name: str | None
    image: ImageRef
    deploy: bool
    reason: str
    trigger: str
    # Not deployed: the target runs the image by tag and is taken as running this digest.
    adopted: bool = False
    # Not deployed: a later push decided together with this one moves the target instead.
    superseded: bool = False
    # What to record beside the reason (why it was superseded).
    message: str | None = None
    previous_image: str | None = None
    event_id: int | None = None
    notify: tuple[str, ...] = ()
    # Release control: what an intent waits for (windows, cooldown, ...), when its image was
    # pushed, and who forced it past the windows.
    release: ReleaseRules = field(default_factory=ReleaseRules)
    pushed_at: datetime | None = None
    forced_by: str | None = None
    # Rollouts: what it waits for until its wave starts (words), and which rollout it belongs
    # to (``RolloutDraft.key``).
    gate: str = ""
    rollout: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JudgedPlan:
    """A plan with what release control said of it now (``receiver.decide.gate``): for an
    intent to deploy, go or wait (and for what); None for a skip, which nothing holds."""

    plan: Plan
    verdict: ReleaseVerdict | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Deployment:
    id: int
    target: Target
    repository_name: str | None
    image: ImageRef
    previous_image: str | None
    reason: str
    trigger: str
    event_id: int | None
    status: DeploymentStatus
    message: str | None
    attempts: int
    not_before: datetime
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    notify: tuple[str, ...] = ()
    started_at: datetime | None = None
    # Release control: the rules it was decided with, when (by regdeploy's clock), when its
    # image was pushed, who forced it past the windows; while waiting, what for (the kinds of
    # wait when last judged), when to judge it again, and whether its waiting was announced.
    release: ReleaseRules = field(default_factory=ReleaseRules)
    decided_at: datetime | None = None
    pushed_at: datetime | None = None
    forced_by: str | None = None
    wait_kinds: tuple[str, ...] = ()
    due_at: datetime | None = None
    announced: bool = False
    # Trust: what each check said of the digest when last run; while a check holds it back
    # (an image not scanned yet), since when, until when it is looked at again, and why.
    checks: tuple[CheckResult, ...] = ()
    held_since: datetime | None = None
    held_until: datetime | None = None
    hold_words: str = ""
    holds: int = 0
    # Rollouts: the rollout it belongs to, and while its wave has not started, the words of
    # what it waits for there (``receiver.decide.rules.rollout``).
    rollout_id: int | None = None
    gate: str = ""

    @property
    def tries(self) -> int:
        """Its attempts that were deploys (or failed checks), not holds."""
        return self.attempts - self.holds


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredNotice:
    id: int
    notifier: str
    deployment_id: int
    kind: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    attempt: int
    worker: str
    outcome: str | None
    message: str | None
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseState:
    """Who holds a lease and until when, as the database saw it at ``now``."""

    name: str
    holder: str
    expires_at: datetime
    now: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessState:
    """A running regdeploy process and the configuration it runs: its fingerprint, the file it
    came from, when it was loaded, the keys whose change waits for a restart; the last reload it
    refused (when, and the file's problems), if that came after."""

    id: str
    role: str
    config_path: str
    fingerprint: str
    loaded_at: datetime
    restart_needed: tuple[str, ...] = ()
    refused_at: datetime | None = None
    refusal: tuple[str, ...] | None = None
    started_at: datetime | None = None
    seen_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleSession:
    """A browser signed in to the console: the API token's name and scope, never the token;
    ``id_hash`` is the SHA-256 of the id its cookie holds; ``flash`` a message for its next
    page."""

    id_hash: str
    token_name: str
    scope: str
    csrf_token: str
    flash: str | None
    expires_at: datetime


def stored_target(target: Target) -> dict[str, object]:
    """``target`` as its jsonb column holds it (the API's shape is ``receiver.views``')."""
    return {
        "kind": target.kind,
        "name": target.name,
        "options": dict(target.options),
        "policy": target.policy,
        "notify": list(target.notify),
        "release": dict(target.release),
    }


def restored_target(raw: Mapping[str, Any]) -> Target:
    """The target a jsonb column holds (``stored_target``)."""
    options = raw.get("options") or {}
    return Target(
        kind=str(raw["kind"]),
        name=str(raw["name"]),
        options=MappingProxyType({str(k): str(v) for k, v in options.items()}),
        policy=raw.get("policy") or None,
        notify=tuple(str(n) for n in raw.get("notify") or ()),
        release=MappingProxyType({str(k): str(v) for k, v in (raw.get("release") or {}).items()}),
    )
