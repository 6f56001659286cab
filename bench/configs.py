"""regdeploy configurations for the benchmarks, as an operator would write them.

One Distribution source whose registry name (``registry.bench:5000``) stands for no running
registry, so its digests are not confirmed (``confirm_digests: false``); the reconciler off (it
would ask that registry); the source's rate raised far above what the benchmarks push
(``rates.per_source``); everything else at its default, logging included. ``two_sources``
(the hardening benchmark) adds a Harbor source and writes out the default limits, retention
and rates instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench import pushes
from bench.processes import free_port
from receiver.config.limits import Limits, Rates, Retention, read_limits, read_rates, read_retention
from receiver.config.reader import Reader

HARBOR_SOURCE = "harbor"
HARBOR_TOKEN = "bench-harbor-token-0123456789"
# regdeploy's defaults (receiver/config/limits.py), written out so that the figures measured
# with them say what they were.
LIMITS: dict[str, Any] = {
    "records_per_notification": 500,
    "field_bytes": 1024,
    "reason_bytes": 2048,
    "rejected_body_bytes": 4096,
}
RETENTION: dict[str, Any] = {"rejected_payloads": {"keep": 1000, "days": 14}}
RATES: dict[str, Any] = {
    "per_source": {"requests_per_second": 200, "bytes_per_second": "1MB", "burst": "2s"},
    "failed_auth_per_address": {"per_minute": 30},
}


def service(
    *,
    db_uri: str,
    repositories: Sequence[dict[str, Any]] = (),
    nomad_url: str | None = None,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": free_port()},
        "database": {"url": db_uri},
        "sources": [
            {
                "name": pushes.SOURCE,
                "format": "distribution",
                "token": pushes.SOURCE_TOKEN,
                "registry": pushes.REGISTRY,
                "confirm_digests": False,
            }
        ],
        "api": {"tokens": [{"name": "bench", "token": pushes.API_TOKEN, "scope": "read"}]},
        "repositories": list(repositories),
        "reconciler": {"interval_seconds": 0},
        # The benchmarks push far faster than one source may by default (200 notifications/s,
        # 1 MB/s): a registry that busy is configured so by its operator.
        "rates": {"per_source": {"requests_per_second": 1_000_000, "bytes_per_second": "1GB"}},
    }
    if nomad_url is not None:
        config["nomad"] = {"address": nomad_url}
    return config


def two_sources(*, db_uri: str) -> dict[str, Any]:
    """``service``'s configuration with a second source, Harbor's ``harbor``, and the default
    ``limits``, ``retention`` and ``rates`` written out (the default rate, not a busy one)."""
    config = service(db_uri=db_uri)
    config["sources"].append(
        {
            "name": HARBOR_SOURCE,
            "format": "harbor",
            "token": HARBOR_TOKEN,
            "registry": pushes.REGISTRY,
            "confirm_digests": False,
        }
    )
    return {**config, "limits": LIMITS, "retention": RETENTION, "rates": RATES}


@dataclass(frozen=True, slots=True, kw_only=True)
class Bounds:
    """``LIMITS``, ``RETENTION`` and ``RATES`` as regdeploy reads them."""

    limits: Limits
    retention: Retention
    rates: Rates

    # What a rejected row takes beyond its capped body, reason and content type: the other
    # columns, tuple headers, the body's TOAST chunks and their index, three indexes, pages not
    # filled. Measured on PostgreSQL 18: 1,000 rows at every cap take 9,880 bytes each.
    ROW_OVERHEAD = 3072

    @classmethod
    def read(cls) -> Bounds:
        problems: list[str] = []
        reader = Reader(problems)
        bounds = cls(
            limits=read_limits(reader, LIMITS),
            retention=read_retention(reader, RETENTION),
            rates=read_rates(reader, RATES),
        )
        if problems:
            raise ValueError(f"bench.configs: {'; '.join(problems)}")
        return bounds

    @property
    def retention_mb(self) -> float:
        """What the retention lets one source keep of its unusable bodies, at most, in MB."""
        limits = self.limits
        per_row = limits.rejected_body_bytes + limits.reason_bytes + limits.field_bytes
        return self.retention.rejected_payloads.keep * (per_row + self.ROW_OVERHEAD) / 1024**2

    @property
    def reckoning(self) -> str:
        """How ``retention_mb`` is reckoned."""
        limits = self.limits
        return (
            f"keep {self.retention.rejected_payloads.keep:,} x (rejected_body_bytes "
            f"{limits.rejected_body_bytes:,} + reason_bytes {limits.reason_bytes:,} + "
            f"field_bytes {limits.field_bytes:,} for the content type + {self.ROW_OVERHEAD:,} "
            "for the rest of a row: other columns, headers, TOAST, indexes)"
        )

    def describe(self) -> str:
        defaults = self == Bounds(limits=Limits(), retention=Retention(), rates=Rates())
        per, kept = self.rates.per_source, self.retention.rejected_payloads
        return (
            f"limits, retention and rates ({'' if defaults else 'NOT '}regdeploy's defaults): "
            f"records_per_notification {self.limits.records_per_notification}, per_source "
            f"{per.requests_per_second:g} requests/s and {per.bytes_per_second / 1024**2:g} MB/s "
            f"with a {per.burst.total_seconds():g} s burst, failed_auth_per_address "
            f"{self.rates.failed_auth_per_address.per_minute}/min, rejected_payloads keep "
            f"{kept.keep:,} for {kept.days:g} days"
        )


def watched(name: str, *, job: str, policy: str = "minor") -> dict[str, Any]:
    """A watched repository of the bench registry whose one target is Nomad job ``job``."""
    return {
        "name": name,
        "image": f"{pushes.REGISTRY}/{name}",
        "policy": policy,
        "targets": [{"nomad": {"job": job}}],
    }


def job(job_id: str, image: str, *, opt_in: bool = False) -> dict[str, Any]:
    """A Nomad job of the fake (see ``bench.nomad_runner``)."""
    return {"id": job_id, "image": image, "meta": {"regdeploy.enable": "true"} if opt_in else None}


# The rollout benchmark's ``rollout:``: no soak, so that what it costs is the waves alone.
ROLLOUT_NO_SOAK: dict[str, Any] = {"waves": [1, "10%", "50%", "100%"], "soak": "0s"}


def pinned(name: str, *, tag: str, rollout: dict[str, Any] | None = None) -> dict[str, Any]:
    """A watched repository of the bench registry with no targets of its own: the workloads
    that opt in and run it follow ``tag`` (a push of it with a new digest moves them), in the
    waves of ``rollout`` (a ``rollout:`` section) if given, else all at once."""
    repository: dict[str, Any] = {
        "name": name,
        "image": f"{pushes.REGISTRY}/{name}",
        "pinned_tag": tag,
    }
    if rollout is not None:
        repository["rollout"] = rollout
    return repository
