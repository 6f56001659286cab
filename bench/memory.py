"""memory: resident memory of regdeploy idle, and after 100k events received and decided.

Each round starts a fresh ``regdeploy serve`` (worker on, no deployer) and the reference, reads
both processes' RSS once they have been idle for a moment, sends each 100,000 distinct pushes
(a closed loop of 32 clients, ``bench.loadgen``), waits until regdeploy has decided every event,
and reads the RSS again; the peak (VmHWM) is shown too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench import configs, pushes
from bench.harness import Options, Rounds, count, regdeploy, run_rounds, settle
from bench.load import LoadResult, run_loadgen
from bench.processes import Process, start_reference
from bench.report import Count, Report, Target, reference_cell, summary_cell
from bench.stats import headline

IDLE_SECONDS = 3.0
CONCURRENCY = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class Scale:
    events: int
    idle: float  # seconds
    limit: float  # how long to wait for the events to be sent, and then decided

    @classmethod
    def of(cls, options: Options) -> Scale:
        if options.quick:
            return cls(events=200, idle=1.0, limit=120.0)
        return cls(events=100_000, idle=IDLE_SECONDS, limit=3600.0)


def _feed(process: Process, scale: Scale) -> LoadResult:
    return run_loadgen(
        process.url + pushes.WEBHOOK_PATH,
        timeout=scale.limit,
        run=pushes.new_run_id(),
        prefix="team/app",
        repositories=50,
        count=scale.events,
        concurrency=CONCURRENCY,
    )


def _round(options: Options, index: int, rounds: Rounds, counts: list[Count]) -> None:
    scale = Scale.of(options)
    config = configs.service
    reference = start_reference(options.workdir, name=f"reference-memory-{index}")
    try:
        with regdeploy(options, lambda uri: config(db_uri=uri), name=f"memory-{index}") as (
            svc,
            sql,
        ):
            time.sleep(scale.idle)
            idle, ref_idle = svc.rss_mb(), reference.rss_mb()
            load = _feed(svc, scale)
            settle(sql, limit=scale.limit)
            time.sleep(1)
            after, peak = svc.rss_mb(), svc.peak_rss_mb()
            counts.append(count(sql, f"memory round {index}", load.ok))
        _feed(reference, scale)
        ref_after, ref_peak = reference.rss_mb(), reference.peak_rss_mb()
    finally:
        reference.stop()
    rounds.add(
        idle=idle,
        after=after,
        growth=after - idle,
        peak=peak,
        ref_idle=ref_idle,
        ref_after=ref_after,
        ref_growth=ref_after - ref_idle,
        ref_peak=ref_peak,
    )


def run(options: Options) -> Report:
    scale = Scale.of(options)
    rounds, counts = run_rounds(options, "memory", _round)
    n = f"{scale.events:,}"
    figures = [
        rounds.figure("RSS idle", "MB", "idle", "ref_idle"),
        rounds.figure(f"RSS after {n} events", "MB", "after", "ref_after"),
        rounds.figure("growth", "MB", "growth", "ref_growth"),
        rounds.figure("peak RSS (VmHWM)", "MB", "peak", "ref_peak"),
    ]
    after, growth = figures[1], figures[2]
    target = Target(
        figure=f"RSS after {n} events",
        measured=f"{summary_cell(after)}, growth {headline(growth.measured, 'MB')}",
        reference=reference_cell(after, "bare aiohttp"),
        target="<= 80 MB, growth <= 20 MB",
    )
    return Report(
        name="memory",
        title=f"resident memory idle and after {n} events",
        setup=(
            f"RSS (/proc/PID/status, MiB) of regdeploy serve after {IDLE_SECONDS:g} s idle, "
            f"then after {n} distinct pushes (closed loop, {CONCURRENCY} clients) were stored "
            "and decided; the reference takes the same pushes."
        ),
        measured_as="regdeploy",
        reference_as="bare aiohttp",
        rounds=options.rounds,
        figures=figures,
        counts=counts,
        targets=[target],
    )
