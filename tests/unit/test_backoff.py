"""The backoff between tries: doubling from its base, never past its cap, for any number of
tries (an orchestrator away for a day is tried thousands of times)."""

from __future__ import annotations

import pytest

from receiver.background.loop import backoff


@pytest.mark.parametrize(
    ("attempts", "seconds"), [(1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (6, 10.0)]
)
def test_it_doubles_from_the_base_up_to_the_cap(attempts: int, seconds: float) -> None:
    assert backoff(attempts, base=0.5, cap=10.0) == seconds


@pytest.mark.parametrize("attempts", [1_025, 10_000, 10**9])
def test_any_number_of_tries_waits_the_cap(attempts: int) -> None:
    assert backoff(attempts, base=0.05, cap=60.0) == 60.0
