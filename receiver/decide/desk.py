"""The release desk: what people do to release control, whichever route they use (the API,
the console, the CLI through the API): approve or reject a waiting deploy, freeze and unfreeze a
repository or every one.

A vote is judged at once by the gate (``receiver.decide.gate``): the deploy goes, keeps waiting
or ends. Lifting a freeze has the gate judge again everything that waits. The console's
confirmation of a vote asks ``preview_vote`` what the vote would do, changing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from receiver.decide.gate import ReleaseGate, judge_waiting
from receiver.decide.rules.release import Freeze, ReleaseVerdict, Vote
from receiver.decide.words import unfrozen_words, vote_words
from receiver.errors import NotWaiting
from receiver.metrics import Metrics
from receiver.store.records import Deployment, DeploymentStatus
from receiver.store.releases import EVERYTHING, ReleaseQueries
from receiver.store.repositories import RepositoryQueries

log = structlog.get_logger("regdeploy.release")


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteResult:
    """A vote and where it left the deploy: ``counted`` false when the token had voted so
    already; ``verdict``: the deploy's state after it; ``status``: its status after it."""

    deployment: Deployment
    counted: bool
    verdict: ReleaseVerdict
    status: DeploymentStatus
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VotePreview:
    """What a vote would do, changing nothing: whether it would count, and the verdict after."""

    counted: bool
    verdict: ReleaseVerdict


@dataclass(frozen=True, slots=True, kw_only=True)
class FreezeResult:
    """What a freeze or an unfreeze changed, in words, and the freezes on now."""

    changed: Freeze | None
    freezes: tuple[Freeze, ...]
    released: tuple[int, ...]
    message: str


class ReleaseDesk:
    def __init__(
        self,
        *,
        releases: ReleaseQueries,
        repositories: RepositoryQueries,
        gate: ReleaseGate,
        metrics: Metrics,
    ) -> None:
        self._releases = releases
        self._repositories = repositories
        self._gate = gate
        self._metrics = metrics

    # -- voting ------------------------------------------------------------------------------

    async def approve(self, deployment_id: int, *, actor: str, comment: str = "") -> VoteResult:
        """``actor`` (an API token's name) approves a waiting deploy; the same token twice
        counts once. Raises ``NotWaiting`` unless it waits, for approvals."""
        return await self._vote(deployment_id, actor=actor, approve=True, comment=comment)

    async def reject(self, deployment_id: int, *, actor: str, comment: str = "") -> VoteResult:
        """``actor`` rejects a waiting deploy (whatever it waits for): it ends, ``rejected``."""
        return await self._vote(deployment_id, actor=actor, approve=False, comment=comment)

    async def _vote(
        self, deployment_id: int, *, actor: str, approve: bool, comment: str
    ) -> VoteResult:
        async with self._releases.hold(deployment_id) as batch:
            [item] = batch.items
            d = item.deployment
            _votable(d, approve=approve)
            now = self._gate.clock.now()
            counted, voted = await batch.vote(
                item, actor=actor, approve=approve, comment=comment, at=now
            )
            verdict = judge_waiting(voted, batch.state, now=now)
            status = await self._gate.settle(batch, voted, verdict)
        if counted:
            self._metrics.voted(approve=approve)
        log.info("deploy_voted", deployment=d.id, actor=actor, approve=approve, counted=counted)
        message = vote_words(d, actor=actor, approve=approve, counted=counted, verdict=verdict)
        return VoteResult(
            deployment=d, counted=counted, verdict=verdict, status=status, message=message
        )

    async def preview_vote(
        self, deployment: Deployment, *, actor: str, approve: bool
    ) -> VotePreview:
        """What ``actor``'s approval (``approve``) or rejection of ``deployment`` would do now,
        changing nothing. Raises ``NotWaiting`` as the vote itself would."""
        _votable(deployment, approve=approve)
        cast = (await self._releases.votes([deployment.id])).get(deployment.id, ())
        counted = not approve or all(v.actor != actor for v in cast)
        if counted:
            others = tuple(v for v in cast if v.actor != actor)
            cast = (*others, Vote(actor=actor, approve=approve, at=self._gate.clock.now()))
        return VotePreview(counted=counted, verdict=await self._gate.verdict_with(deployment, cast))

    # -- freezing ----------------------------------------------------------------------------

    async def freeze(self, repository: str | None, *, reason: str, actor: str) -> FreezeResult:
        """Hold every deploy decided from now on of ``repository`` (None: of every repository)
        until it is unfrozen, audited."""
        if repository is not None:
            await self._repositories.get_repository(repository)  # UnknownRepository: 404
        changed = await self._releases.freeze(
            repository or EVERYTHING, reason=reason, actor=actor, at=self._gate.clock.now()
        )
        log.info("frozen", repository=repository, actor=actor, reason=reason)
        freezes = tuple(await self._releases.list_freezes())
        return FreezeResult(
            changed=changed, freezes=freezes, released=(), message=changed.describe()
        )

    async def unfreeze(self, repository: str | None, *, actor: str) -> FreezeResult:
        """Lift the freeze; what it held is judged again at once (the newest per target goes,
        unless something else holds it)."""
        lifted = await self._releases.unfreeze(
            repository or EVERYTHING, actor=actor, at=self._gate.clock.now()
        )
        if lifted is None:
            freezes = tuple(await self._releases.list_freezes())
            message = unfrozen_words(repository, actor=actor, lifted=False, released=())
            return FreezeResult(changed=None, freezes=freezes, released=(), message=message)
        log.info("unfrozen", repository=repository, actor=actor)
        released = tuple(await self._gate.release_due())
        message = unfrozen_words(repository, actor=actor, lifted=True, released=released)
        freezes = tuple(await self._releases.list_freezes())
        return FreezeResult(changed=lifted, freezes=freezes, released=released, message=message)


def _votable(d: Deployment, *, approve: bool) -> None:
    """Raise ``NotWaiting`` unless ``d`` waits (for approvals, to be approved)."""
    if d.status is not DeploymentStatus.WAITING:
        raise NotWaiting(f"deployment {d.id} is {d.status.value}, not waiting")
    if approve and not d.release.approvals:
        raise NotWaiting(f"deployment {d.id} does not wait for approvals")
