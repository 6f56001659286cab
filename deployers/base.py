"""The contract every deployer keeps, and the registry of deployers by kind.

A deployer moves workloads of one orchestrator (a Swarm service, a container, a Nomad job task)
to an image. It does a few things, each small enough that a recording fake is a few lines:

- ``workloads()``: every workload that opted in (by label or job meta), with the images it runs;
- ``changes()``: wake up whenever those may have changed (an events stream, a blocking query),
  so that regdeploy's inventory of what runs where stays current without asking again and again;
- ``current(target, name)``: the image of repository ``name`` the target runs now and since
  when (``Running``), or None when it does not exist or runs no image of that repository: read
  afresh, for a configured target and just before a deploy;
- ``deploy(target, image)``: move the target to the image (always a digest reference) and say
  how it went;
- ``platforms(target)``: the platforms (``linux/arm64``, as ``receiver.decide.trust.platforms``
  writes them) of the nodes the target can be placed on now, with how many nodes of each: what
  an image must cover (the ``platform`` trust check). Empty when the target does not exist;
  ``DeployerUnavailable`` when the orchestrator does not answer;
- ``health(target, image)``: whether the target, running ``image``, is healthy now by its
  orchestrator's own account (a rollout's soak, ``receiver.background.rollouts``): ``pending``
  while an update is under way or a health check starts, ``failed`` when it failed, with
  ``marks`` that change whenever the workload restarts (so a restart during a soak is seen even
  when the workload is healthy again by the next look);
- ``close()``: release what it holds (HTTP sessions, engine clients) when regdeploy stops.

``Deployers.health()`` asks each one which workloads run an image nobody runs: an orchestrator
that answers is reachable (``/api/v1/status``).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from handlers.references import Aliases, ImageName, ImageRef
from receiver.decide.rules.health import Health as Health
from receiver.decide.rules.health import HealthState as HealthState
from receiver.decide.rules.release import LABEL_PREFIX, RELEASE_KEYS, ROLLOUT_KEYS


# An image no workload runs: asking which opted-in workloads run it asks the orchestrator the
# question regdeploy asks it most, and changes nothing.
@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """One workload a deployer can move: ``kind`` names the deployer, ``name`` the workload.

    ``options`` narrow it down where the orchestrator needs more than a name (a Nomad group and
    task, a namespace). ``policy``, ``notify`` and ``release`` (its release control: ``window``,
    ``min_age``, ... as written) come from a discovered workload's own labels.
    """

    kind: str
    name: str
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    policy: str | None = None
    notify: tuple[str, ...] = ()
    release: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def key(self) -> str:
        """Stable identity: one running deploy per key at a time."""
        extra = ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.kind}:{self.name}" + (f"[{extra}]" if extra else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class Running:
    """What a workload runs, and since when the orchestrator says it has (a Nomad job's submit
    time, a container's creation, a service's last update); None when it cannot tell."""

    image: ImageRef
    since: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    """A workload that opted in, as its orchestrator lists it: the target that moves it, the
    images it runs (in order: a Nomad job's tasks) and since when it runs them."""

    target: Target
    images: tuple[ImageRef, ...]
    since: datetime | None = None

    def running(self, name: ImageName, aliases: Aliases) -> Running | None:
        """What it runs of repository ``name`` (registry aliases applied), if anything."""
        for image in self.images:
            if aliases.name(image.name) == name:
                return Running(image=image, since=self.since)
        return None


class DeployOutcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeployResult:
    """How one deploy went; ``message`` carries the orchestrator's own words on failure."""

    outcome: DeployOutcome
    message: str = ""
    retryable: bool = True

    @classmethod
    def failed(cls, message: str, *, retry: bool) -> DeployResult:
        return cls(outcome=DeployOutcome.FAILED, message=message, retryable=retry)


def tls_verify(ca_file: Path | None, verify: bool) -> bool | str:
    """What ``requests`` takes as ``verify``: the CA bundle to trust, or whether to verify."""
    return str(ca_file) if ca_file and verify else verify


def release_labels(values: Mapping[str, object] | None) -> Mapping[str, str]:
    """The release-control labels (job meta) of a workload, by key without ``regdeploy.``:
    ``window``, ``min_age``, ``settle``, ``approvals``, ``approval_deadline``; and its place in
    a rollout: ``wave``, ``stage``."""
    values = values or {}
    keys = (*RELEASE_KEYS, *ROLLOUT_KEYS)
    found = {key: str(values.get(LABEL_PREFIX + key) or "").strip() for key in keys}
    return MappingProxyType({k: v for k, v in found.items() if v})


def name_list(value: object) -> tuple[str, ...]:
    """A comma-separated list of names from a label or job meta (``"ops, chat"``)."""
    return tuple(n.strip() for n in str(value).split(",") if n.strip()) if value else ()


class Deployer(Protocol):
    """Moves the workloads of one orchestrator. Implementations must be safe to call again
    with the image a target already runs (it is then a no-op that succeeds)."""

    kind: str

    async def workloads(self) -> list[Workload]: ...

    def changes(self) -> AsyncIterator[None]:
        """Yields each time the workloads may have changed; ends when they cannot be watched
        (the inventory then lists them again now and then)."""
        ...

    async def current(self, target: Target, name: ImageName) -> Running | None: ...

    async def deploy(self, target: Target, image: ImageRef) -> DeployResult: ...

    async def platforms(self, target: Target) -> Mapping[str, int]:
        """Node platform -> how many ready nodes of it the target can be placed on now; raises
        ``receiver.errors.DeployerUnavailable`` when the orchestrator does not answer."""
        ...

    async def health(self, target: Target, image: ImageRef) -> Health:
        """Whether ``target`` runs ``image`` (its digest) and is healthy now: ``failed`` when
        it runs something else or does not exist; raises ``DeployerUnavailable`` when the
        orchestrator does not answer."""
        ...

    def close(self) -> None:
        """Release what the deployer holds (HTTP sessions, engine clients)."""


class Deployers:
    """The configured deployers, by kind."""

    def __init__(self, deployers: Iterable[Deployer] = ()) -> None:
        self._by_kind: dict[str, Deployer] = {}
        for deployer in deployers:
            self._by_kind[deployer.kind] = deployer

    def get(self, kind: str) -> Deployer | None:
        return self._by_kind.get(kind)

    def kinds(self) -> list[str]:
        return sorted(self._by_kind)

    def __iter__(self) -> Iterator[Deployer]:
        return iter(self._by_kind.values())

    def close(self) -> None:
        """Release what every deployer holds."""
        for deployer in self._by_kind.values():
            deployer.close()
