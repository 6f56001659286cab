"""Rollouts: which targets move in which wave, and what a wave's look at its targets means
(pure, no I/O: the caller reads the deployments and the orchestrators and passes the time).

A push that a repository with a ``rollout:`` (or ``stages:``) accepts moves its targets in waves
(``waves: [1, 25%, 100%]``: cumulative, a count or a share of the targets it moves). A target's
place: its ``regdeploy.wave`` label (job meta; a number, lower first), then its name. A wave
starts when the previous one has been healthy for ``soak``; a wave fails when a deploy of it
fails, a target is reported unhealthy, restarts during the soak (its marks change), is not
healthy within ``health_timeout`` of its deploy, or ``verify`` fails (``judge_wave``).

With ``stages:``, a push rolls out to the first stage only; a later stage gets the same digest
once the previous one has run it healthy for ``promote.soak`` (``receiver.decide.promotion``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from receiver.decide.rules.health import Health, HealthState
from receiver.decide.rules.release import LABEL_PREFIX

STAGE_LABEL = LABEL_PREFIX + "stage"
#: How long a wave's targets may take to become healthy after their deploys, by default.
HEALTH_TIMEOUT = timedelta(minutes=10)


class FailureAction(enum.StrEnum):
    ROLLBACK = "rollback"
    HALT = "halt"


class RolloutState(enum.StrEnum):
    RUNNING = "running"
    HALTED = "halted"
    ROLLED_BACK = "rolled_back"
    COMPLETED = "completed"
    ABANDONED = "abandoned"


class WaveState(enum.StrEnum):
    PENDING = "pending"
    DEPLOYING = "deploying"
    SOAKING = "soaking"
    HEALTHY = "healthy"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class WaveSize:
    """One entry of ``waves``: a count of targets (``1``) or a share of them (``25%``),
    cumulative."""

    count: int | None = None
    percent: float | None = None

    def reach(self, total: int) -> int:
        """How many of ``total`` targets have moved once this wave has."""
        if self.count is not None:
            return min(self.count, total)
        return min(total, math.ceil((self.percent or 0) * total / 100 - 1e-9))

    def describe(self) -> str:
        return str(self.count) if self.count is not None else f"{self.percent:g}%"


ALL = WaveSize(percent=100)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpCheck:
    """``verify.http``: a URL that must answer ``status`` within ``timeout``, every
    ``interval``, during each soak."""

    url: str
    status: int = 200
    timeout: timedelta = timedelta(seconds=2)
    interval: timedelta = timedelta(seconds=5)


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutPolicy:
    """``rollout:`` of a repository (or ``defaults.rollout``)."""

    waves: tuple[WaveSize, ...] = (ALL,)
    soak: timedelta = timedelta(0)
    on_failure: FailureAction = FailureAction.ROLLBACK
    verify: HttpCheck | None = None
    health_timeout: timedelta = HEALTH_TIMEOUT

    def as_json(self) -> dict[str, Any]:
        verify = self.verify
        return {
            "waves": [w.describe() for w in self.waves],
            "soak_seconds": self.soak.total_seconds(),
            "on_failure": self.on_failure.value,
            "health_timeout_seconds": self.health_timeout.total_seconds(),
            "verify": None
            if verify is None
            else {
                "url": verify.url,
                "status": verify.status,
                "timeout_seconds": verify.timeout.total_seconds(),
                "interval_seconds": verify.interval.total_seconds(),
            },
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RolloutPolicy:
        verify = raw.get("verify")
        return cls(
            waves=tuple(parse_wave(w) for w in raw.get("waves") or ("100%",)),
            soak=timedelta(seconds=raw.get("soak_seconds") or 0),
            on_failure=FailureAction(raw.get("on_failure") or "rollback"),
            health_timeout=timedelta(seconds=raw.get("health_timeout_seconds") or 600),
            verify=None
            if not verify
            else HttpCheck(
                url=verify["url"],
                status=int(verify["status"]),
                timeout=timedelta(seconds=verify["timeout_seconds"]),
                interval=timedelta(seconds=verify["interval_seconds"]),
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Promotion:
    """``promote:`` of a stage: what it needs from the stage before it."""

    soak: timedelta = timedelta(0)
    approvals: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Stage:
    """One of a repository's ``stages``: its targets, by their ``regdeploy.stage`` label (job
    meta; ``label`` is ``("stage", NAME)``, keyed as ``Target.release`` keys it) or by target
    keys."""

    name: str
    label: tuple[str, str] | None = None
    targets: frozenset[str] = frozenset()
    promote: Promotion = field(default_factory=Promotion)

    def selects(self, key: str, labels: Mapping[str, str]) -> bool:
        if key in self.targets:
            return True
        return self.label is not None and labels.get(self.label[0]) == self.label[1]


@dataclass(frozen=True, slots=True, kw_only=True)
class RolloutPlan:
    """A repository's rollout rules as deciding applies them: ``policy`` for the waves of each
    stage (or of all its targets when there are no ``stages``)."""

    policy: RolloutPolicy = field(default_factory=RolloutPolicy)
    stages: tuple[Stage, ...] = ()

    def stage_index(self, name: str) -> int | None:
        return next((i for i, s in enumerate(self.stages) if s.name == name), None)

    def stage_of(self, key: str, labels: Mapping[str, str]) -> int | None:
        """Which stage a target belongs to (its first that selects it); None: none does."""
        return next((i for i, s in enumerate(self.stages) if s.selects(key, labels)), None)


def parse_wave(value: object) -> WaveSize:
    """``1``, ``3``, ``25%``, ``100%``. Raises ``ValueError`` with what was expected."""
    text = str(value).strip()
    if isinstance(value, bool) or not text:
        raise ValueError(f"expected a count (3) or a share (25%), got {value!r}")
    if text.endswith("%"):
        try:
            percent = float(text[:-1])
        except ValueError:
            raise ValueError(f"expected a share such as 25%, got {value!r}") from None
        if not 0 < percent <= 100:
            raise ValueError(f"expected a share above 0% and at most 100%, got {value!r}")
        return WaveSize(percent=percent)
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"expected a count of at least 1 (or a share such as 25%), got {value!r}")
    return WaveSize(count=int(text))


def wave_order(key: str, name: str, labels: Mapping[str, str]) -> tuple[float, str, str]:
    """Where a target goes in the waves: its ``regdeploy.wave`` (``labels`` keyed without
    ``regdeploy.``, as ``Target.release``; lower first; none: last), then its name."""
    text = labels.get("wave", "").strip()
    try:
        place = float(text) if text else math.inf
    except ValueError:
        place = math.inf
    return (place, name, key)


def assign_waves(ordered: Sequence[str], waves: Sequence[WaveSize]) -> list[tuple[str, ...]]:
    """``ordered`` targets (as ``wave_order`` sorts them) split into the waves; waves that
    would move nobody more are left out, and the last wave takes whatever is left."""
    total = len(ordered)
    groups: list[tuple[str, ...]] = []
    done = 0
    for size in waves:
        reach = max(done, size.reach(total))
        if reach > done:
            groups.append(tuple(ordered[done:reach]))
            done = reach
    if done < total:
        if groups:
            groups[-1] = groups[-1] + tuple(ordered[done:])
        else:
            groups.append(tuple(ordered[done:]))
    return groups


# -- judging a wave ------------------------------------------------------------------------


class Settled(enum.StrEnum):
    """Where a wave's deploys are: all done, some still to come, or one that failed."""

    DONE = "done"
    UNDERWAY = "underway"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetLook:
    """One target of a wave at a look: how its deploy ended (``settled``; ``words``: the
    deployment's message), its health (None: not asked; a dry run is not), and the marks
    recorded when the soak started."""

    key: str
    settled: Settled
    words: str = ""
    health: Health | None = None
    baseline: str | None = None
    deployed: bool = True


class WaveAction(enum.StrEnum):
    WAIT = "wait"
    SOAK = "soak"  # every target is healthy: the soak starts now (record the marks)
    ADVANCE = "advance"
    FAIL = "fail"


@dataclass(frozen=True, slots=True, kw_only=True)
class WaveVerdict:
    action: WaveAction
    words: str


@dataclass(frozen=True, slots=True, kw_only=True)
class WaveLook:
    """What is known of a wave at a look: when its deploys were all done (``settled_at``) and
    when its soak started (``healthy_since``)."""

    number: int
    count: int
    soak: timedelta
    health_timeout: timedelta
    settled_at: datetime | None
    healthy_since: datetime | None
    verify_failure: str | None = None


def judge_wave(wave: WaveLook, looks: Sequence[TargetLook], *, now: datetime) -> WaveVerdict:
    """What to do with a wave now, from its targets' looks (``TargetLook``)."""
    failed = next((look for look in looks if look.settled is Settled.FAILED), None)
    if failed is not None:
        return WaveVerdict(action=WaveAction.FAIL, words=f"{failed.key}: {failed.words}")
    underway = [look for look in looks if look.settled is Settled.UNDERWAY]
    if underway:
        done = len(looks) - len(underway)
        return WaveVerdict(
            action=WaveAction.WAIT,
            words=f"wave {wave.number} of {wave.count} deploying: {done} of {len(looks)} done",
        )
    return _judge_health(wave, [look for look in looks if look.deployed], now)


def _judge_health(wave: WaveLook, looks: Sequence[TargetLook], now: datetime) -> WaveVerdict:
    for look in looks:
        health = look.health
        if health is not None and health.state is HealthState.FAILED:
            return WaveVerdict(action=WaveAction.FAIL, words=f"{look.key}: {health.words}")
    unknown = next(
        (
            look
            for look in looks
            if look.health is not None and look.health.state is HealthState.UNKNOWN
        ),
        None,
    )
    if unknown is not None:
        said = unknown.health.words if unknown.health is not None else ""
        words = (
            f"wave {wave.number} of {wave.count}: cannot tell whether {unknown.key} is healthy "
            f"now ({said})"
        )
        return WaveVerdict(action=WaveAction.WAIT, words=words)
    if wave.healthy_since is not None:
        for look in looks:
            health = look.health
            if health is not None and look.baseline is not None and health.marks != look.baseline:
                words = f"{look.key} restarted during the soak ({health.words})"
                return WaveVerdict(action=WaveAction.FAIL, words=words)
    if wave.verify_failure is not None:
        return WaveVerdict(action=WaveAction.FAIL, words=f"verify: {wave.verify_failure}")
    pending = [
        look
        for look in looks
        if look.health is None or look.health.state is not HealthState.HEALTHY
    ]
    if pending:
        first = pending[0]
        said = first.health.words if first.health is not None else "health not known yet"
        since = wave.settled_at or now
        if now - since >= wave.health_timeout:
            words = f"not healthy within {clock_span(wave.health_timeout)}: {first.key}: {said}"
            return WaveVerdict(action=WaveAction.FAIL, words=words)
        words = (
            f"wave {wave.number} of {wave.count}: waiting for {first.key} to be healthy ({said})"
        )
        return WaveVerdict(action=WaveAction.WAIT, words=words)
    if wave.healthy_since is None and wave.soak:
        return WaveVerdict(action=WaveAction.SOAK, words=soak_words(wave, since=now, now=now))
    if wave.healthy_since is None or now - wave.healthy_since >= wave.soak:
        return WaveVerdict(
            action=WaveAction.ADVANCE,
            words=f"wave {wave.number} of {wave.count} healthy"
            + (f" for {clock_span(wave.soak)}" if wave.soak else ""),
        )
    return WaveVerdict(
        action=WaveAction.WAIT, words=soak_words(wave, since=wave.healthy_since, now=now)
    )


def soak_words(wave: WaveLook, *, since: datetime, now: datetime) -> str:
    """``wave 2 of 3 starts when wave 1 has been healthy for 5 min: 3 min 12 s to go``."""
    left = clock_span(wave.soak - (now - since))
    if wave.number < wave.count:
        return (
            f"wave {wave.number + 1} of {wave.count} starts when wave {wave.number} has been "
            f"healthy for {clock_span(wave.soak)}: {left} to go"
        )
    return (
        f"wave {wave.number} of {wave.count} completes the rollout when it has been healthy "
        f"for {clock_span(wave.soak)}: {left} to go"
    )


def settled(status: str) -> Settled:
    """A deployment's status as a wave sees it."""
    if status in ("succeeded", "dry_run", "adopted"):
        return Settled.DONE
    if status in ("planned", "running", "waiting"):
        return Settled.UNDERWAY
    return Settled.FAILED


def clock_span(delta: timedelta) -> str:
    """A duration to the second: ``12 s``, ``3 min 12 s``, ``5 min``, ``1 h 30 min``."""
    seconds = max(0, math.ceil(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    if not hours:
        parts.append(f"{secs} s" if secs or not minutes else "")
    return " ".join(p for p in parts if p) or "0 s"
