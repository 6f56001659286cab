"""What a benchmark found, and the tables that show it.

Every table is Markdown, so a run's output can be pasted into the README as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.stats import Spread, headline, ratios, triple


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    """One figure over the rounds, with the reference measured beside it in each round."""

    name: str
    unit: str
    measured: Spread
    reference: Spread | None = None

    @property
    def ratio(self) -> Spread | None:
        return ratios(self.measured, self.reference) if self.reference is not None else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Count:
    """Rows the database holds against the pushes answered 2xx, for one run of the service."""

    run: str
    stored: int
    answered: int

    @property
    def matches(self) -> bool:
        return self.stored == self.answered


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A line of the summary: a figure the team reports against, and its target."""

    figure: str
    measured: str
    reference: str
    target: str


@dataclass(kw_only=True)
class Report:
    name: str
    title: str
    setup: str
    measured_as: str
    reference_as: str
    rounds: int
    figures: list[Figure] = field(default_factory=list)
    counts: list[Count] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def nothing_lost(self) -> bool:
        return all(count.matches for count in self.counts)


def render(report: Report) -> str:
    """The benchmark's own section: its set-up, its figures, and its row counts."""
    lines = [
        f"## {report.name}: {report.title}",
        "",
        report.setup,
        f"{report.rounds} round(s); each cell is min / median / max over the rounds; a ratio "
        "is taken within each round, against the reference measured in that round.",
        "",
        f"| figure | {report.measured_as} | {report.reference_as} | ratio |",
        "| --- | --- | --- | --- |",
    ]
    for figure in report.figures:
        reference = triple(figure.reference, figure.unit) if figure.reference else "-"
        ratio = triple(figure.ratio, "x") if figure.ratio else "-"
        lines.append(
            f"| {figure.name} | {triple(figure.measured, figure.unit)} | {reference} | {ratio} |"
        )
    lines += ["", "| run | rows stored | 2xx answered | |", "| --- | --- | --- | --- |"]
    for count in report.counts:
        verdict = "equal" if count.matches else "MISMATCH"
        lines.append(f"| {count.run} | {count.stored:,} | {count.answered:,} | {verdict} |")
    lines += [f"- {note}" for note in report.notes]
    return "\n".join(lines) + "\n"


def render_summary(reports: Sequence[Report]) -> str:
    """One table over every benchmark run, in the shape of the targets the team reports on."""
    lines = [
        "## summary",
        "",
        "| figure | this run: median (min - max) | reference, same run | target |",
        "| --- | --- | --- | --- |",
    ]
    for report in reports:
        for row in report.targets:
            lines.append(f"| {row.figure} | {row.measured} | {row.reference} | {row.target} |")
    counts = [count for report in reports for count in report.counts]
    lost = [count.run for count in counts if not count.matches]
    verdict = (
        f"rows stored equal 2xx answered in all {len(counts)} runs"
        if not lost
        else f"rows stored DIFFER from 2xx answered in: {', '.join(lost)}"
    )
    return "\n".join([*lines, "", verdict]) + "\n"


def summary_cell(figure: Figure) -> str:
    return headline(figure.measured, figure.unit)


def reference_cell(figure: Figure, label: str) -> str:
    if figure.reference is None:
        return "-"
    return f"{label} {headline(figure.reference, figure.unit)}"


def ratio_cell(figure: Figure) -> str:
    ratio = figure.ratio
    return headline(ratio, "x") if ratio is not None else "-"
