"""Run the benchmarks and print their tables and a summary.

    python -m bench [ingest|latency|backlog|fanout|rollout|memory|patterns|hardening|cli|
                     trust|all ...] [--rounds 3] [--quick]

Each benchmark starts its own processes (an embedded PostgreSQL, regdeploy, the reference, the
Nomad fake, the load generators) in a temporary directory, runs its rounds, and prints a
Markdown table. The exit status is 1 if a benchmark failed or if rows stored differ from the
pushes answered 2xx in any run; figures themselves never fail a run.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence

from bench import (
    backlog,
    cli,
    fanout,
    hardening,
    ingest,
    latency,
    memory,
    patterns,
    rollout,
    trust,
)
from bench.harness import Options, session
from bench.machine import describe, load_average
from bench.report import Report, render, render_summary

BENCHMARKS: dict[str, Callable[[Options], Report]] = {
    "ingest": ingest.run,
    "latency": latency.run,
    "backlog": backlog.run,
    "fanout": fanout.run,
    "rollout": rollout.run,
    "memory": memory.run,
    "patterns": patterns.run,
    "hardening": hardening.run,
    "cli": cli.run,
    "trust": trust.run,
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run: {', '.join(BENCHMARKS)} or all (the default)",
    )
    parser.add_argument("--rounds", type=int, help="rounds per benchmark (default 3, quick 1)")
    parser.add_argument(
        "--quick", action="store_true", help="a tiny run of each, to check the harness works"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directories (logs)")
    return parser


def _one(name: str, args: argparse.Namespace, rounds: int) -> Report:
    started, load_before = time.monotonic(), load_average()
    with session(name, rounds=rounds, quick=args.quick, keep=args.keep) as options:
        postgres = options.postgres
        version = postgres.setting("server_version")
        fsync = postgres.setting("fsync")
        report = BENCHMARKS[name](options)
        if args.keep:
            report.notes.append(f"logs kept in {options.workdir}")
    report.notes.append(
        f"embedded PostgreSQL {version} (fsync {fsync}); load average before: {load_before}, "
        f"after: {load_average()}; took {time.monotonic() - started:.0f} s"
    )
    return report


def _stop_on_sigterm() -> None:
    """SIGTERM ends the run as Ctrl-C does: every started process is stopped on the way out."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def main(argv: Sequence[str] | None = None) -> int:
    _stop_on_sigterm()
    parser = _parser()
    args = parser.parse_args(argv)
    chosen = args.names or ["all"]
    unknown = [name for name in chosen if name not in (*BENCHMARKS, "all")]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)} (known: {', '.join(BENCHMARKS)})")
    names = list(BENCHMARKS) if "all" in chosen else list(dict.fromkeys(chosen))
    rounds = args.rounds or (1 if args.quick else 3)
    mode = " (quick mode: tiny loads, for checking the harness only)" if args.quick else ""
    print(f"# regdeploy benchmarks{mode}\n\n{describe()}\n", flush=True)
    reports, failed = [], []
    for name in names:
        try:
            report = _one(name, args, rounds)
        except Exception:
            failed.append(name)
            print(f"## {name}: FAILED\n\n```\n{traceback.format_exc()}```\n", flush=True)
            continue
        print(render(report), flush=True)
        reports.append(report)
    print(render_summary(reports), flush=True)
    if failed:
        print(f"failed benchmarks: {', '.join(failed)}", flush=True)
    return 1 if failed or not all(report.nothing_lost for report in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
