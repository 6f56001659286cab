"""Release control's judgement: every wait, its words, when it ends, and what ends a deploy
(a rejection, an expiry), with the time given, never read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from receiver.decide.rules.release import (
    Candidate,
    Freeze,
    ReleaseOutcome,
    ReleaseRules,
    Vote,
    WaitKind,
    judge_release,
    overridden,
    parse_count,
    parse_duration,
    span,
)
from receiver.decide.rules.windows import parse_window_text
from receiver.errors import ReleaseRuleError

# Wednesday 2 December 2026, 19:48 in Berlin.
NOW = datetime(2026, 12, 2, 18, 48, tzinfo=UTC)
EVENINGS = parse_window_text("mon-fri 22:00-23:30 Europe/Berlin")
MIN = timedelta(minutes=1)


def candidate(rules: ReleaseRules, **fields: object) -> Candidate:
    values: dict[str, object] = {"repository": "team/app", "decided_at": NOW, "pushed_at": NOW}
    return Candidate(rules=rules, **{**values, **fields})  # type: ignore[arg-type]


def approve(*actors: str) -> tuple[Vote, ...]:
    return tuple(Vote(actor=a, approve=True, at=NOW) for a in actors)


def test_nothing_to_wait_for_releases_at_once() -> None:
    verdict = judge_release(candidate(ReleaseRules()), freezes=[], now=NOW)
    assert (verdict.outcome, verdict.waits, verdict.words) == (
        ReleaseOutcome.RELEASE,
        (),
        "released",
    )


@pytest.mark.parametrize(
    ("rules", "fields", "kind", "words", "until"),
    [
        (
            ReleaseRules(windows=EVENINGS),
            {},
            WaitKind.WINDOW,
            "outside the window mon–fri 22:00–23:30 Europe/Berlin; opens in 2 h 12 min",
            NOW + 132 * MIN,
        ),
        (
            ReleaseRules(windows=parse_window_text("sat 10:00-12:00 UTC; sun 10:00-12:00 UTC")),
            {},
            WaitKind.WINDOW,
            "outside the windows sat 10:00–12:00 UTC, sun 10:00–12:00 UTC; opens in 2 d 15 h",
            datetime(2026, 12, 5, 10, tzinfo=UTC),
        ),
        (
            ReleaseRules(min_age=10 * MIN),
            {"pushed_at": NOW - 4 * MIN - timedelta(seconds=30)},
            WaitKind.COOLDOWN,
            "cooldown: pushed 4 min ago, needs 10 min",
            NOW + 5 * MIN + timedelta(seconds=30),
        ),
        (
            ReleaseRules(settle=timedelta(seconds=30)),
            {"pushed_at": NOW - 5 * MIN, "last_push_at": NOW - timedelta(seconds=12)},
            WaitKind.SETTLE,
            "settle: last push 12 s ago, needs 30 s",
            NOW + timedelta(seconds=18),
        ),
        (
            ReleaseRules(approvals=2),
            {"votes": approve("admin", "admin")},
            WaitKind.APPROVAL,
            "1 of 2 approvals (admin)",
            None,
        ),
        (
            ReleaseRules(approvals=1, approval_deadline=timedelta(hours=24)),
            {"decided_at": NOW - 10 * MIN},
            WaitKind.APPROVAL,
            "0 of 1 approval, expires in 23 h 50 min",
            None,
        ),
    ],
)
def test_each_wait_in_words(
    rules: ReleaseRules,
    fields: dict[str, object],
    kind: WaitKind,
    words: str,
    until: datetime | None,
) -> None:
    verdict = judge_release(candidate(rules, **fields), freezes=[], now=NOW)
    assert verdict.outcome is ReleaseOutcome.WAIT
    [wait] = verdict.waits
    assert (wait.kind, wait.words, wait.until) == (kind, words, until)


def test_a_freeze_holds_its_repository_and_a_global_one_everything() -> None:
    mine = Freeze(repository="team/app", reason="incident 42", actor="ops", since=NOW)
    other = Freeze(repository="team/other", reason="no", actor="ops", since=NOW)
    everything = Freeze(repository=None, reason="release day", actor="lead", since=NOW)
    verdict = judge_release(candidate(ReleaseRules()), freezes=[mine, other, everything], now=NOW)
    assert verdict.words == (
        "team/app frozen by ops: incident 42; every repository frozen by lead: release day"
    )
    assert verdict.due is None  # only unfreezing ends it
    assert (
        judge_release(candidate(ReleaseRules()), freezes=[other], now=NOW).outcome
        is ReleaseOutcome.RELEASE
    )


def test_every_wait_is_listed_and_the_first_to_end_is_due() -> None:
    rules = ReleaseRules(windows=EVENINGS, min_age=10 * MIN, approvals=2)
    freeze = Freeze(repository="team/app", reason="incident 42", actor="ops", since=NOW)
    verdict = judge_release(
        candidate(rules, pushed_at=NOW - 4 * MIN, votes=approve("admin")), freezes=[freeze], now=NOW
    )
    assert verdict.kinds == ("freeze", "window", "cooldown", "approval")
    assert verdict.words == (
        "team/app frozen by ops: incident 42; "
        "outside the window mon–fri 22:00–23:30 Europe/Berlin; opens in 2 h 12 min; "
        "cooldown: pushed 4 min ago, needs 10 min; 1 of 2 approvals (admin)"
    )
    assert verdict.due == NOW + 6 * MIN


def test_force_opens_the_windows_and_nothing_else() -> None:
    rules = ReleaseRules(windows=EVENINGS, approvals=1)
    verdict = judge_release(candidate(rules, forced=True), freezes=[], now=NOW)
    assert verdict.kinds == ("approval",)
    forced = judge_release(
        candidate(ReleaseRules(windows=EVENINGS), forced=True), freezes=[], now=NOW
    )
    assert forced.outcome is ReleaseOutcome.RELEASE


def test_approvals_count_each_token_once_and_a_rejection_ends_it() -> None:
    rules = ReleaseRules(approvals=2)
    assert judge_release(
        candidate(rules, votes=approve("admin", "bob")), freezes=[], now=NOW
    ).outcome is (ReleaseOutcome.RELEASE)
    rejected = (*approve("admin"), Vote(actor="bob", approve=False, at=NOW, comment="breaks login"))
    verdict = judge_release(candidate(rules, votes=rejected), freezes=[], now=NOW)
    assert (verdict.outcome, verdict.words) == (
        ReleaseOutcome.REJECTED,
        "rejected by bob: breaks login",
    )


def test_missing_approvals_expire_at_the_deadline() -> None:
    rules = ReleaseRules(approvals=2, approval_deadline=timedelta(hours=24))
    decided = NOW - timedelta(hours=24)
    verdict = judge_release(
        candidate(rules, decided_at=decided, votes=approve("admin")), freezes=[], now=NOW
    )
    assert (verdict.outcome, verdict.words) == (
        ReleaseOutcome.EXPIRED,
        "expired: 1 of 2 approvals (admin) within 24 h",
    )
    waiting = judge_release(candidate(rules, decided_at=decided + MIN), freezes=[], now=NOW)
    assert (waiting.outcome, waiting.due) == (ReleaseOutcome.WAIT, NOW + MIN)
    approved = candidate(rules, decided_at=decided, votes=approve("admin", "bob"))
    assert judge_release(approved, freezes=[], now=NOW).outcome is ReleaseOutcome.RELEASE


def test_settle_counts_from_the_newest_push_of_the_repository() -> None:
    rules = ReleaseRules(settle=timedelta(seconds=30))
    burst = candidate(rules, pushed_at=NOW - MIN, last_push_at=NOW - timedelta(seconds=29))
    assert judge_release(burst, freezes=[], now=NOW).outcome is ReleaseOutcome.WAIT
    assert (
        judge_release(burst, freezes=[], now=NOW + timedelta(seconds=1)).outcome
        is ReleaseOutcome.RELEASE
    )


@pytest.mark.parametrize(
    ("seconds", "down", "up"),
    [
        (0, "0 s", "0 s"),
        (12.5, "12 s", "13 s"),
        (59.5, "59 s", "1 min"),
        (4 * 60 + 59, "4 min", "5 min"),
        (3 * 3600 + 11 * 60 + 30, "3 h 11 min", "3 h 12 min"),
        (3 * 3600, "3 h", "3 h"),
        (2 * 86400 + 3 * 3600 + 5, "2 d 3 h", "2 d 3 h"),
        (86400 * 2 - 1, "47 h 59 min", "2 d"),
        (86400 * 3 - 1, "2 d 23 h", "3 d"),
    ],
)
def test_spans_in_words(seconds: float, down: str, up: str) -> None:
    assert span(timedelta(seconds=seconds)) == down
    assert span(timedelta(seconds=seconds), up=True) == up


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10m", 600),
        ("30s", 30),
        ("24h", 86400),
        ("1h30m", 5400),
        ("2d", 172800),
        ("90", 90),
        (45, 45),
    ],
)
def test_durations(text: object, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "10 minutes", "-5s", "1.5h", True, "m"])
def test_refused_durations(text: object) -> None:
    with pytest.raises(ReleaseRuleError, match="expected a duration"):
        parse_duration(text)


def test_labels_override_the_repositorys_rules() -> None:
    rules = ReleaseRules(windows=EVENINGS, approvals=2, min_age=10 * MIN)
    changed = overridden(
        rules, {"window": "always", "approvals": "1", "settle": "30s", "approval_deadline": "1h"}
    )
    assert changed == ReleaseRules(
        min_age=10 * MIN,
        settle=timedelta(seconds=30),
        approvals=1,
        approval_deadline=timedelta(hours=1),
    )
    assert overridden(rules, {}) == rules
    with pytest.raises(ReleaseRuleError, match=r"label regdeploy\.window='sometimes': "):
        overridden(rules, {"window": "sometimes"})
    with pytest.raises(ReleaseRuleError, match=r"label regdeploy\.approvals='many'"):
        overridden(rules, {"approvals": "many"})
    assert parse_count("0") == 0


def test_rules_in_words_and_as_stored() -> None:
    rules = ReleaseRules(
        windows=EVENINGS,
        min_age=10 * MIN,
        settle=timedelta(seconds=30),
        approvals=2,
        approval_deadline=timedelta(hours=24),
    )
    assert rules.describe() == [
        "windows mon–fri 22:00–23:30 Europe/Berlin",
        "cooldown 10 min",
        "settle 30 s",
        "2 approvals within 24 h",
    ]
    assert ReleaseRules.from_json(rules.as_json()) == rules
    assert ReleaseRules.from_json(None) == ReleaseRules()
