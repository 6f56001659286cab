"""backlog: 20 s of pushes at 1,000/s, then how long until nothing is pending.

Each round a fresh ``regdeploy serve`` (its worker deciding as it goes, no deployer configured,
so every decision is "no watched repository") takes an open loop of 1,000 distinct pushes/s
for 20 s: the load ends when the generator sends its last push. When every push is answered the
harness counts the pending events, then polls the events table until none is pending: the
drain time counts from the end of the load. The
reference, the bare aiohttp app, takes the same load in the same round: its answers show that
the generator held the rate, and its ack latency is the floor for regdeploy's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench import configs, pushes
from bench.database import PENDING
from bench.harness import LATE_NOTE, Options, Rounds, count, regdeploy, run_rounds, settle
from bench.load import LoadResult, run_loadgen
from bench.processes import Process, start_reference
from bench.report import Count, Report, Target, reference_cell, summary_cell
from bench.stats import headline


@dataclass(frozen=True, slots=True, kw_only=True)
class Scale:
    rate: float
    seconds: float
    limit: float  # how long to wait for the backlog to drain

    @classmethod
    def of(cls, options: Options) -> Scale:
        if options.quick:
            return cls(rate=100.0, seconds=1.0, limit=60.0)
        return cls(rate=1000.0, seconds=20.0, limit=600.0)


def _load(process: Process, scale: Scale) -> LoadResult:
    return run_loadgen(
        process.url + pushes.WEBHOOK_PATH,
        timeout=scale.seconds + 900,
        run=pushes.new_run_id(),
        prefix="team/app",
        repositories=50,
        rate=scale.rate,
        duration=scale.seconds,
    )


def _round(options: Options, index: int, rounds: Rounds, counts: list[Count]) -> None:
    scale = Scale.of(options)
    reference = start_reference(options.workdir, name=f"reference-backlog-{index}")
    try:
        ref = _load(reference, scale)
    finally:
        reference.stop()
    config = configs.service
    with regdeploy(options, lambda uri: config(db_uri=uri), name=f"backlog-{index}") as (svc, sql):
        load = _load(svc, scale)
        pending = sql.count(PENDING)
        drained = settle(sql, limit=scale.limit)
        counts.append(count(sql, f"backlog round {index}", load.ok))
    last_sent = load.started_at + scale.seconds  # the load ends: the generator stops sending
    rounds.add(
        pending=pending,
        answered=load.ended_at - last_sent,
        drain=drained - last_sent if drained is not None else math.inf,
        rate=load.rate,
        p99=load.p99_ms,
        max=load.max_ms,
        bad=load.non_2xx + load.failed,
        lag=load.send_lag_ms,
        ref_rate=ref.rate,
        ref_p99=ref.p99_ms,
        ref_max=ref.max_ms,
        ref_bad=ref.non_2xx + ref.failed,
        ref_lag=ref.send_lag_ms,
    )


def run(options: Options) -> Report:
    scale = Scale.of(options)
    rounds, counts = run_rounds(options, "backlog", _round)
    figures = [
        rounds.figure("events pending at the last answer", "events", "pending"),
        rounds.figure("last answer, seconds after the load ended", "s", "answered"),
        rounds.figure("drained, seconds after the load ended", "s", "drain"),
        rounds.figure("2xx/s answered", "/s", "rate", "ref_rate"),
        rounds.figure("ack p99", "ms", "p99", "ref_p99"),
        rounds.figure("ack max", "ms", "max", "ref_max"),
        rounds.figure("non-2xx or failed", "", "bad", "ref_bad"),
        rounds.figure("generator late by, max", "ms", "lag", "ref_lag"),
    ]
    pending, drain = figures[0], figures[2]
    target = Target(
        figure=f"backlog after {scale.seconds:g} s at {scale.rate:,.0f}/s",
        measured=(
            f"{headline(pending.measured, 'events')} pending, drained "
            f"{summary_cell(drain)} after the load ends"
        ),
        reference=reference_cell(figures[2], "bare aiohttp answered"),
        target="drained <= 5 s after the load ends",
    )
    return Report(
        name="backlog",
        title=f"{scale.seconds:g} s at {scale.rate:,.0f} pushes/s, then until nothing is pending",
        setup=(
            f"Open loop (bench.loadgen): {scale.rate:,.0f} distinct pushes/s for "
            f"{scale.seconds:g} s to regdeploy serve (worker on, no deployer); the load ends "
            "when the generator sends its last push. Once every push is answered, the events "
            "table is polled every 0.1 s until no event is pending; the reference takes the "
            f"same load. A backlog not drained within {scale.limit:g} s shows as missed."
        ),
        measured_as="regdeploy",
        reference_as="bare aiohttp",
        rounds=options.rounds,
        figures=figures,
        counts=counts,
        targets=[target],
        notes=[LATE_NOTE],
    )
