"""ingest: how fast notifications are acknowledged, against a bare aiohttp app.

Each round measures the reference (``bench.reference``) and then a fresh ``regdeploy serve``
(its worker running, as deployed) on a fresh database, each under:

- a closed loop: ``wrk -t1 -c32``, every request a distinct push, after a short warm-up
  (none in quick mode);
- an open loop at 1,000 pushes/s (``bench.loadgen``), latency counted from when each push was
  due, so that falling behind shows in full.

Between the loads regdeploy is left to decide what it received, so that one load's backlog does
not slow the next. Rows stored must equal the pushes answered 2xx.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from bench import configs, pushes
from bench.harness import LATE_NOTE, Options, Rounds, count, regdeploy, run_rounds, settle
from bench.load import LoadResult, run_loadgen, run_wrk
from bench.processes import Process, start_reference
from bench.report import Count, Report, Target, ratio_cell, reference_cell, summary_cell

CONNECTIONS = 32
OPEN_RATE = 1000.0
SETTLE_SECONDS = 300.0
WARM_UP_SECONDS = 2.0


def _closed(process: Process, options: Options, seconds: float) -> LoadResult:
    return run_wrk(
        process.url + pushes.WEBHOOK_PATH,
        run=pushes.new_run_id(),
        seconds=seconds,
        tail=options.pick(5, 1),
        connections=CONNECTIONS,
        prefix="team/app",
        repositories=50,
    )


def _open(process: Process, options: Options) -> LoadResult:
    duration = options.pick(10, 1)
    return run_loadgen(
        process.url + pushes.WEBHOOK_PATH,
        timeout=duration + 900,
        run=pushes.new_run_id(),
        prefix="team/app",
        repositories=50,
        rate=options.pick(OPEN_RATE, 200),
        duration=duration,
    )


def _loads(
    process: Process, options: Options, settle_between: Callable[[], object] | None = None
) -> list[LoadResult]:
    """Warm-up (not in quick mode), closed loop, open loop; ``settle_between()`` runs after
    each."""
    steps = [
        partial(_closed, process, options, options.pick(10, 1)),
        partial(_open, process, options),
    ]
    if not options.quick:
        steps.insert(0, partial(_closed, process, options, WARM_UP_SECONDS))
    loads = []
    for step in steps:
        loads.append(step())
        if settle_between is not None:
            settle_between()
    return loads


def _round(options: Options, index: int, rounds: Rounds, counts: list[Count]) -> None:
    reference = start_reference(options.workdir, name=f"reference-{index}")
    try:
        *_, ref_closed, ref_open = _loads(reference, options)
    finally:
        reference.stop()
    name = f"ingest-{index}"
    with regdeploy(options, lambda uri: configs.service(db_uri=uri), name=name) as (svc, sql):
        loads = _loads(svc, options, lambda: settle(sql, limit=SETTLE_SECONDS))
        counts.append(count(sql, f"ingest round {index}", sum(load.ok for load in loads)))
    *_, closed, open_ = loads
    rounds.add(
        closed_rate=closed.rate,
        closed_p50=closed.p50_ms,
        closed_p99=closed.p99_ms,
        closed_max=closed.max_ms,
        closed_bad=closed.non_2xx + closed.failed,
        open_rate=open_.rate,
        open_p50=open_.p50_ms,
        open_p99=open_.p99_ms,
        open_max=open_.max_ms,
        open_bad=open_.non_2xx + open_.failed,
        open_lag=open_.send_lag_ms,
        ref_closed_rate=ref_closed.rate,
        ref_closed_p50=ref_closed.p50_ms,
        ref_closed_p99=ref_closed.p99_ms,
        ref_closed_max=ref_closed.max_ms,
        ref_closed_bad=ref_closed.non_2xx + ref_closed.failed,
        ref_open_rate=ref_open.rate,
        ref_open_p50=ref_open.p50_ms,
        ref_open_p99=ref_open.p99_ms,
        ref_open_max=ref_open.max_ms,
        ref_open_bad=ref_open.non_2xx + ref_open.failed,
        ref_open_lag=ref_open.send_lag_ms,
    )


def run(options: Options) -> Report:
    rounds, counts = run_rounds(options, "ingest", _round)
    rate = int(options.pick(OPEN_RATE, 200))
    figures = [
        rounds.figure("2xx/s, closed loop c32", "/s", "closed_rate", "ref_closed_rate"),
        rounds.figure("ack p50, c32", "ms", "closed_p50", "ref_closed_p50"),
        rounds.figure("ack p99, c32", "ms", "closed_p99", "ref_closed_p99"),
        rounds.figure("ack max, c32", "ms", "closed_max", "ref_closed_max"),
        rounds.figure("non-2xx or failed, c32", "", "closed_bad", "ref_closed_bad"),
        rounds.figure(f"2xx/s, open loop {rate:,}/s", "/s", "open_rate", "ref_open_rate"),
        rounds.figure(f"ack p50, {rate:,}/s", "ms", "open_p50", "ref_open_p50"),
        rounds.figure(f"ack p99, {rate:,}/s", "ms", "open_p99", "ref_open_p99"),
        rounds.figure(f"ack max, {rate:,}/s", "ms", "open_max", "ref_open_max"),
        rounds.figure(f"non-2xx or failed, {rate:,}/s", "", "open_bad", "ref_open_bad"),
        rounds.figure(f"generator late by, max, {rate:,}/s", "ms", "open_lag", "ref_open_lag"),
    ]
    throughput, p99 = figures[0], figures[7]
    targets = [
        Target(
            figure="ingest ratio to bare aiohttp, c32",
            measured=f"{ratio_cell(throughput)} ({summary_cell(throughput)})",
            reference=reference_cell(throughput, "bare aiohttp"),
            target=">= 0.25x (aim 0.5x)",
        ),
        Target(
            figure=f"ack p99 at {rate:,}/s open loop",
            measured=summary_cell(p99),
            reference=reference_cell(p99, "bare aiohttp"),
            target="<= 25 ms",
        ),
    ]
    seconds = options.pick(10, 1)
    warm_up = "" if options.quick else f" after a {WARM_UP_SECONDS:g} s warm-up"
    return Report(
        name="ingest",
        title="acknowledging notifications",
        setup=(
            f"Closed loop: wrk -t1 -c{CONNECTIONS}, {seconds:g} s of distinct pushes{warm_up}. "
            f"Open loop: {rate:,} pushes/s for {seconds:g} s (bench.loadgen), latency "
            "from when each push was due. regdeploy serve runs with its worker; the reference "
            "is a bare aiohttp app that parses the same bodies and stores nothing."
        ),
        measured_as="regdeploy",
        reference_as="bare aiohttp",
        rounds=options.rounds,
        figures=figures,
        counts=counts,
        targets=targets,
        notes=[LATE_NOTE],
    )
