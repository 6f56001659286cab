"""rollout: one push that moves 50 labelled workloads in waves, against the same push at once.

As in ``fanout``, the Nomad fake (its own process) runs jobs that opt in by job meta and run
their repository's ``stable`` tag by digest; they have no update block, so a deploy is done when
its evaluation completes, and a job is healthy once its allocation runs. It runs three groups of
50 jobs, each moved by its own push of ``REPO:stable`` at a new digest, one after the other:

- ``fan-N``, of ``team/fan``, which regdeploy does not watch: the jobs follow the tag they run
  and move at once, as in ``fanout``. This is the reference;
- ``watched-N``, of ``team/watched``, a watched repository pinned to ``stable`` with no targets
  of its own: the jobs that opt in move by its rules, still at once (what a watched repository
  costs, apart from waves);
- ``waves-N``, of ``team/waves``, the same repository with ``configs.ROLLOUT_NO_SOAK``:
  ``rollout: {waves: [1, 10%, 50%, 100%], soak: 0s}``.

One regdeploy serves all three in a round, on a fresh database, after a push that moves nothing
has been decided (so that its loops listen). From each push's 2xx answer it measures the time
until the fake has received every job's register call; for the waves also until ``GET
/api/v1/rollouts`` says the rollout completed (its ``finished_at``), until the first register
call of each wave, and, summed over the waves, from a wave's last deploy's end (``GET
/api/v1/deployments``) until the wave was done (healthy: the next started, or the rollout
completed): with no soak, what waves cost beyond the deploys.
"""

from __future__ import annotations

import json
import math
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench import configs, pushes
from bench.database import Sql
from bench.harness import Options, Rounds, count, deliver, regdeploy, run_rounds, settle
from bench.processes import Process, registrations, start_nomad
from bench.report import Count, Figure, Report, Target, ratio_cell, reference_cell, summary_cell

AT_ONCE, WATCHED, WAVES = "team/fan", "team/watched", "team/waves"
NOBODY = "team/solo"  # the first push of a round: no job runs it
# Each group's repository, and its jobs' names: ``fan-0``, ``fan-1``, ...
JOBS = {AT_ONCE: "fan", WATCHED: "watched", WAVES: "waves"}
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True, slots=True, kw_only=True)
class Scale:
    workloads: int  # of each group
    limit: float

    @classmethod
    def of(cls, options: Options) -> Scale:
        return cls(workloads=5, limit=60.0) if options.quick else cls(workloads=50, limit=300.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Wave:
    """One wave of a rollout, in seconds from the push's 2xx answer."""

    number: int
    jobs: int
    first: float  # its first register call arrived
    done: float  # its last deploy ended
    finished: float  # healthy for the soak: the next wave started, or the rollout completed


@dataclass(frozen=True, slots=True, kw_only=True)
class Moved:
    """One push, in seconds from its 2xx answer (infinite: not within the limit)."""

    answered: int  # 1 if the push was answered 2xx
    deployed: float  # until every job's register call had arrived
    completed: float = math.nan  # until the rollout completed (NaN: no rollout)
    waves: tuple[Wave, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Fleet:
    """Where a round pushes and reads: regdeploy, the fake, the round's run id."""

    url: str
    nomad: Process
    run: str
    limit: float


def _api(url: str) -> Any:
    """An answer of regdeploy's API, read with the bench's read token."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {pushes.API_TOKEN}"})
    with _OPENER.open(request, timeout=10) as response:
        return json.loads(response.read())


def _registered(fleet: Fleet, digest: str, *, jobs: int) -> dict[str, float] | None:
    """When the register call of each job for ``digest`` arrived (wall clock), once ``jobs``
    jobs have had one; None if not within the limit.

    The fake stamps a register call also with the arrival of any request in flight when it came
    (the inventory's blocking query on the jobs list, which arrived earlier): a job's latest
    stamp is its own call's."""
    deadline = time.monotonic() + fleet.limit
    while time.monotonic() < deadline:
        arrived: dict[str, float] = {}
        for call in registrations(fleet.nomad):
            if str(call["image"]).endswith(digest) and call["status"] == 200:
                job = str(call["job"])
                arrived[job] = max(arrived.get(job, 0.0), float(call["at"]))
        if len(arrived) >= jobs:
            return arrived
        time.sleep(0.02)
    return None


def _ended_rollout(fleet: Fleet, digest: str) -> dict[str, Any] | None:
    """The rollout of ``digest`` to ``team/waves`` once it has ended, as the API shows it; None
    if it has not ended within the limit."""
    url = f"{fleet.url}/api/v1/rollouts?repository={WAVES}"
    deadline = time.monotonic() + fleet.limit
    while time.monotonic() < deadline:
        for rollout in _api(url)["rollouts"]:
            if rollout["digest"] == digest and rollout["finished_at"] is not None:
                found: dict[str, Any] = rollout
                return found
        time.sleep(0.05)
    return None


def _since(stamp: str | None, acked: float) -> float:
    """An API timestamp in seconds from ``acked``; infinite when there is none."""
    return datetime.fromisoformat(stamp).timestamp() - acked if stamp else math.inf


def _waves(
    fleet: Fleet, rollout: dict[str, Any], arrived: dict[str, float], acked: float
) -> tuple[Wave, ...]:
    """The waves of an ended ``rollout`` of ``team/waves``, from the API's answers and the
    register calls ``arrived``."""
    url = f"{fleet.url}/api/v1/deployments?repository={WAVES}&limit=1000"
    ended = {int(d["id"]): _since(d["finished_at"], acked) for d in _api(url)["deployments"]}
    waves = []
    for wave in rollout["waves"]:
        targets = wave["targets"]
        calls = [arrived[t["name"]] - acked for t in targets if t["name"] in arrived]
        waves.append(
            Wave(
                number=int(wave["number"]),
                jobs=len(targets),
                first=min(calls, default=math.inf),
                done=max(
                    (ended.get(t["deployment_id"], math.inf) for t in targets), default=math.inf
                ),
                finished=_since(wave["finished_at"], acked),
            )
        )
    return tuple(waves)


def _move(fleet: Fleet, *, repository: str, index: int, jobs: int) -> Moved:
    """Push ``repository:stable`` at a new digest; how long until ``jobs`` jobs move (and,
    for ``team/waves``, until its rollout completed)."""
    digest = pushes.digest(fleet.run, index)
    body = pushes.push(
        run=fleet.run, index=index, repository=repository, tag="stable", digest_text=digest
    )
    delivery = deliver(fleet.url + pushes.WEBHOOK_PATH, body)
    acked, answered = delivery.acked, 1 if delivery.ok else 0
    arrived = _registered(fleet, digest, jobs=jobs) if jobs else {}
    deployed = max(arrived.values(), default=acked) - acked if arrived is not None else math.inf
    if repository != WAVES:
        return Moved(answered=answered, deployed=deployed)
    rollout = _ended_rollout(fleet, digest)
    if rollout is None or rollout["state"] != "completed":
        return Moved(answered=answered, deployed=deployed, completed=math.inf)
    return Moved(
        answered=answered,
        deployed=deployed,
        completed=_since(rollout["finished_at"], acked),
        waves=_waves(fleet, rollout, arrived or {}, acked),
    )


def _jobs(run: str, workloads: int) -> list[dict[str, Any]]:
    """Each group's jobs (``fan-0``, ``fan-1``, ...), on its repository's ``stable`` tag."""
    jobs = []
    for repository, prefix in JOBS.items():
        image = f"{pushes.REGISTRY}/{repository}:stable@{pushes.digest(run, 0)}"
        jobs += [configs.job(f"{prefix}-{i}", image, opt_in=True) for i in range(workloads)]
    return jobs


def _pushes(fleet: Fleet, sql: Sql, *, workloads: int) -> dict[str, Moved]:
    """A push that moves nothing, then one of each group; each decided before the next."""
    moved: dict[str, Moved] = {}
    for index, repository in enumerate((NOBODY, *JOBS), start=1):
        jobs = workloads if repository in JOBS else 0
        moved[repository] = _move(fleet, repository=repository, index=index, jobs=jobs)
        settle(sql, limit=fleet.limit)
    return moved


def _round(options: Options, index: int, rounds: Rounds, counts: list[Count]) -> None:
    scale, run = Scale.of(options), pushes.new_run_id()
    nomad = start_nomad(options.workdir, _jobs(run, scale.workloads), name=f"nomad-rollout-{index}")
    repositories = [
        configs.pinned(WATCHED, tag="stable"),
        configs.pinned(WAVES, tag="stable", rollout=configs.ROLLOUT_NO_SOAK),
    ]

    def config(uri: str) -> dict[str, object]:
        return configs.service(db_uri=uri, nomad_url=nomad.url, repositories=repositories)

    try:
        with regdeploy(options, config, name=f"rollout-{index}") as (svc, sql):
            fleet = Fleet(url=svc.url, nomad=nomad, run=run, limit=scale.limit)
            moved = _pushes(fleet, sql, workloads=scale.workloads)
            answered = sum(m.answered for m in moved.values())
            counts.append(count(sql, f"rollout round {index}", answered))
    finally:
        nomad.stop()
    waves = moved[WAVES]
    rounds.add(
        reference=moved[AT_ONCE].deployed * 1000,
        watched=moved[WATCHED].deployed * 1000,
        deployed=waves.deployed * 1000,
        completed=waves.completed * 1000,
        to_done=sum(w.finished - w.done for w in waves.waves) * 1000,
    )
    for wave in waves.waves:
        n = wave.number
        rounds.add(**{f"wave{n}_first": wave.first * 1000, f"wave{n}_jobs": wave.jobs})


def _wave_figures(rounds: Rounds) -> list[Figure]:
    """``ack -> wave N (M jobs) first register call``, for each wave."""
    figures = []
    number = 1
    while f"wave{number}_first" in rounds.values:
        jobs = rounds.spread(f"wave{number}_jobs").max
        size = f"{jobs:.0f} job{'s' if jobs != 1 else ''}"
        name = f"ack -> wave {number} ({size}) first register call"
        figures.append(rounds.figure(name, "ms", f"wave{number}_first"))
        number += 1
    return figures


def _described(rollout: dict[str, Any]) -> str:
    """``{waves: [1, 10%, 100%], soak: 0s}``, as the configuration writes it."""
    waves = ", ".join(str(w) for w in rollout["waves"])
    return f"{{waves: [{waves}], soak: {rollout['soak']}}}"


def run(options: Options) -> Report:
    n = Scale.of(options).workloads
    rounds, counts = run_rounds(options, "rollout", _round)
    completed = rounds.figure("ack -> rollout completed", "ms", "completed", "reference")
    waves = _wave_figures(rounds)
    figures = [
        rounds.figure(
            f"ack -> all {n} register calls, watched, at once", "ms", "watched", "reference"
        ),
        rounds.figure(f"ack -> all {n} register calls, in waves", "ms", "deployed", "reference"),
        completed,
        *waves,
        rounds.figure(
            "waves: last deploy ended -> wave healthy (next started / completed), summed",
            "ms",
            "to_done",
        ),
    ]
    target = Target(
        figure=f"rollout of {n} workloads in {len(waves)} waves, soak 0s (completed)",
        measured=f"{summary_cell(completed)}; ratio {ratio_cell(completed)}",
        reference=reference_cell(completed, "all at once"),
        target="none set",
    )
    return Report(
        name="rollout",
        title=f"one push -> {n} labelled workloads in waves",
        setup=(
            f"Three groups of {n} Nomad jobs on the fake opt in by meta; a push of a new digest "
            "of each group's tag moves it: team/fan at once (the reference, as in fanout), "
            "team/watched at once as a watched repository pinned to stable, team/waves as the "
            f"same with rollout: {_described(configs.ROLLOUT_NO_SOAK)}. One regdeploy per "
            "round, the pushes one after the other; the fake's jobs are done when their "
            "evaluation completes, for all three alike."
        ),
        measured_as=f"{n} workloads",
        reference_as="all at once",
        rounds=options.rounds,
        figures=figures,
        counts=counts,
        targets=[target],
    )
