"""fanout: one push that moves 50 labelled workloads.

The Nomad fake (its own process) runs 50 jobs ``fan-N`` that opt in by job meta
(``regdeploy.enable=true``) and run ``team/fan:stable`` by digest, and one more, ``solo``, that
runs ``team/solo:stable``; regdeploy watches no repository, so the jobs follow the tag they run.
Each round pushes ``team/solo:stable`` with a new digest (the reference: one workload moves), and
once that is done ``team/fan:stable`` with a new digest. From each push's 2xx answer it measures
the time until every intent exists (deployments of that digest in the database, skips and
adoptions left out) and until the fake has received every job's register call.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from bench import configs, pushes
from bench.database import INTENTS, Sql
from bench.harness import Options, Rounds, count, deliver, regdeploy, run_rounds, settle
from bench.processes import Process, registrations, start_nomad
from bench.report import Count, Report, Target, reference_cell, summary_cell


@dataclass(frozen=True, slots=True, kw_only=True)
class Scale:
    workloads: int
    limit: float

    @classmethod
    def of(cls, options: Options) -> Scale:
        return cls(workloads=5, limit=60.0) if options.quick else cls(workloads=50, limit=300.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Moved:
    intents: float  # seconds from the answer until every intent existed
    deployed: float  # ... until every register call had arrived
    answered: int  # 1 if the push was answered 2xx


def _registered(nomad: Process, digest: str, *, jobs: int, limit: float) -> float | None:
    """When the last of ``jobs`` register calls for ``digest`` arrived, None if not in time."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        calls = [c for c in registrations(nomad) if str(c["image"]).endswith(digest)]
        if len({c["job"] for c in calls if c["status"] == 200}) >= jobs:
            return max(float(c["at"]) for c in calls)
        time.sleep(0.02)
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    """Where a round pushes and reads: regdeploy's webhook, its database, the fake."""

    url: str
    sql: Sql
    nomad: Process
    run: str
    limit: float


def _move(at: Setting, *, repository: str, index: int, jobs: int) -> Moved:
    """Push ``repository:stable`` at a new digest; how long until ``jobs`` jobs move."""
    digest = pushes.digest(at.run, index)
    body = pushes.push(
        run=at.run, index=index, repository=repository, tag="stable", digest_text=digest
    )
    delivery = deliver(at.url, body)
    acked = delivery.acked
    sql, nomad, limit = at.sql, at.nomad, at.limit
    intents = sql.wait_for(INTENTS, digest, at_least=jobs, limit=limit)
    deployed = _registered(nomad, digest, jobs=jobs, limit=limit)
    return Moved(
        intents=intents - acked if intents is not None else math.inf,
        deployed=deployed - acked if deployed is not None else math.inf,
        answered=1 if delivery.ok else 0,
    )


def _round(options: Options, index: int, rounds: Rounds, counts: list[Count]) -> None:
    scale, run = Scale.of(options), pushes.new_run_id()
    fan = f"{pushes.REGISTRY}/team/fan:stable@{pushes.digest(run, 0)}"
    jobs = [configs.job(f"fan-{i}", fan, opt_in=True) for i in range(scale.workloads)]
    solo = f"{pushes.REGISTRY}/team/solo:stable@{pushes.digest(run, 1)}"
    jobs.append(configs.job("solo", solo, opt_in=True))
    nomad = start_nomad(options.workdir, jobs, name=f"nomad-fanout-{index}")

    def config(uri: str) -> dict[str, object]:
        return configs.service(db_uri=uri, nomad_url=nomad.url)

    try:
        with regdeploy(options, config, name=f"fanout-{index}") as (svc, sql):
            at = Setting(
                url=svc.url + pushes.WEBHOOK_PATH, sql=sql, nomad=nomad, run=run, limit=scale.limit
            )
            one = _move(at, repository="team/solo", index=2, jobs=1)
            settle(sql, limit=scale.limit)
            many = _move(at, repository="team/fan", index=3, jobs=scale.workloads)
            counts.append(count(sql, f"fanout round {index}", one.answered + many.answered))
    finally:
        nomad.stop()
    rounds.add(
        intents=many.intents * 1000,
        deployed=many.deployed * 1000,
        ref_intents=one.intents * 1000,
        ref_deployed=one.deployed * 1000,
    )


def run(options: Options) -> Report:
    scale = Scale.of(options)
    rounds, counts = run_rounds(options, "fanout", _round)
    n = scale.workloads
    figures = [
        rounds.figure(f"ack -> all {n} intents exist", "ms", "intents", "ref_intents"),
        rounds.figure(f"ack -> all {n} register calls", "ms", "deployed", "ref_deployed"),
    ]
    intents = figures[0]
    target = Target(
        figure=f"fan-out to {n} workloads (all intents)",
        measured=summary_cell(intents),
        reference=reference_cell(intents, "1 workload"),
        target="<= 1 s",
    )
    return Report(
        name="fanout",
        title=f"one push -> {n} labelled workloads",
        setup=(
            f"{n} Nomad jobs on the fake opt in by meta and run team/fan:stable; a push of a "
            "new digest of that tag moves them all. The reference is a push that moves one "
            f"job (team/solo) among the same {n + 1} opted-in jobs, in the same round."
        ),
        measured_as=f"{n} workloads",
        reference_as="1 workload",
        rounds=options.rounds,
        figures=figures,
        counts=counts,
        targets=[target],
    )
