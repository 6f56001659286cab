"""The sections that bound what regdeploy takes in and keeps: ``limits``, ``retention`` and
``rates``.

```yaml
limits:
  records_per_notification: 500   # more: the body is rejected whole, before per-record work
  field_bytes: 1024               # actor, event id, media type
  reason_bytes: 2048              # a stored reason
  rejected_body_bytes: 4096       # the stored prefix of an unusable body
retention:
  rejected_payloads: {keep: 1000, days: 14}   # per source: the newest N, none older than D days
rates:
  per_source: {requests_per_second: 200, bytes_per_second: 1MB, burst: 2s}
  failed_auth_per_address: {per_minute: 30}
```

Sizes are whole bytes or a number with ``KB``, ``MB`` or ``GB`` (powers of 1,024); durations
are written as release control writes them (``2s``, ``15m``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from receiver.config.reader import Reader, at
from receiver.decide.rules.release import parse_duration
from receiver.errors import ReleaseRuleError

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMG]?B?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3}
_UNITS["GB"] = 1024**3


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What one notification may hold, and how much of it is kept."""

    records_per_notification: int = 500
    field_bytes: int = 1024
    reason_bytes: int = 2048
    rejected_body_bytes: int = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class Kept:
    """Rows kept per source: the newest ``keep``, none older than ``days``."""

    keep: int = 1000
    days: float = 14.0

    @property
    def age(self) -> timedelta:
        return timedelta(days=self.days)


@dataclass(frozen=True, slots=True, kw_only=True)
class Retention:
    rejected_payloads: Kept = field(default_factory=Kept)


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceRate:
    """What one webhook source may send: ``requests_per_second`` and ``bytes_per_second`` on
    average, with bursts of ``burst`` of each."""

    requests_per_second: float = 200.0
    bytes_per_second: int = 1024**2
    burst: timedelta = timedelta(seconds=2)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthRate:
    """Failed authentications one client address may make per minute."""

    per_minute: int = 30


@dataclass(frozen=True, slots=True, kw_only=True)
class Rates:
    per_source: SourceRate = field(default_factory=SourceRate)
    failed_auth_per_address: AuthRate = field(default_factory=AuthRate)


def read_limits(r: Reader, value: object) -> Limits:
    m = r.mapping(value if value is not None else {}, "limits")
    d = Limits()
    r.unknown(m, "limits", set(Limits.__dataclass_fields__))
    return Limits(
        records_per_notification=r.integer(
            m, "records_per_notification", "limits", d.records_per_notification
        ),
        field_bytes=_size(r, m, "field_bytes", "limits", d.field_bytes),
        reason_bytes=_size(r, m, "reason_bytes", "limits", d.reason_bytes),
        rejected_body_bytes=_size(r, m, "rejected_body_bytes", "limits", d.rejected_body_bytes),
    )


def read_retention(r: Reader, value: object) -> Retention:
    m = r.mapping(value if value is not None else {}, "retention")
    r.unknown(m, "retention", {"rejected_payloads"})
    path = "retention.rejected_payloads"
    kept = r.mapping(m.get("rejected_payloads", {}), path)
    r.unknown(kept, path, {"keep", "days"})
    d = Kept()
    return Retention(
        rejected_payloads=Kept(
            keep=r.integer(kept, "keep", path, d.keep), days=r.number(kept, "days", path, d.days)
        )
    )


def read_rates(r: Reader, value: object) -> Rates:
    m = r.mapping(value if value is not None else {}, "rates")
    r.unknown(m, "rates", {"per_source", "failed_auth_per_address"})
    source_path, auth_path = "rates.per_source", "rates.failed_auth_per_address"
    source = r.mapping(m.get("per_source", {}), source_path)
    r.unknown(source, source_path, {"requests_per_second", "bytes_per_second", "burst"})
    auth = r.mapping(m.get("failed_auth_per_address", {}), auth_path)
    r.unknown(auth, auth_path, {"per_minute"})
    d = Rates()
    return Rates(
        per_source=SourceRate(
            requests_per_second=r.number(
                source, "requests_per_second", source_path, d.per_source.requests_per_second
            ),
            bytes_per_second=_size(
                r, source, "bytes_per_second", source_path, d.per_source.bytes_per_second
            ),
            burst=_duration(r, source, "burst", source_path, d.per_source.burst),
        ),
        failed_auth_per_address=AuthRate(
            per_minute=r.integer(
                auth, "per_minute", auth_path, d.failed_auth_per_address.per_minute
            )
        ),
    )


def parse_size(value: object) -> int | None:
    """Bytes from ``4096``, ``64KB``, ``1MB``, ``1.5 MB``; None when it is no size."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    found = _SIZE.match(str(value))
    if found is None:
        return None
    number, unit = float(found[1]), found[2].upper()
    size = int(number * _UNITS[unit])
    return size if size > 0 else None


def _size(r: Reader, m: dict[str, object], key: str, path: str, default: int) -> int:
    if key not in m:
        return default
    size = parse_size(m[key])
    if size is None:
        r.problems.append(f"{at(path, key)}: expected a size such as 4096, 64KB or 1MB")
        return default
    return size


def _duration(
    r: Reader, m: dict[str, object], key: str, path: str, default: timedelta
) -> timedelta:
    if key not in m:
        return default
    try:
        found = parse_duration(m[key])
    except ReleaseRuleError as exc:
        r.problems.append(f"{at(path, key)}: {exc}")
        return default
    if not found:
        r.problems.append(f"{at(path, key)}: expected a duration longer than 0 s")
        return default
    return found
