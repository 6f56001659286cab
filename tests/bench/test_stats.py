"""Figures over rounds: percentiles and how a figure is written in a table."""

from __future__ import annotations

import math

import pytest

from bench.stats import Spread, headline, number, percentile, ratios, triple


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([5.0], 0.99, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 0.50, 2.0),
        (list(map(float, range(1, 101))), 0.99, 99.0),
        (list(map(float, range(1, 101))), 0.95, 95.0),
        ([3.0, 1.0, math.inf], 0.95, math.inf),
    ],
)
def test_percentile_is_the_nearest_rank(
    values: list[float], fraction: float, expected: float
) -> None:
    assert percentile(values, fraction) == expected


def test_percentile_of_nothing_is_not_a_number() -> None:
    assert math.isnan(percentile([], 0.5))


@pytest.mark.parametrize(
    ("value", "unit", "written"),
    [
        (1234.4, "/s", "1,234/s"),
        (0.0881, "x", "0.088x"),
        (14.376, "x", "14.38x"),
        (56.04, "ms", "56.0 ms"),
        (4626.2, "ms", "4,626 ms"),
        (1.234, "s", "1.23 s"),
        (77.04, "MB", "77.0 MB"),
        (16000, "events", "16,000"),
        (math.nan, "ms", "n/a"),
        (math.inf, "s", "missed"),
    ],
)
def test_number_is_written_with_its_unit(value: float, unit: str, written: str) -> None:
    assert number(value, unit) == written


def test_a_spread_shows_min_median_max_and_its_ratio_per_round() -> None:
    measured = Spread.of([300.0, 100.0, 200.0])
    reference = Spread.of([1000.0, 1000.0, 4000.0])
    assert triple(measured, "/s") == "100/s / 200/s / 300/s"
    assert headline(measured, "/s") == "200/s (100/s - 300/s)"
    assert ratios(measured, reference).values == (0.3, 0.1, 0.05)
    assert headline(Spread.of([2.0]), "s") == "2.00 s"
