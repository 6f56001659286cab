"""cli: how long the ``regdeploy`` command takes to answer a person, start-up included.

Each round starts a fresh ``regdeploy serve`` (the benchmarks' configuration, a fresh database)
and runs, in turn, ``python -c pass`` (the interpreter's own start-up: the reference),
``regdeploy --version`` and ``regdeploy status --url URL`` (with a read token, against that
service), each as a new process, as a person types them; a run's figure is its wall time from
start to exit, its output thrown away. A round's figure is the median of its runs of a command.
``regdeploy`` is the console script installed beside this interpreter (``.venv/bin/regdeploy``),
else ``python -m receiver``. No push is sent: the rows stored are 0, as the 2xx answers.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import configs, pushes
from bench.harness import Options, Rounds, count, regdeploy, run_rounds
from bench.processes import ROOT
from bench.report import Count, Figure, Report, Target, ratio_cell, reference_cell, summary_cell

REFERENCE = "python -c pass"
TARGET_MS = 250.0
# The variables that would point the client elsewhere or give it another token.
CLIENT_VARIABLES = ("REGDEPLOY_URL", "REGDEPLOY_PORT", "REGDEPLOY_TOKEN", "REGDEPLOY_TOKEN_FILE")


@dataclass(frozen=True, slots=True, kw_only=True)
class Scale:
    runs: int  # of each command, per round

    @classmethod
    def of(cls, options: Options) -> Scale:
        return cls(runs=3 if options.quick else 10)


def regdeploy_command() -> list[str]:
    """How a person runs ``regdeploy`` from this checkout's virtualenv."""
    script = Path(sys.executable).parent / "regdeploy"
    return [str(script)] if script.exists() else [sys.executable, "-m", "receiver"]


def _command_text() -> str:
    entry = regdeploy_command()
    if len(entry) > 1:
        return "python -m receiver"
    script = Path(entry[0])
    return str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else str(script)


def wall_ms(argv: list[str], *, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    """Milliseconds from starting ``argv`` to its exit; a status not in ``ok`` fails the run."""
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60
    )
    took = (time.perf_counter() - started) * 1000
    if done.returncode not in ok:
        said = done.stderr.decode(errors="replace")
        raise RuntimeError(f"{' '.join(argv)} exited with {done.returncode}: {said}")
    return took


def _round(options: Options, index: int, rounds: Rounds, counts: list[Count]) -> None:
    scale = Scale.of(options)
    env = {k: v for k, v in os.environ.items() if k not in CLIENT_VARIABLES}
    env["REGDEPLOY_TOKEN"] = pushes.API_TOKEN  # in the environment: argv is visible to all
    entry = regdeploy_command()
    with regdeploy(options, lambda uri: configs.service(db_uri=uri), name=f"cli-{index}") as (
        svc,
        sql,
    ):
        commands = {
            "python": ([sys.executable, "-c", "pass"], (0,)),
            "version": ([*entry, "--version"], (0,)),
            # 1: the service answered that something it checks is down (not this benchmark's
            # concern); 3, no answer, fails the run.
            "status": ([*entry, "status", "--url", svc.url], (0, 1)),
        }
        runs: dict[str, list[float]] = {key: [] for key in commands}
        for _ in range(scale.runs):
            for key, (argv, ok) in commands.items():
                runs[key].append(wall_ms(argv, env=env, ok=ok))
        counts.append(count(sql, f"cli round {index}", 0))
    rounds.add(**{key: statistics.median(values) for key, values in runs.items()})


def _target(figure: Figure) -> Target:
    return Target(
        figure=f"{figure.name} wall time",
        measured=f"{summary_cell(figure)}, ratio {ratio_cell(figure)}",
        reference=reference_cell(figure, REFERENCE),
        target=f"< {TARGET_MS:g} ms",
    )


def run(options: Options) -> Report:
    scale = Scale.of(options)
    rounds, counts = run_rounds(options, "cli", _round)
    version = rounds.figure("regdeploy --version", "ms", "version", "python")
    status = rounds.figure("regdeploy status", "ms", "status", "python")
    return Report(
        name="cli",
        title="the regdeploy command's wall time, start-up included",
        setup=(
            f"Wall time of a new process from start to exit, the median of {scale.runs} runs "
            f"per round of each command, run in turn: {REFERENCE} (the interpreter's start-up), "
            "regdeploy --version, and regdeploy status --url URL with a read token against a "
            f"regdeploy serve on a fresh database. regdeploy is {_command_text()}."
        ),
        measured_as="regdeploy",
        reference_as=REFERENCE,
        rounds=options.rounds,
        figures=[version, status],
        counts=counts,
        targets=[_target(version), _target(status)],
    )
