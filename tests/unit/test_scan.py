"""The scan check (``receiver.decide.trust.scan``): every status, the threshold, allowances."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receiver.decide.trust.policy import (
    Allowance,
    Check,
    CheckOutcome,
    CheckResult,
    ScanPolicy,
    Severity,
)
from receiver.decide.trust.scan import judge_scan, needs_findings
from receiver.registry.harbor import Finding, HarborScan, ScanStatus

TODAY = date(2026, 6, 1)
NONE, LOW, MEDIUM, HIGH, CRITICAL = (
    Severity.NONE,
    Severity.LOW,
    Severity.MEDIUM,
    Severity.HIGH,
    Severity.CRITICAL,
)
CVE = "CVE-2026-1234"
UNTIL = date(2027, 1, 31)
PASSED, REFUSED, WAITING = CheckOutcome.PASSED, CheckOutcome.REFUSED, CheckOutcome.WAITING


def success(**counts: int) -> HarborScan:
    by_name = {LOW: "low", MEDIUM: "medium", HIGH: "high", CRITICAL: "critical"}
    return HarborScan(
        status=ScanStatus.SUCCESS,
        counts={severity: counts.get(name, 0) for severity, name in by_name.items()},
    )


def policy(
    max_severity: Severity = HIGH, *allow: tuple[str, date], wait: timedelta = timedelta(minutes=15)
) -> ScanPolicy:
    return ScanPolicy(
        max_severity=max_severity,
        wait=wait,
        allow=tuple(Allowance(cve=cve, until=until) for cve, until in allow),
    )


def found(*pairs: tuple[str, Severity]) -> tuple[Finding, ...]:
    return tuple(Finding(cve=cve, severity=severity) for cve, severity in pairs)


@dataclass(frozen=True)
class Case:
    scan: HarborScan
    policy: ScanPolicy
    outcome: CheckOutcome
    words: str
    reason: str = ""
    findings: tuple[Finding, ...] | None = None
    waited: timedelta = timedelta(minutes=2)


CASES = {
    # -- a finished scan against the threshold ---------------------------------------------
    "clean": Case(success(), policy(), PASSED, "no findings"),
    "clean-without-counts": Case(
        HarborScan(status=ScanStatus.SUCCESS), policy(), PASSED, "no findings"
    ),
    "below": Case(
        success(medium=3, low=10), policy(), PASSED, "no findings above high (3 medium, 10 low)"
    ),
    "at-the-threshold": Case(
        success(high=2, medium=3), policy(), PASSED, "no findings above high (2 high, 3 medium)"
    ),
    "above": Case(
        success(critical=2, high=5, low=1),
        policy(MEDIUM),
        REFUSED,
        "2 critical, 5 high; max medium",
        "threshold",
    ),
    "one-critical": Case(
        success(critical=1, high=4), policy(), REFUSED, "1 critical, 4 high; max high", "threshold"
    ),
    "as-the-issue-says": Case(
        success(critical=2, high=5, medium=3),
        policy(),
        REFUSED,
        "2 critical, 5 high; max high",
        "threshold",
    ),
    "none-allowed": Case(success(low=1), policy(NONE), REFUSED, "1 low; max none", "threshold"),
    "none-allowed-clean": Case(success(), policy(NONE), PASSED, "no findings"),
    "all-allowed": Case(
        success(critical=9), policy(CRITICAL), PASSED, "no findings above critical (9 critical)"
    ),
    # -- allowances ------------------------------------------------------------------------
    "allowed": Case(
        success(high=1, low=2),
        policy(MEDIUM, (CVE, UNTIL)),
        PASSED,
        f"1 high allowed by {CVE} until 2027-01-31; max medium",
        findings=found((CVE, HIGH), ("CVE-2026-7", LOW), ("CVE-2026-8", LOW)),
    ),
    "allowed-until-today": Case(
        success(high=1),
        policy(MEDIUM, (CVE, TODAY)),
        PASSED,
        f"1 high allowed by {CVE} until 2026-06-01; max medium",
        findings=found((CVE, HIGH)),
    ),
    "allowance-ended": Case(
        success(high=1),
        policy(MEDIUM, (CVE, TODAY - timedelta(days=1))),
        REFUSED,
        f"1 high; max medium; ended: {CVE} until 2026-05-31",
        "threshold",
        findings=found((CVE, HIGH)),
    ),
    "allowance-without-findings": Case(
        success(high=1), policy(MEDIUM, (CVE, UNTIL)), REFUSED, "1 high; max medium", "threshold"
    ),
    "partly-allowed": Case(
        success(critical=1, high=1),
        policy(MEDIUM, (CVE, UNTIL)),
        REFUSED,
        f"1 critical; max medium (1 high allowed by {CVE} until 2027-01-31)",
        "threshold",
        findings=found(("CVE-2026-1", CRITICAL), (CVE, HIGH)),
    ),
    "allowance-of-a-finding-below": Case(
        success(medium=1),
        policy(MEDIUM, (CVE, UNTIL)),
        PASSED,
        "no findings above medium (1 medium)",
        findings=found((CVE, MEDIUM)),
    ),
    "one-cve-in-two-packages": Case(
        success(high=2),
        policy(MEDIUM, (CVE, UNTIL)),
        PASSED,
        f"2 high allowed by {CVE} until 2027-01-31; max medium",
        findings=found((CVE, HIGH), (CVE, HIGH)),
    ),
    "cve-case": Case(
        success(high=1),
        policy(MEDIUM, (CVE.lower(), UNTIL)),
        PASSED,
        "1 high allowed by cve-2026-1234 until 2027-01-31; max medium",
        findings=found((CVE, HIGH)),
    ),
    "more-findings-than-counted": Case(
        success(high=1),
        policy(MEDIUM, (CVE, UNTIL)),
        PASSED,
        f"1 high allowed by {CVE} until 2027-01-31; max medium",
        findings=found((CVE, HIGH), (CVE, HIGH), (CVE, HIGH)),
    ),
    "many-allowances": Case(
        success(critical=5),
        policy(HIGH, *((f"CVE-2026-{n}", UNTIL) for n in range(1, 6))),
        PASSED,
        "5 critical allowed by CVE-2026-1 until 2027-01-31, CVE-2026-2 until 2027-01-31, "
        "CVE-2026-3 until 2027-01-31 and 2 more; max high",
        findings=found(*((f"CVE-2026-{n}", CRITICAL) for n in range(1, 6))),
    ),
    "a-cve-allowed-twice": Case(
        success(high=1),
        policy(MEDIUM, (CVE, TODAY - timedelta(days=9)), (CVE, UNTIL), (CVE, TODAY)),
        PASSED,
        f"1 high allowed by {CVE} until 2027-01-31; max medium",
        findings=found((CVE, HIGH)),
    ),
    "an-unused-allowance": Case(
        success(critical=1),
        policy(HIGH, ("CVE-2026-9", UNTIL)),
        REFUSED,
        "1 critical; max high",
        "threshold",
        findings=found(("CVE-2026-1", CRITICAL)),
    ),
    # -- scans that did not end well -------------------------------------------------------
    "error": Case(
        HarborScan(status=ScanStatus.ERROR),
        policy(),
        REFUSED,
        "Harbor's scan failed",
        "scan_failed",
    ),
    "stopped": Case(
        HarborScan(status=ScanStatus.STOPPED),
        policy(),
        REFUSED,
        "Harbor's scan was stopped",
        "scan_stopped",
    ),
    # -- waiting, then refused -------------------------------------------------------------
    "not-scanned": Case(
        HarborScan(status=ScanStatus.NOT_SCANNED),
        policy(),
        WAITING,
        "awaiting scan (waited 2 min of 15 min)",
    ),
    "pending": Case(
        HarborScan(status=ScanStatus.PENDING),
        policy(),
        WAITING,
        "scan queued (waited 0 s of 15 min)",
        waited=timedelta(0),
    ),
    "running-just-in-time": Case(
        HarborScan(status=ScanStatus.RUNNING),
        policy(),
        WAITING,
        "scan running (waited 14 min of 15 min)",
        waited=timedelta(minutes=15) - timedelta(microseconds=1),
    ),
    "not-scanned-in-time": Case(
        HarborScan(status=ScanStatus.NOT_SCANNED),
        policy(),
        REFUSED,
        "not scanned within 15 min",
        "unscanned",
        waited=timedelta(minutes=15),
    ),
    "queued-too-long": Case(
        HarborScan(status=ScanStatus.PENDING),
        policy(wait=timedelta(hours=1)),
        REFUSED,
        "scan not started within 1 h",
        "unscanned",
        waited=timedelta(hours=3),
    ),
    "running-too-long": Case(
        HarborScan(status=ScanStatus.RUNNING),
        policy(),
        REFUSED,
        "scan not finished within 15 min",
        "unscanned",
        waited=timedelta(minutes=16),
    ),
    "no-wait-at-all": Case(
        HarborScan(status=ScanStatus.NOT_SCANNED),
        policy(wait=timedelta(0)),
        REFUSED,
        "not scanned within 0 s",
        "unscanned",
        waited=timedelta(0),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_judge_scan(name: str) -> None:
    case = CASES[name]
    result = judge_scan(
        case.scan, case.policy, findings=case.findings, today=TODAY, waited=case.waited
    )
    assert result == CheckResult(
        check=Check.SCAN, outcome=case.outcome, words=case.words, reason=case.reason
    )


def test_the_table_covers_every_status() -> None:
    assert {case.scan.status for case in CASES.values()} == set(ScanStatus)


@pytest.mark.parametrize(
    ("scan", "scan_policy", "today", "expected"),
    [
        pytest.param(success(critical=1), policy(HIGH, (CVE, UNTIL)), TODAY, True, id="could"),
        pytest.param(success(critical=1), policy(HIGH, (CVE, UNTIL)), None, True, id="no-day"),
        pytest.param(success(critical=1), policy(HIGH), TODAY, False, id="nothing-allowed"),
        pytest.param(success(high=3), policy(HIGH, (CVE, UNTIL)), TODAY, False, id="nothing-above"),
        pytest.param(
            success(critical=1),
            policy(HIGH, (CVE, TODAY - timedelta(days=1))),
            TODAY,
            False,
            id="every-allowance-ended",
        ),
        pytest.param(
            success(critical=1),
            policy(HIGH, (CVE, TODAY - timedelta(days=1))),
            None,
            True,
            id="ended-but-no-day-given",
        ),
        *(
            pytest.param(
                HarborScan(status=status), policy(NONE, (CVE, UNTIL)), TODAY, False, id=status.value
            )
            for status in ScanStatus
            if status is not ScanStatus.SUCCESS
        ),
    ],
)
def test_needs_findings(
    scan: HarborScan, scan_policy: ScanPolicy, today: date | None, expected: bool
) -> None:
    assert needs_findings(scan, scan_policy, today=today) is expected


# -- properties ------------------------------------------------------------------------------

severities = st.sampled_from([LOW, MEDIUM, HIGH, CRITICAL])
findings_lists = st.lists(
    st.tuples(st.sampled_from(["CVE-1", "CVE-2", "CVE-3"]), severities), max_size=12
)


def scan_of(findings: tuple[Finding, ...]) -> HarborScan:
    counts = dict.fromkeys([LOW, MEDIUM, HIGH, CRITICAL], 0)
    for finding in findings:
        counts[finding.severity] += 1
    return HarborScan(status=ScanStatus.SUCCESS, counts=counts)


@given(
    pairs=findings_lists,
    limit=st.sampled_from(list(Severity)),
    allowed=st.sets(st.sampled_from(["CVE-1", "CVE-2", "CVE-3"])),
)
def test_passes_exactly_when_every_finding_above_is_allowed(
    pairs: list[tuple[str, Severity]], limit: Severity, allowed: set[str]
) -> None:
    findings = found(*pairs)
    scan_policy = policy(limit, *((cve, UNTIL) for cve in sorted(allowed)))
    result = judge_scan(
        scan_of(findings), scan_policy, findings=findings, today=TODAY, waited=timedelta(0)
    )
    expected = all(f.severity <= limit or f.cve in allowed for f in findings)
    assert (result.outcome is PASSED) is expected
    assert result.reason == ("" if expected else "threshold")
    without = judge_scan(
        scan_of(findings), scan_policy, findings=None, today=TODAY, waited=timedelta(0)
    )
    # Allowances only ever help: what passes without the findings passes with them.
    assert not (without.outcome is PASSED and result.outcome is REFUSED)


@given(
    pairs=findings_lists, low=st.sampled_from(list(Severity)), high=st.sampled_from(list(Severity))
)
def test_a_higher_threshold_never_refuses_what_a_lower_one_passes(
    pairs: list[tuple[str, Severity]], low: Severity, high: Severity
) -> None:
    low, high = min(low, high), max(low, high)
    findings = found(*pairs)
    scan = scan_of(findings)
    at = {
        limit: judge_scan(scan, policy(limit), findings=findings, today=TODAY, waited=timedelta(0))
        for limit in (low, high)
    }
    assert not (at[low].outcome is PASSED and at[high].outcome is REFUSED)
