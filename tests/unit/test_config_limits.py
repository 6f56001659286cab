"""The ``limits:``, ``retention:`` and ``rates:`` sections: their defaults, their sizes and
durations, and a clear problem for each bad value."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from receiver.config import loading as configuration
from receiver.config.limits import Limits, Rates, Retention, parse_size
from receiver.errors import ConfigError

BASE: dict[str, Any] = {
    "database": {"url": "postgresql://x@127.0.0.1/x"},
    "sources": [{"name": "registry", "format": "distribution", "token": "t" * 20}],
    "api": {"tokens": [{"name": "admin", "token": "a" * 20, "scope": "write"}]},
}


def parsed(**sections: Any) -> configuration.Config:
    return configuration.parse({**BASE, **sections}, env={})


def test_left_out_they_are_the_documented_defaults() -> None:
    config = parsed()
    assert config.limits == Limits(
        records_per_notification=500, field_bytes=1024, reason_bytes=2048, rejected_body_bytes=4096
    )
    assert (config.retention.rejected_payloads.keep, config.retention.rejected_payloads.days) == (
        1000,
        14.0,
    )
    assert config.rates.per_source.requests_per_second == 200
    assert config.rates.per_source.bytes_per_second == 1024**2
    assert config.rates.per_source.burst == timedelta(seconds=2)
    assert config.rates.failed_auth_per_address.per_minute == 30
    assert (Retention(), Rates()) == (config.retention, config.rates)


def test_sizes_and_durations_are_read_as_people_write_them() -> None:
    config = parsed(
        limits={"field_bytes": "2KB", "rejected_body_bytes": 8192},
        rates={"per_source": {"bytes_per_second": "1.5 MB", "burst": "1m30s"}},
    )
    assert (config.limits.field_bytes, config.limits.rejected_body_bytes) == (2048, 8192)
    assert config.rates.per_source.bytes_per_second == int(1.5 * 1024**2)
    assert config.rates.per_source.burst == timedelta(seconds=90)


@pytest.mark.parametrize(
    ("sections", "problem"),
    [
        ({"limits": {"field_bytes": "lots"}}, "limits.field_bytes: expected a size"),
        ({"limits": {"records_per_notification": 0}}, "limits.records_per_notification"),
        ({"limits": {"records": 5}}, "limits.records: unknown key"),
        ({"retention": {"rejected_payloads": {"keep": -1}}}, "retention.rejected_payloads.keep"),
        (
            {"rates": {"per_source": {"burst": "soon"}}},
            "rates.per_source.burst: expected a duration",
        ),
        ({"rates": {"per_source": {"burst": "0s"}}}, "rates.per_source.burst: expected a duration"),
        ({"rates": {"failed_auth_per_address": {"per_minute": "x"}}}, "per_minute"),
    ],
)
def test_a_bad_value_is_a_problem_naming_its_key(sections: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parsed(**sections)
    assert any(problem in p for p in refused.value.problems), refused.value.problems


@pytest.mark.parametrize(
    ("text", "size"),
    [(4096, 4096), ("4096", 4096), ("64KB", 65536), ("1mb", 1048576), ("2 G", 2 * 1024**3)],
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", [True, 0, -5, "", "1TB", "MB", "1.2.3KB"])
def test_what_is_no_size(text: object) -> None:
    assert parse_size(text) is None
