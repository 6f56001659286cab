"""Deciding stored events: claiming a repository's pending events together, recording the plans
they give (intents to deploy and skips, with their reasons), and putting off or failing the
events whose decision failed.

Crash safety comes from the database: events are decided inside the transaction that holds their
row locks, so a decider that dies leaves them pending; the events of one repository are decided
in order (an event waiting to be tried again holds back the later events of its repository
only).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from handlers.references import ImageName
from receiver.decide.rules.release import Candidate, ReleaseOutcome, ReleaseVerdict, judge_release
from receiver.store.connector import Connector, Transaction, as_json
from receiver.store.events import stored_event
from receiver.store.records import DeploymentStatus, EventStatus, Plan, StoredEvent
from receiver.store.releases import Gate, read_gate

#: The most events of one repository decided together.
MAX_BATCH = 500


@dataclass(slots=True)
class EventBatch:
    """Pending events of one repository, oldest first, held until the batch's transaction
    ends. The caller adds plans and, per event, why it failed or why it moved nothing."""

    events: list[StoredEvent]
    plans: list[Plan] = field(default_factory=list)
    failures: dict[int, str] = field(default_factory=dict)
    notes: dict[int, str] = field(default_factory=dict)


class DecisionQueries:
    def __init__(self, db: Connector) -> None:
        self._db = db

    @asynccontextmanager
    async def claim_events(
        self, *, limit: int = MAX_BATCH, now: datetime | None = None
    ) -> AsyncIterator[EventBatch | None]:
        """Hold the pending events of the repository whose oldest pending event is due; the
        caller decides them; plans and outcomes commit together (decided at ``now``, by the
        caller's clock). If the caller raises, nothing is stored and the events stay
        pending."""
        async with self._db.transaction() as tx:
            head = await tx.one("claim_event")
            if head is None:
                yield None
                return
            params = {
                "registry": head["registry"],
                "repository": head["repository"],
                "after": head["id"],
                "limit": limit - 1,
            }
            rest = await tx.all("claim_repository_events", params)
            batch = EventBatch(events=[stored_event(row) for row in (head, *rest)])
            yield batch
            await _finish(tx, batch, now=now)

    async def plan(self, plans: Sequence[Plan], *, now: datetime | None = None) -> list[int]:
        """Store decisions made outside an event (API, catch-up) at ``now``; ids of the intents
        (planned, or waiting)."""
        async with self._db.transaction() as tx:
            return await insert_plans(tx, plans, now=now)

    async def defer_events(
        self, ids: Collection[int], *, reason: str, seconds: float, final: bool
    ) -> list[EventStatus]:
        """Count a failed decision of pending events: try them again after ``seconds``, or,
        ``final``, mark them failed. The statuses they now have."""
        params = {"ids": list(ids), "reason": reason, "seconds": seconds, "final": final}
        return [EventStatus(row["status"]) for row in await self._db.all("defer_events", params)]

    async def settle_unused(self, *, in_use: Collection[ImageName]) -> int:
        """Mark done, in bulk, the pending deletes and the pending pushes of images that no
        watched repository and no workload of ``in_use`` uses; how many."""
        params = {
            "registries": [name.registry for name in in_use],
            "repositories": [name.repository for name in in_use],
        }
        return len(await self._db.all("settle_unused_events", params))

    async def next_event_due(self) -> datetime | None:
        row = await self._db.one("next_event_due")
        return row["due"] if row is not None else None


async def _finish(tx: Transaction, batch: EventBatch, *, now: datetime | None) -> None:
    await insert_plans(tx, batch.plans, now=now)
    outcomes = [
        (
            event.id,
            EventStatus.FAILED if event.id in batch.failures else EventStatus.DONE,
            batch.failures.get(event.id) or batch.notes.get(event.id),
        )
        for event in batch.events
    ]
    await tx.execute(
        "finish_events",
        {
            "ids": [o[0] for o in outcomes],
            "statuses": [o[1].value for o in outcomes],
            "reasons": [o[2] for o in outcomes],
        },
    )


async def insert_plans(
    tx: Transaction, plans: Sequence[Plan], *, now: datetime | None = None
) -> list[int]:
    """Store ``plans`` inside ``tx``; the ids of the intents to deploy, planned or waiting.

    Release control judges each intent at ``now`` (default: the time now): one that must wait
    (a window, a cooldown, approvals, a freeze...) is stored ``waiting``. A newer intent for a
    target supersedes its older queued ones of another digest, waiting ones included; an intent
    for what already waits joins that one (its votes stay).
    """
    moment = now or datetime.now(UTC)
    deploys = [plan for plan in plans if plan.deploy]
    for key in sorted({plan.target.key for plan in deploys}):
        await tx.execute("lock_target", {"target_key": key})
    settling = {plan.image.name for plan in deploys if plan.release.settle}
    gate = await read_gate(tx, settling) if deploys else Gate()
    ids: list[int] = []
    for plan in plans:
        if plan.deploy:
            new_id = await _insert_intent(tx, plan, _judged(plan, gate, moment), moment)
        else:
            new_id = await _insert(tx, plan, _status(plan), moment)
        if new_id is not None and plan.deploy:
            ids.append(new_id)
    if ids:
        await tx.execute("notify_deployments")
    return ids


async def _insert_intent(
    tx: Transaction, plan: Plan, verdict: ReleaseVerdict, now: datetime
) -> int | None:
    image = plan.image
    waits = verdict.outcome is not ReleaseOutcome.RELEASE
    queued = await tx.one("queued_intent", {"target_key": plan.target.key, "digest": image.digest})
    if waits and queued is not None:
        if queued["status"] == DeploymentStatus.WAITING and plan.forced_by:
            params = {"id": queued["id"], "forced_by": plan.forced_by, "now": now}
            await tx.execute("force_waiting", params)
        return int(queued["id"]) if queued["status"] == DeploymentStatus.WAITING else None
    superseding = {
        "target_key": plan.target.key,
        "digest": image.digest,
        "message": f"superseded by {image.tag}@{image.digest}",
        "replace_waiting": not waits,
    }
    await tx.execute("supersede_queued", superseding)
    status = DeploymentStatus.WAITING if waits else DeploymentStatus.PLANNED
    return await _insert(tx, plan, status, now, verdict if waits else None)


async def _insert(
    tx: Transaction,
    plan: Plan,
    status: DeploymentStatus,
    now: datetime,
    verdict: ReleaseVerdict | None = None,
) -> int | None:
    image = plan.image
    params = {
        "target_key": plan.target.key,
        "target": as_json(plan.target.as_json()),
        "repository_name": plan.repository_name,
        "registry": image.name.registry,
        "repository": image.name.repository,
        "tag": image.tag,
        "digest": image.digest,
        "previous_image": plan.previous_image,
        "reason": plan.reason,
        "trigger": plan.trigger,
        "event_id": plan.event_id,
        "status": status.value,
        "message": f"waits for: {verdict.words}" if verdict else plan.message,
        "notify": list(plan.notify),
        "release": as_json(plan.release.as_json()) if plan.deploy else None,
        "decided_at": now,
        "pushed_at": plan.pushed_at,
        "forced_by": plan.forced_by,
        "wait_kinds": list(verdict.kinds) if verdict else [],
        "due_at": verdict.due if verdict else None,
    }
    row = await tx.one("insert_deployment", params)
    return None if row is None else int(row["id"])


def _judged(plan: Plan, gate: Gate, now: datetime) -> ReleaseVerdict:
    candidate = Candidate(
        rules=plan.release,
        repository=plan.repository_name,
        decided_at=now,
        pushed_at=plan.pushed_at,
        last_push_at=gate.last_pushes.get(plan.image.name),
        forced=plan.forced_by is not None,
    )
    return judge_release(candidate, freezes=gate.freezes, now=now)


def _status(plan: Plan) -> DeploymentStatus:
    if plan.deploy:
        return DeploymentStatus.PLANNED
    if plan.superseded:
        return DeploymentStatus.SUPERSEDED
    return DeploymentStatus.ADOPTED if plan.adopted else DeploymentStatus.SKIPPED
