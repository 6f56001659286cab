"""The read model: what the API, the console and the CLI show, read and put together in one
place, so that every surface says the same thing in the same words.

- ``status``: is the database up, what each deployer answered, what waits, the freezes, the
  reconciler's rounds (``/api/v1/status``, the console's overview, ``regdeploy status``);
- ``deployments``: deploys with what each waiting one waits for now and its votes;
- ``release_of``: a repository's release control for ``/explain``: the freezes that hold it,
  each target's rules, the deploy that waits for it;
- ``workloads``: what runs where and what governs it.

Nothing here changes anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from deployers.base import Target
from handlers.references import Aliases, ImageRef
from receiver.background.inventory import Inventory, ListingState
from receiver.background.reconciler import LEASE, LEASE_ROUNDS
from receiver.decide.actions import sorted_tags
from receiver.decide.gate import ReleaseGate
from receiver.decide.planner import Planner
from receiver.decide.rollout_desk import gate_now, with_gate_words
from receiver.decide.rules.release import Freeze, ReleaseVerdict, Vote
from receiver.decide.trust.checks import TagTrust, TrustChecks
from receiver.errors import ReleaseRuleError, StoreError
from receiver.store import Store
from receiver.store.records import (
    Backlog,
    Deployment,
    DeploymentStatus,
    LeaseState,
    ProcessState,
    RepositoryState,
)
from receiver.views.workloads import WorkloadLine, workload_lines

#: The running deploys a status lists at most.
RUNNING_LISTED = 50
#: The waiting deploys of one repository an explanation reads at most.
WAITING_READ = 1000
#: The newest deployments of a repository read for each target's last trust checks.
CHECKED_READ = 200


@dataclass(frozen=True, slots=True, kw_only=True)
class Status:
    """What a running regdeploy is doing. ``database_error``: why the database did not answer
    (None when it did; the queue, the running deploys, the lease and the freezes are then
    known)."""

    database_error: str | None
    listings: tuple[ListingState, ...]
    backlog: Backlog | None
    running: tuple[Deployment, ...]
    lease: LeaseState | None
    freezes: tuple[Freeze, ...]
    # The processes that said lately which configuration they run, this one among them.
    processes: tuple[ProcessState, ...] = ()

    @property
    def ok(self) -> bool:
        return self.database_error is None and all(s.error is None for s in self.listings)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeploymentView:
    """A deployment as people see it: ``verdict``: what it waits for now (when it waits);
    ``votes``: the votes cast on it (when it needs approvals)."""

    deployment: Deployment
    verdict: ReleaseVerdict | None = None
    votes: tuple[Vote, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetRelease:
    """One target's release control: its rules in words (or why they cannot be read), and
    the deploy that waits for it, if one does, with what it waits for and its votes."""

    rules: tuple[str, ...]
    waiting: DeploymentView | None = None
    # Its last deploy of the repository that ran the trust checks, with what each said.
    checked: Deployment | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RepositoryRelease:
    """A repository's release control (``/explain``): the freezes that hold it, and each
    target's rules and waiting deploy, by target key."""

    freezes: tuple[Freeze, ...]
    targets: Mapping[str, TargetRelease]


class ReadModel:
    def __init__(
        self,
        *,
        store: Store,
        gate: ReleaseGate,
        inventory: Inventory,
        planner: Planner,
        aliases: Aliases,
        trust: TrustChecks,
    ) -> None:
        self._store = store
        self._gate = gate
        self._inventory = inventory
        self._planner = planner
        self._aliases = aliases
        self._trust = trust

    async def tag_trust(self, state: RepositoryState) -> list[TagTrust]:
        """The newest known tags of ``state``'s repository, each as its trust checks see it
        now (its platforms, signature and scan), before anything deploys."""
        catalog = await self._store.events.repository_catalog(state.rules.image)
        digests = {t.tag: t.digest for t in catalog}
        images = [
            ImageRef(name=state.rules.image, tag=tag, digest=digests[tag])
            for tag in sorted_tags(list(digests))
        ]
        return await self._trust.survey(state.rules.name, images)

    async def status(self) -> Status:
        """The database, each deployer's last listing (listed again if stale), the queue and
        the reconciler's lease."""
        await self._inventory.fresh()
        listings = tuple(self._inventory.states())
        store = self._store
        try:
            backlog = await store.backlog.snapshot()
            running = await store.deployments.list_deployments(
                limit=RUNNING_LISTED, status=DeploymentStatus.RUNNING.value
            )
            lease = await store.leases.get_lease(LEASE)
            freezes = await store.releases.list_freezes()
            processes = await store.processes.seen()
        except StoreError as exc:
            return Status(database_error=str(exc), listings=listings, backlog=None, running=(),
                          lease=None, freezes=())  # fmt: skip
        return Status(
            database_error=None,
            listings=listings,
            backlog=backlog,
            running=tuple(running),
            lease=lease,
            freezes=tuple(freezes),
            processes=tuple(processes),
        )

    async def deployments(self, deployments: Sequence[Deployment]) -> list[DeploymentView]:
        """``deployments``, each waiting one with what it waits for now, and the votes of
        those that need approvals."""
        verdicts = await self._live_gates(deployments, await self._gate.verdicts(deployments))
        asked = [d.id for d in deployments if d.release.approvals]
        votes = await self._store.releases.votes(asked)
        return [
            DeploymentView(deployment=d, verdict=verdicts.get(d.id), votes=votes.get(d.id, ()))
            for d in deployments
        ]

    async def _live_gates(
        self, deployments: Sequence[Deployment], verdicts: dict[int, ReleaseVerdict]
    ) -> dict[int, ReleaseVerdict]:
        """``verdicts`` with each wave's wait in words as its rollout stands now ("wave 2 of 3
        starts when wave 1 has been healthy for 5 min: 3 min 12 s to go")."""
        gated = [d for d in deployments if d.id in verdicts and d.rollout_id and d.gate]
        rollouts = {}
        for rollout_id in {d.rollout_id for d in gated if d.rollout_id is not None}:
            rollouts[rollout_id] = await self._store.rollouts.get(rollout_id)
        now = self._gate.clock.now()
        for d in gated:
            words = gate_now(rollouts[d.rollout_id or 0], d.target.key, now=now)
            if words is not None:
                verdicts[d.id] = with_gate_words(verdicts[d.id], words)
        return verdicts

    async def deployment(self, deployment_id: int) -> DeploymentView:
        """One deployment as people see it."""
        [view] = await self.deployments(
            [await self._store.deployments.get_deployment(deployment_id)]
        )
        return view

    async def freezes(self, repository: str | None = None) -> list[Freeze]:
        """The freezes on now; with ``repository``, those that hold it."""
        found = await self._store.releases.list_freezes()
        return found if repository is None else [f for f in found if f.holds(repository)]

    async def release_of(self, repository: str, targets: Sequence[Target]) -> RepositoryRelease:
        """Why deploys of ``repository`` to ``targets`` wait, or would: the freezes, each
        target's rules, and its waiting deploy with what it waits for now."""
        waiting = await self._store.deployments.list_deployments(
            limit=WAITING_READ, repository_name=repository, status=DeploymentStatus.WAITING.value
        )
        by_target = {view.deployment.target.key: view for view in await self.deployments(waiting)}
        recent = await self._store.deployments.list_deployments(
            limit=CHECKED_READ, repository_name=repository
        )
        checked: dict[str, Deployment] = {}
        for d in recent:  # newest first
            if d.checks:
                checked.setdefault(d.target.key, d)
        found = {}
        for target in targets:
            try:
                rules = tuple(self._gate.rules_for(repository, target).describe())
            except ReleaseRuleError as exc:
                rules = (f"not deployed: {exc}",)
            found[target.key] = TargetRelease(
                rules=rules, waiting=by_target.get(target.key), checked=checked.get(target.key)
            )
        return RepositoryRelease(freezes=tuple(await self.freezes(repository)), targets=found)

    async def workloads(self) -> list[WorkloadLine]:
        """What runs where (listed again if stale), with what governs each workload and its
        last deployment."""
        await self._inventory.fresh()
        store = self._store
        return await workload_lines(
            self._inventory.entries(),
            planner=self._planner,
            repositories=await store.repositories.list_repositories(),
            aliases=self._aliases,
            last=await store.deployments.last_per_target(),
        )

    def listings(self) -> list[ListingState]:
        """Each deployer's last listing, as the inventory holds it."""
        return list(self._inventory.states())


def reconciler_rounds(
    lease: LeaseState | None, *, interval: float
) -> tuple[datetime | None, datetime | None]:
    """When the reconciler's last round started and when the next one is due, from its lease
    (taken for ``LEASE_ROUNDS`` intervals at the start of each round); None, None before any."""
    if lease is None:
        return None, None
    last = lease.expires_at - timedelta(seconds=interval * LEASE_ROUNDS)
    return last, last + timedelta(seconds=interval)
