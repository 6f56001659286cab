"""The benchmark harness runs end to end (``python -m bench --quick``), so it cannot rot.

Quick mode is a few hundred pushes per benchmark, one round: this checks that every benchmark
starts its processes, prints its figures and the summary, and that rows stored equal the pushes
answered 2xx in every run. It asserts no speed: figures are measured by ``make bench``.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bench.__main__ import BENCHMARKS
from tests.support.components import require_binary
from tests.support.service_process import ROOT

pytestmark = pytest.mark.pg

SUMMARY_FIGURES = (
    "ingest ratio to bare aiohttp, c32",
    "ack p99 at",
    "ack -> deployer call p95",
    "backlog after",
    "fan-out to",
    "rollout of",
    "RSS after",
    "judge_tag with a catastrophic regexp",
    "/ping p99 while a source attacks",
    "good push ack p99 while a source attacks",
    "peak RSS while a source attacks",
    "database growth while a source attacks",
    "regdeploy --version wall time",
    "regdeploy status wall time",
    "signature check per deploy",
)
# Benchmarks of pure functions: no service runs, no row is stored.
PURE = frozenset({"patterns", "trust"})
SERVICE_BENCHMARKS = sorted(name for name in BENCHMARKS if name not in PURE)
# A benchmark's run of a round; one that also runs a reference service names it (``idle``).
COUNT_ROW = re.compile(r"^\| (\w+)(?: \w+)? round \d+ \| ([\d,]+) \| ([\d,]+) \| (\w+) \|$")


@pytest.fixture(scope="module")
def quick_run() -> str:
    require_binary("wrk")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.timeout(300)
def test_every_benchmark_prints_its_table(quick_run: str) -> None:
    for name in BENCHMARKS:
        assert f"## {name}: " in quick_run
    figure_rows = [line for line in quick_run.splitlines() if re.match(r"^\| [a-zA-Z]", line)]
    assert any(re.search(r"\d", row.split("|")[2]) for row in figure_rows)


@pytest.mark.timeout(300)
def test_the_summary_has_a_measured_figure_for_each_target(quick_run: str) -> None:
    summary = quick_run.split("## summary", 1)[1]
    for figure in SUMMARY_FIGURES:
        row = next(line for line in summary.splitlines() if line.startswith(f"| {figure}"))
        measured = row.split("|")[2]
        assert re.search(r"\d", measured), row


@pytest.mark.timeout(300)
def test_rows_stored_equal_pushes_answered_2xx_in_every_run(quick_run: str) -> None:
    rows = [m for line in quick_run.splitlines() if (m := COUNT_ROW.match(line))]
    assert sorted({m.group(1) for m in rows}) == SERVICE_BENCHMARKS
    for row in rows:
        assert row.group(2) == row.group(3), row.group(0)
        assert row.group(4) == "equal"
    assert f"rows stored equal 2xx answered in all {len(rows)} runs" in quick_run
