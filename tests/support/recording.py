"""A recording deployer: keeps what each target runs in memory (or in a JSON file, so that a
service killed mid-deploy and started again sees the same state), and records every call."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from deployers.base import (
    DeployOutcome,
    DeployResult,
    Health,
    HealthState,
    Running,
    Target,
    Workload,
)
from handlers.references import ImageName, ImageRef, parse_reference


@dataclass
class RecordingDeployer:
    kind: str = "recording"
    delay: float = 0.0
    # Deploys wait for it to be set before they go on (a deploy the test holds running).
    held: asyncio.Event | None = None
    state_file: Path | None = None
    running: dict[str, ImageRef] = field(default_factory=dict)
    # When each target last changed, where a test says (as an orchestrator would).
    since: dict[str, datetime] = field(default_factory=dict)
    discoverable: list[tuple[Target, ImageName]] = field(default_factory=list)
    # Outcomes to return, in order, before succeeding (e.g. [FAILED, FAILED]).
    scripted: list[DeployResult] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    # What ``platforms`` answers for every target: node platform -> node count.
    node_platforms: dict[str, int] = field(default_factory=lambda: {"linux/amd64": 1})
    # What ``health`` says of a target's image, by target key, once it runs it (default:
    # healthy); ``restarts`` bumps its marks as an orchestrator's restart would.
    health_of: dict[str, Health] = field(default_factory=dict)
    restarts: Counter[str] = field(default_factory=Counter)
    # Digests that are unhealthy wherever they run (an image that crashes at start).
    crashing: set[str] = field(default_factory=set)
    active: Counter[str] = field(default_factory=Counter)
    max_active: Counter[str] = field(default_factory=Counter)
    closed: bool = False
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def run(self, target: Target, image: str) -> None:
        """Make ``target`` run ``image`` as if someone had deployed it by hand."""
        self.running[target.key] = parse_reference(image)
        self._save()
        self._changed.set()

    def deployed(self, target: Target) -> list[str]:
        return [image for key, image in self.calls if key == target.key]

    async def workloads(self) -> list[Workload]:
        self._load()
        return [
            Workload(
                target=target,
                images=(self.running.get(target.key) or ImageRef(name=name),),
                since=self.since.get(target.key),
            )
            for target, name in self.discoverable
        ]

    async def changes(self) -> AsyncIterator[None]:
        """Each ``run`` is a change, as an orchestrator's events stream would say."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            yield

    async def current(self, target: Target, name: ImageName) -> Running | None:
        self._load()
        image = self.running.get(target.key)
        return Running(image=image, since=self.since.get(target.key)) if image else None

    async def deploy(self, target: Target, image: ImageRef) -> DeployResult:
        self.active[target.key] += 1
        self.max_active[target.key] = max(self.max_active[target.key], self.active[target.key])
        try:
            self._append_log("start", target, image)
            if self.held is not None:
                await self.held.wait()
            if self.delay:
                await asyncio.sleep(self.delay)
            self.calls.append((target.key, str(image)))
            self._append_log("done", target, image)
            if self.scripted:
                return self.scripted.pop(0)
            self.running[target.key] = image
            self._save()
            return DeployResult(outcome=DeployOutcome.SUCCEEDED, message=f"now on {image}")
        finally:
            self.active[target.key] -= 1

    async def health(self, target: Target, image: ImageRef) -> Health:
        self._load()
        running = self.running.get(target.key)
        if running is None or running.digest != image.digest:
            return Health.failed(f"runs {running}, not {image}")
        marks = f"{target.key}:{running.digest}:{self.restarts[target.key]}"
        if image.digest in self.crashing:
            return Health(state=HealthState.FAILED, words="exited with code 1", marks=marks)
        said = self.health_of.get(target.key)
        if said is not None:
            return Health(state=said.state, words=said.words, marks=said.marks or marks)
        return Health(state=HealthState.HEALTHY, words="running", marks=marks)

    async def platforms(self, target: Target) -> Mapping[str, int]:
        return dict(self.node_platforms)

    def close(self) -> None:
        self.closed = True

    def _save(self) -> None:
        if self.state_file is not None:
            state = {key: str(image) for key, image in self.running.items()}
            self.state_file.write_text(json.dumps(state))

    def _load(self) -> None:
        if self.state_file is not None and self.state_file.exists():
            state = json.loads(self.state_file.read_text())
            self.running = {key: parse_reference(text) for key, text in state.items()}

    def _append_log(self, what: str, target: Target, image: ImageRef) -> None:
        if self.state_file is not None:
            with self.state_file.with_suffix(".log").open("a") as log:
                log.write(f"{what} {target.key} {image}\n")


def image(name: str, tag: str, digest_char: str) -> str:
    return f"{name}:{tag}@sha256:{digest_char * 64}"


def targets(*names: str, kind: str = "recording") -> Iterable[Target]:
    return [Target(kind=kind, name=n) for n in names]
