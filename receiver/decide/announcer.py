"""Which notifiers hear about a deployment, and what they are told.

A deployment names the notifiers routed to it when it was planned (its repository's ``notify``
and its workload's own ``regdeploy.notify``). Each notifier's ``level`` filters: ``failures``
hears only failures, rollbacks and conflicts; ``all`` hears every outcome. ``started: true``
adds a notice when a deploy starts. Superseded intents never ran and are not announced.

Release control tells the ``all`` notifiers when a deploy starts to wait (what for, with a link
to its page in the console), when it is released, and when it is rejected or expires.
"""

from __future__ import annotations

from datetime import datetime

from notifiers.base import Kind, Level, Notice
from receiver.config.notifiers import NotifierConfig
from receiver.store.notices import OutboxEntry
from receiver.store.records import Deployment, DeploymentStatus

_ANNOUNCED = frozenset(
    {
        DeploymentStatus.SUCCEEDED,
        DeploymentStatus.FAILED,
        DeploymentStatus.ROLLED_BACK,
        DeploymentStatus.CONFLICT,
        DeploymentStatus.DRY_RUN,
        DeploymentStatus.REJECTED,
        DeploymentStatus.EXPIRED,
        DeploymentStatus.REFUSED,
    }
)
_ENDED_WAITING = frozenset({DeploymentStatus.REJECTED, DeploymentStatus.EXPIRED})
_FAILURES = frozenset(
    {
        DeploymentStatus.FAILED,
        DeploymentStatus.ROLLED_BACK,
        DeploymentStatus.CONFLICT,
        DeploymentStatus.REFUSED,
    }
)


class Announcer:
    def __init__(self, notifiers: tuple[NotifierConfig, ...], *, base_url: str = "") -> None:
        self._notifiers = {n.name: n for n in notifiers}
        self._base_url = base_url.rstrip("/")

    def link(self, deployment: Deployment) -> str:
        """The deployment's page in the console."""
        return f"{self._base_url}/deployments/{deployment.id}"

    def waiting(self, deployment: Deployment, words: str) -> list[OutboxEntry]:
        """A deploy started to wait for ``words``."""
        return self._release(deployment, Kind.WAITING, "waiting", words)

    def released(self, deployment: Deployment, words: str) -> list[OutboxEntry]:
        return self._release(deployment, Kind.RELEASED, "released", words)

    def _release(
        self, deployment: Deployment, kind: Kind, outcome: str, words: str
    ) -> list[OutboxEntry]:
        notice = _notice(deployment, kind, outcome, words, None, link=self.link(deployment))
        return [
            OutboxEntry(notifier=n.name, group_key=group_key(deployment), notice=notice)
            for n in self._routed(deployment)
            if n.level is Level.ALL
        ]

    def outcome(
        self,
        deployment: Deployment,
        status: DeploymentStatus,
        message: str,
        *,
        finished: datetime,
    ) -> list[OutboxEntry]:
        if status not in _ANNOUNCED:
            return []
        started = deployment.started_at
        duration = (finished - started).total_seconds() if started else None
        link = self.link(deployment) if status in _ENDED_WAITING else None
        notice = _notice(deployment, Kind.OUTCOME, status.value, message, duration, link=link)
        return [
            OutboxEntry(notifier=n.name, group_key=group_key(deployment), notice=notice)
            for n in self._routed(deployment)
            if n.level is Level.ALL or status in _FAILURES
        ]

    def started(self, deployment: Deployment) -> list[OutboxEntry]:
        notice = _notice(deployment, Kind.STARTED, "started", "", None)
        return [
            OutboxEntry(notifier=n.name, group_key=group_key(deployment), notice=notice)
            for n in self._routed(deployment)
            if n.started and n.level is Level.ALL
        ]

    def _routed(self, deployment: Deployment) -> list[NotifierConfig]:
        return [self._notifiers[name] for name in deployment.notify if name in self._notifiers]


def group_key(deployment: Deployment) -> str:
    """The deploys one push caused share a message; others stand alone."""
    if deployment.event_id is not None:
        return f"event:{deployment.event_id}"
    return f"deployment:{deployment.id}"


def _notice(
    deployment: Deployment,
    kind: Kind,
    outcome: str,
    message: str,
    duration: float | None,
    *,
    link: str | None = None,
) -> Notice:
    return Notice(
        deployment_id=deployment.id,
        kind=kind,
        repository=deployment.repository_name or deployment.image.name.repository,
        target=deployment.target.key,
        from_image=deployment.previous_image,
        to_image=str(deployment.image),
        tag=deployment.image.tag or "",
        digest=deployment.image.digest or "",
        outcome=outcome,
        reason=deployment.reason,
        message=message,
        duration_seconds=round(duration, 1) if duration is not None else None,
        link=link,
    )
