"""Figures over rounds: percentiles of one round, min/median/max of several."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.99 for p99) of ``values``; NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Spread:
    """One figure measured in each round. Infinity stands for what did not happen within its
    limit (a probe never deployed, a backlog not drained), NaN for what was not measured."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        return cls(tuple(values))

    @property
    def min(self) -> float:
        return min(self.values) if self.values else math.nan

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else math.nan

    @property
    def max(self) -> float:
        return max(self.values) if self.values else math.nan


def ratios(measured: Spread, reference: Spread) -> Spread:
    """The ratio of each round's figure to the reference measured in the same round."""
    return Spread.of(
        m / r if r and not math.isnan(r) else math.nan
        for m, r in zip(measured.values, reference.values, strict=True)
    )


def number(value: float, unit: str) -> str:
    """``value`` written for a table: ``1,234/s``, ``12.3 ms``, ``0.088x``, ``77 MB``."""
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "missed"
    if unit == "x":
        digits = 3 if abs(value) < 1 else 2 if abs(value) < 100 else 0
        return f"{value:,.{digits}f}x"
    if unit in ("/s", "", "rows", "events"):
        text = f"{value:,.0f}"
        return f"{text}/s" if unit == "/s" else text
    if unit == "MB":
        return f"{value:.1f} MB"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f} {unit}"


def triple(spread: Spread, unit: str) -> str:
    """``min / median / max``."""
    return " / ".join(number(v, unit) for v in (spread.min, spread.median, spread.max))


def headline(spread: Spread, unit: str) -> str:
    """``median (min-max)``, or the one value of a single round."""
    if len(spread.values) == 1:
        return number(spread.median, unit)
    low, high = number(spread.min, unit), number(spread.max, unit)
    return f"{number(spread.median, unit)} ({low} - {high})"
