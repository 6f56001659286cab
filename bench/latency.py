"""latency: from a push's 2xx answer to the deployer's call, idle and under other pushes.

regdeploy watches 20 repositories ``team/probe-N``, each moving one Nomad job ``probe-N`` on
the project's Nomad fake (its own process, which stamps every job register call with the
wall-clock time it arrived). A probe pushes a newer tag of one of them and notes when the 2xx
answer arrived (a probe answered otherwise is posted again, as a registry would); its latency
is the time from then to the fake's register call for that digest. Probes go out every 0.5 s,
each to its own repository, so none waits for another's deploy:

- idle: nothing else arrives;
- under load: a second generator (``bench.loadgen``, its own process) pushes 500/s to 50 other
  repositories that nobody watches, from 2 s before the first probe until the last.

A probe whose register call does not come within the limit counts as missed (an infinite
latency: it shows in the percentiles it reaches). The idle figures are the reference.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from bench import configs, pushes
from bench.harness import (
    LATE_NOTE,
    Delivery,
    Options,
    Rounds,
    count,
    deliver,
    regdeploy,
    run_rounds,
)
from bench.load import finish_loadgen, start_loadgen
from bench.processes import Process, registrations, start_nomad
from bench.report import Count, Report, Target, reference_cell, summary_cell
from bench.stats import percentile

BACKGROUND_RATE = 500.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe:
    digest: str
    delivery: Delivery


@dataclass(frozen=True, slots=True, kw_only=True)
class Scale:
    probes: int
    spacing: float
    rate: float
    lead: float
    limit: float  # how long to wait for the register calls after the last probe

    @classmethod
    def of(cls, options: Options) -> Scale:
        if options.quick:
            return cls(probes=3, spacing=0.2, rate=100.0, lead=0.5, limit=60.0)
        return cls(probes=20, spacing=0.5, rate=BACKGROUND_RATE, lead=2.0, limit=300.0)


def _image(run: str, i: int, version: int) -> str:
    return f"{pushes.REGISTRY}/team/probe-{i}:1.0.{version}@{pushes.digest(run, i)}"


def _send_probes(url: str, run: str, *, version: int, scale: Scale) -> list[Probe]:
    """One probe per watched repository, ``scale.spacing`` apart: tag 1.0.VERSION, a new
    digest."""
    probes, start = [], time.monotonic()
    for i in range(scale.probes):
        delay = start + i * scale.spacing - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        index = version * 1000 + i
        digest = pushes.digest(run, index)
        body = pushes.push(
            run=run,
            index=index,
            repository=f"team/probe-{i}",
            tag=f"1.0.{version}",
            digest_text=digest,
        )
        probes.append(Probe(digest=digest, delivery=deliver(url, body)))
    return probes


def _latencies(nomad: Process, probes: list[Probe], *, limit: float) -> list[float]:
    """Seconds from each probe's answer to its register call; infinite for one that missed."""
    deadline = time.monotonic() + limit
    while True:
        calls: dict[str, float] = {}
        for call in registrations(nomad):
            digest = str(call["image"]).rpartition("@")[2]
            calls.setdefault(digest, float(call["at"]))
        if all(p.digest in calls for p in probes) or time.monotonic() > deadline:
            return [
                calls[p.digest] - p.delivery.acked if p.digest in calls else math.inf
                for p in probes
            ]
        time.sleep(0.05)


def _phase(rounds: Rounds, key: str, probes: list[Probe], latencies: list[float]) -> None:
    rounds.add(
        **{
            f"{key}_p50": percentile(latencies, 0.50) * 1000,
            f"{key}_p95": percentile(latencies, 0.95) * 1000,
            f"{key}_max": max(latencies) * 1000,
            f"{key}_seen": sum(1 for x in latencies if math.isfinite(x)),
            f"{key}_retried": sum(1 for p in probes if p.delivery.attempts > 1),
        }
    )


def _round(options: Options, index: int, rounds: Rounds, counts: list[Count]) -> None:
    scale, run = Scale.of(options), pushes.new_run_id()
    jobs = [configs.job(f"probe-{i}", _image(run, i, 0)) for i in range(scale.probes)]
    nomad = start_nomad(options.workdir, jobs, name=f"nomad-latency-{index}")
    watched = [configs.watched(f"team/probe-{i}", job=f"probe-{i}") for i in range(scale.probes)]

    def config(uri: str) -> dict[str, object]:
        return configs.service(db_uri=uri, repositories=watched, nomad_url=nomad.url)

    try:
        with regdeploy(options, config, name=f"latency-{index}") as (svc, sql):
            url = svc.url + pushes.WEBHOOK_PATH
            idle = _send_probes(url, run, version=1, scale=scale)
            _phase(rounds, "idle", idle, _latencies(nomad, idle, limit=scale.limit))
            background = start_loadgen(
                url,
                run=pushes.new_run_id(),
                prefix="team/other-",
                repositories=50,
                rate=scale.rate,
                duration=scale.lead + scale.probes * scale.spacing,
            )
            time.sleep(scale.lead)
            loaded = _send_probes(url, run, version=2, scale=scale)
            load = finish_loadgen(background, timeout=900)
            _phase(rounds, "load", loaded, _latencies(nomad, loaded, limit=scale.limit))
            rounds.add(
                background_rate=load.rate,
                background_bad=load.non_2xx + load.failed,
                background_lag=load.send_lag_ms,
            )
            answered = load.ok + sum(1 for p in idle + loaded if p.delivery.ok)
            counts.append(count(sql, f"latency round {index}", answered))
    finally:
        nomad.stop()


def run(options: Options) -> Report:
    scale = Scale.of(options)
    rounds, counts = run_rounds(options, "latency", _round)
    rate = f"{scale.rate:,.0f}/s"
    figures = [
        rounds.figure("ack -> register call p50", "ms", "load_p50", "idle_p50"),
        rounds.figure("ack -> register call p95", "ms", "load_p95", "idle_p95"),
        rounds.figure("ack -> register call max", "ms", "load_max", "idle_max"),
        rounds.figure(f"probes deployed (of {scale.probes})", "", "load_seen", "idle_seen"),
        rounds.figure("probes posted again after a non-2xx", "", "load_retried", "idle_retried"),
        rounds.figure(f"other pushes answered 2xx/s (sent {rate})", "/s", "background_rate"),
        rounds.figure("other pushes non-2xx or failed", "", "background_bad"),
        rounds.figure("their generator late by, max", "ms", "background_lag"),
    ]
    p95 = figures[1]
    target = Target(
        figure=f"ack -> deployer call p95, under {rate} of other pushes",
        measured=summary_cell(p95),
        reference=reference_cell(p95, "idle"),
        target="<= 100 ms",
    )
    return Report(
        name="latency",
        title="from the webhook's answer to the deployer's call",
        setup=(
            f"{scale.probes} probes {scale.spacing:g} s apart, each a newer tag of its own "
            "watched repository whose target is a job on the Nomad fake; latency from the "
            "probe's 2xx answer (a probe answered otherwise is posted again) to the fake "
            "receiving the job's register call. Under load, "
            f"{rate} pushes of 50 unwatched repositories arrive meanwhile (from {scale.lead:g} s "
            f"before the first probe). A probe not deployed within {scale.limit:g} s counts "
            "as missed."
        ),
        measured_as="under load",
        reference_as="idle",
        rounds=options.rounds,
        figures=figures,
        counts=counts,
        targets=[target],
        notes=[LATE_NOTE],
    )
