"""Which notifiers hear about a deployment, and what they are told.

A deployment names the notifiers routed to it when it was planned (its repository's ``notify``
and its workload's own ``regdeploy.notify``). Each notifier's ``level`` filters: ``failures``
hears only failures, rollbacks and conflicts; ``all`` hears every outcome. ``started: true``
adds a notice when a deploy starts. Superseded intents never ran and are not announced.

A deployment of a rollout has no notices of its own: its rollout's speak for it, one per start,
halt, rollback and completion (``rollout``), to the notifiers of its targets; a halt and a
rollback reach ``failures`` notifiers too.

Release control tells the ``all`` notifiers when a deploy starts to wait (what for, with a link
to its page in the console), when it is released, and when it is rejected or expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from handlers.references import ImageRef
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


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutNews:
    """What a rollout notice says: of which rollout (``anchor``: a deployment of it, which the
    outbox files it under), what happened (``kind``) and where it stands (``words``)."""

    rollout_id: int
    anchor: int
    kind: Kind
    repository: str
    stage: str
    image: ImageRef
    targets: int
    reason: str
    words: str
    notify: tuple[str, ...]


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

    def rollout(self, news: RolloutNews) -> list[OutboxEntry]:
        """One notice of a rollout's start, halt, rollback or completion."""
        image = news.image
        notice = Notice(
            deployment_id=news.anchor,
            kind=news.kind,
            repository=news.repository,
            target=f"rollout {news.rollout_id}"
            + (f" to {news.stage}" if news.stage else "")
            + f" ({news.targets} target{'s' if news.targets != 1 else ''})",
            from_image=None,
            to_image=str(image),
            tag=image.tag or "",
            digest=image.digest or "",
            outcome=news.kind.value,
            reason=news.reason,
            message=news.words,
            link=f"{self._base_url}/rollouts/{news.rollout_id}",
        )
        failure = news.kind in (Kind.ROLLOUT_HALTED, Kind.ROLLOUT_ROLLED_BACK)
        group = f"rollout:{news.rollout_id}:{news.kind.value}"
        return [
            OutboxEntry(notifier=name, group_key=group, notice=notice)
            for name in news.notify
            if (n := self._notifiers.get(name)) is not None and (n.level is Level.ALL or failure)
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
