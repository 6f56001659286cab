"""The deploy queue: claimed events, planned intents, attempts and their outcomes.

Crash safety comes from the database: an event is decided inside the transaction that holds
its row lock (a worker that dies leaves it pending); a deployment is claimed by one worker at a
time, keeps a heartbeat while it runs, and one whose heartbeat stops is planned again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from deployers.base import Target
from handlers.errors import StoreConflict, UnknownDeployment
from handlers.references import ImageName, ImageRef
from receiver.store.connector import Connector, Row, Transaction, as_json
from receiver.store.events import stored_event
from receiver.store.notices import OutboxEntry, insert_notices
from receiver.store.records import (
    Attempt,
    Deployment,
    DeploymentStatus,
    EventStatus,
    Plan,
    StoredEvent,
)


@dataclass(slots=True)
class EventClaim:
    """A pending event held by this worker until the claim's transaction ends: the plans the
    caller adds are stored with it, or, when ``failure`` is set, it is marked failed."""

    event: StoredEvent
    plans: list[Plan]
    failure: str | None = None


class DeploymentQueries:
    def __init__(self, db: Connector) -> None:
        self._db = db

    @asynccontextmanager
    async def claim_event(self) -> AsyncIterator[EventClaim | None]:
        """Hold the oldest pending event; the caller adds plans; all commit together.

        If the caller raises, nothing is stored and the event stays pending.
        """
        async with self._db.transaction() as tx:
            row = await tx.one("claim_event")
            if row is None:
                yield None
                return
            claim = EventClaim(event=stored_event(row), plans=[])
            yield claim
            if claim.failure is not None:
                failed = {"id": claim.event.id, "status": EventStatus.FAILED}
                await tx.execute("finish_event", {**failed, "reason": claim.failure})
                return
            for plan in claim.plans:
                await _insert_plan(tx, plan)
            done = {"id": claim.event.id, "status": EventStatus.DONE, "reason": None}
            await tx.execute("finish_event", done)
            if any(p.deploy for p in claim.plans):
                await tx.execute("notify_deployments")

    async def defer_event(
        self, event_id: int, *, reason: str, seconds: float, final: bool
    ) -> EventStatus | None:
        """Count a failed decision of a pending event: try it again after ``seconds``, or,
        ``final``, mark it failed. The status it now has (None if it was not pending)."""
        params = {"id": event_id, "reason": reason, "seconds": seconds, "final": final}
        row = await self._db.one("defer_event", params)
        return EventStatus(row["status"]) if row is not None else None

    async def plan(self, plans: Sequence[Plan]) -> list[int]:
        """Store decisions made outside an event (API, catch-up, reconciler); ids of intents."""
        ids: list[int] = []
        async with self._db.transaction() as tx:
            for plan in plans:
                new_id = await _insert_plan(tx, plan)
                if new_id is not None and plan.deploy:
                    ids.append(new_id)
            if ids:
                await tx.execute("notify_deployments")
        return ids

    async def claim_deployment(self, *, worker: str) -> Deployment | None:
        """Take the oldest due intent whose target has nothing running, or None."""
        try:
            async with self._db.transaction() as tx:
                row = await tx.one("claim_deployment", {"worker": worker})
                if row is None:
                    return None
                await tx.execute("insert_attempt", {"id": row["id"]})
        except StoreConflict:
            return None  # another worker started a deploy of that target at the same moment
        return await self.get_deployment(int(row["id"]))

    async def heartbeat(self, deployment_id: int, *, worker: str) -> None:
        await self._db.execute("heartbeat", {"id": deployment_id, "worker": worker})

    async def finish_deployment(
        self,
        deployment: Deployment,
        *,
        worker: str,
        status: DeploymentStatus,
        message: str,
        retry_at: datetime | None = None,
        announce: Callable[[DeploymentStatus, str], Sequence[OutboxEntry]] | None = None,
    ) -> DeploymentStatus:
        """Record the attempt's outcome; plan a retry at ``retry_at`` unless a newer intent
        for the target exists (then this one is superseded). Returns the status stored.

        ``announce(status, message)`` gives the notices of a final outcome; they are written in
        the same transaction, so an outcome is never recorded without them, nor they without it.
        """
        params = {"id": deployment.id, "worker": worker, "message": message}
        async with self._db.transaction() as tx:
            await tx.execute("finish_attempt", {**params, "outcome": status})
            final = status
            if retry_at is not None:
                newer = await tx.one(
                    "has_newer_planned", {"id": deployment.id, "target_key": deployment.target.key}
                )
                if newer is not None and not newer["newer"]:
                    requeued = await tx.one(
                        "requeue_deployment", {**params, "not_before": retry_at}
                    )
                    if requeued is not None:
                        await tx.execute("notify_deployments")
                        return DeploymentStatus.PLANNED
                final = DeploymentStatus.SUPERSEDED
                params["message"] = f"{message}; not retried: a newer intent exists"
            await tx.execute("finish_deployment", {**params, "status": final})
            if announce is not None:
                await insert_notices(tx, announce(final, str(params["message"])))
            # The target is free again: wake whoever has its next intent.
            await tx.execute("notify_deployments")
        return final

    async def recover_stalled(self, *, stall_seconds: float) -> list[int]:
        """Plan again the deploys whose worker stopped sending heartbeats; the ids.

        One for whose target a newer intent was planned meanwhile (the same image pushed again,
        or a newer one) is superseded by it instead, as a retry would be: planned again it would
        clash with the same image's intent, or run after the newer one and move the target back.
        """
        async with self._db.transaction() as tx:
            rows = await tx.all("stalled_deployments", {"seconds": stall_seconds})
            for row in rows:
                params = {"id": row["id"], "target_key": row["target_key"]}
                await tx.execute("stalled_attempt", params)
                newer = await tx.one("has_newer_planned", params)
                superseded = newer is not None and newer["newer"]
                await tx.execute(
                    "supersede_stalled" if superseded else "recover_deployment", params
                )
            if rows:
                await tx.execute("notify_deployments")
        return [int(row["id"]) for row in rows]

    async def get_deployment(self, deployment_id: int) -> Deployment:
        found = await self.find_deployment(deployment_id)
        if found is None:
            raise UnknownDeployment(f"no deployment {deployment_id}")
        return found

    async def find_deployment(self, deployment_id: int) -> Deployment | None:
        row = await self._db.one("get_deployment", {"id": deployment_id})
        return _deployment(row) if row is not None else None

    async def list_deployments(
        self,
        *,
        limit: int,
        repository_name: str | None = None,
        target_key: str | None = None,
        status: str | None = None,
    ) -> list[Deployment]:
        params = {
            "limit": limit,
            "repository_name": repository_name,
            "target_key": target_key,
            "status": status,
        }
        return [_deployment(row) for row in await self._db.all("list_deployments", params)]

    async def list_attempts(self, deployment_id: int) -> list[Attempt]:
        return [
            Attempt(**row) for row in await self._db.all("list_attempts", {"id": deployment_id})
        ]

    async def last_deployed_tag(self, repository_name: str) -> str | None:
        """The tag last deployed successfully for a watched repository."""
        row = await self._db.one("last_deployed_tag", {"name": repository_name})
        return str(row["tag"]) if row is not None else None

    async def next_due(self) -> datetime | None:
        """When the next planned deploy or deferred event falls due."""
        deploys = await self._db.one("next_due")
        events = await self._db.one("next_event_due")
        due = [row["due"] for row in (deploys, events) if row is not None and row["due"]]
        return min(due, default=None)


async def _insert_plan(tx: Transaction, plan: Plan) -> int | None:
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
        "status": _status(plan),
        "notify": list(plan.notify),
    }
    if plan.deploy:
        message = f"superseded by {image.tag}@{image.digest}"
        await tx.execute("supersede_planned", {**params, "message": message})
    row = await tx.one("insert_deployment", params)
    return None if row is None else int(row["id"])


def _status(plan: Plan) -> DeploymentStatus:
    if plan.deploy:
        return DeploymentStatus.PLANNED
    return DeploymentStatus.ADOPTED if plan.adopted else DeploymentStatus.SKIPPED


def _deployment(row: Row) -> Deployment:
    name = ImageName(registry=row["registry"], repository=row["repository"])
    return Deployment(
        id=row["id"],
        target=Target.from_json(row["target"]),
        repository_name=row["repository_name"],
        image=ImageRef(name=name, tag=row["tag"], digest=row["digest"]),
        previous_image=row["previous_image"],
        reason=row["reason"],
        trigger=row["trigger"],
        event_id=row["event_id"],
        status=DeploymentStatus(row["status"]),
        message=row["message"],
        attempts=row["attempts"],
        not_before=row["not_before"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        notify=tuple(row["notify"]),
        started_at=row["started_at"],
    )
