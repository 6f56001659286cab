"""Release control in the database: waiting deploys, their votes, and freezes.

A waiting deploy is a deployments row with status ``waiting``, kept with the rules it was decided
with, what it waited for when last judged (``wait_kinds``) and when to judge_release it again
(``due_at``, by regdeploy's clock, given as a parameter). Each is judged by one process at a
time: the release loop claims due rows ``FOR UPDATE SKIP LOCKED``, an approval or a rejection
locks its row ``FOR UPDATE``, and every change of state is made only from ``waiting``; so a
waiting deploy is released, rejected or expired exactly once, however many processes share the
database and whenever they restart. A freeze takes an exclusive lock that every transaction
storing decisions holds shared while it reads the freezes: a decision committed after a freeze
waits for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from handlers.references import ImageName
from receiver.decide.rules.release import Freeze, ReleaseVerdict, Vote
from receiver.errors import UnknownDeployment
from receiver.store.connector import Connector, Executor, Row, Transaction, as_json
from receiver.store.deployments import deployment_of
from receiver.store.notices import OutboxEntry, insert_notices
from receiver.store.records import Deployment, DeploymentStatus

#: The scope of a freeze of every repository (and its name in the audit).
EVERYTHING = ""
_AUDIT_EVERYTHING = "*"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseState:
    """What release control judges a deploy against besides its own rules and votes: the
    freezes that are on, and the newest push of each repository."""

    freezes: tuple[Freeze, ...] = ()
    last_pushes: dict[ImageName, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiting:
    """A deploy as release control judges it: its row, its votes, its repository's last
    push."""

    deployment: Deployment
    votes: tuple[Vote, ...] = ()
    last_push_at: datetime | None = None


async def read_release_state(
    tx: Executor, names: Collection[ImageName], *, locked: bool = True
) -> ReleaseState:
    """The freezes (``locked``: taking the freeze gate shared, held until ``tx`` ends; taken
    before any row lock, as a freeze takes it) and the last push of each repository of
    ``names``."""
    if locked:
        await tx.execute("freeze_gate_shared")
    freezes = tuple(_freeze(row) for row in await tx.all("list_freezes"))
    return ReleaseState(freezes=freezes, last_pushes=await _last_pushes(tx, names))


class WaitBatch:
    """Waiting deploys held by this process until the batch's transaction ends."""

    def __init__(self, tx: Transaction, items: list[Waiting], state: ReleaseState) -> None:
        self._tx = tx
        self.items = items
        self.state = state

    async def release(self, item: Waiting, *, message: str) -> bool:
        """Waiting -> planned; False when the same image is queued for the target already
        (it is then superseded by that one)."""
        params = {"id": item.deployment.id, "message": message}
        if await self._tx.one("release_waiting", params) is not None:
            await self._tx.execute("notify_deployments")
            return True
        await self.end(item, DeploymentStatus.SUPERSEDED, "the same image is queued already")
        return False

    async def keep(self, item: Waiting, verdict: ReleaseVerdict) -> None:
        params = {
            "id": item.deployment.id,
            "wait_kinds": list(verdict.kinds),
            "due_at": verdict.due,
            "message": f"waits for: {verdict.words}",
        }
        await self._tx.execute("keep_waiting", params)

    async def end(self, item: Waiting, status: DeploymentStatus, message: str) -> bool:
        params = {"id": item.deployment.id, "status": status.value, "message": message}
        return await self._tx.one("end_waiting", params) is not None

    async def vote(
        self, item: Waiting, *, actor: str, approve: bool, comment: str, at: datetime
    ) -> tuple[bool, Waiting]:
        """Record ``actor``'s vote; whether it counted (an approval by a token that approved
        already does not), and the deploy with its votes now."""
        query = "vote_approve" if approve else "vote_reject"
        params = {"id": item.deployment.id, "actor": actor, "comment": comment, "at": at}
        counted = await self._tx.one(query, params) is not None
        votes = await _votes(self._tx, [item.deployment.id])
        return counted, Waiting(
            deployment=item.deployment,
            votes=votes.get(item.deployment.id, ()),
            last_push_at=item.last_push_at,
        )

    async def announce(self, entries: Sequence[OutboxEntry]) -> None:
        await insert_notices(self._tx, entries)


class ReleaseQueries:
    def __init__(self, db: Connector) -> None:
        self._db = db

    @asynccontextmanager
    async def claim_due(self, *, now: datetime, limit: int = 100) -> AsyncIterator[WaitBatch]:
        """Hold the waiting deploys due at ``now`` (and those not announced yet) that no other
        process holds; what the caller records about them commits together."""
        async with self._db.transaction() as tx:
            # The freeze gate before any row: a freeze takes it first, then rows.
            await tx.execute("freeze_gate_shared")
            rows = await tx.all("claim_waiting", {"now": now, "limit": limit})
            yield await _batch(tx, [int(row["id"]) for row in rows])

    @asynccontextmanager
    async def hold(self, deployment_id: int) -> AsyncIterator[WaitBatch]:
        """Lock one deployment (waiting for whoever holds it), whatever its status."""
        async with self._db.transaction() as tx:
            await tx.execute("freeze_gate_shared")
            if await tx.one("lock_deployment", {"id": deployment_id}) is None:
                raise UnknownDeployment(f"no deployment {deployment_id}")
            yield await _batch(tx, [deployment_id])

    async def freeze(self, scope: str, *, reason: str, actor: str, at: datetime) -> Freeze:
        """Freeze ``scope`` (a repository's name, or ``EVERYTHING``), audited."""
        async with self._db.transaction() as tx:
            await tx.execute("freeze_gate")
            params = {"scope": scope, "reason": reason, "actor": actor, "since": at}
            row = await tx.one("upsert_freeze", params)
            assert row is not None  # an upsert returns its row
            await _audit(tx, scope, actor, None, {"reason": reason, "since": at.isoformat()})
        return _freeze(row)

    async def unfreeze(self, scope: str, *, actor: str, at: datetime) -> Freeze | None:
        """Lift the freeze of ``scope`` (None when there was none), audited; the waits it held
        are due to be judged again at once."""
        async with self._db.transaction() as tx:
            await tx.execute("freeze_gate")
            row = await tx.one("delete_freeze", {"scope": scope})
            if row is None:
                return None
            await _audit(tx, scope, actor, {"reason": row["reason"]}, None)
            await tx.all("thaw_waiting", {"scope": scope, "now": at})
            await tx.execute("notify_deployments")
        return _freeze(row)

    async def list_freezes(self) -> list[Freeze]:
        return [_freeze(row) for row in await self._db.all("list_freezes")]

    async def state(self, names: Collection[ImageName]) -> ReleaseState:
        """The freezes and last pushes as they are now (for showing waits, not deciding)."""
        return await read_release_state(self._db, names, locked=False)

    async def votes(self, ids: Collection[int]) -> dict[int, tuple[Vote, ...]]:
        return await _votes(self._db, ids) if ids else {}

    async def next_due(self) -> tuple[datetime | None, bool]:
        """When the next waiting deploy is due, and whether one's waiting is unannounced."""
        row = await self._db.one("next_release_due")
        return (row["due"], bool(row["unannounced"])) if row is not None else (None, False)


async def _batch(tx: Transaction, ids: list[int]) -> WaitBatch:
    deployments = []
    for deployment_id in ids:
        row = await tx.one("get_deployment", {"id": deployment_id})
        if row is not None:
            deployments.append(deployment_of(row))
    names = {d.image.name for d in deployments}
    state = await read_release_state(tx, names, locked=False) if deployments else ReleaseState()
    votes = await _votes(tx, ids) if ids else {}
    items = [
        Waiting(
            deployment=d,
            votes=votes.get(d.id, ()),
            last_push_at=state.last_pushes.get(d.image.name),
        )
        for d in deployments
    ]
    return WaitBatch(tx, items, state)


async def _votes(db: Executor, ids: Collection[int]) -> dict[int, tuple[Vote, ...]]:
    found: dict[int, list[Vote]] = {}
    for row in await db.all("list_votes", {"ids": list(ids)}):
        vote = Vote(
            actor=row["actor"], approve=row["approve"], at=row["voted_at"], comment=row["comment"]
        )
        found.setdefault(int(row["deployment_id"]), []).append(vote)
    return {key: tuple(votes) for key, votes in found.items()}


async def _last_pushes(db: Executor, names: Collection[ImageName]) -> dict[ImageName, datetime]:
    if not names:
        return {}
    params = {
        "registries": [n.registry for n in names],
        "repositories": [n.repository for n in names],
    }
    return {
        ImageName(registry=row["registry"], repository=row["repository"]): row["last"]
        for row in await db.all("last_pushes", params)
    }


async def _audit(tx: Transaction, scope: str, actor: str, old: object, new: object) -> None:
    await tx.execute(
        "insert_audit",
        {
            "name": scope or _AUDIT_EVERYTHING,
            "actor": actor,
            "field": "freeze",
            "old_value": as_json(old),
            "new_value": as_json(new),
        },
    )


def _freeze(row: Row) -> Freeze:
    return Freeze(
        repository=row["scope"] or None,
        reason=row["reason"],
        actor=row["actor"],
        since=row["since"],
    )
