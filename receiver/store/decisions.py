"""Recording decisions: claiming a repository's pending events together, writing the plans the
decider made of them (intents to deploy, skips, each with its release verdict), and putting off
or failing the events whose decision failed.

The store decides nothing here: the stage judges each plan (``receiver.decide.gate``) and hands
over what to write. What it judges against is read inside the transaction that writes, after
the targets are locked (``DecisionRecorder.release_state``), so that a freeze or another
decision committed meanwhile is seen.

Crash safety comes from the database: events are decided inside the transaction that holds their
row locks, so a decider that dies leaves them pending; the events of one repository are decided
in order (an event waiting to be tried again holds back the later events of its repository
only).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from handlers.references import ImageName
from receiver.decide.rules.release import ReleaseOutcome
from receiver.errors import Conflict
from receiver.store.connector import Connector, Transaction, as_json
from receiver.store.deployments import insert_plan
from receiver.store.events import stored_event
from receiver.store.records import (
    DeploymentStatus,
    EventStatus,
    JudgedPlan,
    Plan,
    StoredEvent,
)
from receiver.store.releases import ReleaseState, read_release_state
from receiver.store.rollout_records import RolloutChange, RolloutDraft
from receiver.store.rollouts import Announce, insert_rollout, write_change

#: The most events of one repository decided together.
MAX_BATCH = 500


class DecisionRecorder:
    """Decisions being recorded inside one transaction: first ``release_state`` (locks the
    targets of the intents, then reads the freezes and last pushes they are judged against),
    then ``write`` what was judged."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._locked: frozenset[str] = frozenset()

    async def release_state(self, plans: Sequence[Plan]) -> ReleaseState:
        """Lock the targets of the intents among ``plans`` (in key order, as every writer
        does) and read what release control judges them against."""
        deploys = [plan for plan in plans if plan.deploy]
        keys = sorted({plan.target.key for plan in deploys})
        for key in keys:
            await self._tx.execute("lock_target", {"target_key": key})
        self._locked = self._locked | frozenset(keys)
        if not deploys:
            return ReleaseState()
        settling = {plan.image.name for plan in deploys if plan.release.settle}
        return await read_release_state(self._tx, settling)

    async def write(
        self,
        judged: Sequence[JudgedPlan],
        *,
        now: datetime,
        rollouts: Sequence[RolloutDraft] = (),
        announce: Announce | None = None,
    ) -> list[int]:
        """Store the plans decided at ``now`` with their verdicts, and the ``rollouts`` they
        belong to (``Plan.rollout``); the ids of the intents to deploy, planned or waiting.

        An intent whose verdict is to wait is stored ``waiting``. A newer intent for a target
        supersedes its older queued ones of another digest, waiting ones included; an intent
        for what already waits joins that one (its votes stay).
        """
        unlocked = {j.plan.target.key for j in judged if j.plan.deploy} - self._locked
        if unlocked:
            raise RuntimeError(f"release_state() first: targets {sorted(unlocked)} not locked")
        judged, rollouts = await self._under_way(judged, rollouts)
        ids: list[int] = []
        stored: dict[str, dict[str, int]] = {}
        for item in judged:
            plan = item.plan
            if plan.deploy:
                new_id = await _insert_intent(self._tx, item, now)
                if new_id is None and plan.rollout is not None:
                    new_id = await _queued(self._tx, plan)
                if new_id is not None:
                    ids.append(new_id)
                    stored.setdefault(plan.rollout or "", {})[plan.target.key] = new_id
            else:
                await insert_plan(self._tx, plan, _skip_status(plan), now)
        for draft in rollouts:
            plans = {j.plan.target.key: j.plan for j in judged if j.plan.rollout == draft.key}
            deployments = stored.get(draft.key, {})
            await insert_rollout(
                self._tx, draft, deployments=deployments, plans=plans, now=now, announce=announce
            )
        if ids:
            await self._tx.execute("notify_deployments")
        return ids

    async def rollout_change(self, change: RolloutChange, *, worker: str | None) -> None:
        """Write ``change`` of a rollout with the decisions (a promotion: the promoted rollout
        and its source's new state commit together). Raises ``Conflict`` when ``worker`` no
        longer holds the rollout: nothing is stored."""
        if not await write_change(self._tx, change, worker=worker):
            raise Conflict(f"rollout {change.rollout_id} is held by another process")

    async def audit(self, name: str, *, actor: str, field: str, new: object) -> None:
        params = {"name": name, "actor": actor, "field": field, "old_value": None,
                  "new_value": as_json(new)}  # fmt: skip
        await self._tx.execute("insert_audit", params)

    async def _under_way(
        self, judged: Sequence[JudgedPlan], rollouts: Sequence[RolloutDraft]
    ) -> tuple[list[JudgedPlan], list[RolloutDraft]]:
        """A rollout of the same digest to the same stage that has not ended goes on: the
        intents that would start it over are skips, with the reason."""
        kept: list[RolloutDraft] = []
        joined: dict[str, str] = {}
        for draft in rollouts:
            params = {"repository_name": draft.repository_name, "stage": draft.stage,
                      "digest": draft.image.digest,
                      "targets": [k for keys in draft.waves for k in keys]}  # fmt: skip
            row = await self._tx.one("rollout_under_way", params)
            if row is None:
                kept.append(draft)
            else:
                joined[draft.key] = f"rolling out already: rollout {row['id']} ({row['state']})"
        if not joined:
            return list(judged), kept
        return [
            JudgedPlan(
                plan=dataclasses.replace(
                    j.plan, deploy=False, rollout=None, gate="", reason=joined[j.plan.rollout]
                )
            )
            if j.plan.rollout in joined
            else j
            for j in judged
        ], kept


@dataclass(slots=True)
class EventBatch:
    """Pending events of one repository, oldest first, held until the batch's transaction
    ends. The caller records the plans it made of them through ``recorder`` and says, per
    event, why it failed (``failures``) or why it moved nothing (``notes``)."""

    events: list[StoredEvent]
    recorder: DecisionRecorder
    failures: dict[int, str] = field(default_factory=dict)
    notes: dict[int, str] = field(default_factory=dict)


class DecisionQueries:
    def __init__(self, db: Connector) -> None:
        self._db = db

    @asynccontextmanager
    async def claim_events(
        self, *, now: datetime, limit: int = MAX_BATCH
    ) -> AsyncIterator[EventBatch | None]:
        """Hold the pending events of the repository whose oldest pending event is due at
        ``now``; the caller decides them; plans and outcomes commit together. If the caller
        raises, nothing is stored and the events stay pending."""
        async with self._db.transaction() as tx:
            head = await tx.one("claim_event", {"now": now})
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
            events = [stored_event(row) for row in (head, *rest)]
            batch = EventBatch(events=events, recorder=DecisionRecorder(tx))
            yield batch
            await _finish(tx, batch)

    @asynccontextmanager
    async def recording(self) -> AsyncIterator[DecisionRecorder]:
        """Record decisions made outside an event (API, catch-up); they commit together."""
        async with self._db.transaction() as tx:
            yield DecisionRecorder(tx)

    async def defer_events(
        self, ids: Collection[int], *, reason: str, seconds: float, final: bool, now: datetime
    ) -> list[EventStatus]:
        """Count a failed decision of pending events: try them again ``seconds`` after ``now``,
        or, ``final``, mark them failed. The statuses they now have."""
        params = {
            "ids": list(ids),
            "reason": reason,
            "seconds": seconds,
            "final": final,
            "now": now,
        }
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


async def _finish(tx: Transaction, batch: EventBatch) -> None:
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


async def _insert_intent(tx: Transaction, judged: JudgedPlan, now: datetime) -> int | None:
    plan, verdict = judged.plan, judged.verdict
    image = plan.image
    waits = verdict is not None and verdict.outcome is not ReleaseOutcome.RELEASE
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
    if waits:
        return await insert_plan(tx, plan, DeploymentStatus.WAITING, now, verdict)
    return await insert_plan(tx, plan, DeploymentStatus.PLANNED, now)


async def _queued(tx: Transaction, plan: Plan) -> int | None:
    """The intent already queued for ``plan``'s target and digest, which ``plan`` joins."""
    found = await tx.one(
        "queued_intent", {"target_key": plan.target.key, "digest": plan.image.digest}
    )
    return None if found is None else int(found["id"])


def _skip_status(plan: Plan) -> DeploymentStatus:
    if plan.superseded:
        return DeploymentStatus.SUPERSEDED
    return DeploymentStatus.ADOPTED if plan.adopted else DeploymentStatus.SKIPPED
