"""The contract every notifier keeps.

A notifier renders recorded deploy outcomes (never raw events) and sends them to one channel.
``send`` gets every notice of one group (the deploys one push caused) and sends one message;
it raises ``NoticeFailed`` to ask for a retry (``retry_after`` when the service said when) or to
give up (``permanent``). The outbox in the store does the retrying.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Level(enum.StrEnum):
    """Which outcomes a notifier hears about."""

    FAILURES = "failures"
    ALL = "all"


class Kind(enum.StrEnum):
    STARTED = "started"
    OUTCOME = "outcome"
    # Release control: a deploy started to wait (``message``: what for), or was released.
    WAITING = "waiting"
    RELEASED = "released"
    # Rollouts: one notice per rollout start, halt, rollback and completion (``target`` names
    # the rollout and how many targets it moves; ``message`` says where it stands).
    ROLLOUT_STARTED = "rollout_started"
    ROLLOUT_HALTED = "rollout_halted"
    ROLLOUT_ROLLED_BACK = "rollout_rolled_back"
    ROLLOUT_COMPLETED = "rollout_completed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """One deploy, as a person should hear of it.

    ``outcome`` is the deployment status (``succeeded``, ``failed``, ``rolled_back``,
    ``conflict``, ``superseded``, ``dry_run``, ``rejected``, ``expired``) or ``started``,
    ``waiting``, ``released``; ``reason`` is why it was decided; ``message`` what the
    orchestrator said (the reason of a failure or rollback), or what a deploy waits for.
    ``link``: its page in the console.
    """

    deployment_id: int
    kind: Kind
    repository: str
    target: str
    from_image: str | None
    to_image: str
    tag: str
    digest: str
    outcome: str
    reason: str
    message: str
    duration_seconds: float | None = None
    link: str | None = None

    @property
    def failed(self) -> bool:
        return self.outcome in ("failed", "rolled_back", "conflict", "rollout_halted",
                                "rollout_rolled_back")  # fmt: skip

    @property
    def from_tag(self) -> str | None:
        """The tag the target ran before, when it was known."""
        if not self.from_image:
            return None
        name = self.from_image.partition("@")[0]
        _, colon, tag = name.rpartition(":")
        return tag if colon and "/" not in tag else None

    @property
    def from_digest(self) -> str | None:
        return self.from_image.partition("@")[2] or None if self.from_image else None


class Notifier(Protocol):
    name: str

    async def send(self, notices: Sequence[Notice]) -> None: ...


def sample_notice() -> Notice:
    """A made-up succeeded deploy, for trying a notifier out."""
    return Notice(
        deployment_id=0,
        kind=Kind.OUTCOME,
        repository="example/app",
        target="example:web",
        from_image="registry.example:5000/example/app:1.0.0@sha256:" + "0" * 64,
        to_image="registry.example:5000/example/app:1.0.1@sha256:" + "1" * 64,
        tag="1.0.1",
        digest="sha256:" + "1" * 64,
        outcome="succeeded",
        reason="test notice from regdeploy notify-test",
        message="",
        duration_seconds=1.0,
    )
