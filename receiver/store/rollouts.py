"""Rollouts as stored: one row per digest and stage, its waves, its targets with their
deployments; what a look at one changed (``RolloutChange``), written in one transaction, fenced on
the process that holds it.

The store decides nothing here: the rollout stage (``receiver.decide.rollouts``) judges, and
hands over what to write.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from datetime import datetime

from handlers.references import ImageName, ImageRef
from receiver.decide.rules.rollout import RolloutPolicy, RolloutState, WaveState
from receiver.errors import UnknownRollout
from receiver.store.connector import Connector, Executor, Row, Transaction, as_json
from receiver.store.deployments import insert_plan
from receiver.store.notices import OutboxEntry, insert_notices
from receiver.store.records import DeploymentStatus, Plan, restored_target, stored_target
from receiver.store.rollout_records import (
    Rollout,
    RolloutChange,
    RolloutDraft,
    RolloutTarget,
    RolloutWave,
)

#: What a person asks of a rollout, given it as it stands (``RolloutQueries.locked``); raises
#: ``receiver.errors.Conflict`` when the rollout cannot take it.
ChangeMaker = Callable[["Rollout"], "RolloutChange"]


#: The notices of a rollout's start: given its id, its draft and the deployment they are filed
#: under.
Announce = Callable[[int, RolloutDraft, int], Sequence[OutboxEntry]]


class RolloutQueries:
    def __init__(self, db: Connector) -> None:
        self._db = db

    async def claim(
        self, *, worker: str, now: datetime, seconds: float, seen: Collection[int] = ()
    ) -> int | None:
        """Hold the rollout due soonest (but those ``seen``) for ``seconds``; its id, or None."""
        params = {"worker": worker, "now": now, "seconds": seconds, "seen": list(seen)}
        row = await self._db.one("claim_rollout", params)
        return None if row is None else int(row["id"])

    async def defer(self, rollout_id: int, *, worker: str, at: datetime) -> None:
        """Look at the rollout ``worker`` holds again at ``at`` (its look failed)."""
        await self._db.execute("defer_rollout", {"id": rollout_id, "worker": worker, "at": at})

    async def release(self, rollout_id: int, *, worker: str) -> None:
        await self._db.execute("release_rollout", {"id": rollout_id, "worker": worker})

    async def get(self, rollout_id: int) -> Rollout:
        """Raises ``NotFound``."""
        found = await rollouts_of(self._db, [await self._row(self._db, rollout_id)])
        return found[0]

    async def list(
        self,
        *,
        repository_name: str | None = None,
        state: str | None = None,
        limit: int = 50,
        before: int | None = None,
    ) -> list[Rollout]:
        params = {
            "repository_name": repository_name,
            "state": state,
            "limit": limit,
            "before": before,
        }
        return await rollouts_of(self._db, await self._db.all("list_rollouts", params))

    async def next_due(self) -> datetime | None:
        row = await self._db.one("next_rollout_look")
        return row["due"] if row is not None else None

    async def record(self, change: RolloutChange, *, worker: str | None) -> bool:
        """Write ``change`` in one transaction; False (and nothing written) when ``worker`` no
        longer holds the rollout. ``worker`` None: a person's change (``locked`` first)."""
        async with self._db.transaction() as tx:
            return await write_change(tx, change, worker=worker)

    async def locked(self, rollout_id: int, change: ChangeMaker) -> Rollout:
        """Apply a person's change to the rollout, read and written under its row lock;
        ``change`` raises ``Conflict`` when the rollout cannot take it."""
        async with self._db.transaction() as tx:
            row = await self._row(tx, rollout_id, lock=True)
            rollout = (await rollouts_of(tx, [row]))[0]
            await write_change(tx, change(rollout), worker=None)
        return await self.get(rollout_id)

    @staticmethod
    async def _row(db: Executor, rollout_id: int, *, lock: bool = False) -> Row:
        row = await db.one("lock_rollout" if lock else "get_rollout", {"id": rollout_id})
        if row is None:
            raise UnknownRollout(f"no rollout {rollout_id}")
        return row


async def rollouts_of(db: Executor, rows: Sequence[Row]) -> list[Rollout]:
    """The rollouts of ``rows`` with their waves and targets."""
    ids = [row["id"] for row in rows]
    waves: dict[int, list[RolloutWave]] = {i: [] for i in ids}
    targets: dict[int, list[RolloutTarget]] = {i: [] for i in ids}
    if ids:
        for w in await db.all("rollout_waves", {"ids": ids}):
            waves[w["rollout_id"]].append(_wave(w))
        for t in await db.all("rollout_targets", {"ids": ids}):
            targets[t["rollout_id"]].append(_target(t))
    return [_rollout(row, tuple(waves[row["id"]]), tuple(targets[row["id"]])) for row in rows]


async def insert_rollout(
    tx: Transaction,
    draft: RolloutDraft,
    *,
    deployments: dict[str, int],
    plans: dict[str, Plan],
    now: datetime,
    announce: Announce | None = None,
) -> int:
    """Store ``draft`` with its waves and targets (their deployments by target key), its
    start's notices (``announce``), and end the older rollouts of its repository's stage; the
    new rollout's id."""
    image = draft.image
    row = await tx.one(
        "insert_rollout",
        {
            "repository_name": draft.repository_name,
            "stage": draft.stage,
            "registry": image.name.registry,
            "repository": image.name.repository,
            "tag": image.tag or "",
            "digest": image.digest or "",
            "event_id": draft.event_id,
            "trigger": draft.trigger,
            "policy": as_json(draft.policy.as_json()),
            "words": draft.words,
            "notify": list(draft.notify),
            "promoted_from": draft.promoted_from,
            "forced_by": draft.forced_by,
            "now": now,
        },
    )
    assert row is not None
    rollout_id = int(row["id"])
    for number, keys in enumerate(draft.waves, start=1):
        first = number == 1
        await tx.execute(
            "insert_rollout_wave",
            {
                "rollout_id": rollout_id,
                "number": number,
                "state": (WaveState.DEPLOYING if first else WaveState.PENDING).value,
                "started_at": now if first else None,
            },
        )
        for key in keys:
            plan = plans[key]
            await tx.execute(
                "insert_rollout_target",
                {
                    "rollout_id": rollout_id,
                    "target_key": key,
                    "target": as_json(stored_target(plan.target)),
                    "wave": number,
                    "deployment_id": deployments.get(key),
                    "previous_image": plan.previous_image,
                },
            )
            if key in deployments:
                await attach(tx, deployments[key], rollout_id=rollout_id, plan=plan, now=now)
    anchor = next((deployments[k] for k in draft.waves[0] if k in deployments), None)
    if announce is not None and anchor is not None:
        await insert_notices(tx, announce(rollout_id, draft, anchor))
    reason = f"superseded by rollout {rollout_id} ({image.tag}@{image.digest})"
    ended = await tx.all(
        "abandon_superseded_rollouts",
        {"repository_name": draft.repository_name, "stage": draft.stage, "id": rollout_id,
         "reason": reason, "targets": [key for keys in draft.waves for key in keys]},
    )  # fmt: skip
    if ended:
        await tx.execute("cancel_gated", {"rollouts": [r["id"] for r in ended], "message": reason})
    return rollout_id


async def attach(
    tx: Transaction,
    deployment_id: int,
    *,
    rollout_id: int | None,
    plan: Plan | None,
    now: datetime,
) -> None:
    """Make ``deployment_id`` one of ``rollout_id``'s, waiting behind ``plan``'s gate (none: it
    goes as decided) with ``plan``'s release rules (an intent that joined a waiting deploy)."""
    params = {
        "id": deployment_id,
        "rollout_id": rollout_id,
        "gate": (plan.gate or None) if plan is not None else None,
        "release": as_json(plan.release.as_json()) if plan is not None else None,
        "now": now,
    }
    await tx.execute("attach_rollout", params)


async def write_change(tx: Transaction, change: RolloutChange, *, worker: str | None) -> bool:
    written = await tx.one(
        "update_rollout",
        {
            "id": change.rollout_id,
            "worker": worker,
            "state": change.state.value,
            "wave": change.wave,
            "words": change.words,
            "reason": change.reason,
            "rolling_back": change.rolling_back,
            "next_look_at": change.next_look_at,
            "verified_at": change.verified_at,
            "ended": change.ended,
            "promote_at": change.promote_at,
            "version": change.version,
        },
    )
    if written is None:
        return False
    for wave in change.waves:
        await tx.execute("update_rollout_wave", _wave_params(change.rollout_id, wave))
    rollbacks = {plan.target.key: await _queue(tx, plan, change) for plan in change.rollbacks}
    intents = {plan.target.key: await _queue(tx, plan, change) for plan in change.intents}
    for target in change.targets:
        params = {
            "rollout_id": change.rollout_id,
            "target_key": target.key,
            "marks": target.marks,
            "health": target.health,
            "deployment_id": intents.get(target.key) or target.deployment_id,
            "rollback_id": rollbacks.get(target.key) or target.rollback_id,
        }
        await tx.execute("update_rollout_target", params)
    if change.lift:
        await tx.execute("lift_gates", {"ids": list(change.lift), "now": change.at})
    if change.cancel is not None:
        params = {"rollouts": [change.rollout_id], "message": change.cancel}
        await tx.execute("cancel_gated", params)
    if change.stop:
        await tx.execute("stop_queued", {"ids": list(change.stop), "message": change.stop_words})
    if change.audit_actor is not None:
        await tx.execute(
            "insert_audit",
            {
                "name": change.repository,
                "actor": change.audit_actor,
                "field": "rollout",
                "old_value": None,
                "new_value": as_json(dict(change.audit_what or {})),
            },
        )
    for deployment_id, words in change.gates:
        await tx.execute("gate_words", {"ids": [deployment_id], "gate": words})
    if change.lift or rollbacks or intents:
        await tx.execute("notify_deployments")
    await insert_notices(tx, change.notices)
    return True


async def _queue(tx: Transaction, plan: Plan, change: RolloutChange) -> int | None:
    """Queue a rollback (or a resumed wave's) intent for ``plan``'s target, now, past release
    control: it supersedes what was queued for the target."""
    image = plan.image
    await tx.execute("lock_target", {"target_key": plan.target.key})
    await tx.execute(
        "supersede_queued",
        {
            "target_key": plan.target.key,
            "digest": image.digest,
            "message": f"superseded by {plan.trigger} of rollout {change.rollout_id}",
            "replace_waiting": True,
        },
    )
    new_id = await insert_plan(
        tx, dataclasses.replace(plan, notify=()), DeploymentStatus.PLANNED, change.at
    )
    if new_id is None:
        found = await tx.one(
            "queued_intent", {"target_key": plan.target.key, "digest": image.digest}
        )
        return None if found is None else int(found["id"])
    await attach(tx, new_id, rollout_id=change.rollout_id, plan=None, now=change.at)
    return new_id


def _wave_params(rollout_id: int, wave: RolloutWave) -> dict[str, object]:
    return {
        "rollout_id": rollout_id,
        "number": wave.number,
        "state": wave.state.value,
        "started_at": wave.started_at,
        "settled_at": wave.settled_at,
        "healthy_since": wave.healthy_since,
        "finished_at": wave.finished_at,
    }


def _rollout(
    row: Row, waves: tuple[RolloutWave, ...], targets: tuple[RolloutTarget, ...]
) -> Rollout:
    name = ImageName(registry=row["registry"], repository=row["repository"])
    return Rollout(
        id=row["id"],
        repository_name=row["repository_name"],
        stage=row["stage"],
        image=ImageRef(name=name, tag=row["tag"] or None, digest=row["digest"]),
        event_id=row["event_id"],
        trigger=row["trigger"],
        policy=RolloutPolicy.from_json(row["policy"]),
        state=RolloutState(row["state"]),
        wave=row["wave"],
        words=row["words"],
        reason=row["reason"],
        rolling_back=row["rolling_back"],
        notify=tuple(row["notify"]),
        promoted_from=row["promoted_from"],
        forced_by=row["forced_by"],
        promote_at=row["promote_at"],
        version=row["version"],
        next_look_at=row["next_look_at"],
        verified_at=row["verified_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
        waves=waves,
        targets=targets,
    )


def _wave(row: Row) -> RolloutWave:
    return RolloutWave(
        number=row["number"],
        state=WaveState(row["state"]),
        started_at=row["started_at"],
        settled_at=row["settled_at"],
        healthy_since=row["healthy_since"],
        finished_at=row["finished_at"],
    )


def _target(row: Row) -> RolloutTarget:
    status, rollback = row["deployment_status"], row["rollback_status"]
    return RolloutTarget(
        key=row["target_key"],
        target=restored_target(row["target"]),
        wave=row["wave"],
        deployment_id=row["deployment_id"],
        deployment_status=DeploymentStatus(status) if status else None,
        deployment_message=row["deployment_message"],
        deployment_finished_at=row["deployment_finished_at"],
        previous_image=row["previous_image"],
        rollback_id=row["rollback_id"],
        rollback_status=DeploymentStatus(rollback) if rollback else None,
        rollback_message=row["rollback_message"],
        marks=row["marks"],
        health=row["health"],
    )
