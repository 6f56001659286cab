"""The token buckets of ``rates:``, on a clock the test moves: a registry's burst passes, a
flood does not, and an address that keeps failing to authenticate waits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from receiver.config.limits import AuthRate, Rates, SourceRate
from receiver.rates import ADDRESSES, Throttle

DEFAULTS = Rates()


@dataclass
class Seconds:
    at: float = 0.0

    def __call__(self) -> float:
        return self.at


def test_a_registry_s_burst_of_500_in_one_second_passes_at_the_defaults() -> None:
    now = Seconds()
    throttle = Throttle(DEFAULTS, now=now)
    refused = 0
    for n in range(500):
        now.at = n / 500
        refused += throttle.source_wait("registry", 2_000) > 0
    assert refused == 0


def test_a_flood_is_held_to_the_rate_and_told_how_long_to_wait() -> None:
    now = Seconds()
    rates = Rates(per_source=SourceRate(requests_per_second=10, burst=timedelta(seconds=2)))
    throttle = Throttle(rates, now=now)
    waits = [throttle.source_wait("registry", 100) for _ in range(30)]
    assert waits[:20] == [0.0] * 20
    assert all(0 < wait <= 0.1 for wait in waits[20:])
    now.at = 1.0
    assert sum(throttle.source_wait("registry", 100) == 0 for _ in range(30)) == 10
    assert throttle.source_wait("harbor", 100) == 0  # each source has its own buckets


def test_bytes_are_counted_whether_a_body_said_its_size_or_not() -> None:
    now = Seconds()
    rates = Rates(per_source=SourceRate(bytes_per_second=1_000, burst=timedelta(seconds=1)))
    throttle = Throttle(rates, now=now)
    assert throttle.source_wait("registry", None) == 0
    throttle.source_read("registry", 5_000)  # a chunked body, told after it was read
    assert throttle.source_wait("registry", 10) > 3.9
    now.at = 5.0
    assert throttle.source_wait("registry", 10) == 0


def test_an_address_that_keeps_failing_waits_even_with_the_right_token() -> None:
    now = Seconds()
    throttle = Throttle(Rates(failed_auth_per_address=AuthRate(per_minute=30)), now=now)
    allowed = 0
    for _ in range(1_000):
        if throttle.auth_wait("203.0.113.7") == 0:
            allowed += 1
            throttle.auth_failed("203.0.113.7")
    assert allowed == 30
    assert throttle.auth_wait("198.51.100.1") == 0  # another address is not held
    assert 0 < throttle.auth_wait("203.0.113.7") <= 2.0
    now.at = 2.0
    assert throttle.auth_wait("203.0.113.7") == 0  # one try more every two seconds


def test_the_addresses_remembered_are_bounded() -> None:
    now = Seconds()
    throttle = Throttle(Rates(failed_auth_per_address=AuthRate(per_minute=1)), now=now)
    for n in range(ADDRESSES + 100):
        throttle.auth_failed(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    assert throttle.auth_wait("10.0.0.0") == 0  # the oldest forgotten: a full bucket again
    assert throttle.auth_wait(f"10.0.{(ADDRESSES + 99) // 256 % 256}.{(ADDRESSES + 99) % 256}")
