"""Release control: whether a decided deploy goes now or waits, until when, and why, in words
(pure, no I/O: the caller reads the state and passes the time).

A deploy waits while any of these holds (``judge_release``):

- a **freeze** of its repository, or of everything, is on (until someone lifts it);
- it is outside every deploy **window** of its rules (until the next opening; ``force`` skips
  the windows, and nothing else);
- its image was pushed less than ``min_age`` ago (**cooldown**);
- the repository's last push is less than ``settle`` old (**settle**: a burst of pushes is one
  deploy);
- it has fewer **approvals** from distinct API tokens than the rules ask for;
- a trust check **holds** it back (``scan``: its image is not scanned yet; ``signature``: not
  signed yet) until it is due to be checked again;
- its rollout has not reached it yet (``wave``: its wave starts when the one before has been
  healthy for the soak): the rollout lifts that gate (``receiver.decide.rules.rollout``).

A rejection ends it (``rejected``); approvals still missing at ``approval_deadline`` after it was
decided end it too (``expired``). Every wait has its words, the same in the API, the CLI, the
console and the notices: "outside the window mon–fri 22:00–23:30 Europe/Berlin; opens in 3 h 12
min", "1 of 2 approvals (admin)", "cooldown: pushed 4 min ago, needs 10 min", "team/app frozen
by ops: incident 42".
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from receiver.decide.rules.windows import (
    Window,
    next_opening,
    open_now,
    parse_window_text,
    read_window,
)
from receiver.errors import ReleaseRuleError

#: The label (job meta) keys a workload overrides its repository's rules with, after ``regdeploy.``.
RELEASE_KEYS = ("window", "min_age", "settle", "approvals", "approval_deadline")
#: The label (job meta) keys that place a workload in a rollout: its wave and its stage.
ROLLOUT_KEYS = ("wave", "stage")
LABEL_PREFIX = "regdeploy."
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseRules:
    """What a deploy of one target waits for; the defaults wait for nothing.

    ``approval_deadline`` None: approvals are waited for until the deploy is superseded.
    """

    windows: tuple[Window, ...] = ()
    min_age: timedelta = timedelta(0)
    settle: timedelta = timedelta(0)
    approvals: int = 0
    approval_deadline: timedelta | None = None

    def describe(self) -> list[str]:
        """The rules in words, one per rule that holds anything back."""
        words = []
        if self.windows:
            words.append("windows " + ", ".join(w.describe() for w in self.windows))
        if self.min_age:
            words.append(f"cooldown {span(self.min_age)}")
        if self.settle:
            words.append(f"settle {span(self.settle)}")
        if self.approvals:
            within = f" within {span(self.approval_deadline)}" if self.approval_deadline else ""
            words.append(f"{self.approvals} approval{_s(self.approvals)}{within}")
        return words

    def as_json(self) -> dict[str, Any]:
        deadline = self.approval_deadline
        return {
            "windows": [w.as_json() for w in self.windows],
            "min_age_seconds": self.min_age.total_seconds(),
            "settle_seconds": self.settle.total_seconds(),
            "approvals": self.approvals,
            "approval_deadline_seconds": deadline.total_seconds() if deadline else None,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> ReleaseRules:
        if not raw:
            return cls()
        deadline = raw.get("approval_deadline_seconds")
        return cls(
            windows=tuple(read_window(w) for w in raw.get("windows") or ()),
            min_age=timedelta(seconds=raw.get("min_age_seconds") or 0),
            settle=timedelta(seconds=raw.get("settle_seconds") or 0),
            approvals=int(raw.get("approvals") or 0),
            approval_deadline=timedelta(seconds=deadline) if deadline else None,
        )


def overridden(rules: ReleaseRules, labels: Mapping[str, str]) -> ReleaseRules:
    """``rules`` with what a workload's labels (job meta) say instead: ``window`` (``always``
    for none), ``min_age``, ``settle``, ``approvals``, ``approval_deadline`` (keys without
    ``regdeploy.``). Raises ``ReleaseRuleError`` naming the label."""
    changes: dict[str, Any] = {}
    for key, text in labels.items():
        if key in ROLLOUT_KEYS:
            continue
        try:
            changes.update(_label(key, text))
        except ReleaseRuleError as exc:
            raise ReleaseRuleError(f"label {LABEL_PREFIX}{key}={text!r}: {exc}") from None
    return replace(rules, **changes)


def _label(key: str, text: str) -> dict[str, Any]:
    if key == "window":
        return {"windows": parse_window_text(text)}
    if key == "approvals":
        return {"approvals": parse_count(text)}
    if key in ("min_age", "settle"):
        return {key: parse_duration(text)}
    if key == "approval_deadline":
        return {key: parse_duration(text) or None}
    raise ReleaseRuleError(f"unknown release label (expected {', '.join(RELEASE_KEYS)})")


def parse_duration(value: object) -> timedelta:
    """``10m``, ``30s``, ``24h``, ``1h30m``, ``2d``, or whole seconds (``90``)."""
    text = str(value).strip().lower().replace(" ", "")
    if isinstance(value, bool):
        raise ReleaseRuleError(f"expected a duration such as 30s, 10m, 24h, got {value!r}")
    if text.isdigit():
        return timedelta(seconds=int(text))
    found = _DURATION.match(text)
    if not text or found is None:
        raise ReleaseRuleError(f"expected a duration such as 30s, 10m, 24h, got {value!r}")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in found.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def parse_count(value: object) -> int:
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) > 100:
        raise ReleaseRuleError(f"expected a whole number of approvals from 0 to 100, got {value!r}")
    return int(text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Freeze:
    """Deploys of ``repository`` (of every repository when None) wait while it is on."""

    repository: str | None
    reason: str
    actor: str
    since: datetime

    def holds(self, repository: str | None) -> bool:
        return self.repository is None or self.repository == repository

    def describe(self) -> str:
        """``team/app frozen by ops: incident 42``, ``every repository frozen by ...``."""
        return f"{self.repository or 'every repository'} frozen by {self.actor}: {self.reason}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Vote:
    """An API token's approval or rejection of a waiting deploy."""

    actor: str
    approve: bool
    at: datetime
    comment: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """A decided deploy as release control sees it.

    ``pushed_at``: when its image was pushed (the event's time, or the registry's); None: when
    it was decided. ``last_push_at``: the newest push of its repository. ``forced``: the
    windows do not hold it back.
    """

    rules: ReleaseRules
    repository: str | None
    decided_at: datetime
    pushed_at: datetime | None = None
    last_push_at: datetime | None = None
    forced: bool = False
    votes: tuple[Vote, ...] = ()
    # A trust check holds it back until ``held_until`` (then it is checked again), in words.
    held_until: datetime | None = None
    hold_words: str = ""
    hold_kind: str = "scan"
    # Its rollout's gate, in words (a later wave): it waits until the rollout lifts it.
    gate: str = ""

    @property
    def approvers(self) -> tuple[str, ...]:
        """Who approved, each token once, in order."""
        return tuple(dict.fromkeys(v.actor for v in self.votes if v.approve))

    @property
    def deadline(self) -> datetime | None:
        deadline = self.rules.approval_deadline
        return self.decided_at + deadline if self.rules.approvals and deadline else None


class WaitKind(enum.StrEnum):
    FREEZE = "freeze"
    WINDOW = "window"
    COOLDOWN = "cooldown"
    SETTLE = "settle"
    APPROVAL = "approval"
    # A trust check holds it back (an image not scanned, or not signed, yet):
    # ``receiver.decide.trust``.
    SCAN = "scan"
    SIGNATURE = "signature"
    # Its rollout has not reached its wave yet (``receiver.decide.rules.rollout``).
    WAVE = "wave"


@dataclass(frozen=True, slots=True, kw_only=True)
class Wait:
    """One thing a deploy waits for; ``until``: when it ends by itself (None: when someone
    acts)."""

    kind: WaitKind
    words: str
    until: datetime | None = None


class ReleaseOutcome(enum.StrEnum):
    RELEASE = "release"
    WAIT = "wait"
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseVerdict:
    """What release control says of a deploy now; ``due``: when to judge_release it again."""

    outcome: ReleaseOutcome
    waits: tuple[Wait, ...] = ()
    ended: str = ""
    due: datetime | None = None

    @property
    def words(self) -> str:
        """What it waits for ("; " between waits), or why it ended, or ``released``."""
        if self.waits:
            return "; ".join(w.words for w in self.waits)
        return self.ended or "released"

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(w.kind.value for w in self.waits)


def judge_release(
    candidate: Candidate, *, freezes: Sequence[Freeze], now: datetime
) -> ReleaseVerdict:
    """Whether ``candidate`` goes now, waits (for what, and until when), or has ended."""
    if (no := next((v for v in candidate.votes if not v.approve), None)) is not None:
        said = f": {no.comment}" if no.comment else ""
        return ReleaseVerdict(
            outcome=ReleaseOutcome.REJECTED, ended=f"rejected by {no.actor}{said}"
        )
    # Behind its rollout's gate it is not asked for approvals yet: its deadline counts from the
    # wave's start (the gate is lifted as decided anew).
    deadline = candidate.deadline if not candidate.gate else None
    if deadline is not None and now >= deadline and not _approved(candidate):
        rules = candidate.rules
        within = f" within {span(rules.approval_deadline)}" if rules.approval_deadline else ""
        return ReleaseVerdict(
            outcome=ReleaseOutcome.EXPIRED, ended=f"expired: {_tally(candidate)}{within}"
        )
    found = (
        *(_frozen(f) for f in freezes if f.holds(candidate.repository)),
        _window(candidate, now),
        _cooldown(candidate, now),
        _settle(candidate, now),
        _approval(candidate, now),
        _held(candidate, now),
        _gated(candidate),
    )
    waits = tuple(w for w in found if w is not None)
    if not waits:
        return ReleaseVerdict(outcome=ReleaseOutcome.RELEASE)
    times = [w.until for w in waits if w.until is not None]
    if deadline is not None:
        times.append(deadline)
    return ReleaseVerdict(outcome=ReleaseOutcome.WAIT, waits=waits, due=min(times, default=None))


def _held(candidate: Candidate, now: datetime) -> Wait | None:
    until = candidate.held_until
    if until is None or now >= until:
        return None
    kind = WaitKind(candidate.hold_kind)
    return Wait(kind=kind, words=candidate.hold_words or f"awaiting {kind.value}", until=until)


def _gated(candidate: Candidate) -> Wait | None:
    if not candidate.gate:
        return None
    return Wait(kind=WaitKind.WAVE, words=candidate.gate)


def _frozen(freeze: Freeze) -> Wait:
    return Wait(kind=WaitKind.FREEZE, words=freeze.describe())


def _window(candidate: Candidate, now: datetime) -> Wait | None:
    windows = candidate.rules.windows
    if not windows or candidate.forced or open_now(windows, now) is not None:
        return None
    plural = "s" if len(windows) > 1 else ""
    where = f"outside the window{plural} " + ", ".join(w.describe() for w in windows)
    opening = next_opening(windows, now)
    if opening is None:  # a window opens every week: unreachable
        return Wait(kind=WaitKind.WINDOW, words=f"{where}; no opening within a week")
    words = f"{where}; opens in {span(opening.opens - now, up=True)}"
    return Wait(kind=WaitKind.WINDOW, words=words, until=opening.opens)


def _cooldown(candidate: Candidate, now: datetime) -> Wait | None:
    min_age = candidate.rules.min_age
    pushed = candidate.pushed_at or candidate.decided_at
    if not min_age or now >= pushed + min_age:
        return None
    words = f"cooldown: pushed {span(now - pushed)} ago, needs {span(min_age)}"
    return Wait(kind=WaitKind.COOLDOWN, words=words, until=pushed + min_age)


def _settle(candidate: Candidate, now: datetime) -> Wait | None:
    settle = candidate.rules.settle
    pushes = [t for t in (candidate.last_push_at, candidate.pushed_at) if t is not None]
    last = max(pushes, default=candidate.decided_at)
    if not settle or now >= last + settle:
        return None
    words = f"settle: last push {span(now - last)} ago, needs {span(settle)}"
    return Wait(kind=WaitKind.SETTLE, words=words, until=last + settle)


def _approval(candidate: Candidate, now: datetime) -> Wait | None:
    if _approved(candidate):
        return None
    deadline = candidate.deadline
    expires = f", expires in {span(deadline - now, up=True)}" if deadline else ""
    return Wait(kind=WaitKind.APPROVAL, words=_tally(candidate) + expires)


def _approved(candidate: Candidate) -> bool:
    return len(candidate.approvers) >= candidate.rules.approvals


def _tally(candidate: Candidate) -> str:
    """``1 of 2 approvals (admin)``."""
    approvers = candidate.approvers
    names = f" ({', '.join(approvers)})" if approvers else ""
    required = candidate.rules.approvals
    return f"{len(approvers)} of {required} approval{_s(required)}{names}"


def span(delta: timedelta | None, *, up: bool = False) -> str:
    """A duration in words: ``12 s``, ``4 min``, ``3 h 12 min``, ``36 h``, ``2 d 3 h``; rounded
    down, or
    up (``up``: what is left to wait)."""
    seconds = max(0.0, delta.total_seconds()) if delta is not None else 0.0
    whole = math.ceil(seconds) if up else math.floor(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes = math.ceil(seconds / 60) if up else whole // 60
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h" + (f" {rest} min" if rest else "")
    days, rest = divmod(minutes, 24 * 60)
    hours = rest // 60
    return f"{days} d" + (f" {hours} h" if hours else "")


def _s(count: int) -> str:
    return "" if count == 1 else "s"
