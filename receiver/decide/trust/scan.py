"""The scan check: what Harbor's scan of a digest says against a repository's ``ScanPolicy``.

Pure: the caller asks Harbor (``receiver.registry.harbor``) and passes the answers in, with the
day and how long the digest has waited for its scan.

* A finished scan (``SUCCESS``) passes when no finding is above ``max_severity`` (``NONE``:
  none may be found at all), not counting the findings of CVEs the policy allows until
  ``today`` or later; else it is refused (``threshold``). The allowances apply only with the
  report's ``findings`` (``needs_findings`` says when to fetch them); without them each finding
  counts.
* A failed or stopped scan is refused (``scan_failed``, ``scan_stopped``).
* An artifact not scanned yet, or whose scan is queued or running, waits until it has waited
  ``policy.wait``; then it is refused (``unscanned``).

Words, for a person: ``2 critical, 5 high; max high`` (a refusal names what was found at the
threshold too), ``no findings above high (3 medium,
10 low)``, ``1 high allowed by CVE-2026-1234 until 2027-01-31; max medium``, ``awaiting scan
(waited 2 min of 15 min)``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import date, timedelta

from receiver.decide.rules.release import span
from receiver.decide.trust.policy import (
    Allowance,
    Check,
    CheckOutcome,
    CheckResult,
    ScanPolicy,
    Severity,
)
from receiver.registry.harbor import Finding, HarborScan, ScanStatus

HIGHEST_FIRST = tuple(sorted((s for s in Severity if s is not Severity.NONE), reverse=True))
NAMED_CVES = 3  # allowances named in words; the others are counted

_WAITING_WORDS = {
    ScanStatus.NOT_SCANNED: ("awaiting scan", "not scanned within"),
    ScanStatus.PENDING: ("scan queued", "scan not started within"),
    ScanStatus.RUNNING: ("scan running", "scan not finished within"),
}


def judge_scan(
    scan: HarborScan,
    policy: ScanPolicy,
    *,
    findings: Sequence[Finding] | None,
    today: date,
    waited: timedelta,
) -> CheckResult:
    """What the scan check says of one digest; see the module docstring."""
    if scan.status is ScanStatus.SUCCESS:
        return _against_threshold(scan.counts, policy, findings=findings, today=today)
    if scan.status is ScanStatus.ERROR:
        return _refused("Harbor's scan failed", reason="scan_failed")
    if scan.status is ScanStatus.STOPPED:
        return _refused("Harbor's scan was stopped", reason="scan_stopped")
    waiting, late = _WAITING_WORDS[scan.status]
    if waited < policy.wait:
        words = f"{waiting} (waited {span(waited)} of {span(policy.wait)})"
        return CheckResult(check=Check.SCAN, outcome=CheckOutcome.WAITING, words=words)
    return _refused(f"{late} {span(policy.wait)}", reason="unscanned")


def needs_findings(scan: HarborScan, policy: ScanPolicy, *, today: date | None = None) -> bool:
    """Whether the report's findings could change what ``judge_scan`` says: the scan succeeded,
    something is above the threshold, and the policy allows some CVE (until ``today`` or later,
    when ``today`` is given)."""
    if scan.status is not ScanStatus.SUCCESS:
        return False
    if not any(_count(scan.counts, s) for s in _above(policy.max_severity)):
        return False
    return any(today is None or allowance.until >= today for allowance in policy.allow)


def _against_threshold(
    counts: Mapping[Severity, int],
    policy: ScanPolicy,
    *,
    findings: Sequence[Finding] | None,
    today: date,
) -> CheckResult:
    limit = policy.max_severity
    above = _above(limit)
    found = {s: _count(counts, s) for s in above}
    if not any(found.values()):
        return _passed(_nothing_above(counts, limit))
    relevant = [f for f in findings or () if f.severity > limit]
    active = _allowances(policy.allow, relevant, live=True, today=today)
    matched = Counter(f.severity for f in relevant if f.cve.upper() in active)
    allowed = {s: min(found[s], matched[s]) for s in above}
    left = {s: found[s] - allowed[s] for s in above}
    threshold = f"max {limit.word}"
    if not any(left.values()):
        return _passed(f"{_tally(found)} allowed by {_cves(active)}; {threshold}")
    # What was found at the threshold too, as people read a report: "2 critical, 5 high; max
    # high" (only the critical ones refuse).
    at_limit: dict[Severity, int] = {}
    if limit is not Severity.NONE:
        at_limit[limit] = _count(counts, limit)
    words = f"{_tally({**left, **at_limit})}; {threshold}"
    if any(allowed.values()):
        words += f" ({_tally(allowed)} allowed by {_cves(active)})"
    ended = _allowances(policy.allow, relevant, live=False, today=today)
    if expired := {cve: a for cve, a in ended.items() if cve not in active}:
        words += f"; ended: {_cves(expired)}"
    return _refused(words, reason="threshold")


def _allowances(
    allow: Collection[Allowance], findings: Sequence[Finding], *, live: bool, today: date
) -> dict[str, Allowance]:
    """The allowances, by upper-case CVE, that match a finding and are live (or have ended)."""
    found = {f.cve.upper() for f in findings}
    chosen: dict[str, Allowance] = {}
    for allowance in sorted(allow, key=lambda a: a.until):  # the latest of a CVE's wins
        cve = allowance.cve.upper()
        if cve in found and (allowance.until >= today) is live:
            chosen[cve] = allowance
    return chosen


def _nothing_above(counts: Mapping[Severity, int], limit: Severity) -> str:
    rest: dict[Severity, int] = {s: _count(counts, s) for s in HIGHEST_FIRST}
    if not any(rest.values()):
        return "no findings"
    return f"no findings above {limit.word} ({_tally(rest)})"


def _tally(counts: Mapping[Severity, int]) -> str:
    """``2 critical, 5 high``: the severities found, highest first."""
    return ", ".join(f"{counts[s]} {s.word}" for s in HIGHEST_FIRST if counts.get(s, 0))


def _cves(allowances: Mapping[str, Allowance]) -> str:
    """``CVE-2026-1 until 2027-01-31, CVE-2026-2 until 2026-12-31 and 2 more``."""
    ordered = sorted(allowances.values(), key=lambda a: a.cve.upper())
    named = ", ".join(f"{a.cve} until {a.until.isoformat()}" for a in ordered[:NAMED_CVES])
    more = len(ordered) - NAMED_CVES
    return named + (f" and {more} more" if more > 0 else "")


def _above(limit: Severity) -> tuple[Severity, ...]:
    return tuple(s for s in HIGHEST_FIRST if s > limit)


def _count(counts: Mapping[Severity, int], severity: Severity) -> int:
    return max(0, counts.get(severity, 0))


def _passed(words: str) -> CheckResult:
    return CheckResult(check=Check.SCAN, outcome=CheckOutcome.PASSED, words=words)


def _refused(words: str, *, reason: str) -> CheckResult:
    return CheckResult(check=Check.SCAN, outcome=CheckOutcome.REFUSED, words=words, reason=reason)
