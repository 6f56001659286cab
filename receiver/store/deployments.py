"""The deploy queue: claimed events, planned intents, attempts and their outcomes.

Crash safety comes from the database: an event is decided inside the transaction that holds
its row lock (a worker that dies leaves it pending); a deployment is claimed by one worker at a
time, keeps a heartbeat while it runs, and one whose heartbeat stops is planned again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from handlers.references import ImageName, ImageRef
from receiver.decide.rules.release import ReleaseRules, ReleaseVerdict
from receiver.decide.trust.policy import CheckOutcome, CheckResult
from receiver.errors import StoreConflict, UnknownDeployment
from receiver.store.connector import Connector, Row, Transaction, as_json
from receiver.store.notices import OutboxEntry, insert_notices
from receiver.store.records import (
    Attempt,
    Deployment,
    DeploymentStatus,
    Plan,
    restored_target,
    stored_target,
)


class DeploymentQueries:
    def __init__(self, db: Connector) -> None:
        self._db = db

    async def claim_deployment(self, *, worker: str, now: datetime) -> Deployment | None:
        """Take the oldest intent due at ``now`` whose target has nothing running, or None."""
        try:
            async with self._db.transaction() as tx:
                row = await tx.one("claim_deployment", {"worker": worker, "now": now})
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
        checks: Sequence[CheckResult] | None = None,
    ) -> DeploymentStatus:
        """Record the attempt's outcome; plan a retry at ``retry_at`` unless a newer intent
        for the target exists (then this one is superseded). Returns the status stored.

        ``announce(status, message)`` gives the notices of a final outcome; they are written in
        the same transaction, so an outcome is never recorded without them, nor they without it.
        """
        params = {"id": deployment.id, "worker": worker, "message": message}
        async with self._db.transaction() as tx:
            await tx.execute("finish_attempt", {**params, "outcome": status})
            if checks is not None:
                await tx.execute("record_checks", {"id": deployment.id, "checks": _json(checks)})
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
            await tx.execute("wake_rollout", {"id": deployment.id})
            if announce is not None:
                await insert_notices(tx, announce(final, str(params["message"])))
            # The target is free again: wake whoever has its next intent.
            await tx.execute("notify_deployments")
        return final

    async def hold_deployment(
        self,
        deployment: Deployment,
        *,
        worker: str,
        checks: Sequence[CheckResult],
        words: str,
        until: datetime,
        now: datetime,
    ) -> DeploymentStatus:
        """Make ``deployment`` (running here) wait while a trust check holds it back, to be
        judged again at ``until`` (release control announces the wait); superseded instead
        when another deploy of its target waits already, or a newer decision is queued (held,
        this one would go after it and move the target back). Returns the status stored."""
        params = {"id": deployment.id, "worker": worker, "message": words}
        kinds = [c.check.value for c in checks if c.outcome is CheckOutcome.WAITING]
        async with self._db.transaction() as tx:
            await tx.execute("finish_attempt", {**params, "outcome": DeploymentStatus.WAITING})
            await tx.execute("record_checks", {"id": deployment.id, "checks": _json(checks)})
            held = await tx.one(
                "hold_deployment", {**params, "until": until, "now": now, "wait_kinds": kinds}
            )
            status = DeploymentStatus.WAITING
            if held is None:
                status = DeploymentStatus.SUPERSEDED
                message = f"{words}; not held: a newer decision for the target is queued or waits"
                await tx.execute(
                    "finish_deployment", {**params, "message": message, "status": status}
                )
            await tx.execute("notify_deployments")
        return status

    async def wake_held(self, digest: str, *, now: datetime) -> list[int]:
        """Judge now the deploys of ``digest`` a trust check holds back; their ids."""
        async with self._db.transaction() as tx:
            rows = await tx.all("wake_held", {"digest": digest, "now": now})
            if rows:
                await tx.execute("notify_deployments")
        return [int(row["id"]) for row in rows]

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
        return deployment_of(row) if row is not None else None

    async def list_deployments(
        self,
        *,
        limit: int,
        repository_name: str | None = None,
        target_key: str | None = None,
        status: str | None = None,
        ids: Sequence[int] | None = None,
        before: int | None = None,
    ) -> list[Deployment]:
        """The newest deployments that match, older than deployment ``before``."""
        params = {
            "before": before,
            "limit": limit,
            "repository_name": repository_name,
            "target_key": target_key,
            "status": status,
            "ids": list(ids) if ids is not None else None,
        }
        return [deployment_of(row) for row in await self._db.all("list_deployments", params)]

    async def list_attempts(self, deployment_id: int) -> list[Attempt]:
        return [
            Attempt(**row) for row in await self._db.all("list_attempts", {"id": deployment_id})
        ]

    async def last_deployed_tag(self, repository_name: str) -> str | None:
        """The tag last deployed successfully for a watched repository."""
        row = await self._db.one("last_deployed_tag", {"name": repository_name})
        return str(row["tag"]) if row is not None else None

    async def next_due(self) -> datetime | None:
        """When the next planned deploy falls due."""
        row = await self._db.one("next_due")
        return row["due"] if row is not None else None

    async def failed_since(self, since: datetime, *, limit: int) -> list[Deployment]:
        """Deploys that failed, were rolled back or met a conflict since ``since``."""
        rows = await self._db.all("failed_deployments_since", {"since": since, "limit": limit})
        return [deployment_of(row) for row in rows]

    async def last_per_target(self) -> dict[str, Deployment]:
        """Each target's newest deployment or skip, by target key."""
        rows = await self._db.all("last_deployment_per_target")
        return {d.target.key: d for d in map(deployment_of, rows)}


def _json(checks: Sequence[CheckResult]) -> object:
    return as_json([c.as_json() for c in checks])


def deployment_of(row: Row) -> Deployment:
    name = ImageName(registry=row["registry"], repository=row["repository"])
    return Deployment(
        id=row["id"],
        target=restored_target(row["target"]),
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
        release=ReleaseRules.from_json(row["release"]),
        decided_at=row["decided_at"],
        pushed_at=row["pushed_at"],
        forced_by=row["forced_by"],
        wait_kinds=tuple(row["wait_kinds"]),
        due_at=row["due_at"],
        announced=row["announced"],
        checks=tuple(CheckResult.from_json(c) for c in row.get("checks") or ()),
        held_since=row.get("held_since"),
        held_until=row.get("held_until"),
        hold_words=row.get("hold_words") or "",
        holds=row.get("holds") or 0,
        rollout_id=row.get("rollout_id"),
        gate=row.get("gate") or "",
    )


async def insert_plan(
    tx: Transaction,
    plan: Plan,
    status: DeploymentStatus,
    now: datetime,
    verdict: ReleaseVerdict | None = None,
) -> int | None:
    """Store ``plan`` as a deployment of ``status``, decided at ``now`` (``verdict``: what it
    waits for); its id, or None when the same intent is already planned."""
    image = plan.image
    params = {
        "target_key": plan.target.key,
        "target": as_json(stored_target(plan.target)),
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
