"""PostgreSQL: the only package that talks to the database.

A ``Store`` is a narrow ``Connector`` (the aiopg pool, the named queries of ``queries.sql``, the
translation of driver errors) and the query groups built on it, one per table area. The rest of
regdeploy receives the groups it needs:

- ``events``: stored notifications, the tag catalog, rejected payloads;
- ``repositories``: the watched repositories and their audit;
- ``decisions``: deciding stored events into plans (intents to deploy, skips);
- ``deployments``: the deploy queue: intents, their attempts and outcomes;
- ``notices``: the outbox of notices;
- ``leases``: work only one process at a time may do;
- ``releases``: release control: waiting deploys, their votes, freezes;
- ``backlog``: what waits now (for the metrics and ``/api/v1/status``);
- ``sessions``: the console's signed-in browsers;
- ``processes``: the regdeploy processes running, and the configuration each runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from receiver.errors import StoreError
from receiver.store.backlog import BacklogQueries
from receiver.store.connector import Connector, Transaction, schema_sql
from receiver.store.decisions import DecisionQueries
from receiver.store.deployments import DeploymentQueries
from receiver.store.events import EventQueries
from receiver.store.leases import LeaseQueries
from receiver.store.notices import NoticeQueries
from receiver.store.processes import ProcessQueries
from receiver.store.releases import ReleaseQueries
from receiver.store.repositories import RepositoryQueries
from receiver.store.rollouts import RolloutQueries
from receiver.store.sessions import SessionQueries

SCHEMA_VERSION = 11


class Listener(Protocol):
    """Waits for news on a channel (``LISTEN/NOTIFY``): what the background loops wake on."""

    async def wait(self, seconds: float) -> bool:
        """True when news arrived within ``seconds``, False when the time passed (or the
        connection failed: the caller polls anyway, so nothing is missed)."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Store:
    connector: Connector
    events: EventQueries
    repositories: RepositoryQueries
    decisions: DecisionQueries
    deployments: DeploymentQueries
    notices: NoticeQueries
    leases: LeaseQueries
    backlog: BacklogQueries
    releases: ReleaseQueries
    sessions: SessionQueries
    processes: ProcessQueries
    rollouts: RolloutQueries

    @classmethod
    async def open(
        cls, dsn: str, *, pool_size: int, query_timeout: float, rejections_kept: int = 1000
    ) -> Store:
        """Connect; raise DatabaseUnavailable if the server does not answer.
        ``rejections_kept``: the rejected bodies each source keeps (its newest)."""
        db = await Connector.open(dsn, pool_size=pool_size, query_timeout=query_timeout)
        return cls(
            connector=db,
            events=EventQueries(db, rejections_kept=rejections_kept),
            repositories=RepositoryQueries(db),
            decisions=DecisionQueries(db),
            deployments=DeploymentQueries(db),
            notices=NoticeQueries(db),
            leases=LeaseQueries(db),
            backlog=BacklogQueries(db),
            releases=ReleaseQueries(db),
            sessions=SessionQueries(db),
            processes=ProcessQueries(db),
            rollouts=RolloutQueries(db),
        )

    async def migrate(self) -> int:
        """Bring the schema up to this version under a lock; return the recorded version.

        Every process does this as it starts, beside others that are busy: schema.sql (whose
        ``ALTER TABLE`` statements lock whole tables, even when they change nothing) runs only
        when the recorded version is older, and a deadlock with those processes is tried again.
        """

        async def apply(tx: Transaction) -> int:
            await tx.execute("schema_lock")
            version = await _recorded_version(tx)
            if version < SCHEMA_VERSION:
                await tx.script(schema_sql())
                version = await _recorded_version(tx)
            return version

        version = await self.connector.retried(apply)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database has schema version {version}, newer than this regdeploy "
                f"({SCHEMA_VERSION}); upgrade regdeploy"
            )
        return version

    async def ping(self) -> None:
        await self.connector.execute("ping")

    def listener(self, channel: str) -> Listener:
        return self.connector.listener(channel)

    async def close(self) -> None:
        await self.connector.close()


async def _recorded_version(tx: Transaction) -> int:
    """The schema version the database records (0 when it has no schema yet)."""
    table = await tx.one("schema_table")
    if table is None or not table["present"]:
        return 0
    row = await tx.one("schema_version")
    return int(row["version"]) if row is not None else 0
